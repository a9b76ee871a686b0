// The context object (rust-analyzer's `Ctx`): owns the agent's lifecycle (attach or start, event
// stream, restart), the state every view reads, the status bar and the subscriptions. Commands are
// plain functions over it (commands.ts); views subscribe to `onDidChange`.
import vscode = require('vscode');
import { AgentApi, type TunnelJson } from './agent/api';
import { EdgeAdminApi, type EdgeRoutes } from './edgeAdminApi';
import { AgentEventStream, type StreamState } from './agent/events';
import { AgentStartError, probeAgent, startAgent, writeAgentConfig, type RunningAgent } from './agent/process';
import { codespacePortOf, detectCodespace, publishPort, type Codespace } from './codespaces';
import { definitionFromTunnel, type TunnelDefinition } from './model/definitions';
import { AgentState } from './model/state';
import { DEFAULT_REQUEST_LIMIT } from './model/tree';
import { readManagedApps } from './managedOAuthApps';
import { readSettings, SECRET_KEYS, type BurrowSettings } from './settings';
import { STOPPED } from './statusBar';

export type AgentMode = 'stopped' | 'starting' | 'running' | 'attached' | 'failed';

/** Thrown by commands that need the agent when it cannot be reached or started. */
export class AgentDownError extends Error {}

export class Ctx implements vscode.Disposable {
  readonly state = new AgentState();
  readonly output: vscode.LogOutputChannel;
  /** Definitions this window started tunnels with (secrets included, memory only): Restart and protection reuse them. */
  readonly definitions = new Map<string, TunnelDefinition>();
  /** Tunnels started from an ngrok.yml: name → file, so protection changes are written back there. */
  readonly fromConfig = new Map<string, vscode.Uri>();
  /** How many requests the tree lists per tunnel ("Show more…" raises it). */
  readonly requestLimits = new Map<string, number>();
  readonly codespace: Codespace | undefined = detectCodespace();
  /** The standalone edge's HTTPS edges and routes (`burrow.edgeApiUrl` set), or why they are missing. */
  edgeRoutes: EdgeRoutes | { api: string; error: string } | undefined;

  private readonly changed = new vscode.EventEmitter<void>();
  /** State changed (tunnels, requests, agent mode); fired at most every 100 ms. */
  readonly onDidChange = this.changed.event;
  private readonly agentChanged = new vscode.EventEmitter<AgentApi | undefined>();
  /** The agent's API address changed (started, restarted, stopped). */
  readonly onDidChangeAgent = this.agentChanged.event;

  private readonly statusBar: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private currentApi: AgentApi | undefined;
  private own: RunningAgent | undefined;
  private stream: AgentEventStream | undefined;
  private connecting: Promise<AgentApi> | undefined;
  private stopping = false;
  private changeTimer: NodeJS.Timeout | undefined;
  private routesTimer: NodeJS.Timeout | undefined;
  private restarts: number[] = [];
  /** "Start an Agent of This Window's Own": never attach until the window closes. */
  private ownOnly = false;
  /** The attached agent's process id, from its /api/status (an own agent's is its child's). */
  agentPid: number | undefined;
  mode: AgentMode = 'stopped';
  lastError: string | undefined;

  /** Ctx owns (and disposes) the output channel (made by core.ts) and the status bar item (by extension.ts). */
  constructor(
    readonly ext: vscode.ExtensionContext,
    output: vscode.LogOutputChannel,
    statusBar: vscode.StatusBarItem,
  ) {
    this.output = output;
    this.statusBar = statusBar;
    this.disposables.push(this.output, this.statusBar, this.changed, this.agentChanged);
    this.disposables.push(this.onDidChange(() => this.render()));
    this.render();
    this.statusBar.show();
  }

  get settings(): BurrowSettings {
    return readSettings();
  }

  /** The connected agent's API, or undefined while it is down. */
  get api(): AgentApi | undefined {
    return this.currentApi;
  }

  get streamState(): StreamState {
    return this.stream?.state ?? 'closed';
  }

  /** True when tunnels are reachable only from this machine (embedded edge on loopback, no Codespaces publishing). */
  get loopbackOnly(): boolean {
    const edge = this.state.status?.edge_url ?? (this.settings.edgeUrl || 'ws://127.0.0.1');
    try {
      const host = new URL(edge).hostname;
      return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
    } catch {
      return false;
    }
  }

  requestLimit(tunnel: string): number {
    return this.requestLimits.get(tunnel) ?? DEFAULT_REQUEST_LIMIT;
  }

