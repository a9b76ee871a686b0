// The edge's raw visitor path and the agent's forwarder speaking through light exchanges
// (protocol/session.ts MuxExchange), embedded (in process) and edge + agent (a WebSocket): an
// upstream failing before its head gets the coded error page, one failing after its head cuts the
// visitor's response (never a wrong one), a visitor that stops reading stalls the upstream after
// a bounded amount, and a visitor that goes away mid-upload cancels the upstream request.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { Agent } from '../../tunnel/src/agent/agent';
import {
  EDGE_TOKEN,
  MiB,
  Resources,
  delay,
  listen,
  request,
  startAgent,
  startEdge,
  startTunnel,
  waitFor,
} from '../support/tunnel';

type Mode = 'embedded' | 'edge + agent';

async function agentFor(res: Resources, mode: Mode): Promise<Agent> {
  if (mode === 'embedded') return startAgent(res);
  const edge = await startEdge(res);
  return startAgent(res, { edgeUrl: `ws://127.0.0.1:${edge.httpPort}/_burrow/session`, authtoken: EDGE_TOKEN });
}

/** A raw upstream: `/before` closes without answering, `/after` sends a head and half its body then closes, `/big` streams until stopped. */
function failingUpstream(): { server: net.Server; written: () => number; uploads: { closed: boolean }[] } {
  let written = 0;
  const uploads: { closed: boolean }[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      const path = chunk.toString('latin1').split(' ')[1];
      if (path === '/before') socket.destroy();
      else if (path === '/after') {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf of it');
        setTimeout(() => socket.destroy(), 50);
      } else if (path === '/upload') {
        // Reads the body and never answers: the visitor goes away first.
        const state = { closed: false };
        uploads.push(state);
        socket.on('close', () => (state.closed = true));
        socket.resume();
      } else {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${1024 * MiB}\r\n\r\n`);
        const piece = Buffer.alloc(64 * 1024, 0x62);
        const pump = () => {
          while (!socket.destroyed) {
            written += piece.length;
            if (!socket.write(piece)) return void socket.once('drain', pump);
          }
        };
        pump();
      }
    });
  });
  return { server, written: () => written, uploads };
}

for (const mode of ['embedded', 'edge + agent'] as Mode[]) {
  describe(`light exchanges end to end (${mode})`, function () {
    this.timeout(60_000);
    const res = new Resources();
    afterEach(() => res.closeAll());

    it('an upstream that fails before its head: 502 with its code; after its head: the response is cut', async () => {
      const up = failingUpstream();
      const port = await listen(res.server(up.server));
      const agent = await agentFor(res, mode);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}` });
      const outcomes: unknown[] = [];
      agent.on('exchange', (x: { http?: unknown }) => outcomes.push(x.http));
      const before = await request(t.port, t.host, { path: '/before' });
      assert.equal(before.status, 502);
      assert.equal(before.headers['ngrok-error-code'], 'ERR_NGROK_3004');
      // The agent's record of it: the upstream closed before its head, a coded 502.
      await waitFor(() => outcomes.length === 1, 10_000, 'the exchange event');
      assert.deepEqual(outcomes[0], { method: 'GET', url: '/before', statusCode: 502, errorCode: 'ERR_NGROK_3004' });
      const after = await new Promise<{ status: number; body: string; cut: boolean }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: t.port, path: '/after', headers: { host: t.host }, agent: false }, (r) => {
            let body = '';
            r.on('data', (c: Buffer) => (body += c.toString()));
            r.on('error', () => undefined);
            r.on('close', () => resolve({ status: r.statusCode ?? 0, body, cut: !r.complete }));
          })
          .on('error', reject);
      });
      assert.equal(after.status, 200);
      assert.equal(after.body, 'half of it');
      assert.equal(after.cut, true, 'the visitor sees a cut, not a complete response');
      // Reset mid-body: the status the visitor saw, and the code of the cut.
      await waitFor(() => outcomes.length === 2, 10_000, 'the exchange event');
      assert.deepEqual(outcomes[1], { method: 'GET', url: '/after', statusCode: 200, errorCode: 'ERR_NGROK_3004' });
      // The tunnel keeps serving.
      const again = await request(t.port, t.host, { path: '/before' });
      assert.equal(again.status, 502);
    });

    it('a visitor that stops reading stalls the upstream after a bounded amount; going away cancels it', async () => {
      const up = failingUpstream();
      const port = await listen(res.server(up.server));
      const agent = await agentFor(res, mode);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}` });
      const socket = res.add(net.connect(t.port, '127.0.0.1'), (s) => s.destroy());
      socket.write(`GET /big HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`);
      let got = 0;
      socket.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 256 * 1024) socket.pause();
      });
      await waitFor(() => got > 256 * 1024, 10_000, 'the first bytes');
      await delay(1000);
      const stalled = up.written();
      await delay(500);
      // Socket buffers (visitor, upstream, loopback) and one window per hop: tens of MiB at most.
      assert.ok(stalled < 48 * MiB, `the upstream wrote ${stalled} bytes to a visitor that read ${got}`);
      assert.ok(up.written() - stalled <= 1 * MiB, 'the upstream is stalled');
      socket.destroy();
      const name = agent.tunnels()[0].name;
      await waitFor(() => agent.tunnel(name)?.conns.open === 0, 10_000, 'the exchange closed at the agent');
    });

    it('a visitor that goes away in the middle of an upload cancels the upstream request', async () => {
      const up = failingUpstream();
      const port = await listen(res.server(up.server));
      const agent = await agentFor(res, mode);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}` });
      const outcomes: unknown[] = [];
      agent.on('exchange', (x: { http?: unknown }) => outcomes.push(x.http));
      const socket = res.add(net.connect(t.port, '127.0.0.1'), (s) => s.destroy());
      socket.write(`POST /upload HTTP/1.1\r\nHost: ${t.host}\r\nContent-Length: ${10 * MiB}\r\n\r\n`);
      socket.write(Buffer.alloc(3 * MiB, 0x63));
      await waitFor(() => up.uploads.length === 1, 10_000, 'the upload at the upstream');
      socket.destroy();
      await waitFor(() => up.uploads[0].closed, 10_000, 'the upstream connection closed');
      const name = agent.tunnels()[0].name;
      await waitFor(() => agent.tunnel(name)?.conns.open === 0, 10_000, 'the exchange closed at the agent');
      // Cancelled by the visitor: no status, no upstream error.
      assert.deepEqual(outcomes, [{ method: 'POST', url: '/upload' }]);
    });
  });
}
