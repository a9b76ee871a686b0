// What VS Code loads to activate the extension: dist/extension.js must stay a small module that only
// registers (the rest is dist/extension-core.js, loaded after activation; docs/benchmarks.md,
// "Extension activation"), and it registers package.json's commands, so those must be commands.ts's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const REPO = path.resolve(__dirname, '../..');

describe('client activation bundle', () => {
  it("registers package.json's contributed commands: exactly the ones commands.ts handles", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      contributes: { commands: { command: string }[] };
    };
    const contributed = pkg.contributes.commands.map((c) => c.command).sort();
    const source = fs.readFileSync(path.join(REPO, 'client/src/commands.ts'), 'utf8');
    const table = source.slice(source.indexOf('export const COMMANDS'));
    const handled = [...table.matchAll(/^ {2}'(burrow\.[\w.]+)':/gm)].map((m) => m[1]!).sort();
    assert.ok(handled.length > 20, `found the command table (${handled.length} entries)`);
    assert.deepEqual(handled, contributed);
  });

  it('dist/extension.js bundles only the registration code and requires nothing but vscode and the core bundle', async () => {
    // The build's options for dist/extension.js (scripts/build.mjs).
    const result = await build({
      absWorkingDir: REPO,
      entryPoints: ['client/src/extension.ts'],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: true,
      external: ['vscode', './extension-core.js'],
      define: { 'process.env.BURROW_CORE_BUNDLE': '"extension-core.js"' },
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    assert.deepEqual(Object.keys(result.metafile.inputs).sort(), [
      'client/src/extension.ts',
      'client/src/lazyCore.ts',
      'client/src/statusBar.ts',
    ]);
    const code = result.outputFiles[0]!.text;
    const required = [...new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))].sort();
    assert.deepEqual(required, ['./extension-core.js', 'vscode']);
    assert.ok(code.length < 8 * 1024, `dist/extension.js is ${code.length} bytes`);
  });
});
