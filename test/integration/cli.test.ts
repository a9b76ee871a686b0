// The `burrow` command as a user runs it: the built bundle as a child process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

const BIN = path.resolve(__dirname, '../../dist/burrow.js');

interface Run { child: ChildProcess; stdout: string; stderr: string; exited: Promise<number | null> }

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
  child.stdout!.on('data', (d) => { r.stdout += d; });
  child.stderr!.on('data', (d) => { r.stderr += d; });
  return r;
}

async function waitFor<T>(probe: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function get(url: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: u.port, path: u.pathname + u.search, headers: { host: u.host } }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    }).on('error', reject);
  });
}

describe('burrow CLI', () => {
  let upstream: http.Server;
  let upstreamPort: number;
  const children: ChildProcess[] = [];

  before(async () => {
    upstream = http.createServer((req, res) => res.end(`hello from upstream ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
  });
  afterEach(() => { for (const c of children.splice(0)) c.kill('SIGKILL'); });
  after(() => upstream.close());

  it('burrow http PORT prints a *.localhost URL that reaches the upstream, and exits 0 on SIGINT', async () => {
    const r = run(['http', String(upstreamPort)]);
    children.push(r.child);
    const url = await waitFor(() => /Forwarding\s+(http:\/\/[a-z0-9-]+\.localhost:\d+)/.exec(r.stdout)?.[1], 'forwarding line');
    assert.match(r.stdout, /Session Status\s+online/);
    assert.match(r.stdout, new RegExp(`-> http://127\\.0\\.0\\.1:${upstreamPort}`));
    const res = await get(`${url}/path?q=1`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello from upstream /path?q=1');
    r.child.kill('SIGINT');
    assert.equal(await r.exited, 0);
  });

  it('--log stdout --log-format json prints one JSON record per line with the tunnel URL', async () => {
    const r = run(['http', String(upstreamPort), '--log', 'stdout', '--log-format', 'json', '--name', 'web']);
    children.push(r.child);
    const record = await waitFor(() => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>).find((o) => o.msg === 'started tunnel'), 'started tunnel record');
    assert.equal(record.name, 'web');
    assert.equal(record.lvl, 'info');
    assert.match(record.url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.ok(!Number.isNaN(Date.parse(record.t)));
    assert.equal((await get(record.url)).status, 200);
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });

  it('usage errors exit 2 with a coded message and no stack trace', async () => {
    for (const args of [['http'], ['http', '3000', '--scheme', 'ftp'], ['bogus'], ['http', '3000', '--nope'], ['tls', '443']]) {
      const r = run(args);
      assert.equal(await r.exited, 2, args.join(' '));
      assert.match(r.stderr, /^ERROR: .+\nERROR: code ERR_BURROW_USAGE\n$/, args.join(' '));
    }
  });

  it('a bad upstream address exits 1 with a hint', async () => {
    const r = run(['http', 'http://localhost:99999']);
    assert.equal(await r.exited, 1);
    assert.match(r.stderr, /ERR_BURROW_UPSTREAM_ADDR/);
    assert.match(r.stderr, /HINT:/);
  });

  it('a standalone edge refuses a wrong authtoken (exit 1, ERR_NGROK_107) and serves a right one', async () => {
    const edge = run(['edge', '--listen', '127.0.0.1:0', '--domain', 'edge.test', '--log-format', 'json'], { BURROW_EDGE_TOKENS: 'good-token' });
    children.push(edge.child);
    const port = await waitFor(() => {
      const line = edge.stdout.split('\n').find((l) => l.includes('edge listening'));
      return line ? (JSON.parse(line) as { http: number }).http : undefined;
    }, 'edge listening');
    const bad = run(['http', String(upstreamPort), '--edge', `ws://127.0.0.1:${port}`, '--authtoken', 'wrong']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr, /ERR_NGROK_107/);
    assert.doesNotMatch(bad.stderr + bad.stdout, /wrong/, 'the token is never echoed');
    const good = run(['http', String(upstreamPort), '--edge', `ws://127.0.0.1:${port}`, '--domain', 'app.edge.test', '--log', 'stdout', '--log-format', 'json'], { BURROW_AUTHTOKEN: 'good-token' });
    children.push(good.child);
    await waitFor(() => (good.stdout.includes('started tunnel') ? true : undefined), 'tunnel on standalone edge');
    const res = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/x', headers: { host: 'app.edge.test' } }, (r2) => { let b = ''; r2.on('data', (c) => { b += c; }); r2.on('end', () => resolve(b)); }).on('error', reject);
    });
    assert.equal(res, 'hello from upstream /x');
    assert.doesNotMatch(edge.stdout, /good-token/, 'edge logs never carry tokens');
  });
});
