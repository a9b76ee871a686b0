// CPU per request of Burrow's processes, build against build, interleaved (A B A B …): the
// figure that moves least with the load of a shared machine (throughput moves 2–4× there).
// Drives a fixed number of keep-alive GET /small requests (sequential, then 50 at a time) and
// WebSocket round trips through each build, and reads the Burrow processes' utime + stime from
// /proc before and after. Loopback only; every child is killed at the end.
//
//   node test/bench/cpu-per-request.mjs [--mode embedded|edge] [--rounds N] NAME=path/to/burrow.js[:ARGS] ...
// ARGS: extra `burrow http` arguments, space-separated (e.g. "off=dist/burrow.js:--inspect false").
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let mode = 'embedded';
let rounds = 2;
const builds = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--mode') mode = args[++i];
  else if (args[i] === '--rounds') rounds = Number(args[++i]);
  else {
    const [name, spec] = args[i].split('=');
    const [bin, extra = ''] = spec.split(':');
    builds.push({ name, bin: path.resolve(bin), args: extra.split(' ').filter(Boolean) });
  }
}
if (!builds.length || !['embedded', 'edge'].includes(mode)) {
  console.error('usage: node test/bench/cpu-per-request.mjs [--mode embedded|edge] [--rounds N] NAME=burrow.js ...');
  process.exit(2);
}

const CLK_TCK = 100;
const children = new Set();
const killAll = () => {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
};
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
const hardStop = setTimeout(() => {
  console.error('hard time limit reached');
  process.exit(1);
}, 600_000);
hardStop.unref();

function start(cmd, argv, env = {}) {
  const child = spawn(cmd, argv, {
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  return child;
}

function waitOutput(child, match, ms = 20_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for output: ${child.output}`)), ms);
    const check = () => {
      const m = match(child.output);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(m);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    check();
  });
}

function stop(child) {
  children.delete(child);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLK_TCK;
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startBurrow(bin, upstreamPort, extraArgs = []) {
  const forwarding = (out) => /Forwarding\s+(https?:\/\/\S+)\s+->/.exec(out)?.[1];
  if (mode === 'embedded') {
    const agent = start(process.execPath, [bin, 'http', String(upstreamPort), '--web-addr', 'false', ...extraArgs]);
    const url = new URL(await waitOutput(agent, forwarding));
    return { port: Number(url.port), host: url.host, processes: [agent] };
  }
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const edge = start(
    process.execPath,
    [
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
    { BURROW_EDGE_TOKENS: token },
  );
  await waitOutput(edge, (out) => out.includes('"edge listening"'));
  const agent = start(
    process.execPath,
    [
      bin,
      'http',
      String(upstreamPort),
      '--edge',
      `ws://127.0.0.1:${port}`,
      '--domain',
      'app.bench.localhost',
      '--web-addr',
      'false',
      ...extraArgs,
    ],
    { BURROW_AUTHTOKEN: token },
  );
  const url = new URL(await waitOutput(agent, forwarding));
  return { port: Number(url.port), host: url.host, processes: [edge, agent] };
}

async function requests(target, total, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: target.port, path: '/small', headers: { host: target.host }, agent },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
    });
  const worker = async () => {
    while (next++ < total) await one();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
}

async function wsRoundTrips(target, total) {
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}/ws`, {
    headers: { host: target.host },
    perMessageDeflate: false,
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const msg = Buffer.alloc(64, 0x61);
  const times = [];
  for (let i = 0; i < total; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      ws.once('message', resolve);
      ws.send(msg);
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ws.close();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function measure(target, fn, count) {
  const pids = target.processes.map((p) => p.pid);
  const before = cpuSeconds(pids);
  const t0 = Date.now();
  const extra = await fn();
  const cpu = cpuSeconds(pids) - before;
  return { msPerOp: (cpu * 1000) / count, seconds: (Date.now() - t0) / 1000, extra };
}

const upstream = start(process.execPath, [path.join(here, 'upstream.mjs'), '0']);
const upstreamPort = Number(await waitOutput(upstream, (out) => /PORT=(\d+)/.exec(out)?.[1]));
const results = new Map(builds.map((b) => [b.name, []]));
console.log(`mode ${mode}, ${rounds} rounds, load average ${os.loadavg()[0].toFixed(1)} at start`);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...builds].reverse() : builds;
  for (const build of order) {
    const target = await startBurrow(build.bin, upstreamPort, build.args);
    await requests(target, 3000, 50); // warm-up (JIT)
    await requests(target, 500, 1);
    const c1 = await measure(target, () => requests(target, 3000, 1), 3000);
    const c50 = await measure(target, () => requests(target, 10000, 50), 10000);
    const ws = await measure(target, () => wsRoundTrips(target, 2000), 2000);
    results.get(build.name).push({ c1: c1.msPerOp, c50: c50.msPerOp, ws: ws.msPerOp, rtt: ws.extra, c1s: c1.seconds });
    console.log(
      `${build.name.padEnd(12)} round ${round + 1}: CPU ms/req c=1 ${c1.msPerOp.toFixed(3)} (${(3000 / c1.seconds).toFixed(0)} req/s), ` +
        `c=50 ${c50.msPerOp.toFixed(3)} (${(10000 / c50.seconds).toFixed(0)} req/s), ` +
        `ws ${ws.msPerOp.toFixed(3)} ms CPU/round trip, RTT p50 ${ws.extra.toFixed(3)} ms; load ${os.loadavg()[0].toFixed(1)}`,
    );
    for (const p of target.processes) stop(p);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\nmedians (CPU ms per request / per websocket round trip; RTT p50 ms):');
for (const [name, rs] of results)
  console.log(
    `${name.padEnd(12)} c=1 ${median(rs.map((r) => r.c1)).toFixed(3)}  c=50 ${median(rs.map((r) => r.c50)).toFixed(3)}  ws ${median(rs.map((r) => r.ws)).toFixed(3)}  RTT ${median(rs.map((r) => r.rtt)).toFixed(3)}`,
  );
console.log(`load average ${os.loadavg()[0].toFixed(1)} at the end`);
killAll();
process.exit(0);
