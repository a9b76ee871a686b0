// CodeLens above each tunnel / endpoint in ngrok.yml: "▶ Start", or "● online at URL" with
// "■ Stop". Positions and validity come from the language server (burrow/endpointLenses); the
// running state from the agent. Without the server (not started yet) the file is read directly.
//
// The lenses must not make the text jump: a lens line that disappears while the user types and comes
// back later moves every line under the cursor. So an answer for an older version of the document
// (the server validates after a debounce) never removes lenses: the entries are read from the current
// text and keep the validity the server last reported for them. And the lenses are refreshed the
// moment the server publishes diagnostics, so "fix the errors" appears with the squiggles.
import vscode = require('vscode');
import type { Ctx } from './ctx';
import type { BurrowLanguageClient } from './languageClient';
import { listEntries } from './ngrokYaml';

export class EndpointCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[];
  /** Per document: entry name → valid, as the server last reported. */
  private readonly validity = new Map<string, Map<string, boolean>>();

  constructor(
    private readonly ctx: Ctx,
    private readonly languageClient: BurrowLanguageClient,
  ) {
    this.subscriptions = [
      ctx.onDidChange(() => this.emitter.fire()),
      languageClient.onDidChangeKind(() => this.emitter.fire()),
      vscode.languages.onDidChangeDiagnostics((e) => {
        if (e.uris.some((u) => this.validity.has(u.toString()) || u.path.endsWith('.yml') || u.path.endsWith('.yaml')))
          this.emitter.fire();
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.validity.delete(d.uri.toString())),
      this.emitter,
    ];
  }

  async provideCodeLenses(doc: vscode.TextDocument, token: vscode.CancellationToken): Promise<vscode.CodeLens[]> {
    const kind = this.languageClient.kindOf(doc.uri);
    if (kind && kind !== 'ngrok-config') return [];
    const key = doc.uri.toString();
    let entries: { name: string; range: vscode.Range; valid: boolean }[] | undefined;
    // Only a running server is asked: starting one takes a second, and the lenses must not wait for it.
    const result = this.languageClient.running
      ? await this.languageClient.endpointLenses(doc).catch(() => undefined)
      : undefined;
    if (token.isCancellationRequested) return [];
    if (result && result.version === doc.version) {
      this.validity.set(key, new Map(result.lenses.map((l) => [l.name, l.valid])));
      entries = result.lenses.map((l) => ({
        name: l.name,
        valid: l.valid,
        range: new vscode.Range(l.range.start.line, l.range.start.character, l.range.end.line, l.range.end.character),
      }));
    } else {
      const known = this.validity.get(key);
      try {
        entries = listEntries(doc.getText()).map((e) => ({
          name: e.name,
          valid: known?.get(e.name) ?? true,
          range: new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset)),
        }));
      } catch {
        return [];
      }
    }
    const lenses: vscode.CodeLens[] = [];
    for (const e of entries) {
      const running = this.ctx.state.tunnels.get(e.name);
      if (running && (running.status ?? 'online') === 'online') {
        lenses.push(
          new vscode.CodeLens(e.range, {
            title: `● online at ${running.public_url}`,
            command: 'burrow.openInBrowser',
            arguments: [e.name],
            tooltip: 'Open in Browser',
          }),
        );
        lenses.push(
          new vscode.CodeLens(e.range, {
            title: '■ Stop',
            command: 'burrow.stopTunnelFromConfig',
            arguments: [e.name],
          }),
        );
      } else if (running) {
        lenses.push(
          new vscode.CodeLens(e.range, {
            title: `◌ ${running.status}${running.error ? `: ${running.error.code}` : ''}`,
            command: '',
          }),
        );
        lenses.push(
          new vscode.CodeLens(e.range, {
            title: '■ Stop',
            command: 'burrow.stopTunnelFromConfig',
            arguments: [e.name],
          }),
        );
      } else if (e.valid) {
        lenses.push(
          new vscode.CodeLens(e.range, {
            title: '▶ Start',
            command: 'burrow.startTunnelFromConfig',
            arguments: [doc.uri, e.name],
            tooltip: `Start "${e.name}" with Burrow`,
          }),
        );
      } else {
        lenses.push(
          new vscode.CodeLens(e.range, { title: '$(error) fix the errors to start this tunnel', command: '' }),
        );
      }
    }
    return lenses;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}
