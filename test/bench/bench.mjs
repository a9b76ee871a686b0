#!/usr/bin/env node
// `npm run bench`: direct vs Burrow in one run. Same upstream (test/bench/upstream.mjs), same
// load generator (Debian `wrk`, one thread), loopback only, bounded in time; every process it
// starts runs in its own process group and is killed at the end (also on Ctrl+C or a crash).
//
//   npm run bench                              # all rows, 5 s per test
//   npm run bench -- --duration 3              # shorter
//   npm run bench -- --rows direct,embedded    # a subset of rows (names or prefixes)
//   npm run bench -- --row "capture off=embedded:--inspect false"   # an extra row (repeatable)
//   npm run bench -- --tests small50,get1m --cpu-prof /tmp/prof     # profile Burrow's processes
//
// Rows are a list of {name, start(ctx)} (ROWS below). Another variant of Burrow (capture on/off,
// other flags) is one more row: `--row NAME=MODE[:EXTRA BURROW HTTP ARGS]` with MODE `embedded`
// (`burrow http`) or `edge` (`burrow edge` + `burrow http --edge`), or one more ROWS entry.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
// BURROW_BIN=path/to/burrow.js benchmarks another build (e.g. to compare two commits).
const BURROW = process.env.BURROW_BIN ? path.resolve(process.env.BURROW_BIN) : path.join(ROOT, 'dist/burrow.js');
const ONE_MIB = 1024 * 1024;
const POST_BYTES = 10 * ONE_MIB;

// ---- options ----

const USAGE = `usage: npm run bench -- [--duration S] [--rows a,b] [--row NAME=MODE[:ARGS]]... [--tests t1,t2]
                       [--cpu-prof DIR] [--json FILE] [--no-build] [--max-seconds N]
  --duration S     seconds per measured test (default 5)
  --rows a,b       only these rows (default: all; 'direct' and 'node-pipe' always run first)
  --row N=M[@B][:A] extra row N: MODE embedded|edge, B = another build's burrow.js, A = extra args for 'burrow http' (repeatable)
  --tests a,b      subset of: small1,small50,get1m,post10m,ws (default: all)
  --cpu-prof DIR   run Burrow's processes with node --cpu-prof (profiles written to DIR on exit)
  --json FILE      also write the raw results as JSON
  --no-build       do not run 'node scripts/build.mjs' first
  --max-seconds N  hard limit for the whole run (default 600)`;

function parseOptions(argv) {
  const opts = {
    duration: 5,
    rows: undefined,
    extraRows: [],
    tests: undefined,
    cpuProf: undefined,
    json: undefined,
    build: true,
    maxSeconds: 600,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--duration' || a === '-d') opts.duration = Number(value());
    else if (a === '--rows')
      opts.rows = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '--row') opts.extraRows.push(parseRowSpec(value()));
    else if (a === '--tests')
      opts.tests = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '--cpu-prof') opts.cpuProf = path.resolve(value());
    else if (a === '--json') opts.json = path.resolve(value());
    else if (a === '--no-build') opts.build = false;
    else if (a === '--max-seconds') opts.maxSeconds = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown option ${a}\n${USAGE}`);
  }
  if (!(opts.duration >= 1 && opts.duration <= 60)) fail('--duration must be between 1 and 60 seconds');
  if (!(opts.maxSeconds >= 30)) fail('--max-seconds must be at least 30');
  for (const t of opts.tests ?? [])
    if (!TESTS.some((x) => x.id === t)) fail(`unknown test "${t}" (tests: ${TESTS.map((x) => x.id).join(', ')})`);
  return opts;
}

function parseRowSpec(spec) {
  const m = /^([^=]+)=(embedded|edge)(?:@([^:]+))?(?::(.*))?$/.exec(spec);
  if (!m) fail(`--row "${spec}": expected NAME=embedded[@BIN][:ARGS] or NAME=edge[@BIN][:ARGS]`);
  const extraArgs = (m[4] ?? '').trim().split(/\s+/).filter(Boolean);
  // @BIN: another build's burrow.js for this row only (before/after in one run, same load).
  const bin = m[3] ? path.resolve(m[3]) : BURROW;
  const tag = m[3] ? `${m[1].trim().replace(/[^\w-]+/g, '_')}-` : '';
  return {
    name: m[1].trim(),
    kind: m[2],
    start:
      m[2] === 'embedded'
        ? (ctx) => startEmbedded(ctx, extraArgs, bin, tag)
        : (ctx) => startWithEdge(ctx, extraArgs, bin, tag),
  };
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---- process bookkeeping: every child gets its own process group, killed by PID at the end ----

const children = new Set();

function startProcess(cmd, args, { env, name }) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.label = name;
  child.output = '';
  const keep = (chunk) => {
    if (child.output.length < 64 * 1024) child.output += chunk;
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  children.add(child);
  return child;
}

/** Waits until `match` finds something in the child's output; rejects if it exits or times out. */
function waitForOutput(child, match, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = match(child.output);
      if (found) {
        cleanup();
        resolve(found);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`${child.label} exited before it was ready:\n${child.output.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.label} not ready within ${timeoutMs} ms:\n${child.output.slice(-2000)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** SIGINT (so --cpu-prof profiles get written), then SIGKILL to the whole group after 3 s. */
async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGINT');
  } catch {
    /* already gone */
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 3000);
  await child.exited;
  clearTimeout(timer);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* group empty */
  }
}

