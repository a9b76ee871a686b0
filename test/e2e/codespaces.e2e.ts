// End-to-end in a "codespace": the packaged extension in code-server started with the environment
// a GitHub Codespace sets. Codespaces cannot be reached from here, so two stand-ins, named as such:
// a `gh` on PATH that records its arguments (the real one would set the port's visibility), and the
// Codespaces forwarder, played by a plain HTTP client sending what it sends to a forwarded port
// (`Host: localhost:PORT`, `X-Forwarded-Proto: https`).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CodeServer, Workbench, checkInstalled, exposeAppPort, makeScratch, packageExtension } from './harness';
import { TestApp, eventually, tunnelGet } from './support';

const FIXTURE = path.join(__dirname, 'fixture');
const SUITE_BUDGET_MS = 150_000;
const CODESPACE = { CODESPACES: 'true', CODESPACE_NAME: 'burrow-e2e-space', GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN: 'app.github.dev' };

describe('Burrow in a codespace (code-server with the Codespaces environment, stand-in gh)', function () {
  this.timeout(60_000);
  let scratch = '';
  let ghLog = '';
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  let app: TestApp | undefined;
  let failed = false;
  let watchdog: NodeJS.Timeout | undefined;

  async function cleanup(): Promise<void> {
    await wb?.close();
    wb = undefined;
    app?.stop();
    await server?.stop();
    server = undefined;
  }

  before(async function () {
    this.timeout(180_000);
    checkInstalled();
    scratch = makeScratch();
    watchdog = setTimeout(() => {
      console.error(`e2e: codespaces suite over ${SUITE_BUDGET_MS / 1000} s, stopping everything`);
      void cleanup().finally(() => process.exit(1));
    }, SUITE_BUDGET_MS);
    watchdog.unref();

    const workspace = path.join(scratch, 'workspace');
    fs.mkdirSync(workspace, { recursive: true });
    fs.copyFileSync(path.join(FIXTURE, 'app.js'), path.join(workspace, 'app.js'));
    app = await TestApp.start(path.join(workspace, 'app.js'));

    // The stand-in gh: one line per call, its arguments separated by tabs.
    const bin = path.join(scratch, 'bin');
    fs.mkdirSync(bin);
    ghLog = path.join(scratch, 'gh-args.log');
    fs.writeFileSync(path.join(bin, 'gh'), `#!/bin/sh\nprintf '%s\\t' "$@" >> "${ghLog}"\necho >> "${ghLog}"\n`, { mode: 0o755 });
    // VS Code's server gives the extension host the PATH of a login shell, not its own: put gh on
    // it the way a codespace's dotfiles would.
    const home = path.join(scratch, 'home');
    fs.mkdirSync(home, { recursive: true });
    for (const rc of ['.profile', '.bashrc']) fs.writeFileSync(path.join(home, rc), `export PATH="${bin}:$PATH"\n`);

    try {
      server = new CodeServer({
        scratch, workspace, vsix: packageExtension(scratch),
        env: { ...CODESPACE, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
        settings: { 'burrow.codespaces.visibility': 'public' },
      });
      server.install();
      await server.start();
      wb = await Workbench.open(server.url, workspace);
      await wb.waitForContainer('Burrow');
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  after(async function () {
    this.timeout(30_000);
    clearTimeout(watchdog);
    await cleanup();
    if (failed) console.log(`      kept for inspection: ${scratch}`);
    else if (scratch) fs.rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !wb) return;
    failed = true;
    const file = path.join(scratch, 'failures', `${this.currentTest.title.replace(/[^\w-]+/g, '_').slice(0, 80)}.png`);
    await wb.screenshot(file).catch(() => undefined);
    console.log(`      failure screenshot: ${file}\n      notifications: ${(await wb.notificationTexts()).join(' | ') || '(none)'}`);
  });

  it('Expose Port asks first, gives the tunnel a port of its own, publishes it with gh and reports the forwarded URL', async function () {
    const w = wb!;
    const { url, consent } = await exposeAppPort(w, app!.port);
    const m = /^https:\/\/burrow-e2e-space-(\d+)\.app\.github\.dev$/.exec(url);
    assert.ok(m, `the codespace's forwarded URL in the notification: ${url}`);
    const port = Number(m[1]);
    assert.notEqual(port, app!.port, "the edge's own port for the tunnel, not the app's");
    assert.match(consent ?? '', /codespace's forwarded URL \(public\)/, 'consent asked before the port goes public');

    // gh was asked to make exactly that port public in this codespace.
    const calls = await eventually('a gh call', () => fs.existsSync(ghLog) && fs.readFileSync(ghLog, 'utf8').trim());
    assert.deepEqual(calls.split('\n').map((l) => l.replace(/\t$/, '').split('\t')), [
      ['codespace', 'ports', 'visibility', `${port}:public`, '-c', 'burrow-e2e-space'],
    ]);

    // What the forwarder delivers to that port reaches the app through the tunnel (and its capture).
    const answer = await tunnelGet(`http://localhost:${port}`, '/e2e/codespace?via=forwarder', { 'x-forwarded-proto': 'https' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-served-by'], 'burrow-e2e-app');
    assert.equal(app!.hitsFor('/e2e/codespace').length, 1);
    await w.runCommand(/View: Show Burrow/);
    const tunnelRow = w.treeRows('Tunnels').filter({ hasText: `burrow-e2e-space-${port}` }).first();
    await tunnelRow.waitFor({ state: 'visible', timeout: 10_000 });
    const requestRow = w.treeRows('Tunnels').filter({ hasText: '/e2e/codespace' });
    if (!(await requestRow.first().isVisible())) {
      const twistie = tunnelRow.locator('.monaco-tl-twistie.collapsible.collapsed');
      if (await twistie.count()) await twistie.click();
    }
    await requestRow.first().waitFor({ state: 'visible', timeout: 10_000 });
  });
});
