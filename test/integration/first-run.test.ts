// A newcomer's first commands, run the way users run them: bin/burrow, a symlink to it, `npx burrow`
// in the checkout, and the package `npm pack` makes, installed globally into a temporary prefix. Each
// `burrow http PORT` must print a URL that reaches PORT. (The other CLI tests run dist/burrow.js.)
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(__dirname, '../..');
const BIN = path.join(REPO, 'bin/burrow');
const { version: VERSION } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string;
};
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-first-run-'));
// Its own HOME, so the machine's ngrok.yml and authtoken never leak in.
const ENV = {
  ...process.env,
  HOME: TMP,
  XDG_CONFIG_HOME: path.join(TMP, '.config'),
  BURROW_AUTHTOKEN: '',
  NGROK_AUTHTOKEN: '',
};

function sync(cmd: string, args: string[], opts: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? TMP,
    env: opts.env ?? ENV,
    encoding: 'utf8',
    timeout: opts.timeout ?? 30_000,
  });
  assert.ifError(r.error);
  return r;
}

/** Starts a long-running command; resolves with its tunnel's URL (console `Forwarding` line or log `url=`). */
function forwarding(
  children: ChildProcess[],
  cmd: string,
  args: string[],
  cwd = TMP,
): Promise<{ url: string; out: () => string }> {
  // Its own process group, so killing it also ends what npx starts under it.
  const child = spawn(cmd, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no tunnel URL within 60 s:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const url = /(?:Forwarding\s+|url=)(http:\/\/[a-z0-9-]+\.localhost:\d+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ url, out: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited ${code} before forwarding:\n${out}`));
    });
  });
}

function kill(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** GET through the edge on loopback with the tunnel's Host (glibc may not resolve *.localhost). */
function get(url: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: u.port, path: u.pathname, headers: { host: u.host }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

describe('first run: burrow as users reach it', function () {
  // Generous: npx alone takes seconds on a busy machine.
  this.timeout(180_000);
  let upstream: http.Server;
  let port: number;
  const children: ChildProcess[] = [];
  const link = path.join(TMP, 'links', 'burrow');

  before(async () => {
    assert.ok(fs.existsSync(path.join(REPO, 'dist/burrow.js')), 'build first (npm run build)');
    upstream = http.createServer((req, res) => res.end(`upstream saw ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(BIN, link);
  });
  afterEach(() => {
    for (const c of children.splice(0)) kill(c);
  });
  after(() => upstream.close());

  for (const [how, cmd] of [
    ['bin/burrow', () => BIN],
    ['a symlink to bin/burrow', () => link],
  ] as const) {
    it(`${how}: --version and version print the version, no arguments print the usage`, () => {
      for (const args of [['--version'], ['version']]) {
        const r = sync(cmd(), args);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `burrow version ${VERSION}\n`);
      }
      const r = sync(cmd(), []);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage:\n {2}burrow http ADDR/m);
    });

    it(`${how}: burrow http PORT prints a URL that reaches PORT`, async () => {
      const { url } = await forwarding(children, cmd(), ['http', String(port)]);
      const res = await get(`${url}/hello`);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'upstream saw /hello');
    });
  }

  it('bin/burrow without a build says how to build, in one line', () => {
    const bare = path.join(TMP, 'bare', 'bin', 'burrow');
    fs.mkdirSync(path.dirname(bare), { recursive: true });
    fs.copyFileSync(BIN, bare);
    fs.chmodSync(bare, 0o755);
    const r = sync(bare, ['http', '3000']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'ERROR: dist/burrow.js is not built: run npm run setup (or npm run build)\n');
  });

  it('npx burrow in the checkout runs the same command', async () => {
    const v = sync('npx', ['--offline', 'burrow', '--version'], { cwd: REPO });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `burrow version ${VERSION}\n`);
    const { url } = await forwarding(children, 'npx', ['--offline', 'burrow', 'http', String(port)], REPO);
    assert.equal((await get(`${url}/npx`)).body, 'upstream saw /npx');
  });
});

