// The agent's raw path to plain HTTP/1.1 upstreams (tunnel/src/agent/raw-http-forwarder.ts):
// a pooled upstream connection is reused after every kind of response framing that ends
// exactly (Content-Length, chunked with trailers, HEAD, 204, 304, 1xx before the answer, a
// chunked upload) and never after one that cannot be reused (close-delimited, an upgrade); and
// fuzzed response heads: whatever the raw path accepts, Node's own client reads the same way.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { Agent } from '../../tunnel/src/agent/agent';
import { rawRequest } from '../../tunnel/src/agent/raw-http-forwarder';
import { Resources, listen, request, startAgent, startTunnel } from '../support/tunnel';

interface Seen {
  connection: number;
  method: string;
  path: string;
  body: string;
}

/**
 * A raw upstream that answers each request on a connection by its path, byte for byte as the
 * test wrote it, and records which connection carried which request.
 */
function scriptedUpstream(answer: (path: string, socket: net.Socket) => string | undefined): {
  server: net.Server;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    const id = ++connections;
    let buf = Buffer.alloc(0);
    let raw = false;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (raw) {
        socket.write(chunk); // after a 101: echo
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const [method, path] = head.split(' ');
        let bodyEnd = end + 4;
        let body = '';
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = buf.indexOf('\r\n0\r\n\r\n', end + 2);
          if (last < 0) return;
          bodyEnd = last + 7;
          const coded = buf.subarray(end + 4, bodyEnd).toString('latin1');
          for (const m of coded.matchAll(/([0-9a-f]+)\r\n/gi)) {
            const size = parseInt(m[1], 16);
            body += coded.slice(m.index + m[0].length, m.index + m[0].length + size);
          }
        } else if (length) {
          bodyEnd = end + 4 + Number(length[1]);
          if (buf.length < bodyEnd) return;
          body = buf.subarray(end + 4, bodyEnd).toString('latin1');
        }
        buf = buf.subarray(bodyEnd);
        seen.push({ connection: id, method, path, body });
        const reply = answer(path, socket);
        if (reply === undefined) continue;
        socket.write(reply);
        if (path === '/close') socket.end();
        if (path === '/ws') raw = true;
      }
    });
  });
  return { server, seen };
}

const ANSWERS: Record<string, string> = {
  '/cl': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  '/chunked':
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n',
  '/head': 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n',
  '/304': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',
  '/204': 'HTTP/1.1 204 No Content\r\n\r\n',
  '/1xx':
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/close': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
  '/ws': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
};

describe('agent raw upstream path: keep-alive reuse after each framing kind', function () {
  this.timeout(60_000);
  const res = new Resources();
  let agent: Agent;
  before(async () => {
    agent = await startAgent(res);
  });
  after(() => res.closeAll());

  it('reuses one connection across CL, chunked, HEAD, 304, 204, 1xx and a chunked upload; not after close-delimited or an upgrade', async () => {
    const up = scriptedUpstream((path) => (path === '/upload' ? undefined : ANSWERS[path]));
    // The upload's answer depends on what arrived.
    up.server.on('connection', (socket: net.Socket) =>
      socket.on('data', () =>
        setImmediate(() => {
          const last = up.seen.at(-1);
          if (last?.path === '/upload' && !(last as { answered?: boolean }).answered) {
            (last as { answered?: boolean }).answered = true;
            const reply = `seen ${last.body.length}`;
            socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${reply.length}\r\n\r\n${reply}`);
          }
        }),
      ),
    );
    const t = await startTunnel(agent, { upstream: String(await listen(res.server(up.server))) });
    const get = (path: string, method = 'GET') => request(t.port, t.host, { path, method });

    const cl = await get('/cl');
    assert.equal(cl.body.toString(), 'hello');
    const chunked = await get('/chunked');
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), 'hello world');
    const head = await get('/head', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.body.length, 0);
    assert.equal((await get('/304')).status, 304);
    assert.equal((await get('/204')).status, 204);
    const early = await get('/1xx');
    assert.equal(early.status, 200);
    assert.equal(early.body.toString(), 'ok');
    const payload = 'p'.repeat(70_000);
    const upload = await request(t.port, t.host, {
      method: 'POST',
      path: '/upload',
      body: Readable.from([payload.slice(0, 30_000), payload.slice(30_000)]),
    });
    assert.equal(upload.body.toString(), `seen ${payload.length}`);
    assert.equal(up.seen.find((s) => s.path === '/upload')?.body, payload, 'the chunked upload arrives intact');
    assert.equal((await get('/cl')).body.toString(), 'hello');
    assert.deepEqual(
      up.seen.map((s) => s.connection),
      Array(up.seen.length).fill(1),
      'one upstream connection for all of them',
    );

    // Close-delimited: the body runs to the upstream's close; the next request needs a new connection.
    const close = await get('/close');
    assert.equal(close.body.toString(), 'until the end');
    assert.equal((await get('/cl')).body.toString(), 'hello');
    assert.equal(up.seen.at(-1)?.connection, 2);

    // An upgrade takes the pooled connection and makes it a raw pipe; the next request gets its own.
    const ws = net.connect(t.port, '127.0.0.1');
    ws.write(
      `GET /ws HTTP/1.1\r\nHost: ${t.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    let got = '';
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n') && !got.includes('ping')) ws.write('ping');
        if (got.endsWith('ping')) resolve();
      });
    });
    assert.match(got, /^HTTP\/1\.1 101 /);
    assert.equal(up.seen.at(-1)?.connection, 2, 'the upgrade reused the pooled connection');
    assert.equal((await get('/cl')).body.toString(), 'hello');
    assert.equal(up.seen.at(-1)?.connection, 3, 'the upgraded connection is never pooled');
    ws.destroy();
  });
});

// ---- fuzzed response heads: differential against Node's http client ----

interface Outcome {
  status?: number;
  body?: string;
  error?: string;
}

/**
 * What Node's own client (llhttp) reads. A response that ended where its framing said counts as
 * read even when junk follows it (Node then also reports a parse error for the junk; the raw path
 * drops the connection instead of reusing it).
 */
function nodeReads(port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (!done) resolve(o);
      done = true;
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (rsp) => {
      const chunks: Buffer[] = [];
      rsp.on('data', (c: Buffer) => chunks.push(c));
      rsp.on('end', () =>
        finish(
          rsp.complete
            ? { status: rsp.statusCode, body: Buffer.concat(chunks).toString('latin1') }
            : { error: 'incomplete' },
        ),
      );
      rsp.on('error', (e) => setTimeout(() => finish({ error: e.message }), 50));
    });
    req.on('error', (e) => setTimeout(() => finish({ error: e.message }), 50));
  });
}

