#!/usr/bin/env node
// The extension's own part of activation, without VS Code: requires a built dist/extension.js
// (default) or the given files in fresh Node processes with a stand-in `vscode` module (an object
// with as many members as VS Code 1.100's API, ~300) and calls activate(), measuring the CPU time
// of each, and of requiring what the extension loads the tick after activation (dist/extension-core.js).
// The extension host's figure (docs/benchmarks.md) adds its own work and any waiting; this is the
// part the bundle decides, and CPU time is steadier than wall time on a shared machine.
//
//   npm run build && node test/bench/extension-load.mjs [--runs 15] [FILE.js …]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 15;
const files = args.length ? args : ['dist/extension.js'];

// One sample: the child loads the file, activates it, prints CPU ms of each step as JSON.
const child = `
const Module = require('node:module');
const any = new Proxy(function () {}, {
  get: (_t, k) => (k === 'then' ? undefined : k === Symbol.toPrimitive ? () => '' : any),
  set: () => true,
  apply: () => any,
  construct: () => any,
});
const api = {};
for (const n of ['window', 'workspace', 'commands', 'languages', 'env', 'extensions', 'l10n', 'version',
  'EventEmitter', 'Uri', 'StatusBarAlignment', 'TreeItem', 'ThemeIcon', 'ThemeColor', 'TreeItemCollapsibleState',
  'Disposable', 'CodeLens', 'Range', 'Position', 'MarkdownString', 'ProgressLocation', 'ConfigurationTarget'])
  api[n] = any;
for (let i = Object.keys(api).length; i < 300; i++) api['Member' + i] = function () {};
const load = Module._load;
Module._load = function (request) { return request === 'vscode' ? api : load.apply(this, arguments); };
// Built-ins the extension host has loaded before any extension.
for (const m of ['child_process', 'crypto', 'events', 'fs', 'fs/promises', 'http', 'path', 'readline', 'os', 'net'])
  require('node:' + m);
const cpu = (since) => { const c = process.cpuUsage(since); return (c.user + c.system) / 1000; };
// VS Code reads the manifest before activating (context.extension.packageJSON).
const packageJSON = require(require('node:path').join(process.argv[2], 'package.json'));
const c0 = process.cpuUsage();
const ext = require(process.argv[1]);
const required = cpu(c0);
const context = { subscriptions: [], extensionUri: any, extensionPath: '/', globalState: any, workspaceState: any,
  secrets: any, asAbsolutePath: (p) => p, extension: { packageJSON }, logUri: any, storageUri: any, globalStorageUri: any };
ext.activate(context);
const activated = cpu(c0) - required;
// What the extension loads the tick after activation (dist/extension-core.js since the split; its
// start-up, the Core constructor, needs more of VS Code than this stand-in offers).
const core = require('node:path').join(require('node:path').dirname(process.argv[1]), 'extension-core.js');
const c1 = process.cpuUsage();
if (require('node:fs').existsSync(core)) require(core);
console.log(JSON.stringify({ required, activated, after: cpu(c1) }));
process.exit(0);
`;

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0].toFixed(1)} median ${s[s.length >> 1].toFixed(1)}`;
};
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ${runs} processes per file`,
);
for (const file of files) {
  const samples = [];
  for (let i = 0; i < runs; i++)
    samples.push(
      JSON.parse(
        execFileSync(process.execPath, ['-e', child, path.resolve(file), process.cwd()], { encoding: 'utf8' }),
      ),
    );
  console.log(
    `${file}: require ${stats(samples.map((s) => s.required))} ms CPU, activate() ${stats(samples.map((s) => s.activated))} ms CPU; then, after activation, ${stats(samples.map((s) => s.after))} ms CPU`,
  );
}
