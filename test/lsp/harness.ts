// A real language client for tests: spawns the built bundle (`node dist/server.js --stdio`) and
// speaks JSON-RPC to it over the child's stdin/stdout with vscode-jsonrpc. Nothing is mocked; the
// server cannot tell this apart from VS Code's language client.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type {
  CodeAction,
  CompletionItem,
  CompletionList,
  Diagnostic,
  DocumentSymbol,
  Hover,
  InitializeResult,
  Position,
  PublishDiagnosticsParams,
  Range,
  TextEdit,
  WorkspaceEdit,
} from 'vscode-languageserver/node';
import type { DocumentKindParams, EndpointLensesResult, MigrateToV3Result } from '../../server/src/protocol';

export const REPO = path.resolve(__dirname, '../..');
export const SERVER_BUNDLE = path.join(REPO, 'dist/server.js');
export const CORPUS = path.resolve(__dirname, '../fixtures/ngrok-yml');

export interface OpenOptions {
  languageId?: string;
  version?: number;
}

interface Waiter {
  uri: string;
  version?: number;
  resolve: (p: PublishDiagnosticsParams) => void;
}

export class LspClient {
  readonly child: ChildProcessWithoutNullStreams;
  readonly connection: MessageConnection;
  /** Latest diagnostics per uri. */
  readonly diagnostics = new Map<string, PublishDiagnosticsParams>();
  readonly kinds = new Map<string, DocumentKindParams>();
  readonly stderr: string[] = [];
  private readonly versions = new Map<string, number>();
  private readonly texts = new Map<string, string>();
  private waiters: Waiter[] = [];
  initializeResult?: InitializeResult;

  /** What the client answers to `workspace/configuration` for `burrow.languageServer` (null = nothing configured). */
  settings: Record<string, unknown> | null = null;