  /** The agent's API: attaches to one listening at `burrow.webAddr`, or starts the bundled agent. */
  ensureAgent(): Promise<AgentApi> {
    if (this.currentApi && this.mode !== 'failed') return Promise.resolve(this.currentApi);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** The API if connected; otherwise says the agent is down (commands that only make sense with tunnels). */
  requireAgent(what: string): AgentApi {
    if (this.currentApi) return this.currentApi;
    throw new AgentDownError(
      `the Burrow agent is not running, so there is nothing to ${what}. Expose a port or start tunnels from ngrok.yml first.`,
    );
  }

  private async connect(): Promise<AgentApi> {
    const settings = this.settings;
    this.setMode('starting');
    try {
      const attached = settings.webAddr.endsWith(':0') || this.ownOnly ? undefined : await probeAgent(settings.webAddr);
      if (attached) {
        const api = new AgentApi(attached);
        this.agentPid = await api.status().then(
          (s) => s.pid,
          () => undefined,
        );
        this.output.info(
          `attached to the agent already listening at ${attached}${this.agentPid ? ` (pid ${this.agentPid})` : ''}; "Burrow: Start an Agent of This Window's Own" starts a separate one`,
        );
        this.useApi(api, 'attached');
        return this.currentApi!;
      }
      const authtoken = await this.ext.secrets.get(SECRET_KEYS.authtoken);
      const storage = this.ext.globalStorageUri.fsPath;
      this.own = await startAgent({
        nodePath: process.execPath,
        script: this.ext.asAbsolutePath('dist/burrow.js'),
        webAddr: settings.webAddr,
        edgeUrl: settings.edgeUrl || undefined,
        authtoken: settings.edgeUrl ? authtoken : undefined,
        configFile: writeAgentConfig(storage, { inspectDbSize: settings.inspectDbSize }),
        maxBodyBytes: settings.maxBodyBytes,
        // The user's managed OAuth apps serve the embedded edge only (a standalone edge has its operator's).
        oauthApps: settings.edgeUrl ? undefined : await readManagedApps(this.ext.secrets),
        detachedLogFile: settings.keepRunning
          ? vscode.Uri.joinPath(this.ext.globalStorageUri, 'agent.log').fsPath
          : undefined,
        onLog: (line) => this.output.info(`[agent] ${line}`),
      });
      const agent = this.own;
      this.agentPid = agent.child.pid;
      this.output.info(
        `started the agent (pid ${agent.child.pid}); local API at ${agent.url}${settings.edgeUrl ? `, edge ${settings.edgeUrl}` : ', embedded edge'}`,
      );
      void agent.exited.then((code) => this.onAgentExit(agent, code));
      this.useApi(new AgentApi(agent.url), 'running');
      return this.currentApi!;
    } catch (err) {
      const e = err as Error & { output?: string };
      this.lastError = e.message;
      if (err instanceof AgentStartError && err.output) this.output.error(err.output.trim());
      this.output.error(`agent: ${e.message}`);
      this.setMode('failed');
      throw new AgentDownError(`could not start the Burrow agent: ${e.message}`);
    }
  }

  private useApi(api: AgentApi, mode: AgentMode): void {
    this.currentApi = api;
    this.lastError = undefined;
    if (!this.stream) {
      this.stream = new AgentEventStream(api.eventsUrl, { minDelayMs: 250, maxDelayMs: 5000 });
      this.stream.on('event', (e) => {
        if (this.state.apply(e)) this.fireChanged();
      });
      this.stream.on('state', (s) => {
        if (s === 'closed' && this.mode === 'attached')
          this.output.warn('lost the event stream of the attached agent; retrying');
        this.fireChanged();
      });
      this.stream.start();
    } else this.stream.retarget(api.eventsUrl);
    this.setMode(mode);
    this.agentChanged.fire(api);
  }

  private async onAgentExit(agent: RunningAgent, code: number | null): Promise<void> {
    if (agent !== this.own) return;
    this.own = undefined;
    if (this.stopping) return;
    this.output.error(`the agent exited unexpectedly (code ${code})`);
    this.currentApi = undefined;
    this.state.reset();
    this.setMode('failed');
    this.lastError = `the agent exited (code ${code})`;
    this.agentChanged.fire(undefined);
    // Restart at most 3 times in 5 minutes, then leave it to the user.
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 300_000);
    if (this.restarts.length >= 3) {
      void vscode.window
        .showErrorMessage(`Burrow: the agent keeps exiting (${this.lastError}).`, 'Show Log', 'Restart Agent')
        .then((pick) => {
          if (pick === 'Show Log') this.output.show();
          if (pick === 'Restart Agent') void vscode.commands.executeCommand('burrow.restartAgent');
        });
      return;
    }
    this.restarts.push(now);
    try {
      await this.ensureAgent();
      await this.restoreTunnels();
    } catch (err) {
      this.output.error(`restart failed: ${(err as Error).message}`);
    }
  }

