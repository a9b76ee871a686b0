// Codespaces port sharing. A real codespace cannot be reached from these machines, so the test
// sets the environment a codespace has and puts a stand-in `gh` on PATH: a real executable that
// records the arguments it was run with (and fails on demand), exercised through a real child process.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CodespacesError, codespaceUrl, detectCodespace, publishPort } from '../../client/src/codespaces';
import { portOfUrl } from '../../client/src/ports';

const CODESPACE_ENV = {
  CODESPACES: 'true',
  CODESPACE_NAME: 'octocat-literate-space-parakeet-mld5',
  GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN: 'app.github.dev',
};

describe('client codespaces', function () {
  if (process.platform === 'win32') return; // the stand-in gh is a shell script
  let dir: string;
  let log: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-gh-'));
    log = path.join(dir, 'gh-args.log');
    // Records one line per call: its arguments separated by tabs. Exits 1 with gh's message for port 9999.
    fs.writeFileSync(
      path.join(dir, 'gh'),
      `#!/bin/sh\nprintf '%s\\t' "$@" >> "${log}"\necho >> "${log}"\ncase "$4" in 9999:*) echo "error setting port visibility: policy forbids public ports" >&2; exit 1;; esac\nexit 0\n`,
      { mode: 0o755 },
    );
    env = { ...process.env, ...CODESPACE_ENV, PATH: `${dir}${path.delimiter}${process.env.PATH}` };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('detects a codespace only when all three variables are set', () => {
    assert.deepEqual(detectCodespace(CODESPACE_ENV), { name: CODESPACE_ENV.CODESPACE_NAME, domain: 'app.github.dev' });
    assert.equal(detectCodespace({ ...CODESPACE_ENV, CODESPACES: 'false' }), undefined);
    assert.equal(detectCodespace({ CODESPACES: 'true', CODESPACE_NAME: 'x' }), undefined);
    assert.equal(detectCodespace({}), undefined);
  });

  it('builds the forwarded URL from the environment', () => {
    const cs = detectCodespace(CODESPACE_ENV)!;
    assert.equal(codespaceUrl(cs, 8480), 'https://octocat-literate-space-parakeet-mld5-8480.app.github.dev');
    assert.equal(
      codespaceUrl({ name: 'n', domain: 'preview.app.github.dev' }, 3000),
      'https://n-3000.preview.app.github.dev',
    );
    assert.equal(portOfUrl('http://rapid-heron.localhost:8480'), 8480);
    assert.equal(portOfUrl('https://x.example.com'), 443);
    assert.equal(portOfUrl('nonsense'), undefined);
  });

  it('runs gh codespace ports visibility PORT:VIS -c NAME and reports the URL', async () => {
    const cs = detectCodespace(env)!;
    assert.equal(
      await publishPort(cs, 8480, 'public', { env }),
      'https://octocat-literate-space-parakeet-mld5-8480.app.github.dev',
    );
    assert.equal(
      await publishPort(cs, 8481, 'org', { env }),
      'https://octocat-literate-space-parakeet-mld5-8481.app.github.dev',
    );
    const calls = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.replace(/\t$/, '').split('\t'));
    assert.deepEqual(calls, [
      ['codespace', 'ports', 'visibility', '8480:public', '-c', 'octocat-literate-space-parakeet-mld5'],
      ['codespace', 'ports', 'visibility', '8481:org', '-c', 'octocat-literate-space-parakeet-mld5'],
    ]);
  });

  it("surfaces gh's own error with a code", async () => {
    const cs = detectCodespace(env)!;
    await assert.rejects(publishPort(cs, 9999, 'public', { env }), (err: CodespacesError) => {
      assert.equal(err.code, 'ERR_BURROW_CODESPACES_GH_FAILED');
      assert.match(err.message, /policy forbids public ports/);
      return true;
    });
  });

  it('says so when gh is not installed', async () => {
    const cs = detectCodespace(env)!;
    await assert.rejects(publishPort(cs, 8480, 'private', { env: { ...env, PATH: path.join(dir, 'empty') } }), {
      code: 'ERR_BURROW_CODESPACES_GH_MISSING',
    });
    await assert.rejects(publishPort(cs, 70000, 'private', { env }), { code: 'ERR_BURROW_CODESPACES_PORT' });
  });
});
