// LSP wiring: capabilities, document sync, debounced validation, settings, custom requests. All
// domain logic lives in LanguageService (service.ts); this file only connects it to a connection,
// so tests can run it in-process over a pair of streams or out-of-process via main.ts.
import {
  CodeActionKind,
  DidChangeConfigurationNotification,
  NotificationType,
  RequestType,
  TextDocumentSyncKind,
  TextDocuments,
  type Connection,
  type Diagnostic,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  DocumentKindNotification,
  EndpointLensesRequest,
  MigrateToV3Request,
  type DocumentKind,
  type InitializationOptions,
  type LanguageServerSettings,
} from './protocol';
import { isBurrowProcess, listListeningPorts, rankPorts } from '../../tunnel/src/config/listening-ports';
import type { PortHint } from './completion';
import { LanguageService } from './languageService';

export const SETTINGS_SECTION = 'burrow.languageServer';

// The custom messages of protocol.ts, typed with this side's library.
const endpointLenses = new RequestType<EndpointLensesRequest.Params, EndpointLensesRequest.Result, void>(
  EndpointLensesRequest.method,
);
const migrateToV3 = new RequestType<MigrateToV3Request.Params, MigrateToV3Request.Result, void>(
  MigrateToV3Request.method,
);
const documentKind = new NotificationType<DocumentKindNotification.Params>(DocumentKindNotification.method);
const DEFAULT_DELAY_MS = 150;
/** First guess of a document's validation cost before it was ever measured (~1 MB in 200 ms here). */
const BYTES_PER_MS = 5000;
/**
 * A document expected to take this long gives way to cheaper ones that are about to arrive (a
 * plain ngrok.yml takes 1–3 ms; a quiet machine validates a 1 MB one in ≈ 40 ms).
 */
const EXPENSIVE_MS = 20;
/** How often an expensive document gives way before it runs regardless (no starvation). */
const MAX_GIVE_WAY = 3;

export interface ServerOptions {
  /** Overrides `initializationOptions.validationDelayMs`. */
  validationDelayMs?: number;
}

let portHints: { at: number; hints: Promise<PortHint[]> } | undefined;

/** This machine's listening ports, likely dev servers first, Burrow's own left out; cached for 3 s. */
function listeningPortHints(): Promise<PortHint[]> {
  if (!portHints || Date.now() - portHints.at > 3000) {
    portHints = {
      at: Date.now(),
      hints: listListeningPorts(process.platform, 1000)
        .then((ports) =>
          rankPorts(ports.filter((p) => !isBurrowProcess(p)))
            .slice(0, 50)
            .map((p) => ({
              port: p.port,
              process: p.command ?? p.process,
            })),
        )
        .catch(() => []),
    };
  }
  return portHints.hints;
}