describe('first run: the npm package (npm pack, then a global install)', function () {
  // npm pack runs `prepack` (the bundles and the SDK's type declarations): tens of seconds when busy.
  this.timeout(240_000);
  const prefix = path.join(TMP, 'prefix');
  const installed = path.join(prefix, 'bin', 'burrow');
  const pkgDir = path.join(prefix, 'lib', 'node_modules', 'burrow');
  let tarball: string;
  let upstream: http.Server;
  let port: number;
  const children: ChildProcess[] = [];

  before(async () => {
    upstream = http.createServer((req, res) => res.end(`installed upstream saw ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
  });
  afterEach(() => {
    for (const c of children.splice(0)) kill(c);
  });
  after(() => upstream.close());

  it('npm pack ships bin/, dist/ (no source maps), schemas/, README.md, LICENSE and nothing else', () => {
    const dest = path.join(TMP, 'pack');
    fs.mkdirSync(dest);
    const r = sync('npm', ['pack', '--pack-destination', dest, '--loglevel=error'], { cwd: REPO, timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr);
    tarball = path.join(dest, `burrow-${VERSION}.tgz`);
    const files = sync('tar', ['tzf', tarball])
      .stdout.trim()
      .split('\n')
      .filter((f) => !f.endsWith('/'))
      .map((f) => f.replace(/^package\//, ''));
    const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE|bin\/burrow|dist\/.+|schemas\/.+)$/.test(f));
    assert.deepEqual(stray, [], 'files outside the package list');
    assert.deepEqual(
      files.filter((f) => f.endsWith('.map')),
      [],
      'source maps',
    );
    for (const f of [
      'bin/burrow',
      'dist/burrow.js',
      'dist/sdk.js',
      'dist/server.js',
      'dist/inspector/index.html',
      'dist/inspector/inspector.js',
      'dist/types/tunnel/src/sdk.d.ts',
      'schemas/ngrok-v3.schema.json',
      'README.md',
      'LICENSE',
    ])
      assert.ok(files.includes(f), `${f} is in the tarball`);
  });

  it('installs offline, without a warning or an install script, and needs no node_modules', () => {
    assert.ok(tarball, 'packed by the previous test');
    const r = sync('npm', ['install', '-g', '--prefix', prefix, tarball, '--offline', '--loglevel=warn'], {
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(fs.existsSync(installed), `${installed} exists`);
    assert.ok(!fs.existsSync(path.join(pkgDir, 'node_modules')), 'no dependencies installed');
    const v = sync(installed, ['--version']);
    assert.equal(v.stdout, `burrow version ${VERSION}\n`);
  });

  it('the installed burrow http PORT prints a URL that reaches PORT', async () => {
    const { url } = await forwarding(children, installed, ['http', String(port)]);
    const res = await get(`${url}/installed`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'installed upstream saw /installed');
  });

  it('the installed burrow service install writes a unit whose ExecStart runs the agent', async () => {
    // systemd cannot run here: a stand-in systemctl records its arguments (as in service.test.ts).
    const fake = path.join(TMP, 'fake-bin');
    const unitDir = path.join(TMP, 'units');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'systemctl'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const config = path.join(TMP, 'ngrok.yml');
    fs.writeFileSync(
      config,
      `version: "2"\nweb_addr: 127.0.0.1:0\ntunnels:\n  web:\n    proto: http\n    addr: ${port}\n`,
    );
    const r = sync(installed, ['service', 'install', '--config', config], {
      env: { ...ENV, PATH: `${fake}:${process.env.PATH}`, BURROW_SYSTEMD_UNIT_DIR: unitDir },
    });
    assert.equal(r.status, 0, r.stderr);
    const unit = fs.readFileSync(path.join(unitDir, 'burrow.service'), 'utf8');
    const exec = /^ExecStart=(.+)$/m.exec(unit)![1].split(' ');
    // The bundle by its real path: not the bin link, which an uninstall or upgrade can move.
    assert.deepEqual(exec.slice(0, 2), [process.execPath, fs.realpathSync(path.join(pkgDir, 'dist/burrow.js'))]);
    // Run exactly what systemd would.
    const { url } = await forwarding(children, exec[0], exec.slice(1));
    assert.equal((await get(`${url}/unit`)).body, 'installed upstream saw /unit');
  });
});
