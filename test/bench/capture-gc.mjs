#!/usr/bin/env node
// Capture on vs off, by work rather than throughput (a loaded machine changes it least): CPU per MiB
// and full-GC count of `burrow http` (agent + embedded edge, one process) for GET 1 MiB.
//   node test/bench/capture-gc.mjs [BURROW_JS=dist/burrow.js] [runs=3] [requests=300]
// Each run: fresh agent under node --trace-gc, 100 warm-up GETs (fills the 50 MB store, so the
// measured part is in steady state with eviction), then `requests` measured GETs over one keep-alive
// connection. CPU = utime+stime delta from /proc/PID/stat; GCs = trace-gc lines in the window.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [BIN = path.join(ROOT, 'dist/burrow.js'), RUNS = '3', REQS = '300'] = process.argv.slice(2);
setTimeout(() => {
  console.error('capture-gc: 600 s limit reached');
  process.exit(1);
}, 600_000).unref();
const CLK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const kids = new Set();
process.on('exit', () => {
  for (const k of kids)
    try {
      process.kill(-k.pid, 'SIGKILL');
    } catch {
      // gone already
    }
});

function start(cmd, args) {
  const c = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  c.out = '';
  c.stdout.setEncoding('utf8').on('data', (d) => {
    c.out += d;
  });
  c.stderr.setEncoding('utf8').on('data', (d) => {
    c.out += d;
  });
  kids.add(c);
  c.on('exit', () => kids.delete(c));
  return c;
}
const waitFor = (c, re, ms = 20000) =>
  new Promise((res, rej) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      const m = re.exec(c.out);
      if (m) {
        clearInterval(iv);
        res(m);
      } else if (Date.now() - t0 > ms || c.exitCode !== null) {
        clearInterval(iv);
        rej(new Error(c.out.slice(-2000)));
      }
    }, 20);
  });
const cpu = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK;
};
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (port, host) =>
  new Promise((res, rej) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/1mib', agent, headers: { host } }, (r) => {
      let n = 0;
      r.on('data', (c) => {
        n += c.length;
      });
      r.on('end', () => (n === 1 << 20 && r.statusCode === 200 ? res() : rej(new Error(`${r.statusCode} ${n}`))));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
const gcs = (out) => ({ mc: (out.match(/Mark-Compact/g) ?? []).length, sc: (out.match(/Scavenge/g) ?? []).length });

const up = start(process.execPath, [path.join(ROOT, 'test/bench/upstream.mjs'), '0']);
const upPort = (await waitFor(up, /PORT=(\d+)/))[1];
const results = { on: [], off: [] };
for (let run = 0; run < Number(RUNS); run++) {
  for (const mode of ['on', 'off']) {
    const a = start(process.execPath, [
      '--trace-gc',
      path.resolve(BIN),
      'http',
      upPort,
      ...(mode === 'off' ? ['--inspect', 'false'] : []),
    ]);
    const url = new URL((await waitFor(a, /Forwarding\s+(https?:\/\/\S+)\s+->/))[1]);
    for (let i = 0; i < 100; i++) await get(url.port, url.host);
    await new Promise((r) => setTimeout(r, 300));
    const c0 = cpu(a.pid),
      g0 = gcs(a.out),
      t0 = Date.now();
    for (let i = 0; i < Number(REQS); i++) await get(url.port, url.host);
    const c1 = cpu(a.pid),
      g1 = gcs(a.out),
      wall = (Date.now() - t0) / 1000;
    const r = {
      msPerMiB: (1000 * (c1 - c0)) / Number(REQS),
      markCompact: g1.mc - g0.mc,
      scavenge: g1.sc - g0.sc,
      wall,
    };
    results[mode].push(r);
    console.log(
      `run ${run + 1} capture ${mode}: ${r.msPerMiB.toFixed(2)} ms CPU/MiB, ${r.markCompact} mark-compact, ${r.scavenge} scavenges, ${wall.toFixed(1)} s wall`,
    );
    try {
      process.kill(-a.pid, 'SIGKILL');
    } catch {
      // gone already
    }
    await new Promise((r) => a.once('exit', r));
  }
}
const med = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
for (const mode of ['on', 'off']) {
  const rs = results[mode];
  console.log(
    `MEDIAN capture ${mode}: ${med(rs.map((r) => r.msPerMiB)).toFixed(2)} ms CPU/MiB, ${med(rs.map((r) => r.markCompact))} mark-compact, ${med(rs.map((r) => r.scavenge))} scavenges per ${REQS} MiB`,
  );
}
console.log(`loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
agent.destroy();
process.exit(0);
