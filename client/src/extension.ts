// Burrow's VS Code extension, the part VS Code loads to activate it: it creates the status bar item
// and registers the views, CodeLens and every contributed command, each served by the rest of the
// extension (core.ts, its own bundle: the output channel, the agent, the language client, …) which
// is loaded on first use or the tick after activation. So the activation time VS Code shows (code
// loading + the activate() call) covers this small module only. No I/O here: the agent starts when
// a command or the Tunnels view needs it, the language server on the first document it serves.
import vscode = require('vscode');
import type { Core, Shell } from './core';
import { lazyCore } from './lazyCore';
import type { TreeNode } from './model/tree';
import { createStatusBar } from './statusBar';

let shell: Shell | undefined;
let core: Core | undefined;

/** The rest of the extension, loaded and started on first use. */
function loadCore(): Core {
  if (core) return core;
  if (!shell) throw new Error('Burrow is not active');
  const started = performance.now();
  core = new (lazyCore().Core)(shell);
  // Measured, not asserted here: test/e2e step (f) asserts VS Code's own figure, docs/benchmarks.md records it.
  core.ctx.output.info(
    `activated in ${shell.activateMs.toFixed(1)} ms; the rest loaded after it in ${(performance.now() - started).toFixed(1)} ms`,
  );
  return core;
}

/** What other extensions (and the extension-host tests) can read. */
export interface BurrowApi {
  /** The local API origin of the agent in use, once connected. */
  agentUrl(): string | undefined;
  /** Starts or attaches to the agent and returns its local API origin. */
  ensureAgent(): Promise<string>;
}

export function activate(context: vscode.ExtensionContext): BurrowApi {
  const started = performance.now();
  const statusBar = createStatusBar();
  const treeChanged = new vscode.EventEmitter<TreeNode | undefined>();
  const lensesChanged = new vscode.EventEmitter<void>();
  const treeView = vscode.window.createTreeView<TreeNode>('burrow.tunnels', {
    treeDataProvider: {
      onDidChangeTreeData: treeChanged.event,
      getChildren: (node) => loadCore().tree.getChildren(node),
      getTreeItem: (node) => loadCore().tree.getTreeItem(node),
    },
    showCollapseAll: true,
  });
  shell = { context, statusBar, treeView, treeChanged, lensesChanged, activateMs: 0 };
  // The commands package.json contributes (test/unit/client-activation.test.ts checks they are commands.ts's).
  const commands = (context.extension.packageJSON as { contributes: { commands: { command: string }[] } }).contributes
    .commands;
  context.subscriptions.push(
    // The status bar and the core are disposed (awaited) in deactivate().
    treeView,
    treeChanged,
    lensesChanged,
    vscode.window.registerWebviewViewProvider(
      'burrow.inspector',
      { resolveWebviewView: (view) => loadCore().inspector.resolveWebviewView(view) },
      { webviewOptions: { retainContextWhenHidden: true } },
    ),
    vscode.languages.registerCodeLensProvider(
      { language: 'ngrok-yaml' },
      {
        onDidChangeCodeLenses: lensesChanged.event,
        provideCodeLenses: (doc, token) => loadCore().codeLens.provideCodeLenses(doc, token),
      },
    ),
    ...commands.map(({ command }) =>
      vscode.commands.registerCommand(command, (...args: unknown[]) => loadCore().run(command, args)),
    ),
    treeView.onDidChangeVisibility((e) => {
      if (core) core.showTree(e.visible);
      else if (e.visible) loadCore(); // it connects a visible tree as it starts
    }),
  );
  shell.activateMs = performance.now() - started;
  // After activation returns: the rest (language server for an open ngrok.yml, a visible tree's agent).
  setImmediate(() => {
    if (shell) loadCore();
  });
  return {
    agentUrl: () => core?.ctx.api?.base,
    ensureAgent: async () => (await loadCore().ctx.ensureAgent()).base,
  };
}

export async function deactivate(): Promise<void> {
  const s = shell;
  const c = core;
  shell = undefined;
  core = undefined;
  await c?.dispose();
  s?.statusBar.dispose();
}
