// CPU per captured exchange of the capture store alone, build against build: each store.ts given
// is bundled (esbuild) with a driver that records browser-like (or wrk-like) exchanges into a
// 50 MB store, in a fresh process per run, heads arriving as a parser gives them (slices of a
// per-request Latin-1 string). Prints µs per exchange while the store fills (first half, pages
// touched for the first time) and once full (second half, evicting), after the driver's own
// parsing is subtracted, and what the store held at the end.
//   node test/bench/capture-store-cost.mjs [--runs N] [--kind browser|wrk] [--n EXCHANGES] NAME=path/to/store.ts ...
//   e.g. git show main:tunnel/src/capture/store.ts > /tmp/m/store.ts; git show main:tunnel/src/capture/pages.ts > /tmp/m/pages.ts
//        node test/bench/capture-store-cost.mjs main=/tmp/m/store.ts this=tunnel/src/capture/store.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';

const args = process.argv.slice(2);
let runs = 2;
let kind = 'browser';
let n = 200_000;
const stores = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--kind') kind = args[++i];
  else if (args[i] === '--n') n = Number(args[++i]);
  else {
    const [name, file] = args[i].split('=');
    stores.push({ name, file: path.resolve(file) });
  }
}
if (!stores.length) {
  console.error(
    'usage: node test/bench/capture-store-cost.mjs [--runs N] [--kind browser|wrk] [--n N] NAME=store.ts ...',
  );
  process.exit(2);
}

const driver = (storeFile) => `
import { CaptureStore } from ${JSON.stringify(storeFile)};
const [N, kind] = [Number(process.argv[2]), process.argv[3]];
const reqHead = Buffer.from(kind === 'browser'
  ? 'GET /api/v1/items?page=3&sort=name HTTP/1.1\\r\\nHost: clever-owl.localhost:8480\\r\\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\\r\\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\\r\\nAccept-Language: en-US,en;q=0.5\\r\\nAccept-Encoding: gzip, deflate, br\\r\\nConnection: keep-alive\\r\\nX-Forwarded-For: 127.0.0.1\\r\\nX-Forwarded-Proto: http\\r\\n\\r\\n'
  : 'GET /small HTTP/1.1\\r\\nHost: clever-owl.localhost:8480\\r\\nX-Forwarded-For: 127.0.0.1\\r\\nX-Forwarded-Proto: http\\r\\n\\r\\n', 'latin1');
const resHead = Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 12\\r\\nDate: Sat, 05 Dec 2026 23:59:59 GMT\\r\\nConnection: keep-alive\\r\\n\\r\\n', 'latin1');
const body = Buffer.from('hello world\\n');
function parse(buf) {
  const text = buf.latin1Slice(0, buf.length);
  const lines = text.slice(0, text.length - 4).split('\\r\\n');
  const raw = [];
  for (let i = 1; i < lines.length; i++) { const l = lines[i]; const c = l.indexOf(':'); raw.push(l.slice(0, c), l.slice(c + 2)); }
  return { line: lines[0].split(' '), raw };
}
const store = new CaptureStore({ maxTotalBytes: 50 * 1024 * 1024 });
function one(i) {
  const q = parse(reqHead);
  const rec = store.begin({ tunnelName: 'web', remoteAddr: '127.0.0.1:' + (40000 + (i % 20000)), method: q.line[0], uri: q.line[1], httpVersion: '1.1', rawHeaders: q.raw });
  rec.requestEnd();
  const r = parse(resHead);
  rec.response(200, r.line[2], '1.1', r.raw);
  rec.responseData(body);
  rec.finish();
}
function parseOnly(i) { return parse(reqHead).raw.length + parse(resHead).raw.length + ('127.0.0.1:' + (40000 + (i % 20000))).length; }
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let sink = 0;
for (let i = 0; i < 20000; i++) sink += parseOnly(i);
let c0 = cpu();
for (let i = 0; i < N; i++) sink += parseOnly(i);
const base = (cpu() - c0) / N;
c0 = cpu();
for (let i = 0; i < N / 2; i++) one(i);
const fill = (cpu() - c0) / (N / 2);
c0 = cpu();
for (let i = N / 2; i < N; i++) one(i);
const full = (cpu() - c0) / (N / 2);
const us = (x) => ((x - base) * 1000).toFixed(2);
console.log('filling ' + us(fill) + ' µs, full ' + us(full) + ' µs per exchange; ' + store.count + ' kept, heap ' + (process.memoryUsage().heapUsed / 1048576).toFixed(0) + ' MiB' + (sink ? '' : ' '));
`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'capture-store-cost-'));
for (const s of stores) {
  const entry = path.join(dir, `${s.name}.mjs`);
  writeFileSync(entry, driver(s.file));
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: (s.bundle = path.join(dir, `${s.name}.bundle.mjs`)),
    logLevel: 'warning',
  });
}
console.log(`${kind} heads, ${n} exchanges per run, load average ${os.loadavg()[0].toFixed(1)}`);
for (let r = 0; r < runs; r++)
  for (const s of r % 2 ? [...stores].reverse() : stores)
    console.log(
      `${s.name.padEnd(10)} ${execFileSync(process.execPath, ['--heap-growing-percent=200', s.bundle, String(n), kind], { encoding: 'utf8', timeout: 300_000 }).trim()}`,
    );
