// The language service: everything the server knows how to do, as plain functions over a
// `TextDocument`, with one parse + classification + validation per document version. No LSP
// connection in here (server.ts does the wiring), so tests can call it directly.
import { TextDocument } from 'vscode-languageserver-textdocument';
import type {
  CodeAction,
  CompletionItem,
  Diagnostic,
  DocumentSymbol,
  Hover,
  Position,
  Range,
} from 'vscode-languageserver/node';
import { DiagnosticSeverity, DiagnosticTag } from 'vscode-languageserver/node';
import { classify } from './classify';
import type { AssociationKind, EndpointLensesResult, MigrateToV3Result } from './protocol';
import type { Problem } from './problems';
import { SchemaStore } from './schemaModel';
import { parseText, type ParsedText } from './yamlText';
import { validate } from './validate';
import { PieceCache, composeValue, splitConfig, validateSplit, type Split } from './incremental';
import type { Analysis } from './analysis';

export type { Analysis };
import type { TreeView } from './symbols';
import { fromConfigProblems, lineStartsOf } from './configCheck';

/** Below this size a whole-file parse is already fast; piecewise validation pays off above it. */
const PIECEWISE_MIN_CHARS = 4000;
import { documentSymbols, endpointLenses } from './symbols';
import { complete, type PortHint } from './completion';
import { hover, type PieceView } from './hover';
import { codeActions, resolveCodeAction, type MigrateData } from './codeActions';
import { migrateToV3 } from './migrate';

export interface ServiceOptions {
  associations?: Record<string, AssociationKind>;
  schemas?: SchemaStore;
  /** Files at least this long are validated piecewise when they can be (default 4000 chars; tests use 0 or Infinity). */
  piecewiseMinChars?: number;
}

const SEVERITY: Record<Problem['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function toRange(doc: TextDocument, start: number, end: number): Range {
  return { start: doc.positionAt(start), end: doc.positionAt(end) };
}

export class LanguageService {
  readonly schemas: SchemaStore;
  associations: Record<string, AssociationKind> | undefined;
  private readonly cache = new Map<string, Analysis>();
  private readonly pieces = new PieceCache();

  private readonly piecewiseMinChars: number;

  constructor(options: ServiceOptions = {}) {
    this.schemas = options.schemas ?? new SchemaStore();
    this.piecewiseMinChars = options.piecewiseMinChars ?? PIECEWISE_MIN_CHARS;
    this.associations = options.associations;
  }

  /** Parse, classify and validate once per (uri, version); later calls for the same version are free. */
  analyze(doc: TextDocument): Analysis {
    const cached = this.cache.get(doc.uri);
    if (cached && cached.version === doc.version) return cached;
    const analysis = this.analyzePiecewise(doc) ?? this.analyzeWhole(doc);
    this.cache.set(doc.uri, analysis);
    return analysis;
  }

  private analyzeWhole(doc: TextDocument): Analysis {
    const text = doc.getText();
    const parsed = parseText(text);
    const classification = classify({
      uri: doc.uri,
      languageId: doc.languageId,
      root: parsed.value,
      documentCount: parsed.doc.errors.some((e) => e.code === 'MULTIPLE_DOCS') ? 2 : 1,
      associations: this.associations,
    });
    const problems = validate({ uri: doc.uri, parsed, classification, schemas: this.schemas });
    return { uri: doc.uri, version: doc.version, text, classification, problems, value: parsed.value, parsed };
  }

  /** Big block-style configs: validated tunnel by tunnel with a cache (see incremental.ts). */
  private analyzePiecewise(doc: TextDocument): Analysis | undefined {
    if (doc.languageId === 'json' || doc.languageId === 'jsonc') return undefined;
    const text = doc.getText();
    if (text.length < this.piecewiseMinChars) return undefined;
    const split = splitConfig(text);
    if (!split) return undefined;
    const result = validateSplit(split, this.pieces);
    // A syntax error: the parser's messages depend on the surrounding text, so only the whole file
    // gives the exact same answer as `burrow config check`.
    if (result.broken) return undefined;
    const classification = classify({
      uri: doc.uri,
      languageId: doc.languageId,
      root: result.value,
      documentCount: 1,
      associations: this.associations,
    });
    if (classification.kind !== 'ngrok-config' || classification.configVersion !== split.version) return undefined;
    const problems = fromConfigProblems(text, lineStartsOf(text), result.config);
    let parsed: ParsedText | undefined;
    return {
      uri: doc.uri,
      version: doc.version,
      text,
      classification,
      problems,
      value: result.value,
      split,
      get parsed() {
        return (parsed ??= parseText(text));
      },
    };
  }

  /** Compiles every validator once, so the first real document is validated at full speed. */
  warmUp(): void {
    const samples: [string, string, string][] = [
      ['file:///warmup/ngrok.yml', 'ngrok-yaml', 'version: "2"\n'],
      ['file:///warmup/v3.ngrok.yml', 'ngrok-yaml', 'version: "3"\n'],
      ['file:///warmup/policy.yml', 'yaml', 'on_http_request: []\n'],
    ];
    for (const [uri, languageId, text] of samples) {
      this.analyze(TextDocument.create(uri, languageId, 0, text));
      this.forget(uri);
    }
  }

  forget(uri: string): void {
    this.cache.delete(uri);
  }

  /** Drops every cached analysis (settings changed: associations may classify files differently). */
  forgetAll(): void {
    this.cache.clear();
  }