  /**
   * In a codespace the embedded edge gives each HTTP tunnel a port of its own and reports its
   * forwarded URL: set that port's visibility as the settings say. A failure (no `gh`, a policy
   * forbidding public ports) leaves the tunnel running and says how to finish by hand.
   */
  async publishInCodespace(tunnel: TunnelJson): Promise<void> {
    const cs = this.codespace;
    const port = cs && codespacePortOf(cs, tunnel.public_url);
    if (!cs || !port) return;
    const visibility = this.settings.codespacesVisibility;
    try {
      await publishPort(cs, port, visibility);
      this.output.info(`published port ${port} of the codespace as ${visibility}: ${tunnel.public_url}`);
    } catch (err) {
      this.output.error(`${(err as Error).message}`);
      const hint =
        (err as { code?: string }).code === 'ERR_BURROW_CODESPACES_GH_MISSING' ? '' : ' Set it in the Ports view.';
      void vscode.window.showWarningMessage(
        `Burrow: ${tunnel.name} runs at ${tunnel.public_url}, but its port ${port} could not be made ${visibility}: ${(err as Error).message}.${hint}`,
      );
    }
  }

  /** Starts again every tunnel this window had started (after an agent restart). */
  async restoreTunnels(): Promise<void> {
    const api = this.currentApi;
    if (!api) return;
    for (const def of this.definitions.values()) {
      try {
        await this.publishInCodespace(await api.startTunnel(def));
        this.output.info(`restored tunnel ${def.name}`);
      } catch (err) {
        this.output.error(`could not restore tunnel ${def.name}: ${(err as Error).message}`);
      }
    }
  }

  /** Stops the agent this window started (an attached one is left alone). */
  async stopAgent(): Promise<void> {
    this.stopping = true;
    try {
      this.stream?.stop();
      this.stream = undefined;
      const own = this.own;
      this.own = undefined;
      await own?.stop();
    } finally {
      this.stopping = false;
      this.currentApi = undefined;
      this.state.reset();
      this.setMode('stopped');
      this.agentChanged.fire(undefined);
    }
  }

  /**
   * Leaves the agent this window attached to (it keeps running, with its tunnels) and starts one of
   * our own, on the next free port when `burrow.webAddr` is taken.
   */
  async startOwnAgent(): Promise<AgentApi> {
    this.ownOnly = true;
    if (this.mode === 'running' && this.currentApi) return this.currentApi;
    this.stream?.stop();
    this.stream = undefined;
    this.currentApi = undefined;
    this.state.reset();
    this.setMode('stopped');
    const api = await this.ensureAgent();
    await this.restoreTunnels();
    return api;
  }

