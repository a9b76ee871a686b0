/**
 * HTTP through a real tunnel: embedded edge + agent in-process, a real upstream server and real
 * clients on loopback. Bodies both ways, 256 MiB integrity, streaming (chunked, SSE), websockets,
 * concurrency, forwarding and hop-by-hop headers, header rules, Host rewrite, file:// upstreams.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import type { Agent } from '../../tunnel/src/agent/agent';
import { selfSignedCertificate } from '../../tunnel/src/edge/tls-cert';
import { MiB, Resources, digestOf, listen, request, seededStream, startAgent, startTunnel } from '../support/tunnel';

/** Resolves the next time `signal()` is called (lets the test gate the upstream). */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('tunnel: HTTP', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let upstreamPort: number;
  let tunnel: { host: string; port: number };
  let gates: Map<string, { wait: Promise<void>; open(): void }>;
  let upstreamRequests: http.IncomingMessage[];

  const upstream = http.createServer((req, rsp) => {
    upstreamRequests.push(req);
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/echo':
        rsp.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
        req.pipe(rsp);
        return;
      case '/headers':
        req.resume();
        req.on('end', () => rsp.end(JSON.stringify({ rawHeaders: req.rawHeaders, url: req.url, method: req.method })));
        return;
      case '/upload':
        digestOf(req).then((d) => rsp.end(JSON.stringify(d)));
        return;
      case '/download': {
        const size = Number(url.searchParams.get('size'));
        rsp.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
        seededStream(url.searchParams.get('seed') ?? 'x', size).pipe(rsp);
        return;
      }
      case '/chunked': {
        const g = gates.get('chunked')!;
        rsp.writeHead(200, { 'content-type': 'text/plain' });
        rsp.write('first|');
        void g.wait.then(() => rsp.end('second'));
        return;
      }
      case '/sse': {
        const g = gates.get('sse')!;
        rsp.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        rsp.write('id: 1\ndata: one\n\n');
        void g.wait.then(() => {
          rsp.write('id: 2\ndata: two\n\n');
          rsp.end();
        });
        return;
      }
      case '/respond-headers':
        rsp.setHeader('x-upstream', 'yes');
        rsp.setHeader('x-secret', 'leak');
        rsp.setHeader('keep-alive', 'timeout=5');
        rsp.setHeader('ngrok-error-code', 'ERR_NGROK_3200');
        rsp.end('ok');
        return;
      default:
        rsp.writeHead(404).end();
    }
  });

  const wsServer = new WebSocketServer({ server: upstream, path: '/ws' });
  wsServer.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.send(`hello ${req.headers['x-forwarded-proto']}`);
  });
  // An upgrade to anything but /ws is refused with an ordinary 400 (ws answers it for us).

  before(async () => {
    upstreamPort = await listen(upstream);
    res.add(
      upstream,
      (s) =>
        new Promise((r) => {
          wsServer.close();
          s.closeAllConnections();
          s.close(r);
        }),
    );
    agent = await startAgent(res);
    tunnel = await startTunnel(agent, { upstream: String(upstreamPort) });
  });
  beforeEach(() => {
    gates = new Map([
      ['chunked', gate()],
      ['sse', gate()],
    ]);
    upstreamRequests = [];
  });
  after(() => res.closeAll());

  it('binds a random *.localhost name on the embedded edge', () => {
    assert.match(tunnel.host, /^[a-z]+-[a-z]+(-\d{4})?\.localhost:\d+$/);
    assert.equal(tunnel.port, agent.embedded!.httpPort);
  });

  it('routes a rooted, upper-case Host (`Name.LOCALHOST.:port`) like the plain name', async () => {
    const [name, port] = tunnel.host.split(':');
    const reply = await request(tunnel.port, `${name.toUpperCase()}.:${port}`, { path: '/headers' });
    assert.equal(reply.status, 200, reply.body.toString());
    const miss = await request(tunnel.port, `x${name}.:${port}`, { path: '/headers' });
    assert.equal(miss.status, 404, 'another name still misses');
  });

  it('carries small bodies both ways', async () => {
    const reply = await request(tunnel.port, tunnel.host, {
      method: 'POST',
      path: '/echo',
      body: 'hello burrow',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'hello burrow');
    assert.equal(reply.headers['content-type'], 'text/plain');
    const empty = await request(tunnel.port, tunnel.host, { method: 'POST', path: '/echo', body: '' });
    assert.equal(empty.status, 200);
    assert.equal(empty.body.length, 0);
  });

  it('carries a 20 MiB body both ways (streamed echo)', async () => {
    const sent = await digestOf(seededStream('echo', 20 * MiB));
    const got = await new Promise<{ digest: string; length: number }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: tunnel.port,
          method: 'PUT',
          path: '/echo',
          headers: { host: tunnel.host },
          agent: false,
        },
        (rsp) => {
          digestOf(rsp).then(resolve, reject);
        },
      );
      req.on('error', reject);
      seededStream('echo', 20 * MiB).pipe(req);
    });
    assert.deepEqual(got, sent);
  });

  it('keeps a 256 MiB upload intact (sha256)', async function () {
    const total = 256 * MiB;
    const expected = await digestOf(seededStream('upload-256', total));
    const reply = await request(tunnel.port, tunnel.host, {
      method: 'POST',
      path: '/upload',
      body: seededStream('upload-256', total),
      headers: { 'content-length': String(total) },
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body.toString()), expected);
  });

  it('keeps a 256 MiB download intact (sha256)', async () => {
    const total = 256 * MiB;
    const expected = await digestOf(seededStream('download-256', total));
    const got = await new Promise<{ digest: string; length: number }>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: tunnel.port,
            path: `/download?size=${total}&seed=download-256`,
            headers: { host: tunnel.host },
            agent: false,
          },
          (rsp) => {
            assert.equal(rsp.headers['content-length'], String(total));
            digestOf(rsp).then(resolve, reject);
          },
        )
        .on('error', reject);
    });
    assert.deepEqual(got, expected);
  });

  it('keeps a chunked upload of unknown length intact, framed for the upstream (no smuggling)', async () => {
    const expected = await digestOf(seededStream('chunked-up', 3 * MiB));
    for (const method of ['POST', 'DELETE', 'OPTIONS']) {
      const reply = await request(tunnel.port, tunnel.host, {
        method,
        path: '/upload',
        body: seededStream('chunked-up', 3 * MiB),
        headers: { 'transfer-encoding': 'chunked' },
      });
      assert.equal(reply.status, 200, method);
      assert.deepEqual(JSON.parse(reply.body.toString()), expected, method);
    }
    // Had the body been sent unframed, the upstream would have parsed it as further requests.
    assert.equal(upstreamRequests.length, 3);
  });

  it('flushes a chunked response piece by piece (first piece before the response ends)', async () => {
    const first = await new Promise<{ text: string; rest: Promise<string> }>((resolve, reject) => {
      http
        .get(
          { host: '127.0.0.1', port: tunnel.port, path: '/chunked', headers: { host: tunnel.host }, agent: false },
          (rsp) => {
            assert.equal(rsp.headers['transfer-encoding'], 'chunked');
            let text = '';
            const rest = new Promise<string>((r) => rsp.on('end', () => r(text)));
            rsp.setEncoding('utf8');
            rsp.once('data', (c: string) => {
              text += c;
              rsp.on('data', (more: string) => {
                text += more;
              });
              resolve({ text: c, rest });
            });
          },
        )
        .on('error', reject);
    });
    assert.equal(first.text, 'first|');
    gates.get('chunked')!.open();
    assert.equal(await first.rest, 'first|second');
  });

  it('flushes server-sent events one by one', async () => {
    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: tunnel.port,
            path: '/sse',
            headers: { host: tunnel.host, accept: 'text/event-stream' },
            agent: false,
          },
          (rsp) => {
            assert.equal(rsp.headers['content-type'], 'text/event-stream');
            let buffer = '';
            rsp.setEncoding('utf8');
            rsp.on('data', (c: string) => {
              buffer += c;
              let end: number;
              while ((end = buffer.indexOf('\n\n')) !== -1) {
                events.push(buffer.slice(0, end));
                buffer = buffer.slice(end + 2);
                // The upstream sends event 2 only once we confirm we got event 1.
                if (events.length === 1) gates.get('sse')!.open();
              }
            });
            rsp.on('end', resolve);
          },
        )
        .on('error', reject);
    });
    await done;
    assert.deepEqual(events, ['id: 1\ndata: one', 'id: 2\ndata: two']);
  });

  it('echoes websocket messages (text and binary) after a real 101', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${tunnel.port}/ws`, { headers: { host: tunnel.host } });
    const messages: { data: Buffer; binary: boolean }[] = [];
    ws.on('message', (data: Buffer, binary) => messages.push({ data, binary }));
    await once(ws, 'open');
    const big = Buffer.alloc(3 * MiB, 7);
    ws.send('ping-1');
    ws.send(big);
    while (messages.length < 3) await once(ws, 'message');
    assert.equal(messages[0].data.toString(), 'hello http');
    assert.equal(messages[1].data.toString(), 'ping-1');
    assert.equal(messages[1].binary, false);
    assert.equal(messages[2].binary, true);
    assert.ok(messages[2].data.equals(big));
    ws.close();
    await once(ws, 'close');
  });

  it("passes a refused upgrade through as the upstream's own 400 (no switch)", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${tunnel.port}/not-ws`, { headers: { host: tunnel.host } });
    ws.on('error', () => {
      /* the aborted handshake */
    });
    const [req, rsp] = (await once(ws, 'unexpected-response')) as [http.ClientRequest, http.IncomingMessage];
    assert.equal(rsp.statusCode, 400);
    assert.equal(rsp.headers['ngrok-error-code'], undefined);
    assert.equal(rsp.headers.upgrade, undefined);
    assert.equal(rsp.headers.connection, 'close');
    req.destroy();
  });

  it('answers 200 concurrent requests correctly', async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        request(tunnel.port, tunnel.host, {
          method: 'POST',
          path: `/echo?i=${i}`,
          body: `request number ${i} `.repeat(50 + i),
        }),
      ),
    );
    replies.forEach((reply, i) => {
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), `request number ${i} `.repeat(50 + i));
    });
  });

  describe('forwarding and hop-by-hop headers', () => {
    async function upstreamView(headers: string[], target = tunnel): Promise<string[]> {
      const reply = await request(target.port, target.host, { path: '/headers', headers });
      assert.equal(reply.status, 200);
      return (JSON.parse(reply.body.toString()) as { rawHeaders: string[] }).rawHeaders;
    }
    function values(raw: string[], name: string): string[] {
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
      return out;
    }

    it('appends X-Forwarded-For/Proto and sets X-Forwarded-Host from Host', async () => {
      const raw = await upstreamView([]);
      assert.deepEqual(values(raw, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(values(raw, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(values(raw, 'x-forwarded-host'), [tunnel.host]);
      assert.deepEqual(values(raw, 'host'), [tunnel.host]);
    });

    it('keeps client-sent X-Forwarded-* values first and X-Forwarded-Host untouched', async () => {
      const raw = await upstreamView([
        'X-Forwarded-For',
        '203.0.113.9',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'shop.example',
      ]);
      assert.deepEqual(values(raw, 'x-forwarded-for'), ['203.0.113.9, 127.0.0.1']);
      assert.deepEqual(values(raw, 'x-forwarded-proto'), ['https, http']);
      assert.deepEqual(values(raw, 'x-forwarded-host'), ['shop.example']);
    });

    it('strips hop-by-hop headers, including names listed in Connection:', async () => {
      const raw = await upstreamView([
        'Connection',
        'keep-alive, X-Private, X-Forwarded-For',
        'Keep-Alive',
        'timeout=5',
        'X-Private',
        'secret',
        'Proxy-Authorization',
        'Basic Zm9vOmJhcg==',
        'TE',
        'trailers',
        'Upgrade',
        'h2c',
        'X-Forwarded-For',
        '198.51.100.1',
        'X-Kept',
        'kept',
      ]);
      const names = new Set(raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
      for (const hop of ['keep-alive', 'x-private', 'proxy-authorization', 'te', 'upgrade']) {
        assert.ok(!names.has(hop), `${hop} must not reach the upstream`);
      }
      assert.deepEqual(values(raw, 'x-kept'), ['kept']);
      // A client naming X-Forwarded-For in Connection drops its own value, never the edge's.
      assert.deepEqual(values(raw, 'x-forwarded-for'), ['127.0.0.1']);
    });

    it('strips hop-by-hop headers from responses and never passes an upstream ngrok-error-code', async () => {
      const reply = await request(tunnel.port, tunnel.host, { path: '/respond-headers' });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['x-upstream'], 'yes');
      assert.equal(reply.headers['ngrok-error-code'], undefined);
      assert.equal(reply.headers['keep-alive'], undefined);
    });

    it('applies request and response header add/remove rules', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: {
          requestHeaders: { add: ['X-Added: on the way in'], remove: ['X-Remove-Me'] },
          responseHeaders: { add: ['X-Response-Added: yes'], remove: ['x-secret'] },
        },
      });
      const raw = await upstreamView(['X-Remove-Me', 'gone', 'X-Stay', 'here'], t);
      assert.deepEqual(values(raw, 'x-added'), ['on the way in']);
      assert.deepEqual(values(raw, 'x-remove-me'), []);
      assert.deepEqual(values(raw, 'x-stay'), ['here']);
      const reply = await request(t.port, t.host, { path: '/respond-headers' });
      assert.equal(reply.headers['x-response-added'], 'yes');
      assert.equal(reply.headers['x-secret'], undefined);
      assert.equal(reply.headers['x-upstream'], 'yes');
    });

    it('rewrites the Host header (rewrite and a literal value)', async () => {
      const rewrite = await startTunnel(agent, { upstream: `localhost:${upstreamPort}`, hostHeader: 'rewrite' });
      const raw = await upstreamView([], rewrite);
      assert.deepEqual(values(raw, 'host'), [`localhost:${upstreamPort}`]);
      assert.deepEqual(values(raw, 'x-forwarded-host'), [rewrite.host]);
      const literal = await startTunnel(agent, { upstream: String(upstreamPort), hostHeader: 'app.internal' });
      assert.deepEqual(values(await upstreamView([], literal), 'host'), ['app.internal']);
    });
  });

  describe('upstream protocols', () => {
    it('forwards to an https upstream without verifying its self-signed certificate', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-up-cert-'));
      const cert = await selfSignedCertificate({ hosts: ['localhost'], cacheDir: dir });
      fs.rmSync(dir, { recursive: true, force: true });
      const secure = res.server(
        https.createServer(cert, (req, rsp) => {
          req.resume();
          req.on('end', () =>
            rsp.end(
              `tls upstream saw ${req.method} ${req.url} ${(req.socket as import('node:tls').TLSSocket).encrypted}`,
            ),
          );
        }),
      );
      const t = await startTunnel(agent, { upstream: `https://127.0.0.1:${await listen(secure)}` });
      const reply = await request(t.port, t.host, { method: 'POST', path: '/s', body: 'x' });
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), 'tls upstream saw POST /s true');
    });

    it('forwards to an h2c upstream (HTTP/2 prior knowledge) with bodies both ways', async () => {
      const h2 = http2.createServer();
      h2.on('stream', (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          stream.respond({
            ':status': 201,
            'x-authority': String(headers[':authority']),
            'x-xfp': String(headers['x-forwarded-proto']),
          });
          stream.end(`h2 got ${headers[':method']} ${headers[':path']} ${Buffer.concat(chunks).length}`);
        });
      });
      const h2Sessions = new Set<http2.ServerHttp2Session>();
      h2.on('session', (session) => h2Sessions.add(session));
      res.add(
        h2,
        (server) =>
          new Promise((resolve) => {
            server.close(resolve);
            for (const session of h2Sessions) session.destroy();
          }),
      );
      const t = await startTunnel(agent, { upstream: String(await listen(h2)), upstreamProtocol: 'http2' });
      const reply = await request(t.port, t.host, { method: 'PUT', path: '/h2c?q=1', body: Buffer.alloc(300_000, 1) });
      assert.equal(reply.status, 201);
      assert.equal(reply.headers['x-authority'], t.host);
      assert.equal(reply.headers['x-xfp'], 'http');
      assert.equal(reply.body.toString(), 'h2 got PUT /h2c?q=1 300000');
      const get = await request(t.port, t.host, { path: '/g' });
      assert.equal(get.body.toString(), 'h2 got GET /g 0');
    });
  });

  describe('file:// upstream', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-files-'));
      fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from disk\n');
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.writeFileSync(path.join(dir, 'sub', 'data.bin'), Buffer.alloc(2 * MiB, 0xab));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('lists a directory and downloads files through the tunnel', async () => {
      const t = await startTunnel(agent, { upstream: `file://${dir}` });
      const listing = await request(t.port, t.host, { path: '/' });
      assert.equal(listing.status, 200);
      assert.match(String(listing.headers['content-type']), /text\/html/);
      assert.match(listing.body.toString(), /hello\.txt/);
      assert.match(listing.body.toString(), /sub\//);
      const file = await request(t.port, t.host, { path: '/hello.txt' });
      assert.equal(file.status, 200);
      assert.equal(file.body.toString(), 'hello from disk\n');
      const bin = await request(t.port, t.host, { path: '/sub/data.bin' });
      assert.equal(bin.status, 200);
      assert.ok(bin.body.equals(Buffer.alloc(2 * MiB, 0xab)));
      assert.equal((await request(t.port, t.host, { path: '/missing' })).status, 404);
    });
  });
});
