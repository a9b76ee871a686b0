// Runs inside the VS Code extension host (loaded by test/vscode/runTest.ts): mocha, programmatically.
import path from 'node:path';
import Mocha from 'mocha';
import { registerSuite } from './extension.test';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: true });
  mocha.suite.emit('pre-require', globalThis, path.join(__dirname, 'extension.test'), mocha);
  registerSuite();
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}
