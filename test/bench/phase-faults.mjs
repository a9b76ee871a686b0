// One Burrow process (`burrow http`, embedded) driven through phases of wrk load, printing per
// phase the CPU per request or per MiB, the minor page faults per request and RSS. It shows what
// the bench's totals hide: a phase's cost depending on what ran before it in the same process
// (docs/benchmarks.md, "Issue 11 round 5": after small requests, bulk bodies faulted every page).
//
//   node test/bench/phase-faults.mjs [BIN] [PHASES]      (run it under the bench lock)
//   node test/bench/phase-faults.mjs dist/burrow.js small50:2,small1:1,get1m:1,small1,small50,get1m,post10m
//
// PHASES: small1|small50|close50|get1m|post10m (close50: Connection: close), each with an optional :SECONDS (default 3). Env: BURROW_ARGS
// (extra `burrow http` arguments, e.g. "--inspect false"), NODE_ARGS (e.g. "--cpu-prof"), OUTPUT=FILE (the
// Burrow processes' own output, e.g. under NODE_ARGS=--trace-gc-nvp, written there at the end), MODE=edge
// (`burrow edge` + `burrow http --edge` instead: CPU and faults of both processes, RSS of the agent),
// ALLOC_PHASE=N (SIGUSR2 to the Burrow process before and after the Nth phase, from 0: with
// NODE_ARGS="--require ./test/bench/alloc-sampling.cjs", a heap profile of that phase alone).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const bin = process.argv[2] ?? path.join(HERE, '..', '..', 'dist', 'burrow.js');
const phases = (process.argv[3] ?? 'small50:2,small1:1,get1m:1,small1,small50,get1m,post10m').split(',');
const PHASES = {
  small1: { c: 1, path: '/small' },
  small50: { c: 50, path: '/small' },
  // A new visitor connection per request (Connection: close): per-connection bookkeeping.
  close50: { c: 50, path: '/small', close: true },
  get1m: { c: 1, path: '/1mib', mib: 1 },
  post10m: { c: 1, path: '/upload', method: 'POST', body: 10 * 1024 * 1024, mib: 10 },
};

const children = [];
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.out = '';
  child.stdout.on('data', (d) => (child.out += d));
  child.stderr.on('data', (d) => (child.out += d));
  child.exited = new Promise((resolve) => child.on('exit', resolve));
  children.push(child);
  return child;
}
async function waitFor(child, re, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    const m = re.exec(child.out);
    if (m) return m;
    if (Date.now() > until) throw new Error(`timed out waiting for ${re}:\n${child.out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** [CPU seconds, minor faults] of a process (/proc/PID/stat). */
function usage(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [(Number(f[11]) + Number(f[12])) / 100, Number(f[7])];
}
const usageOf = (procs) => procs.map((p) => usage(p.pid)).reduce(([c, f], [c2, f2]) => [c + c2, f + f2], [0, 0]);
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const hardStop = setTimeout(() => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, 300_000);
try {
  const upstream = start(process.execPath, [path.join(HERE, 'upstream.mjs'), '0']);
  const upstreamPort = (await waitFor(upstream, /PORT=(\d+)/))[1];
  const nodeArgs = process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [];
  const burrowArgs = process.env.BURROW_ARGS ? process.env.BURROW_ARGS.split(' ') : [];
  const procs = [];
  let httpArgs = [];
  if (process.env.MODE === 'edge') {
    // `burrow edge` + `burrow http --edge`, as the bench's edge + agent row; faults summed over both.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const token = randomBytes(16).toString('hex');
    const edgeArgs = ['edge', '--listen', `127.0.0.1:${port}`, '--domain', 'bench.localhost'];
    const edge = start(process.execPath, [...nodeArgs, bin, ...edgeArgs], { BURROW_EDGE_TOKENS: token });
    await waitFor(edge, /edge listening|listening/);
    procs.push(edge);
    httpArgs = ['--edge', `ws://127.0.0.1:${port}`, '--domain', 'app.bench.localhost'];
    process.env.BURROW_AUTHTOKEN = token;
  }
  const burrow = start(process.execPath, [...nodeArgs, bin, 'http', upstreamPort, ...httpArgs, ...burrowArgs]);
  procs.push(burrow);
  const url = new URL((await waitFor(burrow, /Forwarding\s+(https?:\/\/\S+)\s+->/))[1]);
  let phaseNo = 0;
  for (const spec of phases) {
    const sampled = process.env.ALLOC_PHASE !== undefined && phaseNo++ === Number(process.env.ALLOC_PHASE);
    if (sampled) {
      process.kill(burrow.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
    }
    const [name, seconds = '3'] = spec.split(':');
    const p = PHASES[name];
    if (!p) throw new Error(`unknown phase ${name}`);
    const [cpu0, faults0] = usageOf(procs);
    const each0 = procs.map((p) => usage(p.pid)[1]);
    const wrk = start(
      'wrk',
      [
        '-t1',
        `-c${p.c}`,
        `-d${seconds}s`,
        '--timeout',
        '10s',
        ...(p.close ? ['-H', 'Connection: close'] : []),
        '-s',
        path.join(HERE, 'wrk-report.lua'),
        `http://127.0.0.1:${url.port}${p.path}`,
      ],
      { BENCH_METHOD: p.method ?? 'GET', BENCH_BODY_BYTES: String(p.body ?? 0), BENCH_HOST: url.host },
    );
    await wrk.exited;
    const [cpu1, faults1] = usageOf(procs);
    if (sampled) {
      process.kill(burrow.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 1500));
    }
    const each = procs.map((p, i) => usage(p.pid)[1] - each0[i]);
    const line = wrk.out.split('\n').find((l) => l.startsWith('BENCHJSON '));
    if (!line) throw new Error(`wrk failed:\n${wrk.out.slice(-2000)}`);
    const r = JSON.parse(line.slice('BENCHJSON '.length));
    const n = r.requests;
    const cost = p.mib
      ? `${((1000 * (cpu1 - cpu0)) / (n * p.mib)).toFixed(3)} CPU ms/MiB`
      : `${((1000 * (cpu1 - cpu0)) / n).toFixed(4)} CPU ms/req`;
    const errors = r.err_connect + r.err_read + r.err_write + r.err_status + r.err_timeout;
    console.log(
      `${spec.padEnd(10)} ${String(n).padStart(6)} req  ${cost}  ${((faults1 - faults0) / n).toFixed(1)} minor faults/req  RSS ${rssMiB(burrow.pid).toFixed(0)} MiB${procs.length > 1 ? ` (faults/req edge ${(each[0] / n).toFixed(1)}, agent ${(each[1] / n).toFixed(1)})` : ''}${errors ? `  ${errors} errors` : ''}`,
    );
  }
  if (process.env.OUTPUT) writeFileSync(process.env.OUTPUT, procs.map((p) => p.out).join('\n'));
} finally {
  clearTimeout(hardStop);
  for (const c of children) c.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
