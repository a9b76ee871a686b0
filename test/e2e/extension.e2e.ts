// End-to-end: the packaged Burrow extension in a real VS Code (code-server 4.100.3 in headless
// Chromium). `npm run test:e2e`; needs scripts/e2e-setup.sh once. Each scenario is what a user does
// with the mouse and keyboard; each assertion checks the real effect outside the editor (the URL
// answers through the tunnel, the app sees the replay, the file on disk is fixed).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { E2eSuite, exposeAppPort, REPO, screenshotDir } from './harness';
import { findDescendant, listeningPorts } from './processes';
import { eventually, tunnelGet } from './support';

const FIXTURE = path.join(__dirname, 'fixture');

describe('Burrow in a real VS Code (code-server + Chromium)', function () {
  this.timeout(60_000);
  let suite: E2eSuite;
  let shots = '';
  /** The tunnel made by "Expose Port…" (scenario a), reused by basic auth (scenario b). */
  let exposedUrl: string | undefined;

  before(async function () {
    this.timeout(300_000);
    suite = new E2eSuite('the VS Code suite', 600_000);
    // Screenshots go to docs/img only when asked; otherwise next to the run, outside the scratch folder we delete.
    shots =
      process.env.BURROW_UPDATE_SCREENSHOTS === '1'
        ? screenshotDir(suite.scratch)
        : fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-shots-'));
    const app = await suite.startApp(path.join(FIXTURE, 'app.js'));
    fs.writeFileSync(
      path.join(suite.workspace, 'ngrok.yml'),
      fs.readFileSync(path.join(FIXTURE, 'ngrok.yml'), 'utf8').replace('APP_PORT', String(app.port)),
    );
    // VS Code's own port forwarding on, as a user has it: Burrow's ports must not be announced.
    await suite.open({ settings: { 'remote.autoForwardPorts': true, 'remote.autoForwardPortsAction': 'notify' } });
    await suite.wb.recordNotifications();
    console.log(`      code-server ${suite.server!.url}, workspace ${suite.workspace}, app on port ${app.port}`);
  });

  afterEach(async function () {
    await suite.afterTest(this.currentTest);
  });

  after(async function () {
    this.timeout(30_000);
    await suite?.finish();
    if (shots && fs.existsSync(shots) && fs.readdirSync(shots).length) console.log(`      screenshots: ${shots}`);
    else if (shots && process.env.BURROW_UPDATE_SCREENSHOTS !== '1') fs.rmSync(shots, { recursive: true, force: true });
  });

  it('(a) Expose Port: notification with the URL, the URL answers, the request shows in the tree and the inspector, replay adds one', async function () {
    const w = suite.wb;
    const { url, consent, portRow } = await exposeAppPort(w, suite.app!.port);
    assert.equal(consent, undefined, 'no consent asked: the embedded edge is reachable from this machine only');
    // The picker names the process behind each port.
    assert.match(portRow ?? '', /node app\.js/, `the app's row in the port picker: ${portRow}`);
    assert.match(url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/, 'an embedded-edge URL under *.localhost');
    exposedUrl = url;

    // The notification's buttons are the ones promised.
    const toast = w.notification(url).first();
    for (const label of ['Copy URL', 'Open in Browser', 'Inspect']) {
      assert.ok(await toast.locator('.monaco-button', { hasText: label }).count(), `notification button "${label}"`);
    }
    await w.clickNotificationButton(toast, 'Copy URL');
    assert.equal(
      await eventually(
        'the URL on the clipboard',
        async () => (await w.readClipboard()).trim().replace(/\/$/, '') === url && 'ok',
        5000,
      ),
      'ok',
    );

    // Through the tunnel to the app, from outside VS Code.
    const answer = await tunnelGet(url, '/e2e/hello?from=test');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-served-by'], 'burrow-e2e-app');
    assert.equal(JSON.parse(answer.body).url, '/e2e/hello?from=test');
    assert.equal(suite.app!.hitsFor('/e2e/hello').length, 1);

    // The tree lists the tunnel and, under it, the captured request.
    await w.runCommand(/View: Show Burrow/);
    const tunnelRow = w
      .treeRows('Tunnels')
      .filter({ hasText: new URL(url).hostname })
      .first();
    await tunnelRow.waitFor({ state: 'visible', timeout: 10_000 });
    // Which agent the view is on: this window's own (burrow.webAddr is 127.0.0.1:0 here).
    const agentPid = findDescendant(suite.server!.child!.pid!, /burrow\.js\s+start\b/)[0]?.pid;
    assert.match(await w.paneDescription('Tunnels').innerText(), new RegExp(`own agent \\(PID ${agentPid}\\)`));
    const requestRow = w.treeRows('Tunnels').filter({ hasText: '/e2e/hello' });
    if (!(await requestRow.first().isVisible())) {
      const twistie = tunnelRow.locator('.monaco-tl-twistie.collapsible.collapsed');
      if (await twistie.count()) await twistie.click();
    }
    await requestRow.first().waitFor({ state: 'visible', timeout: 10_000 });
    const rowText = await requestRow.first().innerText();
    assert.match(rowText, /GET/);
    assert.match(rowText, /200/);

    // Selecting it shows it in the inspector view (a webview beside the tree).
    await requestRow.first().click();
    await w.waitForWebviewText(['/e2e/hello?from=test', /\b200\b/]);

    // Replay: the app gets the request again and the tree gains a row.
    await w.runCommand(/Burrow: Replay Request/);
    const choice = w.quickPickRows.filter({ hasText: '/e2e/hello' }).first();
    if (
      await choice.waitFor({ state: 'visible', timeout: 2000 }).then(
        () => true,
        () => false,
      )
    )
      await choice.click();
    await eventually('the replay reaching the app', () => suite.app!.hitsFor('/e2e/hello').length === 2, 15_000);
    await eventually('a second /e2e/hello row in the tree', async () => (await requestRow.count()) >= 2, 15_000);
    // The inspector follows to the replay and shows its response once it completes.
    await w.waitForWebviewText([/replay of/i, /\b200\b/], 10_000);
    await w.cleanScreenshot(path.join(shots, 'vscode-inspector.png'));
  });

  it('(a2) the Request view at 280 px: tabs, timestamp and actions laid out for a narrow sidebar', async function () {
    const w = suite.wb;
    await w.runCommand(/View: Show Burrow/);
    // Drag the sidebar's edge until it is 280 px wide.
    const sidebar = w.page.locator('.part.sidebar').first();
    for (let i = 0; i < 3; i++) {
      const box = (await sidebar.boundingBox())!;
      if (Math.abs(box.width - 280) <= 2) break;
      const edge = box.x + box.width;
      await w.page.mouse.move(edge - 1, box.y + box.height / 2);
      await w.page.mouse.down();
      await w.page.mouse.move(box.x + 280, box.y + box.height / 2, { steps: 5 });
      await w.page.mouse.up();
    }
    const width = Math.round((await sidebar.boundingBox())!.width);
    assert.ok(Math.abs(width - 280) <= 4, `the sidebar is 280 px wide (is ${width})`);
    const requestRow = w.treeRows('Tunnels').filter({ hasText: '/e2e/hello' }).first();
    await requestRow.click();
    const frame = await w.waitForWebviewText(['Edit & replay', '/e2e/hello']);
    // Each tab on one line (no "Edit repla"), inside the view; the ISO timestamp on one line; the
    // facts of the head wrap between, never inside, themselves.
    // A string, not a function: the test runner's transpiler would wrap the inner helper in a
    // function the webview does not have.
    const layout = (await frame.evaluate(`(() => {
      const lines = (el) => {
        const r = document.createRange();
        r.selectNodeContents(el);
        return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size;
      };
      const body = document.body.getBoundingClientRect();
      const tabs = [...document.querySelectorAll('.tab')].map((t) => ({
        text: t.innerText,
        lines: lines(t),
        inside: t.getBoundingClientRect().right <= body.right + 1,
      }));
      const time = document.querySelector('td.time');
      const facts = [...document.querySelectorAll('.meta .fact')].map((f) => lines(f));
      const timeInside = !!time && time.getBoundingClientRect().right <= body.right + 1;
      return { width: body.width, tabs, timeLines: time ? lines(time) : -1, timeInside, facts };
    })()`)) as {
      width: number;
      tabs: { text: string; lines: number; inside: boolean }[];
      timeLines: number;
      timeInside: boolean;
      facts: number[];
    };
    for (const t of layout.tabs) {
      assert.equal(t.lines, 1, `tab "${t.text}" on one line at ${layout.width} px`);
      assert.ok(t.inside, `tab "${t.text}" inside the view`);
    }
    assert.equal(layout.timeLines, 1, 'the start time on one line');
    assert.ok(layout.timeInside, 'the start time is not clipped');
    assert.ok(
      layout.facts.every((n) => n === 1),
      `head facts unbroken: ${layout.facts.join(',')}`,
    );
    // The tunnel row keeps one inline button, so its URL stays readable.
    const tunnelRow = w
      .treeRows('Tunnels')
      .filter({ hasText: /\.localhost:\d+/ })
      .first();
    await tunnelRow.hover();
    assert.ok((await tunnelRow.locator('.actions .action-item').count()) <= 1, 'at most one inline button');
    await w.page.mouse.move(0, 0);
    await w.cleanScreenshot(path.join(shots, 'vscode-request-280.png'));
    // Back to the default width for the other scenarios.
    const box = (await sidebar.boundingBox())!;
    await w.page.mouse.move(box.x + box.width - 1, box.y + box.height / 2);
    await w.page.mouse.down();
    await w.page.mouse.move(box.x + 420, box.y + box.height / 2, { steps: 5 });
    await w.page.mouse.up();
  });

  it('(b) Protect with Basic Auth: 401 without credentials, 200 with them', async function () {
    const w = suite.wb;
    const url = exposedUrl ?? (await exposeAppPort(w, suite.app!.port)).url;
    await w.clearNotifications();
    await w.writeClipboard('');
    await w.runCommand(/Burrow: Protect with Basic Auth/);
    // Answer the steps: the tunnel (ours), then "generate a password" (or accept the defaults).
    const done = w.notification(/is protected/i).first();
    const deadline = Date.now() + 30_000;
    let answered = 0;
    while (!(await done.isVisible())) {
      if (Date.now() > deadline)
        throw new Error(`no basic-auth notification; shown: ${(await w.notificationTexts()).join(' | ')}`);
      if ((await w.quickInput.isVisible()) && answered < 6) {
        const ours = w.quickPickRows.filter({ hasText: new URL(url).hostname }).first();
        const generate = w.quickPickRows.filter({ hasText: /generat/i }).first();
        if (await ours.isVisible()) await ours.click();
        else if (await generate.isVisible()) await generate.click();
        else await w.page.keyboard.press('Enter');
        answered++;
      }
      await w.page.waitForTimeout(300);
    }
    const credentials = await eventually(
      'credentials on the clipboard',
      async () => {
        const clip = (await w.readClipboard()).trim();
        return /^(?:https?:\/\/)?([^:\s/@]+):([^\s@]+?)(?:@.*)?$/.exec(clip) ?? undefined;
      },
      5000,
    );
    const [, user, password] = credentials;
    // The toast is short enough to be read whole (the issue saw "…is co…").
    const toastText = (await done.locator('.notification-list-item-message').innerText()).trim();
    assert.ok(toastText.length <= 70, `a short toast: "${toastText}"`);
    assert.ok(!toastText.includes(password!), 'the toast does not show the password');
    const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

    // The agent the extension started says where the tunnel is now (and whether its URL survived).
    const api = await suite.server!.agentApi();
    const tunnels = (await (await fetch(`${api}/api/tunnels`)).json()) as {
      tunnels: { name: string; public_url: string; config: { addr: string } }[];
    };
    const protectedTunnel = tunnels.tunnels.find(
      (t) => new URL(t.config.addr).port === String(suite.app!.port) && t.name !== 'lens-e2e',
    );
    assert.ok(protectedTunnel, `the exposed tunnel in GET /api/tunnels: ${JSON.stringify(tunnels)}`);
    const current = protectedTunnel.public_url.replace(/\/$/, '');

    const before = suite.app!.hitsFor('/e2e/private').length;
    const denied = await tunnelGet(current, '/e2e/private');
    assert.equal(denied.status, 401);
    assert.match(String(denied.headers['www-authenticate']), /^Basic /i);
    assert.equal(
      (await tunnelGet(current, '/e2e/private', { authorization: basic(user!, `${password}x`) })).status,
      401,
      'a wrong password is refused',
    );
    // A websocket upgrade without credentials is refused the same way (and listed, below).
    const upgrade = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.from('e2e-socket-key-1').toString('base64'),
    };
    assert.equal((await tunnelGet(current, '/e2e/socket', upgrade)).status, 401);
    assert.equal(suite.app!.hitsFor('/e2e/private').length, before, 'refused requests never reach the app');
    const allowed = await tunnelGet(current, '/e2e/private', { authorization: basic(user!, password!) });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-served-by'], 'burrow-e2e-app');
    assert.equal(suite.app!.hitsFor('/e2e/private').length, before + 1);
    // Protection is applied live to the same tunnel: whoever has the URL keeps it.
    assert.equal(current, url, 'protecting a tunnel keeps its public URL');
    // The password went to the clipboard only: not into the agent's API output, not into any log.
    assert.ok(!JSON.stringify(tunnels).includes(password!), 'GET /api/tunnels redacts the basic-auth password');
    assert.ok(!suite.server!.readLogs().includes(password!), 'no code-server/extension log contains the password');

    // The tree shows the user name; "Copy Credentials" on the tunnel copies them again (SecretStorage).
    await w.runCommand(/View: Show Burrow/);
    const tunnelRow = w
      .treeRows('Tunnels')
      .filter({ hasText: new URL(url).hostname })
      .first();
    await w
      .treeRows('Tunnels')
      .filter({ hasText: /Basic auth/ })
      .filter({ hasText: user! })
      .first()
      .waitFor({ timeout: 10_000 });
    await w.writeClipboard('');
    await w.contextMenu(tunnelRow, 'Copy Credentials');
    assert.equal(
      await eventually('credentials copied again', async () => (await w.readClipboard()).trim() || undefined, 5000),
      `${user}:${password}`,
    );

    // The 401s the edge answered are in the tree, marked with the module that answered.
    const refusedRow = w
      .treeRows('Tunnels')
      .filter({ hasText: '/e2e/private' })
      .filter({ hasText: /edge: basic-auth/ });
    await refusedRow.first().waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await refusedRow.first().innerText(), /401/);
    const refusedUpgrade = w
      .treeRows('Tunnels')
      .filter({ hasText: '/e2e/socket' })
      .filter({ hasText: /edge: basic-auth/ })
      .first();
    await refusedUpgrade.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await refusedUpgrade.innerText(), /401/);
    // Counts came with the event stream and survived the re-creation protection needs: the request
    // of (a) and the one allowed here (a replay is not a connection; the edge's 401s never reach the agent).
    const conns = w.treeRows('Tunnels').filter({ hasText: / open/ }).filter({ hasText: /total/ }).first();
    const total = await eventually(
      'the connection counts',
      async () => {
        const m = /(\d+) total/.exec(await conns.innerText());
        return m && Number(m[1]) >= 2 ? Number(m[1]) : undefined;
      },
      10_000,
    );
    assert.ok(total >= 2, `counts kept across the protection change: ${total}`);
  });

  it('(b2) VS Code\'s port forwarding leaves Burrow\'s own ports alone (no "Your application running on port" toast)', async function () {
    const w = suite.wb;
    const agent = findDescendant(suite.server!.child!.pid!, /burrow\.js\s+start\b/)[0];
    assert.ok(agent, 'the agent process');
    const ports = listeningPorts(agent.pid);
    assert.ok(ports.length >= 2, `the agent listens (API and edge): ${ports.join(', ')}`);
    // VS Code notices listening ports within a few seconds; give it time to, then look at every toast seen.
    await w.page.waitForTimeout(6000);
    const seen = await w.seenNotifications();
    const announced = seen.filter((t) => ports.some((p) => new RegExp(`\\bport ${p}\\b`).test(t)));
    assert.deepEqual(announced, [], `toasts about Burrow's ports: ${announced.join(' | ')}`);
    console.log(
      `      agent ports ${ports.join(', ')}; toasts seen: ${seen.map((t) => t.slice(0, 60)).join(' | ') || '(none)'}`,
    );
    // VS Code did see them: the Ports view lists them under the label the extension gives them.
    await w.runCommand(/Ports: Focus on Ports View/);
    const labelled = w.page.locator('.part.panel .monaco-list-row', { hasText: /\bBurrow\b/ }).first();
    const shown = await labelled.waitFor({ state: 'visible', timeout: 10_000 }).then(
      () => true,
      () => false,
    );
    const rows = await w.page
      .locator('.part.panel .monaco-list-row')
      .allInnerTexts()
      .catch(() => []);
    console.log(
      `      Ports view: ${rows.map((r) => r.replace(/\s+/g, ' ')).join(' | ') || '(no rows)'}; "Burrow" label shown: ${shown}`,
    );
    await w.runCommand(/View: Hide Panel/).catch(() => undefined);
  });

  it('(c) ngrok.yml with mistakes: the Problems panel shows them and the quick fixes clear them', async function () {
    const w = suite.wb;
    await w.clearNotifications();
    await w.openFile('ngrok.yml');
    // The error blocks starting the tunnel until it is fixed.
    await w.page
      .locator('.monaco-editor .codelens-decoration', { hasText: /fix the errors/i })
      .first()
      .waitFor({ state: 'visible', timeout: 20_000 });
    await w.runCommand(/View: Focus Problems/);
    const mistakes = [
      { key: 'inspectt', says: /did you mean `?inspect`?/i, fix: /Rename to `inspect`/, fixed: 'inspect: true' },
      { key: 'hostname', says: /deprecated/i, fix: /hostname.*domain/, fixed: 'domain: lens-e2e.localhost' },
    ];
    for (const m of mistakes) {
      const problem = w.page.locator('.markers-panel .monaco-list-row').filter({ hasText: m.key }).first();
      await problem.waitFor({ state: 'visible', timeout: 20_000 });
      assert.match(await problem.innerText(), m.says);
      // Jump to it, then Quick Fix… (Ctrl+.) in the editor and take the fix.
      await problem.dblclick();
      await w.page.locator('.monaco-editor.focused').waitFor({ state: 'visible', timeout: 5000 });
      assert.match(
        await w.quickFix(m.fix, 4, async () => {
          const cursor = await w.page
            .locator('#status\\.editor\\.selection')
            .innerText()
            .catch(() => '?');
          const rows = await w.page
            .locator('.markers-panel .monaco-list-row')
            .allInnerTexts()
            .catch(() => []);
          console.log(
            `      fixing ${m.key}: cursor ${cursor}; problems: ${rows.map((r) => r.replace(/\s+/g, ' ')).join(' | ')}`,
          );
        }),
        m.fix,
      );
      await w.page
        .locator('.monaco-editor .view-line', { hasText: m.fixed })
        .waitFor({ state: 'visible', timeout: 5000 });
      await problem.waitFor({ state: 'detached', timeout: 10_000 });
      // With the error gone (a deprecation is only a warning) the lens offers Start again. Wait for
      // it: the lens update would cancel a Quick Fix asked for meanwhile (3 of 8 runs did without
      // this wait, 0 of 10 with it).
      if (m.key === 'inspectt')
        await w.page
          .locator('.monaco-editor .codelens-decoration', { hasText: /Start/ })
          .first()
          .waitFor({ state: 'visible', timeout: 10_000 });
    }
    await w.page
      .locator('.markers-panel', { hasText: /No problems have been detected/ })
      .waitFor({ state: 'visible', timeout: 10_000 });
    await w.runCommand(/^File: Save$/);

    const file = path.join(suite.workspace, 'ngrok.yml');
    await eventually(
      'the fixes saved to disk',
      () => /^\s+domain: lens-e2e\.localhost$/m.test(fs.readFileSync(file, 'utf8')),
      10_000,
    );
    const saved = fs.readFileSync(file, 'utf8');
    assert.match(saved, /^\s+inspect: true$/m);
    assert.doesNotMatch(saved, /hostname:|inspectt:/);
  });

  it('(c2) completion while typing in ngrok.yml: keys and values, no Ctrl+Space', async function () {
    const w = suite.wb;
    await w.openFile('ngrok.yml');
    await w.page.locator('.monaco-editor .view-line', { hasText: 'inspect: true' }).first().click();
    await w.page.keyboard.press('End');
    await w.page.keyboard.press('Enter');
    const suggest = w.page.locator('.editor-widget.suggest-widget.visible');
    // A key prefix inside the tunnel: the widget opens by itself and offers the key.
    await w.page.keyboard.type('host_h', { delay: 80 });
    await suggest
      .locator('.monaco-list-row', { hasText: 'host_header' })
      .first()
      .waitFor({ state: 'visible', timeout: 10_000 });
    await w.page.keyboard.press('Escape');
    // A value: after `bind_tls: ` the choices show as soon as a letter is typed.
    for (let i = 0; i < 'host_h'.length; i++) await w.page.keyboard.press('Backspace');
    await w.page.keyboard.type('bind_tls: t', { delay: 80 });
    await suggest
      .locator('.monaco-list-row', { hasText: 'true' })
      .first()
      .waitFor({ state: 'visible', timeout: 10_000 });
    await w.page.keyboard.press('Escape');
    await w.runCommand(/File: Revert File/);
  });

  it('(c3) a typo under the cursor: the CodeLens turns into "fix the errors" with the squiggle, and no line moves', async function () {
    const w = suite.wb;
    // A file of its own (a valid tunnel: the lens says Start), whatever the other scenarios did to ngrok.yml.
    const file = path.join(suite.workspace, 'lens.ngrok.yml');
    fs.writeFileSync(file, 'version: "2"\ntunnels:\n  lens-shift:\n    proto: http\n    addr: 1\n    inspect: true\n');
    await w.openFile('lens.ngrok.yml');
    const lens = w.page.locator('.monaco-editor .codelens-decoration');
    await lens.filter({ hasText: /Start/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await w.page.locator('.monaco-editor .view-line', { hasText: 'inspect: true' }).first().click();
    await w.page.keyboard.press('End');
    await w.page.keyboard.press('Enter');
    // From here on the cursor only moves right: record, on every change of the editor's DOM, where
    // the cursor's line is, how many lenses there are and whether a squiggle is drawn.
    // A string, not a function: tsx's helpers (__name) do not exist in the page.
    await w.page.evaluate(`(() => {
      const editor = document.querySelector('.monaco-editor.focused');
      const samples = [];
      const sample = () => {
        const cursor = editor.querySelector('.cursors-layer .cursor');
        if (!cursor) return;
        samples.push({
          top: Math.round(cursor.getBoundingClientRect().top),
          lenses: editor.querySelectorAll('.codelens-decoration').length,
          squiggle: !!editor.querySelector('.squiggly-error'),
        });
      };
      const observer = new MutationObserver(sample);
      observer.observe(editor, { subtree: true, childList: true, attributes: true, characterData: true });
      sample();
      window.lensRecord = { samples, stop: () => observer.disconnect() };
    })()`);
    await w.page.keyboard.type('inspec: true', { delay: 80 });
    await lens
      .filter({ hasText: /fix the errors/i })
      .first()
      .waitFor({ state: 'visible', timeout: 20_000 });
    await w.page.locator('.monaco-editor .squiggly-error').first().waitFor({ state: 'attached', timeout: 20_000 });
    const samples = (await w.page.evaluate(
      '(() => { window.lensRecord.stop(); return window.lensRecord.samples; })()',
    )) as { top: number; lenses: number; squiggle: boolean }[];
    const tops = [...new Set(samples.map((x) => x.top))];
    console.log(`      ${samples.length} samples while typing; cursor line at ${tops.join(', ')} px`);
    assert.ok(
      samples.some((x) => x.squiggle),
      'the squiggle was seen while recording',
    );
    assert.deepEqual(tops, [samples[0]!.top], 'the line under the cursor never moved');
    assert.ok(
      samples.every((x) => x.lenses > 0),
      'the lens line stayed in place from the first key to the diagnostics',
    );
    await w.runCommand(/File: Revert File/);
    await w.runCommand(/View: Close Editor$/);
    fs.rmSync(file);
  });

  it('(d) CodeLens "Start" above a tunnel in ngrok.yml brings it online', async function () {
    const w = suite.wb;
    await w.openFile('ngrok.yml');
    const start = w.page.locator('.monaco-editor .codelens-decoration a').filter({ hasText: /Start/ }).first();
    await start.waitFor({ state: 'visible', timeout: 20_000 });
    await start.click();

    const api = await suite.server!.agentApi();
    const tunnel = await eventually(
      'the lens-e2e tunnel online in GET /api/tunnels',
      async () => {
        const res = await fetch(`${api}/api/tunnels`);
        const body = (await res.json()) as { tunnels: { name: string; public_url: string }[] };
        // Listed while it binds too (status "starting", no URL yet): wait for the URL.
        return body.tunnels.find((t) => t.name === 'lens-e2e' && t.public_url);
      },
      20_000,
    );
    assert.equal(new URL(tunnel.public_url).hostname, 'lens-e2e.localhost');
    const answer = await tunnelGet(tunnel.public_url, '/e2e/lens');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-served-by'], 'burrow-e2e-app');
    assert.equal(suite.app!.hitsFor('/e2e/lens').length, 1);
    // The lens itself turns into the tunnel's status with its URL.
    await w.page
      .locator('.monaco-editor .codelens-decoration a')
      .filter({ hasText: tunnel.public_url })
      .first()
      .waitFor({ state: 'visible', timeout: 10_000 });
    await w.runCommand(/View: Show Burrow/);
    await w.treeRows('Tunnels').filter({ hasText: '/e2e/lens' }).first().waitFor({ state: 'visible', timeout: 10_000 });
    await w.cleanScreenshot(path.join(shots, 'vscode-tree.png'));
  });

  it('(e) the walkthrough opens (screenshot for the README)', async function () {
    const w = suite.wb;
    await w.runCommand(/Welcome: Open Walkthrough/);
    await w.pick(/Burrow/);
    const page = w.page.locator('.gettingStartedContainer');
    await page.locator('text=/Expose your first port/i').first().waitFor({ state: 'visible', timeout: 15_000 });
    await w.runCommand(/View: Hide Panel/).catch(() => undefined); // the Problems panel from (c), for a tidy picture
    await w.cleanScreenshot(path.join(shots, 'vscode-walkthrough.png'));
  });

  it('(f) activation within 50 ms as VS Code measures it (median of start-up and four reloads)', async function () {
    this.timeout(300_000);
    const w = suite.wb;
    /** Running Extensions shows code loading + activate() call per extension. */
    const figures = async (): Promise<{ vscode: number; text: string }> => {
      await w.runCommand(/Developer: Show Running Extensions/);
      const list = w.page.locator('.runtime-extensions-editor .monaco-list').first();
      const row = w.page.locator('.runtime-extensions-editor .monaco-list-row', { hasText: /Burrow/ }).first();
      await list.waitFor({ state: 'visible', timeout: 60_000 });
      // The list is sorted by activation time and only renders what is in view: a quick activation
      // sits below the fold, so scroll down until Burrow's row is rendered.
      await eventually(
        'the Burrow row in Running Extensions',
        async () => {
          if (await row.isVisible()) return true;
          await list.hover();
          await w.page.mouse.wheel(0, 400);
          return false;
        },
        60_000,
      );
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      const vscodeMs = /(\d+)\s*ms/.exec(text)?.[1];
      assert.ok(vscodeMs, `an activation time on the Burrow row: ${text}`);
      const logs = suite.server!.readLogs(/burrow\.burrow/);
      // (An older build, BURROW_E2E_VSIX=…, logs only the first part.)
      const own = [...logs.matchAll(/activated in ([\d.]+) ms(?:; the rest loaded after it in ([\d.]+) ms)?/g)].at(-1);
      assert.ok(own, 'the extension logs its own activate() time');
      await w.runCommand(/View: Close Editor/).catch(() => undefined);
      return {
        vscode: Number(vscodeMs),
        text: `${vscodeMs} ms (activate() ${own[1]} ms; the rest loaded after it in ${own[2] ?? '–'} ms)`,
      };
    };
    // At workbench start-up every extension activates at once; then after each of four window reloads.
    const samples = [await figures()];
    // The reloads restore a window like the one a user opens on this folder (Burrow activated by
    // workspaceContains, the Tunnels view shown): not the earlier scenarios' ngrok.yml editor and
    // Problems panel, whose restoring activates the YAML/JSON extensions in the same moments and, on
    // this shared machine, raised its median to 53–107 ms (docs/benchmarks.md).
    await w.runCommand(/View: Close All Editors$/).catch(() => undefined);
    const dontSave = w.page.locator('.monaco-dialog-box .monaco-button', { hasText: /Don't Save/ }).first();
    if (
      await dontSave.waitFor({ state: 'visible', timeout: 2000 }).then(
        () => true,
        () => false,
      )
    )
      await dontSave.click();
    await w.runCommand(/View: Hide Panel/).catch(() => undefined);
    const activations = (): number => (suite.server!.readLogs(/burrow\.burrow/).match(/activated in/g) ?? []).length;
    for (let i = 0; i < 4; i++) {
      const before = activations();
      await w.runCommand(/Developer: Reload Window/);
      await eventually('Burrow activated again after the reload', () => activations() > before, 120_000);
      await w.waitForContainer('Burrow');
      samples.push(await figures());
    }
    const sorted = samples.map((s) => s.vscode).sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    console.log(
      `      activation by VS Code (code loading + activate()), start-up then 4 reloads: ${samples.map((s) => s.text).join('; ')}\n      median ${median} ms`,
    );
    // The median, not every sample: VS Code's figure is wall time in an extension host that shares
    // the CPU with the workbench and, here, other test suites, so a single sample can be stretched
    // by the host being descheduled (a CPU profile shows no samples at all for tens of ms). Work
    // added to activation shows in every sample and so in the median; two unlucky samples do not.
    assert.ok(median <= 50, `VS Code's activation time for Burrow, median of ${sorted.join(', ')} ms, is within 50 ms`);
  });

  it('(g) attached to another agent: the view says so, and "Start an Agent of This Window\'s Own" leaves it', async function () {
    this.timeout(90_000);
    const w = suite.wb;
    // Someone else's agent, started from a terminal outside this window.
    const other: ChildProcess = spawn(
      process.execPath,
      [
        path.join(REPO, 'dist/burrow.js'),
        'start',
        '--none',
        '--web-addr',
        '127.0.0.1:0',
        '--log',
        'stdout',
        '--log-format',
        'json',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, HOME: suite.scratch } },
    );
    try {
      let out = '';
      other.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const api = await eventually(
        'the other agent listening',
        () => /"msg":"starting web service"[^\n]*?"addr":"(?:http:\/\/)?([^"]+)"/.exec(out)?.[1],
        20_000,
      );
      // This window is told to use that address, and reconnects.
      // (The server's Machine settings override the user's in a remote window: change both.)
      for (const scope of ['User', 'Machine']) {
        const settingsFile = path.join(suite.server!.userDataDir, scope, 'settings.json');
        const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(settingsFile, JSON.stringify({ ...settings, 'burrow.webAddr': api }, null, 2));
      }
      // Restart Agent once the window has read the new setting (the file watcher takes a moment).
      await w.runCommand(/View: Show Burrow/);
      const description = w.paneDescription('Tunnels');
      await eventually(
        'the attached indicator',
        async () => {
          if ((await description.innerText()).includes(`attached to PID ${other.pid} at ${api}`)) return true;
          await w.runCommand(/Burrow: Restart Agent/);
          await w.page.waitForTimeout(4000);
          return (await description.innerText()).includes(`attached to PID ${other.pid} at ${api}`);
        },
        60_000,
        0,
      );
      const tooltip = await w.page
        .locator('#burrow\\.burrow\\.burrow\\.status, [id="burrow.burrow.burrow.status"]')
        .first()
        .getAttribute('aria-label')
        .catch(() => null);
      console.log(`      view: "${await description.innerText()}"; status bar: ${tooltip ?? '(no label)'}`);
      // The offer: an agent of this window's own (on the next free port), the other one untouched.
      await w.runCommand(/Burrow: Start an Agent of This Window's Own/);
      await eventually(
        'the own-agent indicator',
        async () => /^own agent \(PID \d+\)/.test(await description.innerText()),
        20_000,
      );
      assert.ok(!(await description.innerText()).includes(String(other.pid)));
      assert.equal(other.exitCode, null, 'the other agent keeps running');
    } finally {
      other.kill('SIGTERM');
    }
  });
});
