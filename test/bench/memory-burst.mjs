#!/usr/bin/env node
// Memory of `burrow http` (agent + embedded edge, one process) around a burst of idle keep-alive
// visitors: RSS before, with N visitors connected (each made one GET and stays open), and after
// they all closed. Loopback only, bounded in count and time.
//   node test/bench/memory-burst.mjs [visitors=5000] [BURROW_JS=dist/burrow.js] [-- extra burrow args]
// BURROW_MODE=edge: measure `burrow edge` with `burrow http --edge` as a separate agent process
// (the agent's RSS is printed too). The peak line (no GC) splits the RSS into V8's heap spaces,
// glibc's main heap ([heap]), other anonymous memory and file-backed pages (/proc/PID/smaps).
// The child runs with test/bench/memory-report.cjs preloaded: on SIGUSR2 it prints
// process.memoryUsage() (after a full GC), so the figures say what holds the RSS: V8 heap,
// ArrayBuffers, or native memory (glibc arenas, sockets).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dash = process.argv.indexOf('--');
const positional = process.argv.slice(2, dash < 0 ? undefined : dash);
const extra = dash < 0 ? [] : process.argv.slice(dash + 1);
const [N = '5000', BIN = path.join(ROOT, 'dist/burrow.js')] = positional;
const VISITORS = Math.min(Number(N), 15000);
/** How long the visitors stay open and idle before the second reading (BURROW_IDLE_MS). */
const IDLE_MS = Number(process.env.BURROW_IDLE_MS ?? 30_000);
setTimeout(() => {
  console.error('memory-burst: 400 s limit reached');
  process.exit(1);
}, 400_000).unref();

const kids = new Set();
process.on('exit', () => {
  for (const k of kids)
    try {
      process.kill(-k.pid, 'SIGKILL');
    } catch {
      // gone already
    }
});
function start(cmd, args, env = {}) {
  const c = spawn(cmd, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  c.out = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (c.out += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (c.out += d));
  kids.add(c);
  c.on('exit', () => kids.delete(c));
  return c;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(c, re, ms = 20000) {
  const t0 = Date.now();
  for (;;) {
    const m = re.exec(c.out);
    if (m) return m;
    if (Date.now() - t0 > ms || c.exitCode !== null) throw new Error(c.out.slice(-2000));
    await sleep(20);
  }
}
const MiB = 1024 * 1024;
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
/** The mappings holding most of the RSS (`BURROW_SMAPS=1`): which allocator keeps the memory. */
function topMappings(pid) {
  const rows = [];
  let cur;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m)
      rows.push((cur = { name: m[3] || '[anon]', size: (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024, rss: 0 }));
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r && cur) cur.rss = Number(r[1]);
  }
  const anon = rows.filter((r) => r.name === '[anon]');
  const bySize = new Map();
  for (const r of anon) {
    const k = r.size >= 1024 ? '>=1 MiB' : r.size >= 256 ? '256 KiB..1 MiB' : '<256 KiB';
    const e = bySize.get(k) ?? { n: 0, rss: 0 };
    e.n++;
    e.rss += r.rss;
    bySize.set(k, e);
  }
  const summary = [...bySize].map(([k, e]) => `  anon ${k}: ${e.n} mappings, ${(e.rss / 1024).toFixed(1)} MiB rss`);
  return [
    ...summary,
    ...rows
      .sort((x, y) => y.rss - x.rss)
      .slice(0, 12)
      .map(
        (r) =>
          `  ${(r.rss / 1024).toFixed(1).padStart(6)} MiB rss of ${(r.size / 1024).toFixed(1).padStart(7)} MiB ${r.name}`,
      ),
  ].join('\n');
}
/**
 * RSS by kind of mapping: V8's heap pages (anonymous, 256 KiB each), glibc's main heap ([heap]),
 * glibc's thread arenas (anonymous, 64 MiB-aligned: malloc in V8's GC worker threads), other
 * anonymous memory (V8's large objects, stacks, mmap'd mallocs) and file-backed pages.
 */
