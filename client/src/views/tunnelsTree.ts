// The Tunnels tree (tree-view-sample's shape: one TreeDataProvider, one EventEmitter). Nodes come
// from the pure model in model/tree.ts; this file only maps them onto TreeItems.
import vscode = require('vscode');
import type { Ctx } from '../ctx';
import { buildTree, type TreeNode } from '../model/tree';

export class TunnelsTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.subscription = ctx.onDidChange(() => this.emitter.fire(undefined));
  }

  getChildren(node?: TreeNode): TreeNode[] {
    if (node) return node.children ?? [];
    return buildTree(this.ctx.state, {
      requestLimit: (t) => this.ctx.requestLimit(t),
      edgeRoutes: this.ctx.edgeRoutes,
    });
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const state =
      node.collapsible === 'none'
        ? vscode.TreeItemCollapsibleState.None
        : node.collapsible === 'expanded'
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    if (node.icon)
      item.iconPath = new vscode.ThemeIcon(
        node.icon.id,
        node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined,
      );
    if (node.command)
      item.command = { command: node.command.id, title: node.command.title, arguments: node.command.args };
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}
