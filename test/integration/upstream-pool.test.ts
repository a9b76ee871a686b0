// The agent's keep-alive pool against upstreams that close idle connections: a request that meets
// a reused connection the upstream just closed is sent again on a fresh one; idle connections
// expire before the upstream's announced keep-alive; errors say what actually happened.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { Agent } from '../../tunnel/src/agent/agent';
import { REPLAY_LIMIT } from '../../tunnel/src/agent/upstream-pool';
import type { MuxSession } from '../../tunnel/src/protocol/session';
import { Resources, delay, freePort, listen, request, startAgent, startTunnel, waitFor } from '../support/tunnel';

/**
 * A raw upstream that answers the first request on each connection (keep-alive, no Keep-Alive
 * hint) and drops the connection when a second request arrives on it: what a reused connection
 * looks like when the upstream closed it idle a moment before. Counts connections and requests.
 */
function oneShotUpstream(dropAfterBytes = 0): { server: net.Server; connections: () => number; bodies: string[] } {
  let connections = 0;
  const bodies: string[] = [];
  const server = net.createServer((socket) => {
    connections++;
    let buffered = Buffer.alloc(0);
    let answered = false;
    let after = 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (answered) {
        after += chunk.length;
        if (after > dropAfterBytes) socket.resetAndDestroy();
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      answered = true;
      const body = buffered.subarray(end + 4, end + 4 + length);
      bodies.push(body.toString('latin1'));
      const reply = `seen ${body.length}`;
      socket.write(`HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: ${reply.length}\r\n\r\n${reply}`);
    });
  });
  return { server, connections: () => connections, bodies };
}

describe('agent upstream pool: reused connections the upstream closed', function () {
  this.timeout(60_000);
  const res = new Resources();
  let agent: Agent;
  beforeEach(async () => {
    agent = await startAgent(res);
  });
  afterEach(() => res.closeAll());

  it('sends a request again on a fresh connection when a reused one fails before any response (GET and POST)', async () => {
    const up = oneShotUpstream();
    const t = await startTunnel(agent, { upstream: String(await listen(res.server(up.server))) });
    const first = await request(t.port, t.host);
    assert.equal(first.status, 200);
    // The next requests each meet the pooled connection the upstream now drops.
    const get = await request(t.port, t.host);
    assert.equal(get.status, 200, get.body.toString());
    assert.equal(get.body.toString(), 'seen 0');
    // A retry's connection is not pooled: this one opens the next pooled connection, which the POST reuses.
    assert.equal((await request(t.port, t.host)).status, 200);
    const payload = 'x'.repeat(100_000);
    const post = await request(t.port, t.host, { method: 'POST', body: payload });
    assert.equal(post.status, 200, post.body.toString());
    assert.equal(post.body.toString(), `seen ${payload.length}`);
    assert.equal(up.bodies.at(-1), payload, 'the replayed body arrives intact');
    assert.equal(up.connections(), 4, 'two reused connections failed; each retry opened one of its own');
  });

  it('does not resend a body larger than it keeps, and says the app closed the connection', async () => {
    // This upstream reads past the replay limit before it drops the reused connection.
    const up = oneShotUpstream(REPLAY_LIMIT + 64 * 1024);
    const t = await startTunnel(agent, { upstream: String(await listen(res.server(up.server))) });
    assert.equal((await request(t.port, t.host)).status, 200);
    const big = await request(t.port, t.host, { method: 'POST', body: Buffer.alloc(2 * REPLAY_LIMIT, 1) });
    assert.equal(big.status, 502);
    assert.equal(big.headers['ngrok-error-code'], 'ERR_NGROK_3004');
    const json = JSON.parse(big.body.toString()) as { msg: string; details: { err: string } };
    assert.match(json.details.err, /closed the connection/);
    assert.doesNotMatch(json.msg, /refused/i);
  });

  it('words a refused connection as refused', async () => {
    const t = await startTunnel(agent, { upstream: String(await freePort()) });
    const rsp = await request(t.port, t.host);
    assert.equal(rsp.headers['ngrok-error-code'], 'ERR_NGROK_8012');
    assert.match((JSON.parse(rsp.body.toString()) as { details: { err: string } }).details.err, /connection refused/);
  });

  it('after a failed upstream request, drains the rest of a large request body (no stream left behind)', async () => {
    const t = await startTunnel(agent, { upstream: String(await freePort()) });
    const rsp = await request(t.port, t.host, { method: 'POST', body: Buffer.alloc(3 * 1024 * 1024, 7) });
    assert.equal(rsp.headers['ngrok-error-code'], 'ERR_NGROK_8012');
    const session = agent.embedded!.listBindings()[0].session as MuxSession;
    await waitFor(() => session.streamCount === 0, 10_000, 'the edge to forget the stream');
  });

  it('never fails against a real upstream with a short keep-alive, announced or not', async () => {
    // gunicorn-like: closes idle connections after 1.5 s and does not announce it.
    const silent = http.createServer((_req, rsp) => {
      rsp.setHeader('connection', 'keep-alive'); // set by hand: Node then adds no Keep-Alive hint
      rsp.end('ok');
    });
    silent.keepAliveTimeout = 1_500;
    // Node-like: announces `Keep-Alive: timeout=2` and closes after 2 s.
    const announced = http.createServer((_req, rsp) => rsp.end('ok'));
    announced.keepAliveTimeout = 2_000;
    const a = await startTunnel(agent, { upstream: String(await listen(res.server(silent))) });
    const b = await startTunnel(agent, { upstream: String(await listen(res.server(announced))) });
    // Requests spaced around the upstreams' timeouts, where a reused connection races the close.
    const gaps = [1_480, 1_500, 1_520, 1_490, 1_510, 1_970, 2_000, 2_030];
    const statuses: number[] = [];
    for (const gap of gaps) {
      statuses.push((await request(a.port, a.host)).status, (await request(b.port, b.host)).status);
      await delay(gap);
    }
    assert.deepEqual(statuses, Array(gaps.length * 2).fill(200));
  });
});
