// The raw visitor path's deadlines (tunnel/src/edge/raw-visitor.ts) run on one coarse sweep per
// listener instead of a timer re-armed per request. What must still hold, on a keep-alive
// connection that served several requests: the idle time counts from the end of the last
// response (a silent close, not before keepAliveTimeout); a response slower than every timeout is
// not cut; the next request's head is due within headersTimeout of its first byte (coded 408).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Agent } from '../../tunnel/src/agent/agent';
import { EDGE_TOKEN, Resources, delay, listen, startEdge } from '../support/tunnel';

describe('edge raw visitor path: coarse head and keep-alive deadlines', function () {
  this.timeout(30_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  async function setUp(): Promise<{ port: number; host: string }> {
    const edge = await startEdge(res, { limits: { headersTimeoutMs: 400, keepAliveTimeoutMs: 400 } });
    const upstream = http.createServer((req, rsp) => {
      if (req.url === '/slow') setTimeout(() => rsp.end('slow'), 1_500);
      else rsp.end('ok');
    });
    const upstreamPort = await listen(res.server(upstream));
    const agent = res.agent(new Agent({ edgeUrl: `ws://127.0.0.1:${edge.httpPort}`, authtoken: EDGE_TOKEN }));
    await agent.start();
    const t = await agent.startTunnel({ name: 'app', proto: 'http', upstream: String(upstreamPort), inspect: false });
    return { port: edge.httpPort, host: new URL(t.urls[0]).host };
  }

  function connect(port: number): { socket: net.Socket; text: () => string; closedAt: Promise<number> } {
    const socket = res.add(net.connect(port, '127.0.0.1'), (s) => s.destroy());
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('error', () => undefined);
    const closedAt = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    return { socket, text: () => data, closedAt };
  }

  async function responses(c: { text: () => string }, n: number): Promise<number> {
    const until = Date.now() + 10_000;
    while ((c.text().match(/HTTP\/1\.1 200 OK/g) ?? []).length < n) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${n} responses: ${c.text()}`);
      await delay(5);
    }
    return Date.now();
  }

  it('closes a connection idle after several requests silently, not before the keep-alive time', async () => {
    const { port, host } = await setUp();
    const c = connect(port);
    let lastAnswer = 0;
    for (let i = 1; i <= 3; i++) {
      if (i > 1) await delay(200); // half the keep-alive time between requests: each request re-arms it
      c.socket.write(`GET /${i} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      lastAnswer = await responses(c, i);
    }
    const closedAt = await c.closedAt;
    // (`lastAnswer` is when this client saw the response, a little after the edge armed the deadline.)
    assert.ok(closedAt - lastAnswer >= 300, `closed ${closedAt - lastAnswer} ms after the last response`);
    assert.equal((c.text().match(/HTTP\/1\.1 /g) ?? []).length, 3, 'no 408 or other reply: a silent close');
  });

  it('does not cut a response slower than every timeout; the next head is due in time (408)', async () => {
    const { port, host } = await setUp();
    const c = connect(port);
    c.socket.write(`GET /slow HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await responses(c, 1);
    assert.match(c.text(), /slow$/);
    // The next head starts and never ends: 408 after the head deadline.
    c.socket.write(`GET /2 HTTP/1.1\r\nHost: ${host}\r\n`);
    await c.closedAt;
    assert.match(c.text(), /HTTP\/1\.1 408 Request Timeout\r\nngrok-error-code: ERR_BURROW_HEADERS_TIMEOUT/);
  });
});
