// "Expose Port…": pick a listening port (or type one), optionally set name/domain/protection, give
// consent when the port becomes reachable from outside the machine, bind with progress, then a
// notification with the URL. The default path is two Enter presses: the port, then "Expose".
import vscode = require('vscode');
import type { TunnelJson } from './agent/api';
import { codespacePortOf } from './codespaces';
import type { Ctx } from './ctx';
import { checkBasicAuth, generatePassword, type TunnelDefinition } from './model/definitions';
import { rememberCredentials } from './protect';
import {
  isBurrowProcess,
  listListeningPorts,
  portFromArg,
  portOfUrl,
  rankPorts,
  validateUpstream,
  type ListeningPort,
} from './ports';

const CONSENT_KEY = 'burrow.exposeConsent';

type PortItem = vscode.QuickPickItem & { port?: number; other?: boolean };

async function pickPort(ctx: Ctx): Promise<string | undefined> {
  const qp = vscode.window.createQuickPick<PortItem>();
  qp.title = 'Burrow: Expose Port';
  qp.placeholder = 'Pick a listening port, or type one';
  qp.busy = true;
  const other: PortItem = {
    label: '$(edit) Other…',
    description: 'a port, host:port or URL',
    other: true,
    alwaysShow: true,
  };
  qp.items = [other];
  qp.show();
  // The agent's own ports are not offered.
  const own = new Set<number>();
  void ctx.ensureAgent().then(
    () => undefined,
    () => undefined,
  );
  const listing = performance.now();
  const ports: ListeningPort[] = await listListeningPorts().catch(() => []);
  ctx.output.info(
    `port picker: ${ports.length} listening ports in ${Math.round(performance.now() - listing)} ms (${ports.map((p) => `${p.port}${p.process ? `:${p.process}` : ''}`).join(' ')})`,
  );
  const api = ctx.api;
  if (api) own.add(Number(new URL(api.base).port));
  const edgePort = portOfUrl(ctx.state.status?.edge_url?.replace(/^ws/, 'http') ?? '');
  if (edgePort) own.add(edgePort);
  // In a codespace each tunnel has a port of its own on the embedded edge.
  const cs = ctx.codespace;
  for (const t of cs ? ctx.state.tunnels.values() : []) {
    const port = codespacePortOf(cs!, t.public_url);
    if (port) own.add(port);
  }
  const exposed = new Map([...ctx.state.tunnels.values()].map((t) => [portOfUrl(t.config.addr), t.name]));
  // Likely dev servers first; Burrow's own ports (this agent's, other agents' and edges) are hidden.
  const ordered = rankPorts(ports.filter((p) => !own.has(p.port) && !isBurrowProcess(p)));
  const items: PortItem[] = ordered.map((p) => ({
    label: `$(plug) ${p.port}`,
    description: [p.command ?? p.process, p.address, p.pid && `PID ${p.pid}`].filter(Boolean).join(' · '),
    detail: exposed.has(p.port) ? `already exposed as ${exposed.get(p.port)}` : undefined,
    port: p.port,
  }));
  qp.items = [...items, other];
  qp.busy = false;
  // Typing a number offers it directly.
  qp.onDidChangeValue((v) => {
    const n = /^\d{1,5}$/.test(v.trim()) ? Number(v.trim()) : undefined;
    qp.items =
      n && !items.some((i) => i.port === n)
        ? [{ label: `$(plug) ${n}`, description: 'typed', port: n, alwaysShow: true }, ...items, other]
        : [...items, other];
  });
  const picked = await new Promise<PortItem | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.dispose();
  if (!picked) return undefined;
  if (picked.port) return String(picked.port);
  return vscode.window.showInputBox({
    title: 'Burrow: Expose Port',
    prompt: 'Port, host:port, http(s)://… or file:///path to expose',
    placeHolder: '3000',
    validateInput: (v) => validateUpstream(v),
  });
}

interface ExposeOptions {
  name: string;
  domain: string;
  basicAuth?: { username: string; password: string };
  oauth: boolean;
}

