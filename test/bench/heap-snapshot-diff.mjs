// What a heap holds more of in one snapshot than in another, by constructor / node name:
//   node test/bench/heap-snapshot-diff.mjs BEFORE.heapsnapshot AFTER.heapsnapshot [N=1000] [rows=30]
// prints self bytes and counts per N of whatever was added (e.g. per 1,000 idle visitors, with the
// snapshots memory-burst.mjs writes under BURROW_HEAP_SNAPSHOTS=DIR).
import { readFileSync } from 'node:fs';

function summary(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = meta.node_types[typeAt];
  const byName = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    const name =
      type === 'object' || type === 'closure' || type === 'native' ? snap.strings[nodes[i + nameAt]] : `(${type})`;
    const key = type === 'closure' ? `closure ${name}` : name;
    const e = byName.get(key) ?? { size: 0, count: 0 };
    e.size += nodes[i + sizeAt];
    e.count++;
    byName.set(key, e);
  }
  return byName;
}

const [a, b, perText = '1000', rowsText = '30'] = process.argv.slice(2);
const before = summary(a);
const after = summary(b);
const per = Number(perText) / 1000;
const rows = [];
let total = 0;
for (const [name, e] of after) {
  const o = before.get(name) ?? { size: 0, count: 0 };
  const size = e.size - o.size;
  total += size;
  rows.push({ name, size, count: e.count - o.count });
}
rows.sort((x, y) => y.size - x.size);
console.log(
  `added: ${(total / 1024 / 1024).toFixed(2)} MiB; per 1,000 (N = ${perText}): ${(total / per / 1024 / 1024).toFixed(2)} MiB`,
);
for (const r of rows.slice(0, Number(rowsText)))
  console.log(
    `${(r.size / per / 1024).toFixed(0).padStart(7)} KiB per 1,000 ${String(Math.round(r.count / per)).padStart(7)} objects  ${r.name.slice(0, 80)}`,
  );
