// The `burrow` command as a user runs it: the built bundle as a child process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

const BIN = path.resolve(__dirname, '../../dist/burrow.js');
// Every run gets its own HOME so the machine's real ngrok.yml never leaks into a test.
const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-cli-home-'));

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: {
      ...process.env,
      HOME,
      XDG_CONFIG_HOME: path.join(HOME, '.config'),
      BURROW_AUTHTOKEN: '',
      NGROK_AUTHTOKEN: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d) => {
    r.stdout += d;
  });
  child.stderr!.on('data', (d) => {
    r.stderr += d;
  });
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
    http
      .get({ host: '127.0.0.1', port: u.port, path: u.pathname + u.search, headers: { host: u.host } }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('error', reject);
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
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  after(() => upstream.close());

  it('burrow http PORT prints a *.localhost URL that reaches the upstream, and exits 0 on SIGINT', async () => {
    const r = run(['http', String(upstreamPort)]);
    children.push(r.child);
    const url = await waitFor(
      () => /Forwarding\s+(http:\/\/[a-z0-9-]+\.localhost:\d+)/.exec(r.stdout)?.[1],
      'forwarding line',
    );
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
    const record = await waitFor(
      () =>
        r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, string>)
          .find((o) => o.msg === 'started tunnel'),
      'started tunnel record',
    );
    assert.equal(record.name, 'web');
    assert.equal(record.lvl, 'info');
    assert.match(record.url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.ok(!Number.isNaN(Date.parse(record.t)));
    assert.equal((await get(`${record.url}/logged?a=b`)).status, 200);
    const done = await waitFor(
      () =>
        r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((o) => o.msg === 'http_request_complete.v0'),
      'request log',
    );
    assert.equal(done['http.request.method'], 'GET');
    assert.equal(done['http.request.url.path'], '/logged');
    assert.equal(done['http.request.url.query'], 'a=b');
    assert.equal(done['http.response.status_code'], 200);
    assert.equal(done.name, 'web');
    assert.equal(done['conn.client_ip'], '127.0.0.1');
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });

  it('serves the ngrok-compatible local API: /api/tunnels has the public_url, requests are captured', async () => {
    const r = run([
      'http',
      String(upstreamPort),
      '--web-addr',
      '127.0.0.1:0',
      '--log',
      'stdout',
      '--log-format',
      'json',
      '--name',
      'app',
    ]);
    children.push(r.child);
    const records = () =>
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, string>);
    const addr = await waitFor(() => records().find((o) => o.msg === 'starting web service')?.addr, 'web service');
    assert.match(addr, /^127\.0\.0\.1:\d+$/, "ngrok's form: host:port, no scheme");
    const web = `http://${addr}`;
    const started = await waitFor(() => records().find((o) => o.msg === 'started tunnel'), 'tunnel');
    const api = async (p: string) => JSON.parse((await get(`${web}${p}`)).body) as Record<string, unknown>;
    const { tunnels } = (await api('/api/tunnels')) as {
      tunnels: { name: string; public_url: string; proto: string; config: { addr: string } }[];
    };
    assert.equal(tunnels.length, 1);
    assert.equal(tunnels[0].name, 'app');
    assert.equal(tunnels[0].public_url, started.url);
    assert.equal(tunnels[0].config.addr, `http://127.0.0.1:${upstreamPort}`);
    await get(`${started.url}/captured?x=1`);
    const deadline = Date.now() + 5000;
    let requests: { request: { method: string; uri: string }; response: { status_code: number } | null }[] = [];
    while (Date.now() < deadline) {
      requests = (await api('/api/requests/http')).requests as typeof requests;
      if (requests.length && requests[0].response) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(requests.length, 1);
    assert.equal(requests[0].request.uri, '/captured?x=1');
    assert.equal(requests[0].response?.status_code, 200);
  });

  it('usage errors exit 2 with a coded message and no stack trace', async () => {
    for (const args of [
      ['http'],
      ['http', '3000', '--scheme', 'ftp'],
      ['bogus'],
      ['http', '3000', '--nope'],
      ['tls', '443'],
    ]) {
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
    const edge = run(['edge', '--listen', '127.0.0.1:0', '--domain', 'edge.test', '--log-format', 'json'], {
      BURROW_EDGE_TOKENS: 'good-token',
    });
    children.push(edge.child);
    const port = await waitFor(() => {
      const line = edge.stdout.split('\n').find((l) => l.includes('edge listening'));
      return line ? (JSON.parse(line) as { http: number }).http : undefined;
    }, 'edge listening');
    const bad = run(['http', String(upstreamPort), '--edge', `ws://127.0.0.1:${port}`, '--authtoken', 'wrong']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr, /ERR_NGROK_107/);
    assert.doesNotMatch(bad.stderr + bad.stdout, /wrong/, 'the token is never echoed');
    const good = run(
      [
        'http',
        String(upstreamPort),
        '--edge',
        `ws://127.0.0.1:${port}`,
        '--domain',
        'app.edge.test',
        '--log',
        'stdout',
        '--log-format',
        'json',
      ],
      { BURROW_AUTHTOKEN: 'good-token' },
    );
    children.push(good.child);
    await waitFor(() => (good.stdout.includes('started tunnel') ? true : undefined), 'tunnel on standalone edge');
    const res = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/x', headers: { host: 'app.edge.test' } }, (r2) => {
          let b = '';
          r2.on('data', (c) => {
            b += c;
          });
          r2.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    assert.equal(res, 'hello from upstream /x');
    assert.doesNotMatch(edge.stdout, /good-token/, 'edge logs never carry tokens');
  });

  describe('with ngrok.yml', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-cli-config-'));
    const write = (name: string, text: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    };

    it('config check prints file:line:col for each problem and exits 2; a valid file prints "valid" and exits 0', async () => {
      const bad = write(
        'bad.yml',
        'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n    colour: blue\n',
      );
      const r = run(['config', 'check', '--config', bad]);
      assert.equal(await r.exited, 2);
      assert.match(r.stdout, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:5: .*colour`, 'm'));
      const good = write('good.yml', 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n');
      const ok = run(['config', 'check', '--config', good]);
      assert.equal(await ok.exited, 0);
      assert.equal(ok.stdout, 'valid\n');
    });

    it('reports a module setting the edge would refuse at the offending value, before anything starts', async () => {
      const file = write(
        'oauth.yml',
        'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n  sso:\n    proto: http\n    addr: 3002\n    oauth:\n      provider: google\n',
      );
      // ngrok's managed-app form is valid (an edge with a managed google app serves it) …
      const check = run(['config', 'check', '--config', file]);
      assert.equal(await check.exited, 0);
      // … but this embedded edge has none: refused before anything starts, naming the tunnel.
      const start = run(['start', '--all', '--config', file]);
      assert.equal(await start.exited, 2);
      assert.match(start.stderr, /tunnel "sso": oauth: this edge has no managed google app/);
      assert.match(start.stderr, /ERR_NGROK_7166/);
      assert.doesNotMatch(start.stdout, /Forwarding/, 'nothing half-starts');
    });

    it('start --all brings every tunnel of a multi-tunnel file online', async () => {
      const file = write(
        'multi.yml',
        [
          'version: "2"',
          'tunnels:',
          '  one:',
          '    proto: http',
          `    addr: ${upstreamPort}`,
          '  two:',
          '    proto: http',
          `    addr: ${upstreamPort}`,
          '    subdomain: second',
          '  three:',
          '    proto: tcp',
          `    addr: ${upstreamPort}`,
          '',
        ].join('\n'),
      );
      const r = run(['start', '--all', '--config', file, '--log', 'stdout', '--log-format', 'json']);
      children.push(r.child);
      const started = await waitFor(() => {
        const recs = r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, string>)
          .filter((o) => o.msg === 'started tunnel');
        return recs.length === 3 ? recs : undefined;
      }, 'three tunnels');
      assert.deepEqual(started.map((t) => t.name).sort(), ['one', 'three', 'two']);
      const two = started.find((t) => t.name === 'two')!;
      assert.match(two.url, /^http:\/\/second\.localhost:\d+$/);
      assert.equal((await get(`${two.url}/2`)).body, 'hello from upstream /2');
      assert.match(started.find((t) => t.name === 'three')!.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    });

    it('start NAME refuses an unknown name, listing the defined ones', async () => {
      const file = write('one.yml', 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n');
      const r = run(['start', 'api', '--config', file]);
      assert.equal(await r.exited, 2);
      assert.match(r.stderr, /no tunnel or endpoint named "api".*defined: web/);
    });

    it('config add-authtoken writes the token into the default file and never prints it', async () => {
      const r = run(['config', 'add-authtoken', 'secret-token-123']);
      assert.equal(await r.exited, 0);
      const file = path.join(HOME, '.config', 'ngrok', 'ngrok.yml');
      assert.match(fs.readFileSync(file, 'utf8'), /authtoken: "?secret-token-123"?/);
      assert.doesNotMatch(r.stdout + r.stderr, /secret-token-123/);
      fs.rmSync(file);
    });
  });
});