  /** Which agent the views show, for the Tunnels view's description and the status bar. */
  get agentLabel(): string | undefined {
    const base = this.currentApi?.base.replace(/^https?:\/\//, '');
    if (!base) return undefined;
    const pid = this.agentPid ? `PID ${this.agentPid}` : undefined;
    if (this.mode === 'attached') return `attached to ${[pid, base].filter(Boolean).join(' at ')}`;
    if (this.mode === 'running') return `own agent${pid ? ` (${pid})` : ''} · ${base}`;
    return undefined;
  }

  /** Restart with the current settings, re-creating this window's tunnels. */
  async restartAgent(): Promise<AgentApi> {
    if (this.mode === 'attached') {
      this.output.info('detaching from the attached agent; starting one of our own is not done while it runs');
    }
    await this.stopAgent();
    const api = await this.ensureAgent();
    await this.restoreTunnels();
    return api;
  }

  /** The definition to restart `name` with: what this window sent, or rebuilt from the API. */
  definitionOf(name: string): { def: TunnelDefinition; lost: string[] } {
    const known = this.definitions.get(name);
    const t = this.state.tunnels.get(name);
    if (known) {
      const def = { ...known };
      // A random name was picked at bind time: ask for the same one again so the URL survives.
      // (Not a codespace's forwarded URL: that follows the tunnel's own port, the lowest free one.)
      if (
        def.proto !== 'tcp' &&
        !def.domain &&
        !def.subdomain &&
        t?.public_url &&
        !(this.codespace && codespacePortOf(this.codespace, t.public_url))
      ) {
        def.domain = new URL(t.public_url).hostname;
      }
      return { def, lost: [] };
    }
    if (!t) throw new Error(`tunnel "${name}" is not running`);
    return definitionFromTunnel(t);
  }

  /** Stop then start `name` with `def` (how a running tunnel's config changes: ngrok has no update). */
  async replaceTunnel(name: string, def: TunnelDefinition): Promise<void> {
    const api = await this.ensureAgent();
    await api.stopTunnel(name).catch((err: Error & { status?: number }) => {
      if (err.status !== 404) throw err;
    });
    try {
      await this.publishInCodespace(await api.startTunnel(def));
    } catch (err) {
      // Put the previous definition back so a bad change does not leave the tunnel down.
      const previous = this.definitions.get(name);
      if (previous) await api.startTunnel(previous).catch(() => undefined);
      throw err;
    }
    this.definitions.set(name, def);
  }

  /** While the tree is visible, refresh the standalone edge's routes (counts come with the event stream). */
  setLiveMetrics(on: boolean): void {
    clearInterval(this.routesTimer);
    this.routesTimer = undefined;
    if (!on) return;
    // Routes change rarely (someone edits the edge through its API): every 15 s is enough.
    void this.refreshEdgeRoutes();
    this.routesTimer = setInterval(() => void this.refreshEdgeRoutes(), 15_000);
  }

  /** Reads the edge's routes from its admin API (`burrow.edgeApiUrl`, key in SecretStorage). */
  async refreshEdgeRoutes(): Promise<void> {
    const url = this.settings.edgeApiUrl;
    let next: typeof this.edgeRoutes;
    if (url) {
      const key = await this.ext.secrets.get(SECRET_KEYS.edgeApiKey);
      if (!key) next = { api: url, error: 'no API key stored: run "Burrow: Connect to Edge…"' };
      else next = await new EdgeAdminApi(url, key).routes().catch((err: Error) => ({ api: url, error: err.message }));
    }
    // Redraw only when something changed (this runs every 15 s).
    const text = (r: typeof next): string | undefined =>
      JSON.stringify(r, (_k, v: unknown) => (v instanceof Map ? [...v] : v));
    if (text(next) === text(this.edgeRoutes)) return;
    this.edgeRoutes = next;
    this.fireChanged();
  }

  /** Redraw the views (e.g. after "Show more…"). */
  refresh(): void {
    this.fireChanged();
  }

  private setMode(mode: AgentMode): void {
    this.mode = mode;
    if (mode === 'stopped' || mode === 'failed') this.agentPid = undefined;
    void vscode.commands.executeCommand('setContext', 'burrow.agentRunning', mode === 'running' || mode === 'attached');
    void vscode.commands.executeCommand('setContext', 'burrow.agentAttached', mode === 'attached');
    this.fireChanged();
  }

  private fireChanged(): void {
    if (this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      void vscode.commands.executeCommand('setContext', 'burrow.hasTunnels', this.state.tunnels.size > 0);
      this.changed.fire();
    }, 100);
  }

  private render(): void {
    const s = this.statusBar;
    s.backgroundColor = undefined;
    if (this.mode === 'starting') {
      s.text = '$(sync~spin) Burrow';
      s.tooltip = 'Burrow: starting the agent…';
    } else if (this.mode === 'failed') {
      s.text = '$(error) Burrow';
      s.tooltip = `Burrow: ${this.lastError ?? 'the agent is not running'}`;
      s.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    } else if (this.mode === 'stopped') {
      s.text = STOPPED.text;
      s.tooltip = STOPPED.tooltip;
    } else {
      const online = this.state.onlineCount;
      const total = this.state.tunnels.size;
      const stream = this.streamState === 'open' ? '' : ' $(debug-disconnect)';
      s.text = `$(broadcast) ${online}${stream}`;
      s.tooltip = `Burrow: ${online} of ${total} tunnel${total === 1 ? '' : 's'} online — ${this.agentLabel}${this.mode === 'attached' ? ' (started elsewhere; "Start an Agent of This Window\'s Own" for a separate one)' : ''}${stream ? ' — reconnecting to the event stream' : ''}`;
    }
  }

  async dispose(): Promise<void> {
    clearTimeout(this.changeTimer);
    clearInterval(this.routesTimer);
    const own = this.own;
    // Only a detached agent (started with keepRunning on) outlives the window; a piped one would lose its stdout.
    if (own && this.settings.keepRunning && own.child.stdout === null) {
      this.output.info(`leaving the agent running at ${own.url} (burrow.keepRunning)`);
      this.stream?.stop();
      this.own = undefined;
    } else {
      await this.stopAgent();
    }
    for (const d of this.disposables) d.dispose();
  }
}
