// A real VS Code for end-to-end tests: code-server 4.100.3 (installed by scripts/e2e-setup.sh) with
// the packaged extension installed from its .vsix, opened in Debian's headless Chromium through
// playwright-core. The workbench is driven the way a user drives it: the command palette, quick
// picks, notifications, views, the Problems panel, CodeLens. Nothing inside VS Code is stubbed.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { killAll, findDescendant, listeningPorts } from './processes';
import { TestApp } from './support';

export const REPO = path.resolve(__dirname, '../..');
export const E2E_DIR = process.env.BURROW_E2E_DIR ?? path.join(REPO, '.e2e');
export const CODE_SERVER = path.join(E2E_DIR, 'node_modules/.bin/code-server');
export const CHROMIUM = process.env.BURROW_E2E_CHROMIUM ?? '/usr/bin/chromium';
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  publisher?: string;
  scripts?: Record<string, string>;
  engines?: Record<string, string>;
};
export const EXTENSION_ID = `${PKG.publisher ?? 'burrow'}.${PKG.name}`;

/** Where screenshots go: the committed docs/img only when asked, a temp folder otherwise. */
export function screenshotDir(scratch: string): string {
  return process.env.BURROW_UPDATE_SCREENSHOTS === '1'
    ? path.join(REPO, 'docs/img')
    : path.join(scratch, 'screenshots');
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): string {
  try {
    return execFileSync(cmd, args, {
      cwd: opts.cwd,
      timeout: opts.timeoutMs,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/**
 * `npm run package` → the .vsix it wrote (the newest .vsix in the repo root or dist/ modified since
 * we started). BURROW_E2E_VSIX=path skips packaging (to test a given artifact).
 */
let packaged: string | undefined;

export function packageExtension(into: string): string {
  if (process.env.BURROW_E2E_VSIX) return path.resolve(process.env.BURROW_E2E_VSIX);
  // Once per run: every suite installs the same artifact.
  if (packaged && fs.existsSync(packaged)) {
    const copy = path.join(into, path.basename(packaged));
    fs.copyFileSync(packaged, copy);
    return copy;
  }
  if (!PKG.scripts?.package)
    throw new Error('package.json has no "package" script yet: the extension cannot be packaged into a .vsix');
  const since = Date.now() - 1000;
  run('npm', ['run', '--silent', 'package'], { cwd: REPO, timeoutMs: 180_000 });
  const candidates = [REPO, path.join(REPO, 'dist')]
    .flatMap((d) =>
      fs.existsSync(d)
        ? fs
            .readdirSync(d)
            .filter((f) => f.endsWith('.vsix'))
            .map((f) => path.join(d, f))
        : [],
    )
    .map((f) => ({ f, t: fs.statSync(f).mtimeMs }))
    .filter((c) => c.t >= since)
    .sort((a, b) => b.t - a.t);
  if (!candidates.length) throw new Error('npm run package finished but wrote no new .vsix in the repo root or dist/');
  // Our own copy: another run packaging at the same time must not change it under us.
  const copy = path.join(into, path.basename(candidates[0]!.f));
  fs.copyFileSync(candidates[0]!.f, copy);
  packaged = candidates[0]!.f;
  return copy;
}

export interface CodeServerOptions {
  scratch: string;
  workspace: string;
  vsix: string;
  /** Written to the user's settings.json (merged over quiet defaults). */
  settings?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

/** code-server on 127.0.0.1 (auth none, fresh user-data and extensions dirs), plus its log. */
export class CodeServer {
  child?: ChildProcess;
  url = '';
  readonly log: string[] = [];
  readonly userDataDir: string;
  readonly extensionsDir: string;

  constructor(readonly opts: CodeServerOptions) {
    this.userDataDir = path.join(opts.scratch, 'user-data');
    this.extensionsDir = path.join(opts.scratch, 'extensions');
  }

  private args(): string[] {
    return [
      '--extensions-dir',
      this.extensionsDir,
      '--user-data-dir',
      this.userDataDir,
      '--config',
      path.join(this.opts.scratch, 'code-server.yaml'),
    ];
  }

  private env(): NodeJS.ProcessEnv {
    // A private HOME and TMPDIR: nothing leaks into, or is read from, the developer's own setup.
    const home = path.join(this.opts.scratch, 'home');
    const tmp = path.join(this.opts.scratch, 'tmp');
    fs.mkdirSync(home, { recursive: true });
    fs.mkdirSync(tmp, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      TMPDIR: tmp,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local/share'),
    };
    for (const k of [
      'BURROW_AUTHTOKEN',
      'NGROK_AUTHTOKEN',
      'VSCODE_IPC_HOOK_CLI',
      'ELECTRON_RUN_AS_NODE',
      'CODESPACES',
    ])
      delete env[k];
    return { ...env, ...this.opts.env };
  }

  /** `code-server --install-extension x.vsix`: the same path a user takes with the packaged artifact. */
  install(): string {
    fs.writeFileSync(path.join(this.opts.scratch, 'code-server.yaml'), 'auth: none\ncert: false\n');
    const out = run(CODE_SERVER, [...this.args(), '--install-extension', this.opts.vsix], {
      timeoutMs: 120_000,
      env: this.env(),
    });
    const installed = fs
      .readdirSync(this.extensionsDir)
      .filter((d) => d.toLowerCase().startsWith(`${EXTENSION_ID.toLowerCase()}-`));
    if (!installed.length) throw new Error(`code-server did not install ${this.opts.vsix}:\n${out}`);
    return out;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const user = path.join(this.userDataDir, 'User');
    fs.mkdirSync(user, { recursive: true });
    const settings = {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'security.workspace.trust.enabled': false,
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'extensions.ignoreRecommendations': true,
      'update.mode': 'none',
      'telemetry.telemetryLevel': 'off',
      'git.enabled': false,
      'git.autoRepositoryDetection': false,
      'editor.codeLens': true,
      'files.autoSave': 'off',
      'window.restoreWindows': 'none',
      'chat.commandCenter.enabled': false,
      // VS Code's own port forwarding would announce every port the agent opens; keep it quiet.
      'remote.autoForwardPorts': false,
      'remote.autoForwardPortsAction': 'silent',
      // Our own agent on a free port, never attaching to one a developer has running on :4040.
      'burrow.webAddr': '127.0.0.1:0',
      ...this.opts.settings,
    };
    fs.writeFileSync(path.join(user, 'settings.json'), JSON.stringify(settings, null, 2));
    // Machine-scoped settings (port forwarding among them) are read from the server's Machine folder.
    fs.mkdirSync(path.join(this.userDataDir, 'Machine'), { recursive: true });
    fs.writeFileSync(path.join(this.userDataDir, 'Machine', 'settings.json'), JSON.stringify(settings, null, 2));
    const child = spawn(
      CODE_SERVER,
      [
        ...this.args(),
        '--auth',
        'none',
        '--bind-addr',
        '127.0.0.1:0',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        this.opts.workspace,
      ],
      { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const onData = (d: Buffer): void => {
      for (const line of d.toString('utf8').split('\n')) if (line.trim() && this.log.length < 5000) this.log.push(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`code-server did not listen within ${timeoutMs / 1000} s:\n${this.log.join('\n')}`)),
        timeoutMs,
      );
      const check = (): void => {
        const m = /HTTP server listening on (http:\/\/[\d.]+:\d+)/.exec(this.log.join('\n'));
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`code-server exited (${code}) before listening:\n${this.log.join('\n')}`));
      });
    });
  }

  /** Every file under the user-data logs folder (extension host log, output channels). */
  logFiles(): string[] {
    const root = path.join(this.userDataDir, 'logs');
    const out: string[] = [];
    const walk = (dir: string, depth: number): void => {
      if (depth > 6 || !fs.existsSync(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p, depth + 1);
        else if (e.isFile() && out.length < 1000) out.push(p);
      }
    };
    walk(root, 0);
    return out;
  }

  /** The text of every log file whose path matches `pattern`. */
  readLogs(pattern: RegExp = /./): string {
    return this.logFiles()
      .filter((f) => pattern.test(f))
      .map((f) => `==> ${f}\n${fs.readFileSync(f, 'utf8')}`)
      .join('\n');
  }

  /**
   * The local API origin of the agent the extension started: from its `starting web service` log
   * record (the extension's output channel), else from the sockets the agent process listens on.
   */
  async agentApi(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const logs = this.readLogs();
      const m =
        /"msg":"starting web service"[^\n]*?"addr":"(?:http:\/\/)?([^"]+)"/.exec(logs) ??
        /local API at http:\/\/([\d.]+:\d+)/.exec(logs);
      if (m) return `http://${m[1]!}`;
      if (this.child?.pid) {
        for (const agent of findDescendant(this.child.pid, /burrow\.js\s+start\b/)) {
          for (const port of listeningPorts(agent.pid)) {
            try {
              const res = await fetch(`http://127.0.0.1:${port}/api/status`, { signal: AbortSignal.timeout(1000) });
              const body = (await res.json()) as { agent_version?: unknown };
              if (typeof body.agent_version === 'string') return `http://127.0.0.1:${port}`;
            } catch {
              // Not the API port (an edge listener, or not ready yet).
            }
          }
        }
      }
      if (Date.now() > deadline)
        throw new Error(
          'no Burrow agent local API found (no "starting web service" log record, no agent process answering /api/status)',
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<number[]> {
    return killAll(this.child?.pid, this.opts.scratch);
  }
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** The workbench in headless Chromium, with the helpers a scenario needs. */
export class Workbench {
  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async open(codeServerUrl: string, folder: string): Promise<Workbench> {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    try {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      // The extension copies URLs and credentials through vscode.env.clipboard, which in the web
      // workbench is the browser's clipboard: the test reads what a user would paste.
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: codeServerUrl });
      const page = await context.newPage();
      // The workbench itself is what we wait for (not every resource's load event): generous, as a
      // machine shared by several test runs can take over a minute to serve it.
      await page.goto(`${codeServerUrl}/?folder=${encodeURIComponent(folder)}`, {
        waitUntil: 'domcontentloaded',
        timeout: 120_000,
      });
      await page.waitForSelector('.monaco-workbench', { timeout: 120_000 });
      await page.waitForSelector('.statusbar', { timeout: 60_000 });
      return new Workbench(browser, context, page);
    } catch (err) {
      await browser.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
  }

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** Rows of the open quick pick. */
  get quickPickRows(): Locator {
    return this.quickInput.locator('.quick-input-list .monaco-list-row');
  }

  /**
   * Runs a command from the palette by its title as shown there ("Burrow: Expose Port…"). Retries
   * while the palette does not list it yet: contributions appear once the extension host has
   * scanned the extension, and the palette keeps the list it had when it opened.
   */
  async runCommand(title: string | RegExp, timeoutMs = 10_000): Promise<void> {
    // What a user would type: the title without regex syntax and without a trailing ellipsis.
    const text = (typeof title === 'string' ? title : title.source.replace(/\\/g, '').replace(/^\^|\$$/g, '')).replace(
      /[.…]+$/,
      '',
    );
    const row = this.quickPickRows.filter({ has: this.page.locator('.label-name', { hasText: title }) }).first();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.dismiss();
      await this.page.keyboard.press('Control+Shift+P');
      await this.quickInput.waitFor({ state: 'visible', timeout: 5000 });
      await this.page.keyboard.type(text);
      if (
        await row.waitFor({ state: 'visible', timeout: 2000 }).then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) {
        const shown = await this.quickPickRows.allInnerTexts();
        throw new Error(
          `command "${String(title)}" is not in the palette; it shows: ${shown.join(' | ') || '(nothing)'}`,
        );
      }
    }
    await row.click();
  }

  /** Closes whatever transient widget has the focus (quick input, action menu, hover, find). */
  async dismiss(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const open =
        (await this.quickInput.isVisible()) ||
        (await this.page.locator('.action-widget, .context-view .monaco-menu').first().isVisible());
      if (!open) return;
      await this.page.keyboard.press('Escape');
    }
  }

  /** Waits until the extension's contributions are in the workbench (its activity-bar container). */
  async waitForContainer(title: string, timeoutMs = 90_000): Promise<void> {
    await this.page
      .locator(`.activitybar .action-item [aria-label^="${title}"]`)
      .first()
      .waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /**
   * Quick Fix… (Ctrl+.) at the cursor, then picks `text` with the keyboard (the menu blocks pointer
   * events elsewhere). A CodeLens update in the same editor cancels a pending Quick Fix, which
   * then answers "No code actions available" (scenario (c) waits for its lens to settle for that
   * reason); should it happen anyway we press again, like a user, at most `attempts` times, and say
   * so in the output.
   */
  async quickFix(text: RegExp, attempts = 4, onRetry?: () => Promise<void>): Promise<string> {
    const rows = this.page.locator('.action-widget .monaco-list-row.action');
    const wanted = rows.filter({ hasText: text }).first();
    const none = this.page.locator('.monaco-editor-overlaymessage', { hasText: /No code actions available/ });
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('Control+.');
      const shown = await Promise.race([
        wanted.waitFor({ state: 'visible', timeout: 10_000 }).then(() => 'menu' as const),
        none.waitFor({ state: 'visible', timeout: 10_000 }).then(() => 'none' as const),
      ]).catch(() => 'timeout' as const);
      if (shown === 'menu') break;
      const offered = await rows.allInnerTexts().catch(() => []);
      if (shown === 'timeout' || attempt >= attempts)
        throw new Error(
          `no code action ${String(text)} after ${attempt} tries; offered: ${offered.join(' | ') || '(none)'}`,
        );
      console.log(`      (Quick Fix offered nothing on try ${attempt}; trying again)`);
      await onRetry?.();
      await this.dismiss();
      await none.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
      await this.page.waitForTimeout(1000);
    }
    const label = (await wanted.getAttribute('aria-label')) ?? (await wanted.innerText());
    for (let i = 0; i < 30 && !(await wanted.evaluate((el) => el.classList.contains('focused'))); i++)
      await this.page.keyboard.press('ArrowDown');
    await this.page.keyboard.press('Enter');
    return label;
  }

  /** Waits for a quick pick row matching `text` and clicks it. */
  async pick(text: string | RegExp, timeoutMs = 10_000): Promise<void> {
    const row = this.quickPickRows.filter({ hasText: text }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      const shown = await this.quickPickRows.allInnerTexts().catch(() => []);
      throw new Error(`no quick pick item ${String(text)}; shown: ${shown.join(' | ') || '(nothing)'}`);
    }
    await row.click();
  }

  /** Types into the quick input's box (input box or quick pick filter) and presses Enter. */
  async answerInput(value: string, opts: { prompt?: string | RegExp; timeoutMs?: number } = {}): Promise<void> {
    const widget = opts.prompt ? this.quickInput.filter({ hasText: opts.prompt }) : this.quickInput;
    await widget.waitFor({ state: 'visible', timeout: opts.timeoutMs ?? 10_000 });
    const box = this.quickInput.locator('.quick-input-box input');
    await box.fill(value);
    await this.page.keyboard.press('Enter');
  }

  /** Notification toasts currently shown whose text matches. */
  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast').filter({ hasText: text });
  }

  async waitNotification(text: string | RegExp, timeoutMs = 20_000): Promise<Locator> {
    const toast = this.notification(text).first();
    try {
      await toast.waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      throw new Error(
        `no notification ${String(text)}; shown: ${(await this.notificationTexts()).join(' | ') || '(none)'}`,
      );
    }
    return toast;
  }

  /**
   * Starts recording the text of every notification toast that ever appears (a toast can come and
   * go between two looks); `seenNotifications()` returns them.
   */
  async recordNotifications(): Promise<void> {
    // A string, not a function: the test runner's transpiler would wrap named inner functions in a
    // helper the page does not have.
    await this.page.evaluate(`(() => {
      if (window.__burrowToasts) return;
      const seen = (window.__burrowToasts = []);
      const look = () => {
        for (const el of document.querySelectorAll('.notification-list-item-message')) {
          const text = el.innerText;
          if (text && !seen.includes(text)) seen.push(text);
        }
      };
      new MutationObserver(look).observe(document.body, { childList: true, subtree: true, characterData: true });
      look();
    })()`);
  }

  async seenNotifications(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __burrowToasts?: string[] }).__burrowToasts ?? []);
  }

  async notificationTexts(): Promise<string[]> {
    return this.page
      .locator('.notifications-toasts .notification-toast .notification-list-item-message')
      .allInnerTexts()
      .catch(() => []);
  }

  async clickNotificationButton(toast: Locator, label: string | RegExp): Promise<void> {
    await toast.hover();
    await toast.locator('.notification-list-item-buttons-container .monaco-button', { hasText: label }).first().click();
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => undefined);
  }

  async readClipboard(): Promise<string> {
    return this.page.evaluate(() => navigator.clipboard.readText());
  }

  async writeClipboard(text: string): Promise<void> {
    await this.page.evaluate((t) => navigator.clipboard.writeText(t), text);
  }

  /** A view pane (by its header title, e.g. "Tunnels"). */
  pane(title: string): Locator {
    return this.page
      .locator('.pane')
      .filter({ has: this.page.locator('.pane-header', { hasText: title }) })
      .first();
  }

  /** The description a view shows in its header (TreeView.description). */
  paneDescription(title: string): Locator {
    return this.pane(title).locator('.pane-header .description').first();
  }

  /** Right-click a row and choose a context-menu entry. */
  async contextMenu(row: Locator, entry: string | RegExp): Promise<void> {
    await row.click({ button: 'right' });
    const item = this.page.locator('.context-view .monaco-menu .action-item', { hasText: entry }).first();
    await item.waitFor({ state: 'visible', timeout: 5000 });
    await item.click();
    // On a busy machine the menu sometimes keeps the click as a hover (item highlighted, menu open):
    // then Enter runs the highlighted entry.
    const menu = this.page.locator('.context-view .monaco-menu');
    const closed = await menu.waitFor({ state: 'hidden', timeout: 2000 }).then(
      () => true,
      () => false,
    );
    if (!closed) {
      await item.hover();
      await this.page.keyboard.press('Enter');
      await menu.waitFor({ state: 'hidden', timeout: 3000 }).catch(() => undefined);
    }
  }

  /** Rows of the tree inside a view pane. */
  treeRows(title: string): Locator {
    return this.pane(title).locator('.monaco-list-row');
  }

  /**
   * Waits until some webview's document shows every one of `texts`; returns that frame. Webviews
   * are nested iframes on another origin whose markup changes between VS Code versions, so we
   * look through every frame of the page instead of naming the iframes.
   */
  async waitForWebviewText(texts: (string | RegExp)[], timeoutMs = 15_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    let seen: string[] = [];
    for (;;) {
      seen = [];
      for (const frame of this.page.frames()) {
        if (frame === this.page.mainFrame()) continue;
        const text = await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '');
        if (!text.trim()) continue;
        seen.push(text.slice(0, 200).replace(/\s+/g, ' '));
        if (texts.every((t) => (typeof t === 'string' ? text.includes(t) : t.test(text)))) return frame;
      }
      if (Date.now() > deadline)
        throw new Error(
          `no webview shows ${texts.map(String).join(' and ')}; webviews show: ${seen.join(' | ') || '(nothing)'}`,
        );
      await this.page.waitForTimeout(250);
    }
  }

  /**
   * Opens a workspace file through Quick Open (Ctrl+P). A file written a moment ago may not be in
   * Quick Open's file index yet (the watcher reports it later on a busy machine): ask again.
   */
  async openFile(name: string): Promise<void> {
    const row = this.quickPickRows.filter({ hasText: name }).first();
    for (let attempt = 1; ; attempt++) {
      await this.dismiss();
      await this.page.keyboard.press('Control+P');
      await this.quickInput.waitFor({ state: 'visible', timeout: 10_000 });
      await this.page.keyboard.type(name);
      const found = await row.waitFor({ state: 'visible', timeout: 10_000 }).then(
        () => true,
        (err: unknown) => {
          if (attempt >= 4) throw err;
          return false;
        },
      );
      if (found) break;
      await this.page.keyboard.press('Escape');
    }
    await this.page.keyboard.press('Enter');
    await this.page
      .locator(`.tabs-container .tab.active:has-text("${name}")`)
      .waitFor({ state: 'visible', timeout: 10_000 });
  }

  async screenshot(file: string): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await this.page.screenshot({ path: file });
  }

  /** A screenshot for the README: toasts cleared first, so only the subject shows. */
  async cleanScreenshot(file: string): Promise<void> {
    await this.clearNotifications();
    await this.dismiss();
    await this.page.mouse.move(0, 0);
    await this.notificationToasts
      .first()
      .waitFor({ state: 'hidden', timeout: 3000 })
      .catch(() => undefined);
    await this.screenshot(file);
  }

  get notificationToasts(): Locator {
    return this.page.locator('.notifications-toasts .notification-toast');
  }
}