export function startServer(connection: Connection, options: ServerOptions = {}): void {
  const documents = new TextDocuments(TextDocument);
  const service = new LanguageService();
  const timers = new Map<string, NodeJS.Timeout>();
  const lastKind = new Map<string, string>();
  // Validation is synchronous, so documents due at once are validated one per macrotask, cheapest
  // first (measured cost, or a guess from the size): a slow document never holds up the others.
  const ready = new Set<string>();
  const cost = new Map<string, number>();
  const gaveWay = new Map<string, number>();
  let pending: { kind: 'now' | 'beat'; handle: NodeJS.Immediate | NodeJS.Timeout } | undefined;
  let delayMs = options.validationDelayMs ?? DEFAULT_DELAY_MS;
  let canPullConfiguration = false;
  let initAssociations: InitializationOptions['associations'];

  connection.onInitialize((params): InitializeResult => {
    const init = (params.initializationOptions ?? {}) as InitializationOptions;
    if (options.validationDelayMs === undefined && typeof init.validationDelayMs === 'number')
      delayMs = Math.max(0, init.validationDelayMs);
    initAssociations = init.associations;
    service.associations = init.associations;
    canPullConfiguration = !!params.capabilities.workspace?.configuration;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        completionProvider: { triggerCharacters: [':', ' ', '-'], resolveProvider: false },
        hoverProvider: true,
        codeActionProvider: {
          codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite],
          resolveProvider: true,
        },
        documentSymbolProvider: { label: 'Burrow' },
      },
      serverInfo: { name: 'burrow-language-server', version: '0.1.0' },
    };
  });

  connection.onInitialized(() => {
    // Compile the schemas now rather than on the first keystroke (ajv compiles lazily, ~0.5 s).
    setImmediate(() => service.warmUp());
    if (canPullConfiguration) {
      void connection.client
        .register(DidChangeConfigurationNotification.type, { section: SETTINGS_SECTION })
        .catch(() => undefined);
      void refreshSettings();
    }
  });

  async function refreshSettings(pushed?: LanguageServerSettings): Promise<void> {
    let settings: LanguageServerSettings | undefined = pushed;
    if (canPullConfiguration) {
      try {
        settings = (await connection.workspace.getConfiguration(SETTINGS_SECTION)) as
          LanguageServerSettings | undefined;
      } catch {
        settings = undefined; // the client may not know the section; keep the init options
      }
    }
    service.associations = { ...initAssociations, ...settings?.associations };
    service.deprecationWarnings = settings?.deprecationWarnings !== false;
    service.forgetAll();
    for (const d of documents.all()) schedule(d, 0);
  }

  function publish(current: TextDocument): void {
    let diagnostics: Diagnostic[];
    let a: ReturnType<typeof service.analyze> | undefined;
    try {
      diagnostics = service.diagnostics(current);
      a = service.analyze(current);
    } catch (err) {
      // A bug in a check must not kill the server; log it and publish nothing for this version.
      connection.console.error(
        `burrow: validating ${current.uri} failed: ${err instanceof Error ? err.stack : String(err)}`,
      );
      diagnostics = [];
    }
    const kindKey = a ? `${a.classification.kind}:${a.classification.configVersion ?? ''}` : undefined;
    if (a && kindKey && lastKind.get(current.uri) !== kindKey) {
      lastKind.set(current.uri, kindKey);
      void connection.sendNotification(documentKind, {
        uri: current.uri,
        kind: a.classification.kind as DocumentKind,
        configVersion: a.classification.configVersion,
      });
    }
    // After the kind notification, so a client that reacts to diagnostics already knows the kind.
    void connection.sendDiagnostics({ uri: current.uri, version: current.version, diagnostics });
  }

  /** Debounced per document: a burst of keystrokes costs one validation, of the newest version. */
  function schedule(doc: TextDocument, delay = delayMs): void {
    clearTimeout(timers.get(doc.uri));
    timers.delete(doc.uri);
    if (delay <= 0) return markReady(doc.uri);
    timers.set(
      doc.uri,
      setTimeout(() => {
        timers.delete(doc.uri);
        markReady(doc.uri);
      }, delay),
    );
  }

  function markReady(uri: string): void {
    ready.add(uri);
    // A document waiting for others to arrive runs after this one instead, if this one is cheaper.
    if (pending?.kind === 'beat') {
      clearTimeout(pending.handle as NodeJS.Timeout);
      pending = undefined;
    }
    if (!pending) pending = { kind: 'now', handle: setImmediate(validateNext) };
  }

  const estimate = (doc: TextDocument) => cost.get(doc.uri) ?? doc.getText().length / BYTES_PER_MS;

  function validateNext(): void {
    pending = undefined;
    let next: TextDocument | undefined;
    let best = Infinity;
    for (const uri of ready) {
      const doc = documents.get(uri);
      if (!doc) ready.delete(uri);
      else if (estimate(doc) < best) [next, best] = [doc, estimate(doc)];
    }
    if (!next) return;
    const gave = gaveWay.get(next.uri) ?? 0;
    if (best >= EXPENSIVE_MS && gave < MAX_GIVE_WAY) {
      // Alone and slow: wait a beat (its cost, 50–250 ms) so documents opened with it go first;
      // a beat nobody interrupts ends in its validation.
      const uri = next.uri;
      gaveWay.set(uri, gave + 1);
      const beat = () => {
        gaveWay.set(uri, MAX_GIVE_WAY);
        validateNext();
      };
      pending = { kind: 'beat', handle: setTimeout(beat, Math.min(Math.max(best, 50), 250)) };
      return;
    }
    ready.delete(next.uri);
    gaveWay.delete(next.uri);
    const t0 = performance.now();
    publish(next);
    const took = performance.now() - t0;
    cost.set(next.uri, (took + (cost.get(next.uri) ?? took)) / 2);
    if (ready.size && !pending) pending = { kind: 'now', handle: setImmediate(validateNext) };
  }

  documents.onDidOpen((e) => schedule(e.document, 0));
  documents.onDidChangeContent((e) => schedule(e.document));
  documents.onDidClose((e) => {
    clearTimeout(timers.get(e.document.uri));
    timers.delete(e.document.uri);
    ready.delete(e.document.uri);
    cost.delete(e.document.uri);
    gaveWay.delete(e.document.uri);
    lastKind.delete(e.document.uri);
    service.forget(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  // Clients that cannot be asked (`workspace/configuration`) push the settings with the notification.
  connection.onDidChangeConfiguration((params) => {
    const pushed = (params.settings as { burrow?: { languageServer?: LanguageServerSettings } } | undefined)?.burrow
      ?.languageServer;
    void refreshSettings(pushed);
  });

  const withDoc = <T>(uri: string, empty: T, f: (doc: TextDocument) => T): T => {
    const doc = documents.get(uri);
    if (!doc) return empty;
    try {
      return f(doc);
    } catch (err) {
      connection.console.error(`burrow: request on ${uri} failed: ${err instanceof Error ? err.stack : String(err)}`);
      return empty;
    }
  };

  connection.onCompletion(async (p) => {
    // Listening ports only when the cursor is on an upstream value (`addr:` / `url:`): reading /proc costs.
    const doc = documents.get(p.textDocument.uri);
    const line = doc?.getText({ start: { line: p.position.line, character: 0 }, end: p.position }) ?? '';
    const ports = /^\s*(-\s+)?(addr|url)\s*:/.test(line) ? await listeningPortHints() : [];
    return withDoc(p.textDocument.uri, [], (d) => service.complete(d, p.position, ports));
  });
  connection.onHover((p) => withDoc(p.textDocument.uri, null, (d) => service.hover(d, p.position)));
  connection.onCodeAction((p) =>
    withDoc(p.textDocument.uri, [], (d) => service.codeActions(d, p.range, p.context.diagnostics)),
  );
  connection.onCodeActionResolve((action) => {
    const uri = LanguageService.codeActionUri(action);
    return uri ? withDoc(uri, action, (d) => service.resolveCodeAction(d, action)) : action;
  });
  connection.onDocumentSymbol((p) => withDoc(p.textDocument.uri, [], (d) => service.symbols(d)));
  connection.onRequest(endpointLenses, (p) =>
    withDoc(p.textDocument.uri, { version: -1, kind: 'none' as DocumentKind, lenses: [] }, (d) =>
      service.endpointLenses(d),
    ),
  );
  connection.onRequest(migrateToV3, (p) =>
    withDoc(p.textDocument.uri, { reason: 'document is not open' }, (d) => service.migrateToV3(d)),
  );

  documents.listen(connection);
  connection.listen();
}
