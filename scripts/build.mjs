// Builds every bundle with esbuild. An entry whose source does not exist yet is skipped, so
// each part (agent/CLI, language server, extension, inspector) can land on its own.
import { build } from 'esbuild';
import { existsSync, mkdirSync, cpSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: 'linked', logLevel: 'warning', legalComments: 'none' };
const node = { ...common, platform: 'node', target: 'node20', format: 'cjs' };

const entries = [
  { ...node, entryPoints: ['tunnel/src/cli/main.ts'], outfile: 'dist/burrow.js' },
  { ...node, entryPoints: ['tunnel/src/sdk.ts'], outfile: 'dist/sdk.js' },
  { ...node, entryPoints: ['server/src/main.ts'], outfile: 'dist/server.js' },
  // The extension, minified, in three bundles so activation loads little code: dist/extension.js
  // (activation: registrations only), dist/extension-core.js (everything else, required on first use
  // by client/src/extension.ts) and the heavy libraries (required on first use by lazyLibs.ts). Its
  // files say `import vscode = require('vscode')`: a plain require, where `import * as` made esbuild
  // copy the ~300 members of the API object into getters once per file (~5 ms of activation).
  {
    ...node,
    minify: true,
    entryPoints: ['client/src/extension.ts'],
    outfile: 'dist/extension.js',
    external: ['vscode', './extension-core.js'],
    define: { 'process.env.BURROW_CORE_BUNDLE': '"extension-core.js"' },
  },
  {
    ...node,
    minify: true,
    entryPoints: ['client/src/core.ts'],
    outfile: 'dist/extension-core.js',
    external: ['vscode', './extension-libs.js'],
    define: { 'process.env.BURROW_LIBS_BUNDLE': '"extension-libs.js"' },
  },
  {
    ...node,
    minify: true,
    entryPoints: ['client/src/libs.ts'],
    outfile: 'dist/extension-libs.js',
    external: ['vscode'],
  },
  {
    ...common,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    entryPoints: ['tunnel/src/inspector/web/main.ts'],
    outfile: 'dist/inspector/inspector.js',
  },
];

mkdirSync('dist', { recursive: true });
const ready = entries.filter((e) => existsSync(e.entryPoints[0]));
await Promise.all(ready.map((e) => build(e)));
// Static inspector assets (HTML/CSS) travel next to the bundle.
if (existsSync('tunnel/src/inspector/web/static'))
  cpSync('tunnel/src/inspector/web/static', 'dist/inspector', { recursive: true });
if (!watch) console.log(`built ${ready.map((e) => e.outfile).join(', ')}`);