function smapsSplit(pid) {
  const split = { v8: 0, heap: 0, arenas: 0, anon: 0, file: 0 };
  let kind;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const start = BigInt(`0x${m[1]}`);
      const size = BigInt(`0x${m[2]}`) - start;
      const anon = m[3] === '' || m[3].startsWith('[anon');
      kind =
        m[3] === '[heap]'
          ? 'heap'
          : !anon
            ? 'file'
            : size === 256n * 1024n
              ? 'v8'
              : start % (64n << 20n) === 0n && size <= 64n << 20n
                ? 'arenas'
                : 'anon';
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) split[kind] += Number(r[1]) * 1024;
  }
  return split;
}
let reports = 0;
async function report(c, signal = 'SIGUSR2') {
  const before = (c.out.match(/^MEM /gm) ?? []).length;
  process.kill(c.pid, signal);
  const t0 = Date.now();
  while ((c.out.match(/^MEM /gm) ?? []).length === before) {
    if (Date.now() - t0 > 10000) throw new Error('no memory report');
    await sleep(20);
  }
  reports++;
  const line = c.out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('MEM '))
    .at(-1);
  return JSON.parse(line.slice(4));
}

function visit(port, host) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => reject(new Error('visitor timed out')), 30000);
    s.on('error', reject);
    s.once('connect', () => s.write(`GET /small HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    let got = '';
    s.on('data', function onData(d) {
      got += d.toString('latin1');
      if (/\r\n\r\n[\s\S]{12}$/.test(got)) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve(s);
      }
    });
  });
}

const up = start(process.execPath, [path.join(ROOT, 'test/bench/upstream.mjs'), '0']);
const upPort = (await waitFor(up, /PORT=(\d+)/))[1];
const measured = [
  ...(process.env.BURROW_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  '--expose-gc',
  '-r',
  path.join(ROOT, 'test/bench/memory-report.cjs'),
  path.resolve(BIN),
];
const EDGE = process.env.BURROW_MODE === 'edge';
let a, agent, url;
if (EDGE) {
  const token = 'memory-burst-token';
  a = start(
    process.execPath,
    [
      ...measured,
      'edge',
      '--listen',
      '127.0.0.1:0',
      '--domain',
      'mem.localhost',
      '--log',
      'stdout',
      '--log-format',
      'json',
      ...extra,
    ],
    { BURROW_EDGE_TOKENS: token },
  );
  const port = (await waitFor(a, /"edge listening".*?"http":(\d+)/))[1];
  agent = start(
    process.execPath,
    [
      path.resolve(BIN),
      'http',
      upPort,
      '--edge',
      `ws://127.0.0.1:${port}`,
      '--domain',
      'app.mem.localhost',
      '--web-addr',
      'false',
    ],
    { BURROW_AUTHTOKEN: token },
  );
  await waitFor(agent, /Forwarding\s+http:\/\/app\.mem\.localhost/);
  url = new URL(`http://app.mem.localhost:${port}`);
} else {
  a = start(process.execPath, [...measured, 'http', upPort, ...extra]);
  url = new URL((await waitFor(a, /Forwarding\s+(https?:\/\/\S+)\s+->/))[1]);
}
// Warm up: code paths compiled, pools and capture store in their first state.
for (let i = 0; i < 200; i++) (await visit(url.port, url.host)).destroy();
await sleep(500);
const fmt = (m) =>
  `rss ${(m.rss / MiB).toFixed(1)} MiB, heapUsed ${(m.heapUsed / MiB).toFixed(1)}, heapTotal ${(m.heapTotal / MiB).toFixed(1)}, external ${(m.external / MiB).toFixed(1)}, arrayBuffers ${(m.arrayBuffers / MiB).toFixed(1)}`;
const MB = (n) => (n / MiB).toFixed(1);
const fmtSplit = (x) =>
  `V8 pages ${MB(x.v8)}, glibc [heap] ${MB(x.heap)}, glibc thread arenas ${MB(x.arenas)}, other anon ${MB(x.anon)}, files ${MB(x.file)}`;
const fmtSpaces = (m) =>
  Object.entries(m.spaces)
    .filter(([, v]) => v.size >= 0.1)
    .map(([k, v]) => `${k} ${v.used}/${v.size}`)
    .join(', ');