  /** The `burrow.languageServer.deprecationWarnings` setting: false hides deprecation warnings. */
  deprecationWarnings = true;

  diagnostics(doc: TextDocument): Diagnostic[] {
    const problems = this.analyze(doc).problems.filter(
      (p) => this.deprecationWarnings || p.code !== 'BURROW_CONFIG_DEPRECATED',
    );
    return problems.map((p) => ({
      range: toRange(doc, p.start, p.end),
      severity: SEVERITY[p.severity],
      code: p.code,
      source: 'burrow',
      message: p.message,
      ...(p.tags?.length
        ? { tags: p.tags.map((t) => (t === 'deprecated' ? DiagnosticTag.Deprecated : DiagnosticTag.Unnecessary)) }
        : {}),
      ...(p.data ? { data: p.data } : {}),
    }));
  }

  symbols(doc: TextDocument): DocumentSymbol[] {
    const a = this.analyze(doc);
    if (a.classification.kind === 'none') return [];
    return documentSymbols(doc, a, a.split ? this.pieceTrees(a.text, a.split) : undefined);
  }

  endpointLenses(doc: TextDocument): EndpointLensesResult {
    const a = this.analyze(doc);
    return endpointLenses(doc, a, a.split ? this.pieceTrees(a.text, a.split) : undefined);
  }

  /** The pieces' trees (already parsed and cached) with offsets mapped into the whole text. */
  private pieceTrees(text: string, split: Split): TreeView[] {
    const starts = lineStartsOf(text);
    return [split.header, ...split.tunnels, ...split.endpoints].map((piece) => {
      const parsed = this.pieces.parse(piece.text).parsed;
      const toOffset = (o: number) => {
        const { line, col } = parsed.lineCounter.linePos(o);
        const original = piece.lineMap[line - 1];
        return original === undefined || original < 0
          ? 0
          : Math.min((starts[original] ?? text.length) + col - 1, text.length);
      };
      return { root: parsed.doc.contents as TreeView['root'], toOffset, kind: piece.kind, index: piece.index };
    });
  }

  complete(doc: TextDocument, position: Position, ports: PortHint[] = []): CompletionItem[] {
    const a = this.analyzeForCompletion(doc);
    return a.classification.kind === 'none' ? [] : complete(doc, position, a, this.schemas, ports);
  }

  /**
   * What completion needs — the kind and the document's value — without validating: completion
   * arrives right after a keystroke, before the debounced validation, often on a line that does
   * not parse yet (a half-typed key), which would force a slow whole-file validation.
   */
  private analyzeForCompletion(doc: TextDocument): Pick<Analysis, 'classification' | 'value'> {
    const cached = this.cache.get(doc.uri);
    if (cached && cached.version === doc.version) return cached;
    const text = doc.getText();
    const split =
      doc.languageId !== 'json' && doc.languageId !== 'jsonc' && text.length >= this.piecewiseMinChars
        ? splitConfig(text)
        : undefined;
    if (split) {
      const value = composeValue(split, this.pieces);
      const classification = classify({
        uri: doc.uri,
        languageId: doc.languageId,
        root: value,
        documentCount: 1,
        associations: this.associations,
      });
      if (classification.kind === 'ngrok-config') return { classification, value };
    }
    return this.analyze(doc);
  }

  hover(doc: TextDocument, position: Position): Hover | null {
    const a = this.analyze(doc);
    if (a.classification.kind === 'none') return null;
    return hover(doc, position, a, this.schemas, a.split ? this.pieceAt(a.text, a.split, position.line) : undefined);
  }

  /** The piece holding an original line, as a tree with offset maps both ways (hover without a whole-file parse). */
  private pieceAt(text: string, split: Split, line: number): PieceView {
    const piece =
      [...split.tunnels, ...split.endpoints].find((t) => t.lines && line >= t.lines[0] && line < t.lines[1]) ??
      split.header;
    const parsed = this.pieces.parse(piece.text).parsed;
    const starts = lineStartsOf(text);
    return {
      doc: parsed.doc,
      endpointIndex: piece.index,
      fromOffset: (o) => {
        let l = starts.length - 1;
        while (l > 0 && starts[l] > o) l--;
        const i = piece.lineMap.indexOf(l);
        return i < 0 ? -1 : parsed.lineCounter.lineStarts[i] + (o - starts[l]);
      },
      toOffset: (o) => {
        const { line: pl, col } = parsed.lineCounter.linePos(o);
        const original = piece.lineMap[pl - 1];
        return original === undefined || original < 0
          ? 0
          : Math.min((starts[original] ?? text.length) + col - 1, text.length);
      },
    };
  }

  codeActions(doc: TextDocument, range: Range, diagnostics: Diagnostic[]): CodeAction[] {
    const a = this.analyze(doc);
    return a.classification.kind === 'none' ? [] : codeActions(doc, range, diagnostics, a, this.schemas);
  }

  /** The document a code action to resolve belongs to (its `data` names it), if it is ours. */
  static codeActionUri(action: CodeAction): string | undefined {
    return (action.data as MigrateData | undefined)?.migrateToV3;
  }

  resolveCodeAction(doc: TextDocument, action: CodeAction): CodeAction {
    return resolveCodeAction(doc, action, this.analyze(doc));
  }

  migrateToV3(doc: TextDocument): MigrateToV3Result {
    const a = this.analyze(doc);
    if (a.classification.kind !== 'ngrok-config') return { reason: 'not an ngrok config file' };
    return migrateToV3(a.parsed);
  }
}