/** The options pick: the first item ("Expose") accepts; the others edit one option and come back. */
async function pickOptions(ctx: Ctx, upstream: string): Promise<ExposeOptions | undefined> {
  const port = /^\d+$/.test(upstream) ? upstream : upstream.replace(/^\w+:\/\//, '').replace(/[^\w]+/g, '-');
  let name = uniqueName(ctx, `http-${port}`);
  const opts: ExposeOptions = { name, domain: ctx.settings.defaultDomain, oauth: false };
  for (;;) {
    const items: (vscode.QuickPickItem & { key: string })[] = [
      {
        key: 'expose',
        label: '$(rocket) Expose',
        description: `→ localhost:${upstream.replace(/^\w+:\/\//, '')}${opts.basicAuth ? ' · basic auth' : ''}${opts.oauth ? ' · OAuth' : ''}`,
      },
      { key: 'name', label: '$(tag) Name', description: opts.name },
      { key: 'domain', label: '$(globe) Domain', description: opts.domain || 'random' },
      {
        key: 'basic',
        label: '$(lock) Basic auth',
        description: opts.basicAuth ? `on (${opts.basicAuth.username})` : 'off',
      },
      { key: 'oauth', label: '$(shield) OAuth', description: opts.oauth ? 'on (set up after exposing)' : 'off' },
    ];
    const pick = await vscode.window.showQuickPick(items, {
      title: `Burrow: Expose ${upstream}`,
      placeHolder: 'Enter to expose, or change an option',
    });
    if (!pick) return undefined;
    if (pick.key === 'expose') return opts;
    if (pick.key === 'name') {
      const v = await vscode.window.showInputBox({
        title: 'Tunnel name',
        value: opts.name,
        validateInput: (s) =>
          /^[\w.-]{1,64}$/.test(s)
            ? ctx.state.tunnels.has(s)
              ? `"${s}" is already running`
              : undefined
            : 'letters, digits, . _ - (1–64)',
      });
      if (v) opts.name = name = v;
    } else if (pick.key === 'domain') {
      const v = await vscode.window.showInputBox({
        title: 'Domain (empty = a random name)',
        value: opts.domain,
        placeHolder: 'app.example.com',
      });
      if (v !== undefined) opts.domain = v.trim();
    } else if (pick.key === 'basic') {
      if (opts.basicAuth) opts.basicAuth = undefined;
      else opts.basicAuth = { username: 'burrow', password: generatePassword() };
    } else if (pick.key === 'oauth') {
      opts.oauth = !opts.oauth;
    }
  }
}

function uniqueName(ctx: Ctx, base: string): string {
  let name = base;
  for (let i = 2; ctx.state.tunnels.has(name) || ctx.definitions.has(name); i++) name = `${base}-${i}`;
  return name;
}

/**
 * Asks once (like VS Code's own port forwarding) before a port becomes reachable from outside this
 * machine. Answers "Expose" / "Always" (remembered) / cancel.
 */
export async function consentToPublic(ctx: Ctx, what: string, where: string): Promise<boolean> {
  if (ctx.ext.globalState.get<boolean>(CONSENT_KEY)) return true;
  const pick = await vscode.window.showWarningMessage(
    `Expose ${what} at ${where}?`,
    {
      modal: true,
      detail:
        'Anyone who has the URL can reach this port from outside this machine, unless you protect it with basic auth or OAuth.',
    },
    'Expose',
    "Expose and Don't Ask Again",
  );
  if (pick === "Expose and Don't Ask Again") await ctx.ext.globalState.update(CONSENT_KEY, true);
  return pick !== undefined;
}

/**
 * Binds a definition with progress; returns the URL to report. In a codespace the embedded edge
 * gave the tunnel a port of its own and its forwarded URL: publish that port with the visibility
 * the settings ask for.
 */
export async function bindTunnel(
  ctx: Ctx,
  def: TunnelDefinition,
  label: string,
): Promise<{ tunnel: TunnelJson; url: string }> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Burrow: exposing ${label}…`, cancellable: false },
    async () => {
      const api = await ctx.ensureAgent();
      const tunnel = await api.startTunnel(def);
      ctx.definitions.set(def.name, def);
      await ctx.publishInCodespace(tunnel);
      return { tunnel, url: tunnel.public_url };
    },
  );
}

export async function announce(ctx: Ctx, name: string, url: string, upstream: string, extra = ''): Promise<void> {
  const label = /^\d+$/.test(upstream) ? `localhost:${upstream}` : upstream;
  const pick = await vscode.window.showInformationMessage(
    `Burrow: ${url} → ${label}${extra}`,
    'Copy URL',
    'Open in Browser',
    'Inspect',
  );
  if (pick === 'Copy URL') {
    await vscode.env.clipboard.writeText(url);
    ctx.output.info(`copied ${url}`);
  } else if (pick === 'Open in Browser') await vscode.env.openExternal(vscode.Uri.parse(url));
  else if (pick === 'Inspect') await vscode.commands.executeCommand('burrow.openInspector', name);
}

export async function exposePort(ctx: Ctx, arg?: unknown): Promise<void> {
  const given = portFromArg(arg);
  const upstream = given !== undefined ? String(given) : await pickPort(ctx);
  if (!upstream) return;
  const opts = await pickOptions(ctx, upstream.trim());
  if (!opts) return;
  const def: TunnelDefinition = { name: opts.name, proto: 'http', addr: upstream.trim() };
  if (opts.domain) def.domain = opts.domain;
  if (opts.basicAuth) {
    const problem = checkBasicAuth(opts.basicAuth.username, opts.basicAuth.password);
    if (problem) throw new Error(problem);
    def.basic_auth = [`${opts.basicAuth.username}:${opts.basicAuth.password}`];
  }
  await ctx.ensureAgent();
  const outside = !ctx.loopbackOnly || ctx.codespace !== undefined;
  if (
    outside &&
    !(await consentToPublic(
      ctx,
      `localhost:${upstream}`,
      ctx.codespace
        ? `your codespace's forwarded URL (${ctx.settings.codespacesVisibility})`
        : (ctx.state.status?.edge_url ?? ctx.settings.edgeUrl),
    ))
  )
    return;
  const { url } = await bindTunnel(ctx, def, `localhost:${upstream}`);
  if (opts.basicAuth) {
    const credentials = `${opts.basicAuth.username}:${opts.basicAuth.password}`;
    await rememberCredentials(ctx, opts.name, credentials);
    await vscode.env.clipboard.writeText(credentials).then(undefined, () => undefined);
  }
  if (opts.oauth) {
    await vscode.commands.executeCommand('burrow.protectOAuth', opts.name);
    return;
  }
  // Not awaited: the notification stays until the user acts, the command is done.
  void announce(ctx, opts.name, url, upstream, opts.basicAuth ? ` (${opts.basicAuth.username}:… copied)` : '');
}