function killAllNow() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    log(`${sig}: stopping`);
    killAllNow();
    process.exit(130);
  });

// ---- rows: each is {name, start(ctx) -> {url, host, processes}} ----

const ROWS = [
  { name: 'direct', start: startDirect },
  // The floor for any relay written in Node (the shared harness's peer): what issue 11's targets are ratios to.
  { name: 'node-pipe', start: startNodePipe },
  { name: 'burrow embedded', kind: 'embedded', start: (ctx) => startEmbedded(ctx, []) },
  { name: 'burrow + edge', kind: 'edge', start: (ctx) => startWithEdge(ctx, []) },
  // Three `burrow edge --redis` nodes; the agent on node 1, every visitor on node 2 (a non-holder):
  // each request crosses the peer link. Needs Debian redis-server.
  { name: 'burrow cluster (3 nodes, visitor on a non-holder)', start: startCluster },
  // ngrok's own SDK (native ngrok-rust) on the same edge through --ngrok-agent-listen.
  { name: 'ngrok SDK + edge', start: (ctx) => startWithNgrokSdk(ctx) },
  // Edge modules on the request path: the pipeline's cost (/small is below the compression threshold).
  {
    name: 'with basic auth + headers + compression',
    kind: 'embedded',
    start: async (ctx) => ({
      ...(await startEmbedded(ctx, [
        '--basic-auth',
        'bench:bench-password',
        '--request-header-add',
        'X-Request-Id: ${.ngrok.request_id}',
        '--response-header-add',
        'X-Served-By: burrow',
        '--compression',
      ])),
      headers: { authorization: `Basic ${Buffer.from('bench:bench-password').toString('base64')}` },
      loadHeaders: ['Accept-Encoding: gzip'],
    }),
  },
];

async function startDirect(ctx) {
  return { url: `http://127.0.0.1:${ctx.upstreamPort}`, host: undefined, processes: [] };
}

/** The peer harness's node-pipe row, copied here: each visitor socket piped to a fresh upstream socket. */
async function startNodePipe(ctx) {
  const port = await freePort();
  const code = `const net=require('net');
net.createServer({noDelay:true},(c)=>{const u=net.connect({port:${ctx.upstreamPort},host:'127.0.0.1',noDelay:true});
 c.pipe(u).pipe(c); const end=()=>{c.destroy();u.destroy()}; c.on('error',end); u.on('error',end); c.on('close',end); u.on('close',end);
}).listen({port:${port},host:'127.0.0.1',backlog:1024},()=>console.log('LISTENING'));`;
  const pipe = startProcess(process.execPath, ['-e', code], { name: 'node-pipe' });
  await waitForOutput(pipe, (out) => out.includes('LISTENING'));
  return { url: `http://127.0.0.1:${port}`, host: undefined, processes: [pipe] };
}

function nodeArgs(ctx, label) {
  return ctx.cpuProf
    ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProf, '--cpu-prof-name', `${label}-${Date.now()}.cpuprofile`]
    : [];
}

// The agent runs with its default console (what `burrow http 3000` users get: capture and the
// local API on, no per-request log lines); its "Forwarding URL -> upstream" line says it is ready.
const forwarding = (out) => /Forwarding\s+(https?:\/\/\S+)\s+->/.exec(out)?.[1];

