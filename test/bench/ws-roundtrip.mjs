// One WebSocket ping-pong path through the built edge + agent (loopback): the bench's upstream echo,
// a `ws` visitor, N round trips of 64 bytes after a 2,000-round warm-up; prints p50 and the CPU (user +
// system, from /proc) each process spent per round trip. With GO=FILE it prints the two PIDs and waits
// for FILE before measuring, so strace/perf can attach (docs/benchmarks.md "Issue 11 round 7").
//
//   node test/bench/ws-roundtrip.mjs [dist/burrow.js] [roundTrips=20000]
//   GO=/tmp/x/go node test/bench/ws-roundtrip.mjs dist/burrow.js 3000 & … strace -c -f -p EDGE -p AGENT … ; touch /tmp/x/go
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(process.argv[2] ?? path.join(HERE, '../../dist/burrow.js'));
const count = Number(process.argv[3] ?? 20000);
const kids = [];

/** Starts a node child; resolves with it and the first match of `want` in its output (30 s at most). */
function start(args, env, want) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  kids.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[1] ?? args[0]}: not ready within 30 s`)), 30_000);
    let out = '';
    const on = (d) => {
      out += d;
      const m = want(out);
      if (m) {
        clearTimeout(timer);
        resolve([child, m]);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
  });
}

function cpu(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(f[11]), Number(f[12])]; // utime, stime (clock ticks, 100 per second)
}

try {
  const [, up] = await start([path.join(HERE, 'upstream.mjs'), '0'], {}, (o) => /PORT=(\d+)/.exec(o)?.[1]);
  const [, port] = await start(
    [
      '-e',
      "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log('P='+s.address().port);s.close()})",
    ],
    {},
    (o) => /P=(\d+)/.exec(o)?.[1],
  );
  const token = randomBytes(8).toString('hex');
  const edgeArgs = [bin, 'edge', '--listen', `127.0.0.1:${port}`, '--domain', 'bench.localhost', '--log', 'stdout'];
  const [edge] = await start([...edgeArgs, '--log-format', 'json'], { BURROW_EDGE_TOKENS: token }, (o) =>
    o.includes('"edge listening"'),
  );
  const [agent, url] = await start(
    [bin, 'http', up, '--edge', `ws://127.0.0.1:${port}`, '--domain', 'app.bench.localhost', '--inspect', 'false'],
    { BURROW_AUTHTOKEN: token },
    (o) => /(https?:\/\/app\.bench\.localhost:\d+)/.exec(o)?.[1],
  );
  const target = new URL(url);
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}/ws`, {
    headers: { host: target.host },
    perMessageDeflate: false,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const payload = randomBytes(64);
  const rounds = (n) =>
    new Promise((resolve) => {
      const samples = [];
      let sent = process.hrtime.bigint();
      ws.on('message', () => {
        samples.push(Number(process.hrtime.bigint() - sent) / 1e3);
        if (samples.length === n) {
          ws.removeAllListeners('message');
          samples.sort((a, b) => a - b);
          return resolve(samples[samples.length >> 1]);
        }
        sent = process.hrtime.bigint();
        ws.send(payload);
      });
      ws.send(payload);
    });
  await rounds(2000);
  if (process.env.GO) {
    console.log(`edge PID ${edge.pid}, agent PID ${agent.pid}; waiting for ${process.env.GO}`);
    while (!fs.existsSync(process.env.GO)) await new Promise((r) => setTimeout(r, 50));
  }
  const before = [cpu(edge.pid), cpu(agent.pid)];
  const p50 = await rounds(count);
  const after = [cpu(edge.pid), cpu(agent.pid)];
  const us = (i, k) => (((after[i][k] - before[i][k]) * 1e4) / count).toFixed(1);
  console.log(
    `${count} round trips, p50 ${p50.toFixed(1)} µs; CPU µs per round trip (user + system): ` +
      `edge ${us(0, 0)} + ${us(0, 1)}, agent ${us(1, 0)} + ${us(1, 1)}`,
  );
  ws.terminate();
} finally {
  for (const k of kids) k.kill('SIGKILL');
}
