// What one sampling heap profile (memory-report.cjs, BURROW_HEAP_SAMPLING=DIR) holds more of than
// another, by allocating function and its caller:
//   node test/bench/heap-sampling-diff.mjs A.heapprofile B.heapprofile [N=1000] [rows=30]
// prints bytes per N (e.g. per 1,000 idle visitors) of what A has and B has not: with A taken at
// the peak of a burst without a GC and B right after a full GC, what the burst left as garbage.
import { readFileSync } from 'node:fs';

function byFrame(file) {
  const out = new Map();
  const walk = (node, parents) => {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').at(-1)}:${f.lineNumber + 1}`;
    const self = node.selfSize;
    if (self) {
      const key = [name, ...parents.slice(-2).reverse()].join(' < ');
      out.set(key, (out.get(key) ?? 0) + self);
    }
    for (const c of node.children) walk(c, [...parents, name]);
  };
  walk(JSON.parse(readFileSync(file, 'utf8')).head, []);
  return out;
}

const [a, b, perText = '1000', rowsText = '30'] = process.argv.slice(2);
const A = byFrame(a);
const B = byFrame(b);
const per = Number(perText) / 1000;
const rows = [...A].map(([k, v]) => [k, v - (B.get(k) ?? 0)]).sort((x, y) => y[1] - x[1]);
const total = rows.reduce((s, [, v]) => s + v, 0);
console.log(
  `difference: ${(total / 1024 / 1024).toFixed(2)} MiB; per 1,000 (N = ${perText}): ${(total / per / 1024 / 1024).toFixed(2)} MiB`,
);
for (const [k, v] of rows.slice(0, Number(rowsText)))
  console.log(`${(v / per / 1024).toFixed(0).padStart(7)} KiB per 1,000  ${k.slice(0, 200)}`);