/** `burrow http PORT`: agent and embedded edge in one process. */
async function startEmbedded(ctx, extraArgs, bin = BURROW, tag = '') {
  const agent = startProcess(
    process.execPath,
    [...nodeArgs(ctx, `${tag}embedded`), bin, 'http', String(ctx.upstreamPort), ...extraArgs],
    { name: 'burrow http (embedded)' },
  );
  const url = new URL(await waitForOutput(agent, forwarding));
  return { url: `http://127.0.0.1:${url.port}`, host: url.host, processes: [agent] };
}

/** `burrow edge` + `burrow http --edge`: two processes, like a real deployment. */
async function startWithEdge(ctx, extraArgs, bin = BURROW, tag = '') {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const edge = startProcess(
    process.execPath,
    [
      ...nodeArgs(ctx, `${tag}edge`),
      bin,
      'edge',
      '--listen',
      `127.0.0.1:${port}`,
      '--domain',
      'bench.localhost',
      '--log',
      'stdout',
      '--log-format',
      'json',
    ],
    { name: 'burrow edge', env: { BURROW_EDGE_TOKENS: token } },
  );
  await waitForOutput(edge, (out) => out.includes('"edge listening"'));
  const agent = startProcess(
    process.execPath,
    [
      ...nodeArgs(ctx, `${tag}agent`),
      bin,
      'http',
      String(ctx.upstreamPort),
      '--edge',
      `ws://127.0.0.1:${port}`,
      '--domain',
      'app.bench.localhost',
      ...extraArgs,
    ],
    { name: 'burrow http --edge', env: { BURROW_AUTHTOKEN: token } },
  );
  const url = new URL(await waitForOutput(agent, forwarding));
  return { url: `http://127.0.0.1:${url.port}`, host: url.host, processes: [edge, agent] };
}

/** redis-server + three cluster nodes; the agent binds on node 1, the URL points at node 2. */
async function startCluster(ctx) {
  const redisPort = await freePort();
  const redis = startProcess(
    '/usr/bin/redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { name: 'redis-server' },
  );
  await waitForOutput(redis, (out) => out.includes('Ready to accept connections'));
  const token = randomBytes(16).toString('hex');
  const secret = randomBytes(24).toString('hex');
  const nodes = [];
  const ports = [];
  for (let i = 0; i < 3; i++) {
    const [port, nodePort, tlsPort] = [await freePort(), await freePort(), await freePort()];
    const edge = startProcess(
      process.execPath,
      [
        ...nodeArgs(ctx, `node${i}`),
        BURROW,
        'edge',
        '--listen',
        `127.0.0.1:${port}`,
        '--tls-listen',
        `127.0.0.1:${tlsPort}`,
        '--domain',
        'bench.localhost',
        '--redis',
        `redis://127.0.0.1:${redisPort}`,
        '--node-addr',
        `127.0.0.1:${nodePort}`,
        '--log',
        'stdout',
        '--log-format',
        'json',
      ],
      { name: `burrow edge node ${i}`, env: { BURROW_EDGE_TOKENS: token, BURROW_CLUSTER_SECRET: secret } },
    );
    await waitForOutput(edge, (out) => out.includes('"edge listening"'));
    nodes.push(edge);
    ports.push(port);
  }
  const agent = startProcess(
    process.execPath,
    [
      ...nodeArgs(ctx, 'agent'),
      BURROW,
      'http',
      String(ctx.upstreamPort),
      '--edge',
      `ws://127.0.0.1:${ports[0]}`,
      '--domain',
      'app.bench.localhost',
    ],
    { name: 'burrow http --edge (node 1)', env: { BURROW_AUTHTOKEN: token } },
  );
  const url = new URL(await waitForOutput(agent, forwarding));
  return { url: `http://127.0.0.1:${ports[1]}`, host: url.host, processes: [...nodes, agent, redis] };
}

