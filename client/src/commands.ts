// Every command as a plain function over Ctx (rust-analyzer's command table). All of them are
// registered at activation (extension.ts, from package.json's contributes.commands), whatever the
// agent's state; one that needs a running agent says so (or starts it) instead of failing with
// "command not found".
import fs from 'node:fs/promises';
import vscode = require('vscode');
import type { TunnelJson } from './agent/api';
import { AgentDownError, type Ctx } from './ctx';
import { announce, bindTunnel, consentToPublic, exposePort } from './expose';
import { REQUEST_LIMIT_STEP, type TreeNode } from './model/tree';
import { entryToDefinition, fillOAuthSecrets, listEntries } from './ngrokYaml';
import { basicAuthCredentials, forgetCredentials, protectBasicAuth, protectOAuth, removeProtection } from './protect';
import { embeddedCallbackUrl, forgetManagedApp, readManagedApps, registerManagedApp } from './managedOAuthApps';
import { PROVIDER_GUIDES } from './oauthProviders';
import { SECRET_KEYS } from './settings';
import type { InspectorViewProvider } from './views/inspector';

export interface CommandDeps {
  ctx: Ctx;
  inspector: InspectorViewProvider;
}

type Handler = (deps: CommandDeps, ...args: unknown[]) => unknown;

/** A tree node, a tunnel name, or nothing (then ask). */
async function tunnelArg(
  ctx: Ctx,
  arg: unknown,
  verb: string,
  filter: (t: TunnelJson) => boolean = () => true,
): Promise<string | undefined> {
  if (typeof arg === 'string') return arg;
  const node = arg as TreeNode | undefined;
  if (node?.tunnel) return node.tunnel;
  ctx.requireAgent(verb);
  const tunnels = [...ctx.state.tunnels.values()].filter(filter);
  if (tunnels.length === 0) throw new AgentDownError(`no tunnel to ${verb}`);
  if (tunnels.length === 1) return tunnels[0].name;
  const pick = await vscode.window.showQuickPick(
    tunnels.map((t) => ({ label: t.name, description: t.public_url, detail: t.config.addr })),
    { title: `Burrow: tunnel to ${verb}` },
  );
  return pick?.label;
}

/** A request tree node or id; else the newest capture. */
function requestArg(ctx: Ctx, arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const node = arg as TreeNode | undefined;
  if (node?.requestId) return node.requestId;
  let newest: { id: string; start: string } | undefined;
  for (const t of [...ctx.state.tunnels.keys(), ...ctx.state.stoppedWithRequests]) {
    const r = ctx.state.requestsOf(t)[0];
    if (r && (!newest || r.start > newest.start)) newest = r;
  }
  return newest?.id;
}

function urlOf(ctx: Ctx, name: string): string {
  const t = ctx.state.tunnels.get(name);
  if (!t?.public_url) throw new Error(`tunnel "${name}" has no public URL (is it running?)`);
  return t.public_url;
}

async function findConfigFiles(): Promise<vscode.Uri[]> {
  const active = vscode.window.activeTextEditor?.document;
  const files = await vscode.workspace.findFiles(
    '**/{ngrok.yml,ngrok.yaml,.ngrok.yml,*.ngrok.yml,ngrok.*.yml}',
    '**/node_modules/**',
    20,
  );
  if (active?.languageId === 'ngrok-yaml' && !files.some((f) => f.toString() === active.uri.toString()))
    files.unshift(active.uri);
  return files;
}

