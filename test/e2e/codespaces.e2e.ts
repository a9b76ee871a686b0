// End-to-end in a "codespace": the packaged extension in code-server started with the environment
// a GitHub Codespace sets. Codespaces cannot be reached from here, so two stand-ins, named as such:
// a `gh` on PATH that records its arguments (the real one would set the port's visibility), and the
// Codespaces forwarder, played by a plain HTTP client sending what it sends to a forwarded port
// (`Host: localhost:PORT`, `X-Forwarded-Proto: https`).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { E2eSuite, exposeAppPort } from './harness';
import { eventually, tunnelGet } from './support';

const FIXTURE = path.join(__dirname, 'fixture');
const CODESPACE = {
  CODESPACES: 'true',
  CODESPACE_NAME: 'burrow-e2e-space',
  GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN: 'app.github.dev',
};

describe('Burrow in a codespace (code-server with the Codespaces environment, stand-in gh)', function () {
  this.timeout(60_000);
  let suite: E2eSuite;
  let ghLog = '';

  before(async function () {
    this.timeout(180_000);
    suite = new E2eSuite('the codespaces suite', 150_000);
    await suite.startApp(path.join(FIXTURE, 'app.js'));
    // The stand-in gh: one line per call, its arguments separated by tabs.
    const bin = path.join(suite.scratch, 'bin');
    fs.mkdirSync(bin);
    ghLog = path.join(suite.scratch, 'gh-args.log');
    fs.writeFileSync(path.join(bin, 'gh'), `#!/bin/sh\nprintf '%s\\t' "$@" >> "${ghLog}"\necho >> "${ghLog}"\n`, {
      mode: 0o755,
    });
    // VS Code's server gives the extension host the PATH of a login shell, not its own: put gh on
    // it the way a codespace's dotfiles would.
    const home = path.join(suite.scratch, 'home');
    fs.mkdirSync(home, { recursive: true });
    for (const rc of ['.profile', '.bashrc']) fs.writeFileSync(path.join(home, rc), `export PATH="${bin}:$PATH"\n`);
    await suite.open({
      env: { ...CODESPACE, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
      settings: { 'burrow.codespaces.visibility': 'public' },
    });
  });

  afterEach(async function () {
    await suite.afterTest(this.currentTest);
  });

  after(async function () {
    this.timeout(30_000);
    await suite?.finish();
  });

  it('Expose Port asks first, gives the tunnel a port of its own, publishes it with gh and reports the forwarded URL', async function () {
    const w = suite.wb;
    const { url, consent } = await exposeAppPort(w, suite.app!.port);
    const m = /^https:\/\/burrow-e2e-space-(\d+)\.app\.github\.dev$/.exec(url);
    assert.ok(m, `the codespace's forwarded URL in the notification: ${url}`);
    const port = Number(m[1]);
    assert.notEqual(port, suite.app!.port, "the edge's own port for the tunnel, not the app's");
    assert.match(consent ?? '', /codespace's forwarded URL \(public\)/, 'consent asked before the port goes public');

    // gh was asked to make exactly that port public in this codespace.
    const calls = await eventually('a gh call', () => fs.existsSync(ghLog) && fs.readFileSync(ghLog, 'utf8').trim());
    assert.deepEqual(
      calls.split('\n').map((l) => l.replace(/\t$/, '').split('\t')),
      [['codespace', 'ports', 'visibility', `${port}:public`, '-c', 'burrow-e2e-space']],
    );

    // What the forwarder delivers to that port reaches the app through the tunnel (and its capture).
    const answer = await tunnelGet(`http://localhost:${port}`, '/e2e/codespace?via=forwarder', {
      'x-forwarded-proto': 'https',
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-served-by'], 'burrow-e2e-app');
    assert.equal(suite.app!.hitsFor('/e2e/codespace').length, 1);
    await w.runCommand(/View: Show Burrow/);
    const tunnelRow = w
      .treeRows('Tunnels')
      .filter({ hasText: `burrow-e2e-space-${port}` })
      .first();
    await tunnelRow.waitFor({ state: 'visible', timeout: 10_000 });
    const requestRow = w.treeRows('Tunnels').filter({ hasText: '/e2e/codespace' });
    if (!(await requestRow.first().isVisible())) {
      const twistie = tunnelRow.locator('.monaco-tl-twistie.collapsible.collapsed');
      if (await twistie.count()) await twistie.click();
    }
    await requestRow.first().waitFor({ state: 'visible', timeout: 10_000 });
  });
});
