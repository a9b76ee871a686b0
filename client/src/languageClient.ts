// The language client for server/ (dist/server.js over IPC). The document selector and the settings
// section are the contract in server/README.md. Started on the first document it can serve, not
// during activation, so activating the extension stays free of I/O.
import vscode = require('vscode');
import type { LanguageClient, LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { lazyLibs } from './lazyLibs';
import type {
  DocumentKind,
  DocumentKindNotification,
  DocumentKindParams,
  EndpointLensesParams,
  EndpointLensesRequest,
  EndpointLensesResult,
} from '../../server/src/protocol';

// The method names, checked against server/src/protocol.ts at compile time (importing its runtime
// values would bundle vscode-languageserver into the extension).
const ENDPOINT_LENSES: typeof EndpointLensesRequest.method = 'burrow/endpointLenses';
const DOCUMENT_KIND: typeof DocumentKindNotification.method = 'burrow/documentKind';

export const DOCUMENT_SELECTOR = [
  { scheme: 'file', language: 'ngrok-yaml' },
  { scheme: 'untitled', language: 'ngrok-yaml' },
  { scheme: 'file', language: 'yaml' },
  { scheme: 'file', language: 'json' },
  { scheme: 'file', language: 'jsonc' },
];

const SERVED_LANGUAGES = new Set(['ngrok-yaml', 'yaml', 'json', 'jsonc']);

export class BurrowLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private readonly kinds = new Map<string, DocumentKind>();
  private readonly kindEmitter = new vscode.EventEmitter<string>();
  /** A document's kind (ngrok config, policy, …) became known or changed. */
  readonly onDidChangeKind = this.kindEmitter.event;
  private readonly disposables: vscode.Disposable[] = [this.kindEmitter];

  constructor(
    private readonly ext: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  /** Starts once a served document is open (now or later). */
  startWhenNeeded(): void {
    const serves = (d: vscode.TextDocument): boolean =>
      SERVED_LANGUAGES.has(d.languageId) && (d.uri.scheme === 'file' || d.uri.scheme === 'untitled');
    if (vscode.workspace.textDocuments.some(serves)) return void this.start();
    const sub = vscode.workspace.onDidOpenTextDocument((d) => {
      if (!serves(d)) return;
      sub.dispose();
      void this.start();
    });
    this.disposables.push(sub);
  }

  kindOf(uri: vscode.Uri): DocumentKind | undefined {
    return this.kinds.get(uri.toString());
  }

  start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    // Loaded here, not at activation: the client library is most of the extension's code.
    const { LanguageClient, TransportKind } = lazyLibs.languageClient();
    const module = this.ext.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      // In a debug session the server waits for a debugger on 6019.
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      // The server pulls `burrow.languageServer` with workspace/configuration; this makes the
      // client tell it when the section changes.
      synchronize: { configurationSection: 'burrow.languageServer' },
      outputChannelName: 'Burrow Language Server',
    };
    const client = new LanguageClient('burrow', 'Burrow Language Server', serverOptions, clientOptions);
    this.disposables.push(
      client.onNotification(DOCUMENT_KIND, (p: DocumentKindParams) => {
        this.kinds.set(p.uri, p.kind);
        this.kindEmitter.fire(p.uri);
      }),
    );
    try {
      await client.start();
      this.client = client;
      return client;
    } catch (err) {
      this.output.error(`language server: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** True once the server answers requests. */
  get running(): boolean {
    return this.client !== undefined;
  }

  /** CodeLens data for an open config; undefined while the server is not running. */
  async endpointLenses(doc: vscode.TextDocument): Promise<EndpointLensesResult | undefined> {
    const client = this.client ?? (await this.start());
    if (!client) return undefined;
    const params: EndpointLensesParams = { textDocument: { uri: client.code2ProtocolConverter.asUri(doc.uri) } };
    return client.sendRequest<EndpointLensesResult>(ENDPOINT_LENSES, params);
  }

  async dispose(): Promise<void> {
    for (const d of this.disposables) d.dispose();
    await this.client?.stop().catch(() => undefined);
  }
}
