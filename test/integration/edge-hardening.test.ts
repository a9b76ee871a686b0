// The edge's defences against slow and guessing clients: request heads must arrive in time, idle
// keep-alive connections are closed, uploads/SSE/websockets are not limited; authtoken guessing
// from one address is throttled without touching connected agents.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Agent } from '../../tunnel/src/agent/agent';
import { MemoryAuthThrottle } from '../../tunnel/src/edge/auth-throttle';
import type { Edge } from '../../tunnel/src/edge/edge';
import { helloWith } from '../support/hello';
import { EDGE_TOKEN, Resources, startEdge, delay, listen, request } from '../support/tunnel';

const TOKEN = EDGE_TOKEN;

/** A raw connection that records everything it receives and when it closed. */
function rawConnection(
  res: Resources,
  port: number,
): { socket: net.Socket; received: () => string; closed: Promise<number> } {
  const socket = res.add(net.connect(port, '127.0.0.1'), (s) => s.destroy());
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined);
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { socket, received: () => data, closed };
}

async function tunnelThroughEdge(res: Resources, edge: Edge, upstream: http.Server): Promise<string> {
  const upstreamPort = await listen(res.server(upstream));
  const agent = res.agent(new Agent({ edgeUrl: `ws://127.0.0.1:${edge.httpPort}`, authtoken: TOKEN }));
  await agent.start();
  const state = await agent.startTunnel({ name: 'app', proto: 'http', upstream: String(upstreamPort), inspect: false });
  return new URL(state.urls[0]).host;
}

describe('edge hardening: slow clients', function () {
  this.timeout(30_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('cuts connections that trickle a request head (or send nothing) with a coded 408, per connection', async () => {
    const edge = await startEdge(res, { limits: { headersTimeoutMs: 600 } });
    const host = await tunnelThroughEdge(
      res,
      edge,
      http.createServer((_req, rsp) => rsp.end('ok')),
    );
    const tricklers = Array.from({ length: 5 }, () => rawConnection(res, edge.httpPort));
    const silent = rawConnection(res, edge.httpPort);
    // One header byte every 100 ms: each byte arrives well within any per-read timeout, the head never ends.
    const head = `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'a'.repeat(200)}`;
    let i = 0;
    const timer = setInterval(() => {
      for (const t of tricklers) if (!t.socket.destroyed) t.socket.write(head[i % head.length]);
      i++;
    }, 100);
    try {
      const closedAfter = await Promise.all([...tricklers.map((t) => t.closed), silent.closed]);
      for (const ms of closedAfter) assert.ok(ms < 15_000, `closed after ${ms} ms`);
      for (const t of [...tricklers, silent]) {
        assert.match(t.received(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
        assert.match(t.received(), /ngrok-error-code: ERR_BURROW_HEADERS_TIMEOUT/);
      }
    } finally {
      clearInterval(timer);
    }
    // The edge still serves a normal client.
    const ok = await request(edge.httpPort, host);
    assert.equal(ok.body.toString(), 'ok');
  });

  it('closes idle keep-alive connections, but not a slow upload or a quiet SSE stream', async () => {
    const edge = await startEdge(res, { limits: { headersTimeoutMs: 500, keepAliveTimeoutMs: 500 } });
    const host = await tunnelThroughEdge(
      res,
      edge,
      http.createServer((req, rsp) => {
        if (req.url === '/sse') {
          rsp.writeHead(200, { 'content-type': 'text/event-stream' });
          rsp.write('data: 1\n\n');
          setTimeout(() => rsp.end('data: 2\n\n'), 2_000);
          return;
        }
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => rsp.end(`got ${n}`));
      }),
    );
    // Idle keep-alive: one request, then silence.
    const idle = rawConnection(res, edge.httpPort);
    idle.socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const idleFor = await idle.closed;
    assert.match(idle.received(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*got 0$/);
    assert.ok(idleFor < 15_000);

    // A slow upload: the head is quick, the body takes 2 s (4× the head timeout).
    const upload = rawConnection(res, edge.httpPort);
    upload.socket.write(`POST /up HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 20\r\nConnection: close\r\n\r\n`);
    for (let k = 0; k < 20; k++) {
      await delay(100);
      upload.socket.write('x');
    }
    await upload.closed;
    assert.match(upload.received(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*got 20$/);

    // A quiet SSE stream: 2 s between events.
    const sse = rawConnection(res, edge.httpPort);
    sse.socket.write(`GET /sse HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    await sse.closed;
    assert.match(sse.received(), /data: 1\n\n[\s\S]*data: 2\n\n/);
  });

  it('leaves websockets alone after the upgrade', async () => {
    const edge = await startEdge(res, { limits: { headersTimeoutMs: 300, keepAliveTimeoutMs: 300 } });
    const upstream = http.createServer();
    upstream.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    const host = await tunnelThroughEdge(res, edge, upstream);
    const ws = rawConnection(res, edge.httpPort);
    ws.socket.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    await once(ws.socket, 'data');
    await delay(1_500);
    ws.socket.write('ping');
    await delay(300);
    assert.ok(!ws.socket.destroyed, 'the upgraded connection is still open');
    assert.match(ws.received(), /^HTTP\/1\.1 101 [\s\S]*ping$/);
  });
});

describe('edge hardening: authtoken guessing', function () {
  this.timeout(30_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('locks an address after a burst of wrong tokens, keeps connected agents, and lets the right token in after the lock', async () => {
    const edge = await startEdge(res, { authThrottle: new MemoryAuthThrottle({ burst: 5, baseLockMs: 1_500 }) });
    const host = await tunnelThroughEdge(
      res,
      edge,
      http.createServer((_req, rsp) => rsp.end('still here')),
    );
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) codes.push(await helloWith(edge.httpPort, `wrong-token-${i}`));
    assert.deepEqual(codes.slice(0, 5), Array(5).fill('ERR_NGROK_107'));
    assert.equal(codes[5], 'ERR_NGROK_107', 'the failure that sets the lock is still answered normally');
    assert.deepEqual(codes.slice(6), ['ERR_BURROW_AUTH_THROTTLED', 'ERR_BURROW_AUTH_THROTTLED']);
    // Locked: even the right token is refused, without being looked at.
    assert.equal(await helloWith(edge.httpPort, TOKEN), 'ERR_BURROW_AUTH_THROTTLED');
    // The agent that was already connected keeps serving.
    assert.equal((await request(edge.httpPort, host)).body.toString(), 'still here');
    await delay(1_600);
    assert.equal(await helloWith(edge.httpPort, TOKEN), 'welcome');
  });
});