/** `burrow edge --ngrok-agent-listen` + @ngrok/ngrok's forward() in its own process. */
async function startWithNgrokSdk(ctx) {
  const port = await freePort();
  const ngrokPort = await freePort();
  const token = randomBytes(16).toString('hex');
  const edge = startProcess(
    process.execPath,
    [
      ...nodeArgs(ctx, 'edge'),
      BURROW,
      'edge',
      '--listen',
      `127.0.0.1:${port}`,
      '--ngrok-agent-listen',
      `127.0.0.1:${ngrokPort}`,
      '--domain',
      'localhost',
      '--log',
      'stdout',
      '--log-format',
      'json',
    ],
    { name: 'burrow edge (ngrok agents)', env: { BURROW_EDGE_TOKENS: token } },
  );
  await waitForOutput(edge, (out) => out.includes('"edge listening"'));
  // The edge's self-signed certificate is the CA the SDK trusts (SNI = the edge's --domain).
  const pem = await new Promise((resolve, reject) => {
    const s = tlsConnect(
      { host: '127.0.0.1', port: ngrokPort, servername: 'localhost', rejectUnauthorized: false },
      () => {
        const raw = s.getPeerCertificate().raw.toString('base64');
        s.destroy();
        resolve(`-----BEGIN CERTIFICATE-----\n${raw.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`);
      },
    );
    s.once('error', reject);
  });
  const caFile = path.join(tmpdir(), `burrow-bench-ca-${process.pid}.pem`);
  writeFileSync(caFile, pem);
  const agent = startProcess(
    process.execPath,
    [path.join(HERE, 'ngrok-sdk-agent.mjs'), String(ctx.upstreamPort), `localhost:${ngrokPort}`, caFile],
    { name: 'ngrok SDK forward()', env: { NGROK_AUTHTOKEN: token } },
  );
  const url = new URL(await waitForOutput(agent, forwarding));
  return { url: `http://127.0.0.1:${url.port}`, host: url.host, processes: [edge, agent] };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---- measurements ----

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) used so far by these processes (Burrow runs no grandchildren). */
function cpuSeconds(processes) {
  let ticks = 0;
  for (const p of processes) {
    try {
      const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      /* exited */
    }
  }
  return ticks / CLK_TCK;
}

function runWrk(target, { connections, path: urlPath, method = 'GET', bodyBytes = 0, duration }) {
  const extraHeaders = [
    ...Object.entries(target.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ...(target.loadHeaders ?? []),
  ].flatMap((h) => ['-H', h]);
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${duration}s`,
    '--timeout',
    '10s',
    ...extraHeaders,
    '-s',
    path.join(HERE, 'wrk-report.lua'),
    `${target.url}${urlPath}`,
  ];
  const env = { BENCH_METHOD: method, BENCH_BODY_BYTES: String(bodyBytes), BENCH_HOST: target.host ?? '' };
  return new Promise((resolve, reject) => {
    const child = startProcess('wrk', args, { name: 'wrk', env });
    const timer = setTimeout(
      () => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      },
      (duration + 20) * 1000,
    );
    child.exited.then(({ code }) => {
      clearTimeout(timer);
      const line = child.output.split('\n').find((l) => l.startsWith('BENCHJSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${child.output.slice(-2000)}`));
      const r = JSON.parse(line.slice('BENCHJSON '.length));
      r.errors = r.err_connect + r.err_read + r.err_write + r.err_status + r.err_timeout;
      r.seconds = r.duration_us / 1e6;
      resolve(r);
    });
  });
}

async function withCpu(target, fn) {
  const cpu0 = cpuSeconds(target.processes);
  const t0 = process.hrtime.bigint();
  const result = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  result.cpuPercent = target.processes.length ? (100 * (cpuSeconds(target.processes) - cpu0)) / wall : undefined;
  result.wallSeconds = wall;
  return result;
}

