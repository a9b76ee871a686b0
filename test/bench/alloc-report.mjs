// Bytes per request by allocating function (self) and by function with its three callers, from a
// sampling heap profile (alloc-sampling.cjs):
//   node test/bench/alloc-report.mjs FILE REQUESTS [rows=30]
import { readFileSync } from 'node:fs';

const [file, requestsText = '1', rowsText = '30'] = process.argv.slice(2);
const requests = Number(requestsText);
const rows = Number(rowsText);
const self = new Map();
const withCallers = new Map();
let total = 0;
const walk = (node, parents) => {
  const f = node.callFrame;
  const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').at(-1)}:${f.lineNumber + 1}`;
  if (node.selfSize) {
    total += node.selfSize;
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    const key = [name, ...parents.slice(-3).reverse()].join(' < ');
    withCallers.set(key, (withCallers.get(key) ?? 0) + node.selfSize);
  }
  for (const c of node.children) walk(c, [...parents, name]);
};
walk(JSON.parse(readFileSync(file, 'utf8')).head, []);
const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, rows);
console.log(`${(total / 2 ** 20).toFixed(1)} MiB sampled, ${(total / requests).toFixed(0)} B per request`);
for (const [k, v] of top(self)) console.log(`${(v / requests).toFixed(0).padStart(7)}  ${k}`);
console.log('--- with callers');
for (const [k, v] of top(withCallers)) console.log(`${(v / requests).toFixed(0).padStart(7)}  ${k.slice(0, 220)}`);
