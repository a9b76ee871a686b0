// The custom messages between Burrow's language client (client/) and language server (server/).
// Declared once here and compiled by both sides (vscode-eslint's `customMessages.ts` pattern): each
// message is a namespace with a literal `method` and its param/result types, with a comment saying
// who sends it and why.
//
// This file imports nothing: the client (vscode-languageclient) and the server
// (vscode-languageserver) each bundle their own copy of the protocol library, and a `RequestType`
// object from one copy does not type-check against the other. Each side makes its typed message
// from the method, e.g. on the client:
//   client.sendRequest<EndpointLensesRequest.Result>(EndpointLensesRequest.method, params)
// and on the server: `connection.onRequest(EndpointLensesRequest.method, (p: EndpointLensesRequest.Params) => …)`.

/** A position and range as in LSP (0-based line and UTF-16 character). */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** What the server recognised a document as. `none` = not ours: no diagnostics, no features. */
export type DocumentKind = 'ngrok-config' | 'traffic-policy' | 'edge-json' | 'none';

/** Values of the `burrow.languageServer.associations` setting (glob → kind). */
export type AssociationKind = Exclude<DocumentKind, 'none'>;

/**
 * Options the client passes in `initializationOptions`. All optional; the server has defaults.
 * Settings that can change at run time are pulled with `workspace/configuration` (section
 * `burrow.languageServer`, same shape as `LanguageServerSettings`).
 */
export interface InitializationOptions {
  /** Debounce between the last change and re-validation, in ms (default 150; tests use 0). */
  validationDelayMs?: number;
  /** Same as the `burrow.languageServer.associations` setting, for clients without configuration support. */
  associations?: Record<string, AssociationKind>;
}

/** The `burrow.languageServer` configuration section. */
export interface LanguageServerSettings {
  /** Glob (matched against the file path, `**` allowed) → how to treat the file. */
  associations?: Record<string, AssociationKind>;
  /** Report deprecated keys and values as warnings (default true). */
  deprecationWarnings?: boolean;
}

/** One tunnel (v2 `tunnels:` entry) or endpoint (v3 `endpoints:` item) found in a config file. */
export interface EndpointLens {
  /** The name `burrow start NAME` takes: the `tunnels:` key or the endpoint's `name`. */
  name: string;
  /** `tunnel` for a `tunnels:` map entry (v2, or legacy v3), `endpoint` for an `endpoints:` item. */
  source: 'tunnel' | 'endpoint';
  /** `http`, `tcp`, `tls`, `labeled`, or undefined when the entry does not say (yet). */
  proto?: string;
  /** Where the CodeLens goes: the tunnel's key, or the endpoint item's first line. */
  range: Range;
  /** Whole entry (key and value), e.g. for highlighting the running tunnel. */
  fullRange: Range;
  /** True when the entry has no diagnostics of severity error; the client should not offer Start otherwise. */
  valid: boolean;
}

export interface EndpointLensesParams {
  textDocument: { uri: string };
}

export interface EndpointLensesResult {
  /** Document version the answer was computed from (the client drops stale answers). */
  version: number;
  kind: DocumentKind;
  /** `2` or `3` for ngrok configs, undefined otherwise. */
  configVersion?: '2' | '3';
  lenses: EndpointLens[];
}

/**
 * Client → server. Sent by the extension's CodeLens provider for an open ngrok config; the client
 * combines the answer with the agent's tunnel status (which only it knows) to draw
 * "▶ Start" / "■ Stop" / "● online at https://…" above each tunnel or endpoint.
 */
export namespace EndpointLensesRequest {
  export const method = 'burrow/endpointLenses' as const;
  export type Params = EndpointLensesParams;
  export type Result = EndpointLensesResult;
}

export interface DocumentKindParams {
  uri: string;
  kind: DocumentKind;
  configVersion?: '2' | '3';
}

/**
 * Server → client. Sent whenever the server (re)classifies an open document, so the client can show
 * "ngrok v3 config" / "Traffic Policy" in the status bar and enable the CodeLens provider only for
 * config files. Sent once on open and again only when the kind or version changes.
 */
export namespace DocumentKindNotification {
  export const method = 'burrow/documentKind' as const;
  export type Params = DocumentKindParams;
}

export interface MigrateToV3Params {
  textDocument: { uri: string };
}

export interface MigrateToV3Result {
  /** The whole new text of the file, or undefined with `reason` when the file cannot be migrated. */
  text?: string;
  reason?: string;
}

/**
 * Client → server. Backs the "Burrow: Migrate ngrok.yml to v3" command, which previews the result in
 * a diff before applying it. The same migration is offered as a code action (`refactor.rewrite`) on
 * the `version` key.
 */
export namespace MigrateToV3Request {
  export const method = 'burrow/migrateToV3' as const;
  export type Params = MigrateToV3Params;
  export type Result = MigrateToV3Result;
}
