// Burrow's VS Code extension: activation wires the context object, commands, views, CodeLens and
// the language client. Activation reads settings and registers things, nothing more: the agent
// starts when a command or the Tunnels view needs it, the language server on the first document
// it serves.
import vscode = require('vscode');
import { EndpointCodeLensProvider } from './codeLens';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { BurrowLanguageClient } from './languageClient';
import { InspectorViewProvider } from './views/inspector';
import { TunnelsTreeProvider } from './views/tunnelsTree';

let ctx: Ctx | undefined;
let languageClient: BurrowLanguageClient | undefined;

/** What other extensions (and the extension-host tests) can read. */
export interface BurrowApi {
  /** The local API origin of the agent in use, once connected. */
  agentUrl(): string | undefined;
  /** Starts or attaches to the agent and returns its local API origin. */
  ensureAgent(): Promise<string>;
}

export function activate(context: vscode.ExtensionContext): BurrowApi {
  const started = performance.now();
  const c = (ctx = new Ctx(context));
  const inspector = new InspectorViewProvider(c);
  const tree = new TunnelsTreeProvider(c);
  languageClient = new BurrowLanguageClient(context, c.output);
  const treeView = vscode.window.createTreeView('burrow.tunnels', { treeDataProvider: tree, showCollapseAll: true });
  context.subscriptions.push(
    // ctx and the language client are disposed (awaited) in deactivate().
    inspector,
    tree,
    treeView,
    vscode.window.registerWebviewViewProvider(InspectorViewProvider.viewId, inspector, {
      webviewOptions: { retainContextWhenHidden: true },
    }),
    vscode.languages.registerCodeLensProvider(
      { language: 'ngrok-yaml' },
      new EndpointCodeLensProvider(c, languageClient),
    ),
    ...registerCommands({ ctx: c, inspector }),
    // Which agent the tree shows: this window's own, or one started elsewhere that it attached to.
    c.onDidChange(() => (treeView.description = c.agentLabel)),
    // The tree is live while it is visible: connect (attach or start) when it is shown.
    treeView.onDidChangeVisibility((e) => {
      c.setLiveMetrics(e.visible);
      if (e.visible) c.ensureAgent().catch((err: Error) => c.output.error(err.message));
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('burrow.edgeApiUrl')) void c.refreshEdgeRoutes();
      if (e.affectsConfiguration('burrow.edgeUrl') || e.affectsConfiguration('burrow.capture')) {
        if (c.mode === 'running')
          c.output.info('settings changed; they apply when the agent restarts (Burrow: Restart Agent)');
      }
    }),
  );
  void vscode.commands.executeCommand('setContext', 'burrow.inCodespace', c.codespace !== undefined);
  // Measured, not asserted: docs/benchmarks.md records it with VS Code's own figure.
  c.output.info(`activated in ${(performance.now() - started).toFixed(1)} ms`);
  // After activation returns: start the language server once a served document is open.
  setTimeout(() => {
    languageClient?.startWhenNeeded();
    if (!treeView.visible) return;
    c.setLiveMetrics(true);
    c.ensureAgent().catch((err: Error) => c.output.error(err.message));
  }, 0);
  return {
    agentUrl: () => c.api?.base,
    ensureAgent: async () => (await c.ensureAgent()).base,
  };
}

export async function deactivate(): Promise<void> {
  await languageClient?.dispose();
  await ctx?.dispose();
  languageClient = undefined;
  ctx = undefined;
}
