#!/usr/bin/env node
// Burrow's activation in extension-host profiles written by exthost-profile.cjs: VS Code's figure
// split by its own marks (code loading = willLoad → didLoadExtensionCode, then the activate() call),
// and the top frames of the code-loading window and of activate() (self time, then inclusive).
//
//   node test/bench/exthost-profile-report.mjs [--top 12] /tmp/prof/*.cpuprofile
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 12;
const ID = 'burrow.burrow';
const ours = /burrow\.burrow-[^/]*\/dist\/extension\.js$/;

for (const file of args) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const mark = (name) => p.marks.find((m) => m.name === `code/extHost/${name}/${ID}`)?.startTime;
  const willLoad = mark('willLoadExtensionCode');
  const didLoad = mark('didLoadExtensionCode');
  if (willLoad === undefined) {
    console.log(`${path.basename(file)}: Burrow did not load in this host`);
    continue;
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stack = (id) => {
    const s = [];
    for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x));
    return s;
  };
  const name = (n) =>
    `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url) || ''}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}:${n.callFrame.columnNumber}` : ''}`.trim();
  let t = p.startTime;
  const samples = p.samples.map((id, i) => ({ id, ms: (t += p.timeDeltas[i]) / 1000 + p.offsetUs / 1000 }));
  samples.forEach((s, i) => (s.dur = (samples[i + 1]?.ms ?? s.ms) - s.ms));
  // activate(): the samples whose stack holds Burrow's activate (the exported function called by
  // VS Code's activation code right after willActivateExtension), contiguous from that mark.
  const willActivate = mark('willActivateExtension');
  const inActivate = (s) => {
    const st = stack(s.id);
    const i = st.findIndex((n) => ours.test(n.callFrame.url));
    return i >= 0 && !st.slice(i).some((n) => n.callFrame.functionName === 'processImmediate');
  };
  let activateSamples = [];
  if (willActivate !== undefined) {
    const from = samples.findIndex((s) => s.ms >= willActivate - 1);
    let last = -1;
    for (let i = from; i >= 0 && i < samples.length && samples[i].ms < willActivate + 200; i++)
      if (inActivate(samples[i])) last = i;
    activateSamples = last >= 0 ? samples.slice(from, last + 1) : [];
  }
  const loading = samples.filter((s) => s.ms >= willLoad - 1 && s.ms <= (didLoad ?? willLoad) + 1);
  const report = (label, win) => {
    const total = win.reduce((a, s) => a + s.dur, 0);
    const self = new Map();
    const incl = new Map();
    for (const s of win) {
      const st = stack(s.id);
      self.set(name(st[0]), (self.get(name(st[0])) ?? 0) + s.dur);
      for (const n of new Set(st.map(name))) incl.set(n, (incl.get(n) ?? 0) + s.dur);
    }
    const list = (m) =>
      [...m]
        .filter(([n]) => n !== '(root)')
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([n, v]) => `      ${v.toFixed(1).padStart(5)} ms  ${n}`)
        .join('\n');
    console.log(`  ${label}: ${win.length} samples over ${total.toFixed(1)} ms`);
    console.log(`    self:\n${list(self)}\n    inclusive:\n${list(incl)}`);
  };
  console.log(
    `${path.basename(file)}: code loading ${didLoad - willLoad} ms (VS Code's marks, Date.now() resolution); activate() called ${willActivate === undefined ? 'after the profile ended' : `${willActivate - willLoad} ms after the load started`}`,
  );
  report('code loading', loading);
  if (activateSamples.length) report('activate()', activateSamples);
}
