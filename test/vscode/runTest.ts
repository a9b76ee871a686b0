// The extension-host half of the end-to-end scenarios, for machines that can download VS Code
// (`npm run test:vscode`; on Linux without a display: `xvfb-run -a npm run test:vscode`). Not run
// in CI here: these machines cannot download VS Code; test/e2e drives code-server instead.
//
// The suite is TypeScript; the extension host loads JavaScript, so it is bundled first with esbuild
// (mocha and vscode stay external and resolve from the repo).
import path from 'node:path';
import { build } from 'esbuild';
import { runTests } from '@vscode/test-electron';

const REPO = path.resolve(__dirname, '../..');

async function main(): Promise<void> {
  const outfile = path.join(REPO, 'dist/vscode-test/suite.js');
  await build({
    entryPoints: [path.join(__dirname, 'suite/index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  const workspace = path.join(REPO, 'dist/vscode-test/workspace');
  await runTests({
    // BURROW_VSCODE_VERSION pins a version (default: the newest matching engines.vscode);
    // BURROW_VSCODE_EXECUTABLE uses an installed VS Code instead of downloading one.
    version: process.env.BURROW_VSCODE_VERSION,
    vscodeExecutablePath: process.env.BURROW_VSCODE_EXECUTABLE,
    extensionDevelopmentPath: REPO,
    extensionTestsPath: outfile,
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome'],
    extensionTestsEnv: { BURROW_VSCODE_TEST_WORKSPACE: workspace },
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