/** A fresh scratch folder for one run (workspace, user data, extensions, logs, screenshots). */
export function makeScratch(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-'));
}

export function checkInstalled(): void {
  if (!fs.existsSync(CODE_SERVER))
    throw new Error(`code-server is not installed in ${E2E_DIR}: run scripts/e2e-setup.sh first`);
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: run scripts/e2e-setup.sh first (Debian package chromium)`);
}

/**
 * Expose Port… on an app's port through the palette. Resolves with the URL from the notification,
 * and the text of the consent dialog when one was shown (it is when the port leaves the machine).
 */
export async function exposeAppPort(
  w: Workbench,
  port: number,
): Promise<{ url: string; consent?: string; portRow?: string; pickerRows?: string[] }> {
  await w.runCommand(/Burrow: Expose Port/);
  await w.quickInput.waitFor({ state: 'visible' });
  // The app is listening, so it should be among the detected ports; "Other…" is the way in when not.
  // By the row's label (the port); its description (the process, e.g. "node app.js") follows it with no space.
  const portRow = w.quickPickRows
    .filter({ has: w.page.locator('.label-name', { hasText: new RegExp(`(^|\\D)${port}\\s*$`) }) })
    .first();
  let portRowText: string | undefined;
  let pickerRows: string[] | undefined;
  if (
    await portRow.waitFor({ state: 'visible', timeout: 15_000 }).then(
      () => true,
      () => false,
    )
  ) {
    portRowText = (await portRow.innerText()).replace(/\s+/g, ' ');
    pickerRows = (await w.quickPickRows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' '));
    await portRow.click();
  } else {
    console.log(
      `      (port ${port} not in the picker; it shows: ${(await w.quickPickRows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ')).join(' | ')})`,
    );
    await w.pick(/Other/);
    await w.answerInput(String(port));
  }
  // Then the options; their default item is "Expose". Answer whatever step shows until the result.
  const note = w.notification(new RegExp(`https?://\\S+ → localhost:${port}`)).first();
  const deadline = Date.now() + 30_000;
  let consent: string | undefined;
  while (!(await note.isVisible())) {
    if (Date.now() > deadline)
      throw new Error(
        `no "Burrow: URL → localhost:${port}" notification; shown: ${(await w.notificationTexts()).join(' | ')}`,
      );
    const expose = w.quickPickRows.filter({ has: w.page.locator('.label-name', { hasText: /(^|\s)Expose$/ }) }).first();
    if (await expose.isVisible()) await expose.click();
    const dialog = w.page.locator('.monaco-dialog-box').first();
    const agree = dialog.locator('.monaco-button', { hasText: /^Expose$/ }).first();
    if (await agree.isVisible()) {
      consent = await dialog.innerText();
      await agree.click();
    }
    await w.page.waitForTimeout(200);
  }
  const text = await note.innerText();
  const url = /(https?:\/\/[^\s→]+)\s*→/.exec(text)?.[1];
  if (!url) throw new Error(`no URL in the notification: ${text}`);
  return { url: url.replace(/\/$/, ''), consent, portRow: portRowText, pickerRows };
}

/**
 * One suite's real VS Code, from `before` to `after`: a scratch folder with a workspace, the user's
 * test app, code-server with the packaged extension, and the workbench in Chromium. A watchdog and
 * Ctrl+C/SIGTERM handlers stop everything even when mocha cannot; each failure leaves a screenshot
 * and keeps the scratch folder (code-server's logs) for a look.
 */
export class E2eSuite {
  readonly scratch: string;
  readonly workspace: string;
  server?: CodeServer;
  app?: TestApp;
  private page?: Workbench;
  private failed = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    readonly name: string,
    budgetMs: number,
  ) {
    checkInstalled();
    this.scratch = makeScratch();
    this.workspace = path.join(this.scratch, 'workspace');
    fs.mkdirSync(this.workspace, { recursive: true });
    this.watchdog = setTimeout(() => {
      console.error(`e2e: ${name} over ${budgetMs / 1000} s, stopping everything`);
      void this.stopAll().finally(() => process.exit(1));
    }, budgetMs);
    this.watchdog.unref();
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => void this.stopAll().finally(() => process.exit(code)));
    }
  }

  get wb(): Workbench {
    if (!this.page) throw new Error('the workbench is not open');
    return this.page;
  }

  /** `node app.js` (copied into the workspace from `script`). */
  async startApp(script: string): Promise<TestApp> {
    const copy = path.join(this.workspace, path.basename(script));
    fs.copyFileSync(script, copy);
    this.app = await TestApp.start(copy);
    return this.app;
  }

  /** Installs the packaged extension into a fresh code-server, starts it, opens the workbench. */
  async open(opts: Pick<CodeServerOptions, 'settings' | 'env'> = {}): Promise<Workbench> {
    try {
      this.server = new CodeServer({
        scratch: this.scratch,
        workspace: this.workspace,
        vsix: packageExtension(this.scratch),
        ...opts,
      });
      this.server.install();
      await this.server.start();
      this.page = await Workbench.open(this.server.url, this.workspace);
      await this.page.waitForContainer('Burrow');
      return this.page;
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  /** For `afterEach`: a failed test leaves a screenshot and the notifications it saw. */
  async afterTest(test: Mocha.Test | undefined): Promise<void> {
    if (test?.state !== 'failed' || !this.page) return;
    this.failed = true;
    const file = path.join(this.scratch, 'failures', `${test.title.replace(/[^\w-]+/g, '_').slice(0, 80)}.png`);
    await this.page.screenshot(file).catch(() => undefined);
    console.log(
      `      failure screenshot: ${file}\n      notifications: ${(await this.page.notificationTexts()).join(' | ') || '(none)'}\n      error: ${test.err?.message?.split('\n').slice(0, 6).join('\n        ')}`,
    );
    await this.page.dismiss().catch(() => undefined);
  }

  /** For `after`: stops everything; removes the scratch folder unless something failed. */
  async finish(): Promise<void> {
    clearTimeout(this.watchdog);
    await this.stopAll();
    if (this.failed) console.log(`      kept for inspection: ${this.scratch} (code-server logs in user-data/logs)`);
    else fs.rmSync(this.scratch, { recursive: true, force: true, maxRetries: 3 });
  }

  private async stopAll(): Promise<void> {
    await this.page?.close();
    this.page = undefined;
    this.app?.stop();
    const killed = (await this.server?.stop()) ?? [];
    this.server = undefined;
    if (killed.length) console.log(`      stopped ${killed.length} processes (code-server and its children)`);
  }
}