/** Starts one ngrok.yml entry through the API; the OAuth secret comes from SecretStorage. */
async function startFromFile(deps: CommandDeps, file: vscode.Uri, name: string): Promise<void> {
  const { ctx } = deps;
  const doc = await vscode.workspace.openTextDocument(file);
  const def = entryToDefinition(doc.getText(), name);
  const missing = await fillOAuthSecrets(def, (provider, clientId) =>
    Promise.resolve(ctx.ext.secrets.get(SECRET_KEYS.oauthClientSecret(provider, clientId))),
  );
  for (const m of missing) {
    const [provider, id] = [m.split(' ')[0], m.slice(m.indexOf('(') + 1, -1)];
    const secret = await vscode.window.showInputBox({
      title: `Client secret for ${m}`,
      prompt: 'Kept in VS Code SecretStorage',
      password: true,
      ignoreFocusOut: true,
    });
    if (!secret) return;
    await ctx.ext.secrets.store(SECRET_KEYS.oauthClientSecret(provider, id), secret);
  }
  if (missing.length)
    await fillOAuthSecrets(def, (provider, clientId) =>
      Promise.resolve(ctx.ext.secrets.get(SECRET_KEYS.oauthClientSecret(provider, clientId))),
    );
  await ctx.ensureAgent();
  if (
    (!ctx.loopbackOnly || ctx.codespace) &&
    !(await consentToPublic(ctx, `"${name}" (${String(def.addr)})`, ctx.state.status?.edge_url ?? 'the edge'))
  )
    return;
  const { url } = await bindTunnel(ctx, def, name);
  ctx.fromConfig.set(name, file);
  void announce(ctx, name, url, String(def.addr));
}

/**
 * "Burrow: Register OAuth App…": one app per provider for the embedded edge's managed OAuth (endpoints
 * with `oauth: {provider}` and no client id). Kept in SecretStorage; the agent gets it in its
 * environment when it (re)starts. An empty client id removes the provider's app.
 */
async function registerOAuthApp(ctx: Ctx): Promise<void> {
  const apps = await readManagedApps(ctx.ext.secrets);
  const pick = await vscode.window.showQuickPick(
    PROVIDER_GUIDES.map((g) => ({ label: g.label, id: g.id, description: apps[g.id] ? 'registered' : undefined })),
    { title: 'Burrow: OAuth provider of the app to register' },
  );
  if (!pick) return;
  const guide = PROVIDER_GUIDES.find((g) => g.id === pick.id)!;
  const callback = embeddedCallbackUrl(ctx.settings.edgeUrl ? undefined : ctx.state.status?.edge_url);
  const clientId = await vscode.window.showInputBox({
    title: `${guide.label} OAuth app: client id`,
    prompt: `Create the app at ${guide.consoleUrl} with ${guide.redirectField}: ${callback}. Leave empty to remove the registered app.`,
    value: apps[guide.id]?.clientId ?? '',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() && /[:\s]/.test(v.trim()) ? 'no ":" or spaces' : undefined),
  });
  if (clientId === undefined) return;
  if (!clientId.trim()) {
    if (!apps[guide.id]) return;
    await forgetManagedApp(ctx.ext.secrets, guide.id);
  } else {
    const clientSecret = await vscode.window.showInputBox({
      title: `${guide.label} OAuth app: client secret`,
      prompt: 'Kept in VS Code SecretStorage; the agent gets it in its environment, never on its command line.',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'required'),
    });
    if (!clientSecret) return;
    await registerManagedApp(ctx.ext.secrets, guide.id, {
      clientId: clientId.trim(),
      clientSecret: clientSecret.trim(),
    });
  }
  if (ctx.settings.edgeUrl) {
    void vscode.window.showInformationMessage(
      `Burrow: saved for the embedded edge. The edge at ${ctx.settings.edgeUrl} uses its operator's apps (burrow edge --oauth-app).`,
    );
    return;
  }
  const done = clientId.trim()
    ? `Burrow: ${guide.label} app registered. Endpoints with oauth provider "${guide.id}" and no client id sign in through ${callback}.`
    : `Burrow: ${guide.label} app removed.`;
  if (ctx.mode !== 'running') return void vscode.window.showInformationMessage(done);
  const answer = await vscode.window.showInformationMessage(
    `${done} The running agent picks it up when it restarts.`,
    'Restart Agent',
  );
  if (answer === 'Restart Agent') await ctx.restartAgent();
}

