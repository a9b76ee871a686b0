// The agent's per-request path (issue 11), end to end on real sockets, embedded (streams handed
// over in process) and edge + agent (a WebSocket): the request head and a small body reach the
// upstream in one write; small, chunked and empty responses arrive whole and are captured; a
// websocket echoes many small messages and a big one; an 8 MiB upload, an aborted download and
// small requests at once lose nothing and leave no stream behind.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { Agent } from '../../tunnel/src/agent/agent';
import { CaptureStore } from '../../tunnel/src/capture/store';
import {
  EDGE_TOKEN,
  Resources,
  digestOf,
  listen,
  request,
  seededStream,
  startAgent,
  startEdge,
  startTunnel,
  waitFor,
} from '../support/tunnel';

/** A raw upstream: answers by path, and records each request's first read on its connection. */
function rawUpstream(): { server: net.Server; firstReads: string[] } {
  const firstReads: string[] = [];
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    let first = true;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (first) firstReads.push(chunk.toString('latin1'));
      first = false;
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length).toString('latin1');
        buf = buf.subarray(end + 4 + length);
        first = buf.length === 0;
        const path = head.split(' ')[1];
        if (path === '/chunked')
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
        else if (path === '/empty') socket.write('HTTP/1.1 204 No Content\r\n\r\n');
        else {
          const text = `echo:${body}`;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\nContent-Type: text/plain\r\n\r\n${text}`);
        }
      }
    });
  });
  return { server, firstReads };
}

/** An http + websocket upstream: `/upload` answers the body's length and sha256, `/big` streams 64 MiB. */
function appUpstream(): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url === '/upload') {
      void digestOf(req).then(({ digest, length }) => res.end(`${length} ${digest}`));
    } else if (req.url === '/big') {
      res.writeHead(200, { 'Content-Length': String(64 * 1024 * 1024) });
      seededStream('big', 64 * 1024 * 1024).pipe(res);
    } else res.end('small');
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return server;
}

type Mode = 'embedded' | 'edge + agent';

async function agentFor(res: Resources, mode: Mode, capture?: CaptureStore): Promise<Agent> {
  if (mode === 'embedded') return startAgent(res, { capture });
  const edge = await startEdge(res);
  return startAgent(res, {
    edgeUrl: `ws://127.0.0.1:${edge.httpPort}/_burrow/session`,
    authtoken: EDGE_TOKEN,
    capture,
  });
}

function wsEcho(url: string, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { host }, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function roundTrip(ws: WebSocket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    ws.once('error', onError);
    ws.once('message', (m) => {
      ws.off('error', onError);
      resolve(m as Buffer);
    });
    ws.send(data);
  });
}

for (const mode of ['embedded', 'edge + agent'] as Mode[]) {
  describe(`agent path (${mode})`, function () {
    this.timeout(60_000);
    const res = new Resources();
    afterEach(() => res.closeAll());

    it('sends the request head and a small body in one write, and small, chunked and empty responses whole, captured', async () => {
      const up = rawUpstream();
      const port = await listen(res.server(up.server));
      const capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
      const agent = await agentFor(res, mode, capture);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}`, inspect: true });
      for (let i = 0; i < 5; i++) {
        const reply = await request(t.port, t.host, { method: 'POST', path: '/form', body: `a=${i}&b=two` });
        assert.equal(reply.status, 200);
        assert.equal(reply.body.toString(), `echo:a=${i}&b=two`);
      }
      // Each POST's head and body left the agent in one write (a reused connection's next request too).
      const posts = up.firstReads.filter((r) => r.startsWith('POST /form'));
      assert.equal(posts.length, 5, up.firstReads.join('\n---\n'));
      for (const [i, r] of posts.entries()) assert.ok(r.endsWith(`\r\n\r\na=${i}&b=two`), JSON.stringify(r));

      const chunked = await request(t.port, t.host, { path: '/chunked' });
      assert.equal(chunked.body.toString(), 'hello world');
      const empty = await request(t.port, t.host, { path: '/empty' });
      assert.equal(empty.status, 204);
      assert.equal(empty.body.length, 0);

      await waitFor(() => capture.list().filter((x) => x.state === 'complete').length === 7, 5000, 'captures');
      const byPath = (p: string) => capture.list().filter((x) => x.request.uri === p);
      const form = byPath('/form')[0];
      assert.equal(form.response?.statusCode, 200);
      assert.match(form.request.body.bytes().toString(), /^a=\d&b=two$/);
      assert.match(form.response!.body.bytes().toString(), /^echo:a=\d&b=two$/);
      assert.equal(byPath('/chunked')[0].response!.body.bytes().toString(), 'hello world');
      assert.equal(byPath('/empty')[0].response!.statusCode, 204);
    });

    it('echoes 500 small websocket messages in turn and a 3 MiB one (beyond the window)', async () => {
      const port = await listen(res.server(appUpstream()));
      const agent = await agentFor(res, mode);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}` });
      const ws = res.add(await wsEcho(`ws://127.0.0.1:${t.port}/`, t.host), (w) => w.terminate());
      for (let i = 0; i < 500; i++) {
        const msg = Buffer.from(`ping ${i}`.padEnd(64, '.'));
        assert.ok((await roundTrip(ws, msg)).equals(msg), `message ${i}`);
      }
      const big = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      assert.ok((await roundTrip(ws, big)).equals(big), 'the 3 MiB message came back intact');
    });

    it('an 8 MiB upload, a download the visitor aborts and small requests at once: nothing lost, no stream left', async () => {
      const port = await listen(res.server(appUpstream()));
      const agent = await agentFor(res, mode);
      const t = await startTunnel(agent, { upstream: `http://127.0.0.1:${port}` });
      const expected = await digestOf(seededStream('upload', 8 * 1024 * 1024));

      const upload = request(t.port, t.host, {
        method: 'POST',
        path: '/upload',
        headers: { 'content-length': String(8 * 1024 * 1024) },
        body: seededStream('upload', 8 * 1024 * 1024, 100_000),
      });
      const aborted = new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: t.port, path: '/big', headers: { host: t.host } }, (r) => {
          let got = 0;
          r.on('data', (c: Buffer) => {
            got += c.length;
            if (got > 4 * 1024 * 1024) req.destroy();
          });
          r.on('close', () => resolve(got));
        });
        req.on('error', (e) =>
          e.message.includes('aborted') || e.message.includes('socket hang up') ? undefined : reject(e),
        );
      });
      const smalls = await Promise.all(Array.from({ length: 30 }, () => request(t.port, t.host, { path: '/s' })));
      for (const s of smalls) assert.equal(s.body.toString(), 'small');
      const up = await upload;
      assert.equal(up.body.toString(), `${expected.length} ${expected.digest}`);
      const got = await aborted;
      assert.ok(got > 4 * 1024 * 1024 && got < 64 * 1024 * 1024, `aborted after ${got} bytes`);
      const name = agent.tunnels()[0].name;
      await waitFor(() => agent.tunnel(name)?.conns.open === 0, 10_000, 'every stream closed');
      // The tunnel still answers after all that.
      assert.equal((await request(t.port, t.host, { path: '/s' })).body.toString(), 'small');
    });
  });
}
