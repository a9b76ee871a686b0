// The request inspector in a webview: the sidebar view `burrow.inspector` ("Request", beside the
// tree) and, from "Open in Editor", a full panel. Both load the agent's own inspector bundle
// (dist/inspector) with a strict CSP (nonces, localResourceRoots) and a postMessage transport: the
// webview never talks to the agent; the extension host answers each call through AgentApi and
// relays the event stream (protocol in tunnel/src/inspector/web/transport.ts).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import vscode = require('vscode');
import { AgentEventStream } from '../agent/events';
import type { Ctx } from '../ctx';

type FromWebview =
  | { burrow: 'request'; id: number; method: string; path: string; body?: unknown }
  | { burrow: 'subscribe' }
  | { burrow: 'unsubscribe' }
  | { burrow: 'download'; path: string; filename: string }
  | { burrow: 'ready' }
  | { burrow: 'openInEditor'; id?: string };

/** Connects one webview to the agent; disposed with the webview. */
class InspectorBridge implements vscode.Disposable {
  private stream: AgentEventStream | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private ready = false;
  private wantStream = false;
  private pendingSelect: string | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly webview: vscode.Webview,
  ) {
    this.subscriptions.push(webview.onDidReceiveMessage((m: FromWebview) => void this.onMessage(m)));
    this.subscriptions.push(
      ctx.onDidChangeAgent((api) => {
        if (api && this.wantStream) this.openStream(api.eventsUrl);
      }),
    );
  }

  private openStream(url: string): void {
    if (this.stream) return this.stream.retarget(url);
    this.stream = new AgentEventStream(url, { minDelayMs: 250, maxDelayMs: 5000 });
    this.stream.on('event', (message) => void this.webview.postMessage({ burrow: 'event', message }));
    this.stream.on('state', (state) => void this.webview.postMessage({ burrow: 'state', state }));
    this.stream.start();
  }

  select(id: string): void {
    if (this.ready) void this.webview.postMessage({ burrow: 'select', id });
    else this.pendingSelect = id;
  }

  private async onMessage(m: FromWebview): Promise<void> {
    switch (m.burrow) {
      case 'ready':
        this.ready = true;
        if (this.pendingSelect) this.select(this.pendingSelect);
        this.pendingSelect = undefined;
        return;
      case 'request': {
        // Only the agent's API; the path is relative to it.
        if (typeof m.path !== 'string' || !m.path.startsWith('/api/')) {
          return void this.webview.postMessage({
            burrow: 'response',
            id: m.id,
            status: 400,
            headers: {},
            body: '{"msg":"only /api/ paths"}',
          });
        }
        try {
          const api = await this.ctx.ensureAgent();
          const res = await api.request(m.method, m.path, m.body);
          void this.webview.postMessage({ burrow: 'response', id: m.id, ...res });
        } catch (err) {
          void this.webview.postMessage({
            burrow: 'response',
            id: m.id,
            status: 503,
            headers: {},
            body: JSON.stringify({ msg: (err as Error).message }),
          });
        }
        return;
      }
      case 'subscribe': {
        this.wantStream = true;
        const api = this.ctx.api ?? (await this.ctx.ensureAgent().catch(() => undefined));
        if (api) this.openStream(api.eventsUrl);
        // Agent down: say so; the stream opens when an agent comes up (onDidChangeAgent).
        else void this.webview.postMessage({ burrow: 'state', state: 'closed' });
        return;
      }
      case 'unsubscribe':
        this.wantStream = false;
        this.stream?.stop();
        this.stream = undefined;
        return;
      case 'download':
        return saveFromApi(this.ctx, m.path, m.filename);
      case 'openInEditor':
        return void vscode.commands.executeCommand('burrow.openInspectorInEditor', m.id);
    }
  }

  dispose(): void {
    this.stream?.stop();
    for (const d of this.subscriptions) d.dispose();
  }
}

/** Saves an API resource (HAR) where the user picks. */
export async function saveFromApi(ctx: Ctx, apiPath: string, filename: string): Promise<void> {
  if (!apiPath.startsWith('/api/')) return;
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.joinPath(
      vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(process.cwd()),
      filename,
    ),
    filters: { HAR: ['har'], JSON: ['json'] },
  });
  if (!target) return;
  const res = await (await ctx.ensureAgent()).request('GET', apiPath);
  if (res.status >= 400) throw new Error(`the agent answered ${res.status}`);
  await fs.writeFile(target.fsPath, res.body);
  void vscode.window.showInformationMessage(`Burrow: saved ${vscode.workspace.asRelativePath(target)}`);
}

function inspectorHtml(webview: vscode.Webview, extensionUri: vscode.Uri, mode: 'sidebar' | 'panel'): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const asset = (...p: string[]): vscode.Uri => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p));
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${asset('dist', 'inspector', 'inspector.css')}">
<link rel="stylesheet" href="${asset('media', 'inspector-host.css')}">
<title>Burrow inspector</title>
</head>
<body class="burrow-${mode}" data-manual-boot data-mode="${mode}">
<div id="burrow-inspector"></div>
<script nonce="${nonce}" src="${asset('dist', 'inspector', 'inspector.js')}"></script>
<script nonce="${nonce}" src="${asset('media', 'inspector-host.js')}"></script>
</body>
</html>`;
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [
      vscode.Uri.joinPath(extensionUri, 'dist', 'inspector'),
      vscode.Uri.joinPath(extensionUri, 'media'),
    ],
  };
}

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'burrow.inspector';
  private view: vscode.WebviewView | undefined;
  private bridge: InspectorBridge | undefined;
  private panel: { panel: vscode.WebviewPanel; bridge: InspectorBridge } | undefined;
  private lastSelected: string | undefined;

  constructor(private readonly ctx: Ctx) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.ctx.ext.extensionUri);
    this.bridge = new InspectorBridge(this.ctx, view.webview);
    view.webview.html = inspectorHtml(view.webview, this.ctx.ext.extensionUri, 'sidebar');
    if (this.lastSelected) this.bridge.select(this.lastSelected);
    view.onDidDispose(() => {
      this.bridge?.dispose();
      this.bridge = undefined;
      this.view = undefined;
    });
  }

  /** Shows a captured request in the sidebar view (opening it if needed). */
  async show(requestId?: string): Promise<void> {
    if (requestId) this.lastSelected = requestId;
    if (!this.view) await vscode.commands.executeCommand(`${InspectorViewProvider.viewId}.focus`);
    else this.view.show(true);
    if (requestId) this.bridge?.select(requestId);
    if (requestId) this.panel?.bridge.select(requestId);
  }

  /** The inspector as an editor tab, with the request list. */
  openPanel(requestId?: string): void {
    const id = requestId ?? this.lastSelected;
    if (this.panel) {
      this.panel.panel.reveal();
      if (id) this.panel.bridge.select(id);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      'burrow.inspectorPanel',
      'Burrow Inspector',
      vscode.ViewColumn.Active,
      { ...webviewOptions(this.ctx.ext.extensionUri), retainContextWhenHidden: true },
    );
    panel.iconPath = vscode.Uri.joinPath(this.ctx.ext.extensionUri, 'media', 'burrow.svg');
    const bridge = new InspectorBridge(this.ctx, panel.webview);
    panel.webview.html = inspectorHtml(panel.webview, this.ctx.ext.extensionUri, 'panel');
    if (id) bridge.select(id);
    this.panel = { panel, bridge };
    panel.onDidDispose(() => {
      bridge.dispose();
      this.panel = undefined;
    });
  }

  dispose(): void {
    this.bridge?.dispose();
    this.panel?.panel.dispose();
  }
}