export const COMMANDS: Record<string, Handler> = {
  'burrow.exposePort': ({ ctx }, arg) => exposePort(ctx, arg),
  /** The same flow from the Ports view's context menu ("Expose with Burrow"); the row gives the port. */
  'burrow.exposeForwardedPort': ({ ctx }, arg) => exposePort(ctx, arg),

  'burrow.stopTunnel': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'stop');
    if (!name) return;
    await ctx.requireAgent('stop').stopTunnel(name);
    ctx.definitions.delete(name);
    ctx.fromConfig.delete(name);
    await forgetCredentials(ctx, name);
  },

  'burrow.restartTunnel': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'restart');
    if (!name) return;
    const { def, lost } = ctx.definitionOf(name);
    if (
      lost.length &&
      (await vscode.window.showWarningMessage(
        `Burrow: restarting "${name}" drops: ${lost.join(', ')}.`,
        { modal: true },
        'Restart',
      )) !== 'Restart'
    )
      return;
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Restarting ${name}` }, () =>
      ctx.replaceTunnel(name, def),
    );
  },

  'burrow.copyUrl': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'copy the URL of');
    if (!name) return;
    const url = urlOf(ctx, name);
    await vscode.env.clipboard.writeText(url);
    void vscode.window.setStatusBarMessage(`Burrow: copied ${url}`, 3000);
  },

  'burrow.openInBrowser': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'open');
    if (name) await vscode.env.openExternal(vscode.Uri.parse(urlOf(ctx, name)));
  },

  'burrow.startFromConfig': async (deps, arg) => {
    const files = arg instanceof vscode.Uri ? [arg] : await findConfigFiles();
    if (files.length === 0)
      throw new AgentDownError('no ngrok.yml in this workspace (looked for ngrok.yml, *.ngrok.yml, ngrok.*.yml)');
    const items: (vscode.QuickPickItem & { file: vscode.Uri; name: string })[] = [];
    for (const file of files) {
      const text = (await vscode.workspace.openTextDocument(file)).getText();
      for (const e of listEntries(text)) {
        items.push({
          label: e.name,
          description: e.source,
          detail: vscode.workspace.asRelativePath(file),
          file,
          name: e.name,
          picked: !deps.ctx.state.tunnels.has(e.name),
        });
      }
    }
    if (items.length === 0) throw new AgentDownError('the ngrok.yml files here define no tunnels or endpoints');
    const picks = await vscode.window.showQuickPick(
      items.filter((i) => !deps.ctx.state.tunnels.has(i.name)),
      { canPickMany: true, title: 'Burrow: Start Tunnels from ngrok.yml' },
    );
    for (const p of picks ?? []) await startFromFile(deps, p.file, p.name);
  },

  'burrow.startTunnelFromConfig': (deps, file, name) => {
    if (!(file instanceof vscode.Uri) || typeof name !== 'string') return COMMANDS['burrow.startFromConfig'](deps);
    return startFromFile(deps, file, name);
  },

  'burrow.stopTunnelFromConfig': async ({ ctx }, name) => {
    if (typeof name !== 'string') return COMMANDS['burrow.stopTunnel']({ ctx } as CommandDeps);
    await ctx.requireAgent('stop').stopTunnel(name);
    ctx.definitions.delete(name);
    ctx.fromConfig.delete(name);
  },

  'burrow.addAuthtoken': async ({ ctx }) => {
    const token = await vscode.window.showInputBox({
      title: 'Burrow: authtoken for the edge',
      prompt: 'Kept in VS Code SecretStorage; never written to settings.',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'required'),
    });
    if (!token) return;
    await ctx.ext.secrets.store(SECRET_KEYS.authtoken, token.trim());
    if (ctx.settings.edgeUrl && ctx.mode === 'running') await ctx.restartAgent();
    void vscode.window.showInformationMessage('Burrow: authtoken saved.');
  },

  'burrow.registerOAuthApp': ({ ctx }) => registerOAuthApp(ctx),

  'burrow.connectEdge': async ({ ctx }) => {
    const url = await vscode.window.showInputBox({
      title: 'Burrow: Connect to Edge',
      prompt: 'URL of a standalone edge (burrow edge …). Empty: use the embedded edge on this machine.',
      value: ctx.settings.edgeUrl,
      placeHolder: 'wss://edge.example.com',
      ignoreFocusOut: true,
      validateInput: (v) =>
        !v.trim() || /^(wss?|https?):\/\/[^\s/]+/.test(v.trim())
          ? undefined
          : 'wss://host, ws://host:port or https://host',
    });
    if (url === undefined) return;
    if (url.trim()) {
      const had = await ctx.ext.secrets.get(SECRET_KEYS.authtoken);
      const token = await vscode.window.showInputBox({
        title: 'Authtoken for this edge',
        password: true,
        ignoreFocusOut: true,
        placeHolder: had ? 'Enter to keep the stored authtoken' : '',
      });
      if (token === undefined) return;
      if (token.trim()) await ctx.ext.secrets.store(SECRET_KEYS.authtoken, token.trim());
    }
    await vscode.workspace.getConfiguration('burrow').update('edgeUrl', url.trim(), vscode.ConfigurationTarget.Global);
    if (url.trim()) {
      // Optional: the edge's admin API, so the tree lists its HTTPS edges and routes.
      const apiUrl = await vscode.window.showInputBox({
        title: 'Admin API of this edge (optional)',
        prompt: 'Lists its HTTPS edges and routes in the Tunnels view (burrow edge --admin-addr). Empty: none.',
        value: ctx.settings.edgeApiUrl,
        placeHolder: 'http://edge.example.com:4041',
        ignoreFocusOut: true,
        validateInput: (v) =>
          !v.trim() || /^https?:\/\/[^\s/]+/.test(v.trim()) ? undefined : 'http://host:port or https://host',
      });
      if (apiUrl?.trim()) {
        const hadKey = await ctx.ext.secrets.get(SECRET_KEYS.edgeApiKey);
        const key = await vscode.window.showInputBox({
          title: 'API key of the admin API',
          password: true,
          ignoreFocusOut: true,
          placeHolder: hadKey ? 'Enter to keep the stored key' : '',
        });
        if (key?.trim()) await ctx.ext.secrets.store(SECRET_KEYS.edgeApiKey, key.trim());
      }
      if (apiUrl !== undefined)
        await vscode.workspace
          .getConfiguration('burrow')
          .update('edgeApiUrl', apiUrl.trim(), vscode.ConfigurationTarget.Global);
    } else
      await vscode.workspace.getConfiguration('burrow').update('edgeApiUrl', '', vscode.ConfigurationTarget.Global);
    void ctx.refreshEdgeRoutes();
    if (ctx.mode === 'attached') {
      void vscode.window.showWarningMessage(
        'Burrow: saved. The agent this window is attached to was started elsewhere; restart it to use the new edge.',
      );
      return;
    }
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Burrow: connecting…' },
      () => ctx.restartAgent(),
    );
    void vscode.window.showInformationMessage(`Burrow: connected to ${url.trim() || 'the embedded edge'}.`);
  },

  'burrow.refreshEdgeRoutes': ({ ctx }) => ctx.refreshEdgeRoutes(),

  'burrow.openInspector': async ({ ctx, inspector }, arg) => {
    await ctx.ensureAgent();
    const id =
      typeof arg === 'string' && ctx.state.tunnels.has(arg) ? ctx.state.requestsOf(arg)[0]?.id : requestArg(ctx, arg);
    await inspector.show(id);
  },

  'burrow.openInspectorInEditor': async ({ ctx, inspector }, arg) => {
    await ctx.ensureAgent();
    inspector.openPanel(typeof arg === 'string' ? arg : (arg as TreeNode | undefined)?.requestId);
  },

  'burrow.showRequest': ({ inspector }, id) => inspector.show(typeof id === 'string' ? id : undefined),

  'burrow.showMoreRequests': ({ ctx }, tunnel) => {
    if (typeof tunnel !== 'string') return;
    ctx.requestLimits.set(tunnel, ctx.requestLimit(tunnel) + REQUEST_LIMIT_STEP);
    ctx.refresh();
  },

  'burrow.exportHar': async ({ ctx }, arg) => {
    const api = ctx.requireAgent('export');
    const tunnel = (arg as TreeNode | undefined)?.tunnel ?? (typeof arg === 'string' ? arg : undefined);
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(
        vscode.workspace.workspaceFolders?.[0]?.uri ?? ctx.ext.globalStorageUri,
        `${tunnel ?? 'burrow'}-requests.har`,
      ),
      filters: { HAR: ['har'] },
    });
    if (!target) return;
    await fs.writeFile(target.fsPath, await api.har(tunnel));
    void vscode.window.showInformationMessage(`Burrow: saved ${vscode.workspace.asRelativePath(target)}`);
  },

  'burrow.replayRequest': async ({ ctx, inspector }, arg) => {
    const api = ctx.requireAgent('replay');
    const id = requestArg(ctx, arg);
    if (!id) throw new AgentDownError('no captured request to replay');
    const newId = await api.replay(id);
    void vscode.window.setStatusBarMessage('Burrow: replayed', 3000);
    if (newId) await inspector.show(newId);
  },

  'burrow.copyAsCurl': async ({ ctx }, arg) => {
    const api = ctx.requireAgent('copy');
    const id = requestArg(ctx, arg);
    if (!id) throw new AgentDownError('no captured request to copy');
    await vscode.env.clipboard.writeText(await api.curl(id));
    void vscode.window.setStatusBarMessage('Burrow: curl command copied', 3000);
  },

  'burrow.clearRequests': async ({ ctx }) => {
    await ctx.requireAgent('clear').clearRequests();
  },

  'burrow.protectBasicAuth': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'protect', (t) => t.proto === 'http' || t.proto === 'https');
    if (name) await protectBasicAuth(ctx, name);
  },

  'burrow.protectOAuth': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'protect', (t) => t.proto === 'http' || t.proto === 'https');
    if (name) await protectOAuth(ctx, name);
  },

  'burrow.removeProtection': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'unprotect', (t) =>
      Boolean(
        t.definition?.edge && Object.keys(t.definition.edge).some((k) => ['basicAuth', 'oauth', 'oidc'].includes(k)),
      ),
    );
    if (name) await removeProtection(ctx, name);
  },

  'burrow.showLog': ({ ctx }) => ctx.output.show(),

  'burrow.restartAgent': async ({ ctx }) => {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Burrow: restarting the agent…' },
      () => ctx.restartAgent(),
    );
  },

  'burrow.stopAgent': ({ ctx }) => ctx.stopAgent(),

  'burrow.startOwnAgent': async ({ ctx }) => {
    const api = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Burrow: starting an agent for this window…' },
      () => ctx.startOwnAgent(),
    );
    void vscode.window.setStatusBarMessage(`Burrow: own agent at ${api.base}`, 5000);
  },

  'burrow.copyCredentials': async ({ ctx }, arg) => {
    const name = await tunnelArg(ctx, arg, 'copy the credentials of', (t) => Boolean(t.definition?.edge?.basicAuth));
    if (!name) return;
    const credentials = await basicAuthCredentials(ctx, name);
    if (!credentials)
      throw new Error(
        `the password of "${name}" was set outside this window (only its user name is known here); protect it again to get new credentials`,
      );
    await vscode.env.clipboard.writeText(credentials);
    void vscode.window.setStatusBarMessage(`Burrow: ${credentials.split(':')[0]}:… copied`, 3000);
  },
};

/**
 * Runs a command (extension.ts registers every contributed command at activation and calls this on
 * first use); an error becomes one notification with a way to the log.
 */
export async function runCommand(deps: CommandDeps, id: string, args: unknown[]): Promise<unknown> {
  const handler = COMMANDS[id];
  if (!handler) throw new Error(`no handler for the command ${id}`);
  try {
    return await handler(deps, ...args);
  } catch (err) {
    const e = err as Error;
    deps.ctx.output.error(`${id}: ${e.message}`);
    // Not awaited: the command finishes; the notification waits for the user.
    void vscode.window
      .showErrorMessage(
        `Burrow: ${e.message}`,
        ...(err instanceof AgentDownError && deps.ctx.mode === 'failed' ? ['Show Log', 'Restart Agent'] : ['Show Log']),
      )
      .then((pick) => {
        if (pick === 'Show Log') deps.ctx.output.show();
        if (pick === 'Restart Agent') void vscode.commands.executeCommand('burrow.restartAgent');
      });
    return undefined;
  }
}
