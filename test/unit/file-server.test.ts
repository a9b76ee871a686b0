/**
 * The file:// upstream server, driven by real HTTP requests on loopback against a real directory.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startFileServer, type FileServer } from '../../tunnel/src/agent/file-server';

type Reply = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/** A raw request: the path is sent exactly as given (no normalisation by a URL parser). */
function request(
  base: string,
  rawPath: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, path: rawPath, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Stream a download through sha256 without keeping it. */
function downloadDigest(
  base: string,
  rawPath: string,
): Promise<{ status: number; length: number; digest: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${rawPath}`, { agent: false }, (res) => {
        const hash = crypto.createHash('sha256');
        let length = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          length += c.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, length, digest: hash.digest('hex'), headers: res.headers }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('agent/file-server', function () {
  let sandbox: string;
  let root: string;
  let server: FileServer;
  let bigDigest: string;
  const BIG_SIZE = 5 * 1024 * 1024 + 123;
  const UNICODE_NAME = 'with space ü 日本.txt';

  before(async () => {
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-files-'));
    root = path.join(sandbox, 'root');
    fs.mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
    fs.mkdirSync(path.join(root, 'site'));
    fs.mkdirSync(path.join(root, '.well-known'));
    fs.writeFileSync(path.join(root, 'hello.txt'), 'hello, world\n');
    fs.writeFileSync(path.join(root, UNICODE_NAME), 'unicode content');
    fs.writeFileSync(path.join(root, '<b>&"bold".txt'), 'escaped');
    fs.writeFileSync(path.join(root, 'data.json'), '{"a":1}');
    fs.writeFileSync(path.join(root, 'sub', 'nested.txt'), 'nested');
    fs.writeFileSync(path.join(root, 'site', 'index.html'), '<h1>site index</h1>');
    fs.writeFileSync(path.join(root, '.env'), 'SECRET=1');
    fs.writeFileSync(path.join(root, '.well-known', 'security.txt'), 'Contact: x');
    fs.writeFileSync(path.join(sandbox, 'secret.txt'), 'outside the root');
    fs.symlinkSync(path.join(sandbox, 'secret.txt'), path.join(root, 'escape-link.txt'));
    fs.symlinkSync(sandbox, path.join(root, 'escape-dir'));
    fs.symlinkSync(path.join(root, 'hello.txt'), path.join(root, 'inner-link.txt'));
    const big = crypto.randomBytes(BIG_SIZE);
    bigDigest = crypto.createHash('sha256').update(big).digest('hex');
    fs.writeFileSync(path.join(root, 'big.bin'), big);
    server = await startFileServer(root);
  });
  after(async () => {
    await server?.close();
    fs.rmSync(sandbox, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 with an ephemeral port', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('lists a directory: files, sizes, escaped names, no dotfiles, no escaping symlinks', async () => {
    const reply = await request(server.url, '/');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
    const html = reply.body.toString();
    assert.match(html, /<a href="hello\.txt">hello\.txt<\/a>/);
    assert.match(html, /<a href="sub\/">sub\/<\/a>/);
    assert.match(html, /<a href="inner-link\.txt">/);
    assert.ok(html.includes(`href="${encodeURIComponent(UNICODE_NAME)}"`));
    assert.ok(html.includes(`>${UNICODE_NAME}</a>`));
    assert.ok(html.includes('&#60;b&#62;&#38;&#34;bold&#34;.txt'), 'name is escaped');
    assert.ok(!html.includes('<b>&'), 'raw name never appears');
    assert.match(html, /title="5243003 bytes">5\.0 MiB/);
    assert.match(html, /\d{4}-\d\d-\d\d \d\d:\d\d/);
    assert.ok(!html.includes('.env'));
    assert.ok(!html.includes('escape-link') && !html.includes('escape-dir'));
    assert.ok(!html.includes('href="../"'), 'no parent link at the root');
    // Directories first.
    assert.ok(html.indexOf('sub/') < html.indexOf('hello.txt'));
  });

  it('links a subdirectory listing to its parent', async () => {
    const reply = await request(server.url, '/sub/');
    assert.equal(reply.status, 200);
    const html = reply.body.toString();
    assert.match(html, /Index of \/sub\//);
    assert.match(html, /href="\.\.\/"/);
    assert.match(html, /href="deeper\/"/);
    assert.match(html, /href="nested\.txt"/);
  });

  it('redirects /dir to /dir/, keeping the query and never to another host', async () => {
    const reply = await request(server.url, '/sub?x=1');
    assert.equal(reply.status, 301);
    assert.equal(reply.headers.location, '/sub/?x=1');
    const doubled = await request(server.url, '//sub');
    assert.equal(doubled.status, 301);
    assert.equal(doubled.headers.location, '/sub/');
  });

  it('serves index.html for a directory that has one', async () => {
    const reply = await request(server.url, '/site/');
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/html/);
    assert.equal(reply.body.toString(), '<h1>site index</h1>');
  });

  it('serves files with type and length', async () => {
    const text = await request(server.url, '/hello.txt');
    assert.equal(text.status, 200);
    assert.match(String(text.headers['content-type']), /^text\/plain/);
    assert.equal(text.headers['content-length'], '13');
    assert.equal(text.body.toString(), 'hello, world\n');
    assert.equal((await request(server.url, '/data.json')).headers['content-type'], 'application/json; charset=utf-8');
    assert.equal((await request(server.url, '/inner-link.txt')).body.toString(), 'hello, world\n');
    assert.equal((await request(server.url, '/.well-known/security.txt')).status, 200);
  });

  it('downloads a multi-MiB file byte-identical', async () => {
    const { status, length, digest, headers } = await downloadDigest(server.url, '/big.bin');
    assert.equal(status, 200);
    assert.equal(headers['content-length'], String(BIG_SIZE));
    assert.equal(headers['content-type'], 'application/octet-stream');
    assert.equal(length, BIG_SIZE);
    assert.equal(digest, bigDigest);
  });

  it('serves names with spaces and unicode', async () => {
    const reply = await request(server.url, `/${encodeURIComponent(UNICODE_NAME)}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'unicode content');
  });

  it('answers single ranges with 206 and unsatisfiable ones with 416', async () => {
    const bytes = fs.readFileSync(path.join(root, 'big.bin'));
    const middle = await request(server.url, '/big.bin', { headers: { range: 'bytes=1000-1999' } });
    assert.equal(middle.status, 206);
    assert.equal(middle.headers['content-range'], `bytes 1000-1999/${BIG_SIZE}`);
    assert.equal(middle.headers['content-length'], '1000');
    assert.ok(middle.body.equals(bytes.subarray(1000, 2000)));
    const suffix = await request(server.url, '/big.bin', { headers: { range: 'bytes=-10' } });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(bytes.subarray(BIG_SIZE - 10)));
    const beyond = await request(server.url, '/big.bin', { headers: { range: `bytes=${BIG_SIZE}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${BIG_SIZE}`);
  });

  it('answers conditional GETs with 304 (ETag and Last-Modified)', async () => {
    const first = await request(server.url, '/hello.txt');
    const etag = String(first.headers.etag);
    const lastModified = String(first.headers['last-modified']);
    assert.ok(etag && lastModified);
    const byTag = await request(server.url, '/hello.txt', { headers: { 'if-none-match': etag } });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    const byDate = await request(server.url, '/hello.txt', { headers: { 'if-modified-since': lastModified } });
    assert.equal(byDate.status, 304);
    const stale = await request(server.url, '/hello.txt', { headers: { 'if-none-match': '"not-it"' } });
    assert.equal(stale.status, 200);
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const head = await request(server.url, '/big.bin', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(BIG_SIZE));
    assert.equal(head.body.length, 0);
    const listingHead = await request(server.url, '/', { method: 'HEAD' });
    assert.equal(listingHead.status, 200);
    assert.equal(listingHead.body.length, 0);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const reply = await request(server.url, '/hello.txt', { method });
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'GET, HEAD');
    }
  });

  it('refuses path traversal in every spelling', async () => {
    const attempts = [
      '/../secret.txt',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/%2e%2e/secret.txt',
      '/sub/..%2f..%2fsecret.txt',
      '/sub%2f..%2f..%2fsecret.txt',
      `/${encodeURIComponent(path.join(sandbox, 'secret.txt'))}`,
      `/${path.join(sandbox, 'secret.txt')}`,
      'http://127.0.0.1/../secret.txt',
      '/hello.txt%00.png',
      '/escape-link.txt',
      '/escape-dir/secret.txt',
      '/escape-dir/',
      '/.env',
      '/%2eenv',
    ];
    for (const attempt of attempts) {
      const reply = await request(server.url, attempt);
      assert.ok([400, 403, 404].includes(reply.status), `${attempt} → ${reply.status}`);
      assert.ok(!reply.body.toString().includes('outside the root'), attempt);
      assert.ok(!reply.body.toString().includes('SECRET'), attempt);
    }
    assert.equal((await request(server.url, '/%2e%2e/secret.txt')).status, 403);
    assert.equal((await request(server.url, '/escape-link.txt')).status, 404);
    assert.equal((await request(server.url, '/bad%zzencoding')).status, 400);
    assert.equal((await request(server.url, '/missing.txt')).status, 404);
  });

  it('refuses a root that does not exist or is not a directory with ERR_BURROW_FILE_ROOT', async () => {
    for (const bad of [path.join(sandbox, 'nope'), path.join(root, 'hello.txt'), 'relative/dir']) {
      await assert.rejects(startFileServer(bad), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'ERR_BURROW_FILE_ROOT');
        assert.ok((err as Error).message.includes(bad));
        return true;
      });
    }
  });

  it('serves dotfiles when asked, and stops accepting connections on close', async () => {
    const open = await startFileServer(root, { dotfiles: 'allow' });
    assert.equal((await request(open.url, '/.env')).body.toString(), 'SECRET=1');
    await open.close();
    await assert.rejects(request(open.url, '/hello.txt'), /ECONNREFUSED/);
  });
});
