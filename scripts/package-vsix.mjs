// Packages the VS Code extension into burrow.vsix. npm pack's file list (package.json "files") and
// the .vsix whitelist (.vscodeignore) differ, and vsce refuses a manifest that has both, so the
// .vsix is made in a staging folder: the whitelisted parts of the repo and a manifest without "files".
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const stage = path.join(root, '.vsix-stage');
const require = createRequire(import.meta.url);
const vscePkg = require.resolve('@vscode/vsce/package.json');
const vsce = path.join(path.dirname(vscePkg), JSON.parse(fs.readFileSync(vscePkg, 'utf8')).bin.vsce);

fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(stage);
try {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  delete manifest.files;
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const parts = ['.vscodeignore', 'dist', 'schemas', 'media', 'syntaxes', 'walkthrough', 'language-configuration.json'];
  for (const part of [...parts, 'README.md', 'LICENSE'])
    if (fs.existsSync(path.join(root, part)))
      fs.cpSync(path.join(root, part), path.join(stage, part), { recursive: true });
  const args = ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license'];
  args.push('--no-rewrite-relative-links', '-o', path.join(root, 'burrow.vsix'));
  execFileSync(process.execPath, [vsce, ...args], { cwd: stage, stdio: 'inherit' });
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