/** What the raw path reads from `bytes`. */
function rawReads(port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const { body } = rawRequest(
      { host: '127.0.0.1', port, responseTimeoutMs: 10_000 },
      { method: 'GET', url: path, rawHeaders: ['Host', 'x', 'Connection', 'close'] },
      {
        response(status, _message, _version, _raw, rsp) {
          const chunks: Buffer[] = [];
          rsp.on('data', (c: Buffer) => chunks.push(c));
          rsp.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('latin1') }));
          rsp.on('close', () => resolve({ error: 'closed before the end' }));
        },
        upgrade: () => resolve({ error: 'upgrade' }),
        error: (e) => resolve({ error: `${e.code}: ${e.message}` }),
      },
    );
    body.end();
  });
}

const NAMES = ['Content-Type', 'ETag', 'X-Custom', 'Set-Cookie', 'Cache-Control', 'Vary', 'Keep-Alive'];

const response = fc
  .record({
    interim: fc.constantFrom('', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n'),
    version: fc.constantFrom('1.1', '1.0'),
    status: fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500),
    reason: fc.constantFrom('OK', 'Whatever It Is', ''),
    headers: fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.stringMatching(/^[ -~]{0,20}$/)), { maxLength: 6 }),
    framing: fc.constantFrom('length', 'chunked', 'close'),
    body: fc.array(fc.stringMatching(/^[ -~\r\n]{1,40}$/), { maxLength: 4 }),
  })
  .map((r) => {
    let text = `${r.interim}HTTP/${r.version} ${r.status}${r.reason ? ` ${r.reason}` : ''}\r\n`;
    for (const [name, value] of r.headers) text += `${name}: ${value.trim()}\r\n`;
    const body = r.body.join('');
    if (r.framing === 'length') text += `Content-Length: ${body.length}\r\n\r\n${body}`;
    else if (r.framing === 'chunked')
      text += `Transfer-Encoding: chunked\r\n\r\n${r.body.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('')}0\r\n\r\n`;
    else text += `\r\n${body}`;
    return text;
  });

const mutation = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom('\r', '\n', ' ', '\t', ':', ',', '0', 'a', '\x00', '\x7f', '\xff', '-', ';', '')),
  { maxLength: 3 },
);

function mutate(text: string, changes: Array<[number, string]>): string {
  for (const [at, ch] of changes) {
    const i = at % (text.length + 1);
    text = text.slice(0, i) + ch + text.slice(i + (ch === '' ? 1 : 0));
  }
  return text;
}

describe('agent raw upstream path: fuzzed response heads against Node’s client', function () {
  this.timeout(120_000);
  const res = new Resources();
  after(() => res.closeAll());

  it('whatever the raw path accepts, Node reads the same status and body (valid and mutated responses)', async () => {
    const cases: string[] = [];
    const server = res.server(
      net.createServer((socket) => {
        socket.on('error', () => undefined);
        let buf = '';
        socket.on('data', (c: Buffer) => {
          buf += c.toString('latin1');
          const m = /^GET \/(\d+) /.exec(buf);
          if (!m || !buf.includes('\r\n\r\n')) return;
          const bytes = Buffer.from(cases[Number(m[1])], 'latin1');
          // Two writes at a random cut: the parsers must not care where reads end.
          const cut = Number(m[1]) % (bytes.length + 1);
          socket.write(bytes.subarray(0, cut));
          setTimeout(() => socket.end(bytes.subarray(cut)), 1);
        });
      }),
    );
    const port = await listen(server);
    let accepted = 0;
    let refusedByBoth = 0;
    await fc.assert(
      fc.asyncProperty(response, mutation, async (valid, changes) => {
        const id = cases.push(mutate(valid, changes)) - 1;
        const raw = await rawReads(port, `/${id}`);
        const node = await nodeReads(port, `/${id}`);
        if (raw.error === undefined) {
          accepted++;
          assert.deepEqual(raw, node, `raw path and Node disagree on ${JSON.stringify(cases[id])}`);
        } else if (node.error !== undefined) refusedByBoth++;
        if (changes.length === 0) assert.equal(raw.error, undefined, `a valid response refused: ${raw.error}`);
      }),
      { numRuns: 250 },
    );
    assert.ok(
      accepted > 50 && refusedByBoth > 10,
      `a spread of cases (${accepted} accepted, ${refusedByBoth} refused by both)`,
    );
  });
});