const peek = async (label) => {
  const split = smapsSplit(a.pid);
  // BURROW_SMAPS_DIR=DIR: the whole smaps at each peek, to diff mapping by mapping.
  if (process.env.BURROW_SMAPS_DIR)
    writeFileSync(
      path.join(process.env.BURROW_SMAPS_DIR, `${label.split(' ')[0]}.smaps`),
      readFileSync(`/proc/${a.pid}/smaps`),
    );
  const m = await report(a, 'SIGURG');
  console.log(`${label} (no GC): ${fmt(m)}\n    rss ${fmtSplit(split)}\n    V8 used/committed MiB: ${fmtSpaces(m)}`);
  return { m, split };
};
const peekBase = await peek('before');
const base = await report(a);
console.log(`before:        ${fmt(base)}`);
if (process.env.BURROW_SMAPS) console.log(topMappings(a.pid));
const sockets = [];
for (let i = 0; i < VISITORS; i += 200) {
  const batch = Array.from({ length: Math.min(200, VISITORS - i) }, () => visit(url.port, url.host));
  sockets.push(...(await Promise.all(batch)));
}
const rssOpen = rssOf(a.pid);
const peekOpen = await peek(`${VISITORS} open, peak`);
const d = (f) => (((f(peekOpen) - f(peekBase)) / MiB / VISITORS) * 1000).toFixed(2);
console.log(
  `    peak - before, per 1,000: rss ${d((p) => p.m.rss)} = V8 pages ${d((p) => p.split.v8)} (committed ${d((p) => p.m.heapTotal)}, used ${d((p) => p.m.heapUsed)}, old space used ${d((p) => p.m.spaces.old.used * MiB)}), glibc [heap] ${d((p) => p.split.heap)}, thread arenas ${d((p) => p.split.arenas)}, other anon ${d((p) => p.split.anon)}, files ${d((p) => p.split.file)}; external ${d((p) => p.m.external)}, arrayBuffers ${d((p) => p.m.arrayBuffers)}`,
);
// BURROW_OPEN_GC=0: no report (and so no forced full GC) here, to see what V8 gives back by itself while idle.
if (process.env.BURROW_OPEN_GC !== '0') console.log(`${VISITORS} open:    ${fmt(await report(a))}`);
// The same visitors idle for a while: V8's memory reducer (≈ 8 s after allocation slows down)
// gives back the heap the burst grew; what is left is what idle connections cost.
await sleep(IDLE_MS);
const rssIdle = rssOf(a.pid);
console.log(`open, idle ${IDLE_MS / 1000} s: ${fmt(await report(a))}`);
for (const s of sockets) s.destroy();
await sleep(3000);
const closed = await report(a);
console.log(`closed (+3 s): ${fmt(closed)}`);
await sleep(5000);
console.log(`closed (+8 s): ${fmt(await report(a))}`);
// BURROW_AFTER_MS: how long after the close the last reading is taken (default 30 s).
await sleep(Math.max(0, Number(process.env.BURROW_AFTER_MS ?? 30_000) - 8000));
const later = await report(a);
console.log(`closed (later): ${fmt(later)}`);
if (process.env.BURROW_SMAPS) console.log(topMappings(a.pid));
if (agent) console.log(`agent process rss ${MB(rssOf(agent.pid))} MiB`);
console.log(
  `RESULT ${EDGE ? 'edge ' : ''}visitors=${VISITORS} rss_before=${(base.rss / MiB).toFixed(1)} rss_open=${(rssOpen / MiB).toFixed(1)} per_1000=${(((rssOpen - base.rss) / MiB / VISITORS) * 1000).toFixed(1)} rss_idle=${(rssIdle / MiB).toFixed(1)} idle_per_1000=${(((rssIdle - base.rss) / MiB / VISITORS) * 1000).toFixed(1)} rss_after=${(later.rss / MiB).toFixed(1)} MiB; loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
);
// BURROW_CHILD_OUT=FILE: the measured process's own output (e.g. with BURROW_NODE_FLAGS=--trace-gc).
if (process.env.BURROW_CHILD_OUT) writeFileSync(process.env.BURROW_CHILD_OUT, a.out);
process.exit(reports > 0 ? 0 : 1);
