// Everything the extension does beyond registering itself: the context object, the views' providers,
// CodeLens, the language client and the commands. Its own bundle (dist/extension-core.js), which
// extension.ts requires on first use — the tick after activation at the latest — so VS Code's
// activation time covers only a small module and the registrations.
import vscode = require('vscode');
import { EndpointCodeLensProvider } from './codeLens';
import { runCommand } from './commands';
import { Ctx } from './ctx';
import { BurrowLanguageClient } from './languageClient';
import type { TreeNode } from './model/tree';
import { InspectorViewProvider } from './views/inspector';
import { TunnelsTreeProvider } from './views/tunnelsTree';

/** What activation created and registered, for the core to serve. */
export interface Shell {
  context: vscode.ExtensionContext;
  statusBar: vscode.StatusBarItem;
  treeView: vscode.TreeView<TreeNode>;
  /** The registered tree and CodeLens providers' change events. */
  treeChanged: vscode.EventEmitter<TreeNode | undefined>;
  lensesChanged: vscode.EventEmitter<void>;
  /** How long activate() took (logged once the output channel exists). */
  activateMs: number;
}

export class Core {
  readonly ctx: Ctx;
  readonly inspector: InspectorViewProvider;
  readonly tree: TunnelsTreeProvider;
  readonly languageClient: BurrowLanguageClient;
  readonly codeLens: EndpointCodeLensProvider;
  private readonly subscriptions: vscode.Disposable[];

  constructor(shell: Shell) {
    // The output channel is created here, not in activate(): creating a log channel makes its log folder.
    const output = vscode.window.createOutputChannel('Burrow', { log: true });
    const c = (this.ctx = new Ctx(shell.context, output, shell.statusBar));
    this.inspector = new InspectorViewProvider(c);
    this.tree = new TunnelsTreeProvider(c);
    this.languageClient = new BurrowLanguageClient(shell.context, c.output);
    this.codeLens = new EndpointCodeLensProvider(c, this.languageClient);
    const { treeView } = shell;
    this.subscriptions = [
      this.inspector,
      this.tree,
      this.codeLens,
      this.tree.onDidChangeTreeData((node) => shell.treeChanged.fire(node)),
      this.codeLens.onDidChangeCodeLenses(() => shell.lensesChanged.fire()),
      // Which agent the tree shows: this window's own, or one started elsewhere that it attached to.
      c.onDidChange(() => (treeView.description = c.agentLabel)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('burrow.edgeApiUrl')) void c.refreshEdgeRoutes();
        if (e.affectsConfiguration('burrow.edgeUrl') || e.affectsConfiguration('burrow.capture')) {
          if (c.mode === 'running')
            c.output.info('settings changed; they apply when the agent restarts (Burrow: Restart Agent)');
        }
      }),
    ];
    void vscode.commands.executeCommand('setContext', 'burrow.inCodespace', c.codespace !== undefined);
    // The language server starts once a document it serves is open (now or later).
    this.languageClient.startWhenNeeded();
    // The tree is live while it is visible.
    if (treeView.visible) this.showTree(true);
  }

  run(id: string, args: unknown[]): Promise<unknown> {
    return runCommand({ ctx: this.ctx, inspector: this.inspector }, id, args);
  }

  /** The Tunnels view was shown or hidden: connect (attach or start) when shown. */
  showTree(visible: boolean): void {
    this.ctx.setLiveMetrics(visible);
    if (visible) this.ctx.ensureAgent().catch((err: Error) => this.ctx.output.error(err.message));
  }

  async dispose(): Promise<void> {
    for (const d of this.subscriptions) d.dispose();
    await this.languageClient.dispose();
    await this.ctx.dispose();
  }
}