async function wsRtt(target, duration) {
  const ws = new WebSocket(`${target.url.replace(/^http/, 'ws')}/ws`, {
    headers: { ...(target.host ? { host: target.host } : {}), ...target.headers },
    perMessageDeflate: false,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const payload = randomBytes(64);
  const samples = [];
  const deadline = Date.now() + duration * 1000;
  await new Promise((resolve, reject) => {
    let sent = 0n;
    const ping = () => {
      sent = process.hrtime.bigint();
      ws.send(payload);
    };
    ws.on('message', (data) => {
      samples.push(Number(process.hrtime.bigint() - sent) / 1e6);
      if (!Buffer.from(data).equals(payload)) return reject(new Error('websocket echo differs from what was sent'));
      if (Date.now() < deadline && samples.length < 5_000_000) ping();
      else resolve();
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('websocket closed during the test')));
    ping();
  });
  ws.removeAllListeners('close');
  ws.terminate();
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  return { messages: samples.length, p50: pct(50), p99: pct(99) };
}

/** One request with Host set; resolves {status, body}. */
function request(target, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(urlPath, target.url);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: url.port,
        path: url.pathname,
        method,
        agent: false,
        headers: { ...(target.host ? { host: target.host } : {}), ...target.headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Correctness before speed: small body, 1 MiB length, binary echo byte for byte, one websocket echo. */
async function checkRow(target) {
  const small = await request(target, 'GET', '/small');
  if (small.status !== 200 || small.body.toString() !== 'hello world\n')
    throw new Error(`GET /small: ${small.status} ${small.body.toString().slice(0, 200)}`);
  const big = await request(target, 'GET', '/1mib');
  if (big.status !== 200 || big.body.length !== ONE_MIB)
    throw new Error(`GET /1mib: ${big.status}, ${big.body.length} bytes`);
  const random = randomBytes(256 * 1024);
  const echo = await request(target, 'POST', '/echo', random);
  if (echo.status !== 200 || !echo.body.equals(random)) throw new Error(`POST /echo: ${echo.status}, body differs`);
  await wsRtt(target, 0.05);
}

const TESTS = [
  { id: 'small1', run: (t, d) => withCpu(t, () => runWrk(t, { connections: 1, path: '/small', duration: d })) },
  { id: 'small50', run: (t, d) => withCpu(t, () => runWrk(t, { connections: 50, path: '/small', duration: d })) },
  { id: 'get1m', run: (t, d) => withCpu(t, () => runWrk(t, { connections: 1, path: '/1mib', duration: d })) },
  {
    id: 'post10m',
    run: (t, d) =>
      withCpu(t, () =>
        runWrk(t, { connections: 1, path: '/upload', method: 'POST', bodyBytes: POST_BYTES, duration: d }),
      ),
  },
  { id: 'ws', run: (t, d) => wsRtt(t, d) },
];

// ---- report ----

const fmt = (v) => {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (v >= 100) return String(Math.round(v));
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toFixed(3);
};

// Each column: how to get the value from a row's results, and whether higher is better.
const COLUMNS = [
  { title: 'small c=1 req/s', get: (r) => r.small1 && r.small1.requests / r.small1.seconds },
  { title: 'c=1 p50 ms', get: (r) => r.small1 && r.small1.lat_p50_us / 1000 },
  { title: 'c=1 p99 ms', get: (r) => r.small1 && r.small1.lat_p99_us / 1000 },
  { title: 'small c=50 req/s', get: (r) => r.small50 && r.small50.requests / r.small50.seconds },
  { title: 'c=50 p99 ms', get: (r) => r.small50 && r.small50.lat_p99_us / 1000 },
  { title: 'GET 1 MiB MiB/s', get: (r) => r.get1m && r.get1m.requests / r.get1m.seconds },
  { title: 'POST 10 MiB MiB/s', get: (r) => r.post10m && (r.post10m.requests * 10) / r.post10m.seconds },
  { title: 'WS RTT p50 ms', get: (r) => r.ws?.p50 },
  { title: 'WS RTT p99 ms', get: (r) => r.ws?.p99 },
  { title: 'tunnel CPU % @c=50', get: (r) => r.small50?.cpuPercent, noRatio: true },
  { title: 'tunnel CPU % @1 MiB', get: (r) => r.get1m?.cpuPercent, noRatio: true },
  // CPU per unit of work: what a busy machine changes least (it slows everything, but the work stays the same).
  { title: 'tunnel CPU ms/req @c=50', get: (r) => cpuPer(r.small50, 1), noRatio: true },
  { title: 'tunnel CPU ms/MiB @1 MiB', get: (r) => cpuPer(r.get1m, 1), noRatio: true },
];

function cpuPer(test, unitsPerRequest) {
  if (!test || test.cpuPercent === undefined || !test.requests) return undefined;
  return ((test.cpuPercent / 100) * test.wallSeconds * 1000) / (test.requests * unitsPerRequest);
}

const TARGETS = [
  { title: 'small c=50 req/s', label: 'c=50', min: 0.75 },
  { title: 'small c=1 req/s', label: 'c=1', min: 0.4 },
  { title: 'GET 1 MiB MiB/s', label: 'GET 1 MiB', min: 0.55 },
  { title: 'POST 10 MiB MiB/s', label: 'POST 10 MiB', min: 0.6 },
  { title: 'WS RTT p50 ms', label: 'WS RTT p50', max: 2.0 },
];

// Issue 11's targets, as ratios to node-pipe in the same run, per kind of row.
const PIPE_TARGETS = {
  embedded: {
    'small c=1 req/s': 0.75,
    'small c=50 req/s': 0.75,
    'GET 1 MiB MiB/s': 1.0,
    'POST 10 MiB MiB/s': 0.9,
    'WS RTT p50 ms': 1.1,
  },
  edge: {
    'small c=1 req/s': 0.6,
    'small c=50 req/s': 0.6,
    'GET 1 MiB MiB/s': 0.8,
    'POST 10 MiB MiB/s': 0.75,
    'WS RTT p50 ms': 1.4,
  },
};

function pipeTargets(results, rows) {
  const pipe = results.find((r) => r.name === 'node-pipe');
  if (!pipe || pipe.error) return '';
  const titles = Object.keys(PIPE_TARGETS.embedded);
  const lines = [`| row | ${titles.join(' | ')} |`, `| --- |${titles.map(() => ' --- |').join('')}`];
  for (const r of results) {
    const kind = rows.find((row) => row.name === r.name)?.kind;
    if (!kind || r.error) continue;
    const cells = titles.map((title) => {
      const col = COLUMNS.find((c) => c.title === title);
      const v = col.get(r.tests);
      const base = col.get(pipe.tests);
      if (v === undefined || !base) return '–';
      const ratio = v / base;
      const goal = PIPE_TARGETS[kind][title];
      const met = title.startsWith('WS') ? ratio <= goal : ratio >= goal;
      return `${ratio.toFixed(2)} (${title.startsWith('WS') ? '≤' : '≥'} ${goal}) ${met ? 'met' : 'MISSED'}`;
    });
    lines.push(`| ${r.name} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function report(results, rows) {
  const direct = results.find((r) => r.name === 'direct');
  const lines = [];
  lines.push(`| row | ${COLUMNS.map((c) => c.title).join(' | ')} |`);
  lines.push(`| --- |${COLUMNS.map(() => ' --- |').join('')}`);
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${r.name} | failed: ${r.error.split('\n')[0].replace(/\|/g, '/')} |`);
      continue;
    }
    const cells = COLUMNS.map((c) => {
      const v = c.get(r.tests);
      const base = direct && !direct.error ? c.get(direct.tests) : undefined;
      if (v === undefined) return '–';
      if (r === direct || c.noRatio || !base) return fmt(v);
      return `${fmt(v)} (${(v / base).toFixed(2)}×)`;
    });
    lines.push(`| ${r.name} | ${cells.join(' | ')} |`);
  }
  const targetLines = [];
  if (direct && !direct.error) {
    targetLines.push(
      `| row | ${TARGETS.map((t) => `${t.label} (${t.min !== undefined ? `≥ ${t.min.toFixed(2)}` : `≤ ${t.max.toFixed(1)}`})`).join(' | ')} |`,
    );
    targetLines.push(`| --- |${TARGETS.map(() => ' --- |').join('')}`);
    for (const r of results) {
      // Targets are Burrow's; peers (node-pipe, nginx…) are only measured beside it.
      if (r === direct || r.error || !rows.find((row) => row.name === r.name)?.kind) continue;
      const cells = TARGETS.map((t) => {
        const col = COLUMNS.find((c) => c.title === t.title);
        const v = col.get(r.tests);
        const base = col.get(direct.tests);
        if (v === undefined || !base) return '–';
        const ratio = v / base;
        const met = t.min !== undefined ? ratio >= t.min : ratio <= t.max;
        return `${ratio.toFixed(2)} ${met ? 'met' : 'MISSED'}`;
      });
      targetLines.push(`| ${r.name} | ${cells.join(' | ')} |`);
    }
  }
  return { table: lines.join('\n'), targets: targetLines.join('\n') };
}

// ---- main ----

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (!existsSync('/usr/bin/wrk') && !which('wrk')) {
    fail('wrk (the load generator) is not installed. Install it with:\n\n    apt-get install -y wrk\n');
  }
  const hardStop = setTimeout(() => {
    log(`hard limit of ${opts.maxSeconds} s reached: aborting`);
    killAllNow();
    process.exit(1);
  }, opts.maxSeconds * 1000);
  hardStop.unref();
  if (opts.build && !process.env.BURROW_BIN) {
    try {
      execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      if (!existsSync(BURROW)) fail(`build failed and ${BURROW} does not exist:\n${err.stderr}`);
      log(`warning: build failed, benchmarking the existing ${path.relative(ROOT, BURROW)}`);
    }
  }
  if (!existsSync(BURROW)) fail(`${BURROW} missing: run node scripts/build.mjs`);
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });

  let rows = [...ROWS, ...opts.extraRows];
  if (opts.rows)
    rows = rows.filter(
      (r) =>
        r.name === 'direct' ||
        r.name === 'node-pipe' ||
        opts.extraRows.includes(r) ||
        opts.rows.some((want) => r.name === want || r.name.includes(want)),
    );
  const tests = opts.tests ? TESTS.filter((t) => opts.tests.includes(t.id)) : TESTS;

  const upstream = startProcess(process.execPath, [path.join(HERE, 'upstream.mjs'), '0'], { name: 'upstream' });
  const upstreamPort = Number((await waitForOutput(upstream, (out) => /PORT=(\d+)/.exec(out)))[1]);
  const ctx = { upstreamPort, cpuProf: opts.cpuProf };
  const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  const wrkVersion = (() => {
    try {
      return execFileSync('wrk', ['-v'], { encoding: 'utf8' });
    } catch (e) {
      return String(e.stdout ?? '');
    }
  })()
    .split('\n')[0]
    .trim();
  const machine = `${cpus().length} vCPU (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${wrkVersion.replace(/ Copyright.*/, '')}`;
  log(
    `upstream on 127.0.0.1:${upstreamPort}; ${opts.duration} s per test; rows: ${rows.map((r) => r.name).join(', ')}`,
  );

  const results = [];
  const started = Date.now();
  // Other jobs on the machine slow a 3-process chain (wrk, edge, agent, upstream) far more than
  // direct's 2: record the load so a run on a busy machine can be recognised as such.
  const loadBefore = loadavg()[0];
  for (const row of rows) {
    const result = { name: row.name, tests: {} };
    results.push(result);
    let target;
    try {
      target = await row.start(ctx);
      log(`${row.name}: ${target.url}${target.host ? ` (Host: ${target.host})` : ''}`);
      await checkRow(target);
      // Warm-up (every row alike): JIT, pools and windows settle before anything is measured.
      // Without it Burrow's first c=1 run costs ~2x the CPU per request of a warm process.
      await runWrk(target, { connections: 50, path: '/small', duration: 2 });
      await runWrk(target, { connections: 1, path: '/small', duration: 1 });
      await runWrk(target, { connections: 1, path: '/1mib', duration: 1 });
      for (const test of tests) {
        log(`${row.name}: ${test.id}`);
        result.tests[test.id] = await test.run(target, opts.duration);
        if (result.tests[test.id].errors) log(`${row.name}: ${test.id}: ${result.tests[test.id].errors} wrk errors`);
      }
    } catch (err) {
      result.error = err.message;
      log(`${row.name}: FAILED: ${err.message}`);
    } finally {
      for (const p of target?.processes ?? []) await stopProcess(p);
    }
  }
  await stopProcess(upstream);

  const { table, targets } = report(results, rows);
  const when = new Date().toISOString();
  process.stdout.write(
    `\nBurrow ${version} benchmark, ${when}, ${opts.duration} s per test, ${Math.round((Date.now() - started) / 1000)} s total\n`,
  );
  process.stdout.write(
    `Machine: ${machine}; 1-min load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after\nLoad: wrk -t1 (small, 1 MiB, POST 10 MiB /upload), ws client in this process (64-byte ping-pong); upstream test/bench/upstream.mjs\n\n`,
  );
  process.stdout.write(`${table}\n\nFirst data-path targets (Burrow rows, ratio to direct):\n\n${targets}\n`);
  const byPipe = pipeTargets(results, rows);
  if (byPipe) process.stdout.write(`\nIssue 11 targets (ratio to node-pipe, same run):\n\n${byPipe}\n`);
  if (opts.json)
    writeFileSync(
      opts.json,
      JSON.stringify(
        { when, machine, loadBefore, loadAfter: loadavg()[0], version, duration: opts.duration, results },
        null,
        2,
      ),
    );
  const leftovers = [...children];
  if (leftovers.length) log(`leftover processes killed: ${leftovers.map((c) => `${c.label} (${c.pid})`).join(', ')}`);
  killAllNow();
  if (results.some((r) => r.error)) process.exitCode = 1;
}

function which(cmd) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, cmd)));
}

main().catch((err) => {
  log(`error: ${err.stack ?? err}`);
  killAllNow();
  process.exit(1);
});