  constructor(env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [SERVER_BUNDLE, '--stdio'], {
      stdio: 'pipe',
      env: { ...process.env, ...env },
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => this.stderr.push(d));
    this.connection = createMessageConnection(
      new StreamMessageReader(this.child.stdout),
      new StreamMessageWriter(this.child.stdin),
    );
    this.connection.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
      this.diagnostics.set(p.uri, p);
      const ready = this.waiters.filter((w) => w.uri === p.uri && (w.version === undefined || p.version === w.version));
      this.waiters = this.waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve(p);
    });
    this.connection.onNotification('burrow/documentKind', (p: DocumentKindParams) => {
      this.kinds.set(p.uri, p);
    });
    // The server asks for its settings section; answer with `settings`.
    this.connection.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => this.settings));
    this.connection.onRequest('client/registerCapability', () => null);
    this.connection.onNotification('window/logMessage', (m: { message: string }) => {
      this.stderr.push(m.message);
    });
    this.connection.listen();
  }

  /** `pullConfiguration: false` plays a client without `workspace/configuration` (settings are pushed). */
  static async start(
    initializationOptions: Record<string, unknown> = { validationDelayMs: 0 },
    env: NodeJS.ProcessEnv = {},
    pullConfiguration = true,
  ): Promise<LspClient> {
    const client = new LspClient(env);
    client.initializeResult = await client.connection.sendRequest('initialize', {
      // null, not our pid: a number would start the server's parent-process watchdog.
      processId: null,
      rootUri: null,
      capabilities: {
        workspace: { configuration: pullConfiguration },
        textDocument: { publishDiagnostics: { versionSupport: true } },
      },
      initializationOptions,
    });
    await client.connection.sendNotification('initialized', {});
    return client;
  }

  /** Resolves with the next diagnostics for `uri` (of `version`, if given). */
  nextDiagnostics(uri: string, version?: number, timeoutMs = 5000): Promise<PublishDiagnosticsParams> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no diagnostics for ${uri}${version !== undefined ? ` v${version}` : ''} within ${timeoutMs} ms; stderr: ${this.stderr.join('')}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({ uri, version, resolve: (p) => (clearTimeout(timer), resolve(p)) });
    });
  }

  async open(uri: string, text: string, options: OpenOptions = {}): Promise<Diagnostic[]> {
    const version = options.version ?? 1;
    this.versions.set(uri, version);
    this.texts.set(uri, text);
    const next = this.nextDiagnostics(uri, version);
    await this.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: options.languageId ?? 'ngrok-yaml', version, text },
    });
    return (await next).diagnostics;
  }

  /** Applies incremental edits (like an editor does) and waits for the new version's diagnostics. */
  async change(uri: string, edits: TextEdit[]): Promise<Diagnostic[]> {
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    const before = this.texts.get(uri) ?? '';
    this.texts.set(uri, applyEdits(before, edits));
    const next = this.nextDiagnostics(uri, version);
    await this.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: sequential(before, edits),
    });
    return (await next).diagnostics;
  }

  /** Sends edits without waiting (to simulate fast typing). Returns the new version. */
  async changeNoWait(uri: string, edits: TextEdit[]): Promise<number> {
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    const before = this.texts.get(uri) ?? '';
    this.texts.set(uri, applyEdits(before, edits));
    await this.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: sequential(before, edits),
    });
    return version;
  }

  /** Changes the settings and tells the server, as VS Code does when the user edits them. */
  async configure(settings: Record<string, unknown>): Promise<void> {
    this.settings = settings;
    await this.connection.sendNotification('workspace/didChangeConfiguration', {
      settings: { burrow: { languageServer: settings } },
    });
  }

  async close(uri: string): Promise<Diagnostic[]> {
    const next = this.nextDiagnostics(uri);
    await this.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    this.versions.delete(uri);
    this.texts.delete(uri);
    return (await next).diagnostics;
  }

  text(uri: string): string {
    return this.texts.get(uri) ?? '';
  }

  version(uri: string): number {
    return this.versions.get(uri) ?? 0;
  }

  async completion(uri: string, position: Position): Promise<CompletionItem[]> {
    const r = (await this.connection.sendRequest('textDocument/completion', { textDocument: { uri }, position })) as
      CompletionItem[] | CompletionList | null;
    return Array.isArray(r) ? r : (r?.items ?? []);
  }

  hover(uri: string, position: Position): Promise<Hover | null> {
    return this.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position });
  }

  codeActions(uri: string, range: Range, diagnostics: Diagnostic[]): Promise<CodeAction[]> {
    return this.connection.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range,
      context: { diagnostics },
    });
  }

  resolveCodeAction(action: CodeAction): Promise<CodeAction> {
    return this.connection.sendRequest('codeAction/resolve', action);
  }

  symbols(uri: string): Promise<DocumentSymbol[]> {
    return this.connection.sendRequest('textDocument/documentSymbol', { textDocument: { uri } });
  }

  lenses(uri: string): Promise<EndpointLensesResult> {
    return this.connection.sendRequest('burrow/endpointLenses', { textDocument: { uri } });
  }

  migrate(uri: string): Promise<MigrateToV3Result> {
    return this.connection.sendRequest('burrow/migrateToV3', { textDocument: { uri } });
  }

  /** Applies a code action's edit to the client's copy and sends it to the server as an editor would. */
  async applyWorkspaceEdit(edit: WorkspaceEdit | undefined): Promise<Map<string, Diagnostic[]>> {
    const out = new Map<string, Diagnostic[]>();
    for (const [uri, edits] of Object.entries(edit?.changes ?? {})) out.set(uri, await this.change(uri, edits));
    for (const dc of edit?.documentChanges ?? []) {
      if ('textDocument' in dc)
        out.set(dc.textDocument.uri, await this.change(dc.textDocument.uri, dc.edits as TextEdit[]));
    }
    return out;
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.connection.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
      await this.connection.sendNotification('exit');
    } catch {
      // already gone
    }
    const exited = new Promise<void>((r) => (this.child.exitCode !== null ? r() : this.child.once('exit', () => r())));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (this.child.exitCode === null) this.child.kill();
    this.connection.dispose();
  }
}

export function offsetAt(text: string, pos: Position): number {
  let line = 0;
  let i = 0;
  while (line < pos.line) {
    const nl = text.indexOf('\n', i);
    if (nl < 0) return text.length;
    i = nl + 1;
    line++;
  }
  return Math.min(i + pos.character, text.length);
}

export function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

/** Applies LSP edits (non-overlapping, any order) to a text. */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => offsetAt(text, b.range.start) - offsetAt(text, a.range.start));
  let out = text;
  for (const e of sorted)
    out = out.slice(0, offsetAt(out, e.range.start)) + e.newText + out.slice(offsetAt(out, e.range.end));
  return out;
}

/** The text a diagnostic underlines. */
export function underlined(text: string, range: Range): string {
  return text.slice(offsetAt(text, range.start), offsetAt(text, range.end));
}

/** Position of the `n`th (0-based) occurrence of `needle`, plus `delta` characters. */
export function posOf(text: string, needle: string, delta = 0, n = 0): Position {
  let i = -1;
  for (let k = 0; k <= n; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`\`${needle}\` not found`);
  }
  return positionAt(text, i + delta);
}

export function corpusFile(name: string): string {
  return readFileSync(path.join(CORPUS, name), 'utf8');
}

/** LSP content changes apply one after another; edits from a WorkspaceEdit are simultaneous. Last-first makes them equal. */
function sequential(text: string, edits: TextEdit[]): { range: Range; text: string }[] {
  return [...edits]
    .sort((a, b) => offsetAt(text, b.range.start) - offsetAt(text, a.range.start))
    .map((e) => ({ range: e.range, text: e.newText }));
}
