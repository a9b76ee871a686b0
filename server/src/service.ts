// The language service: everything the server knows how to do, as plain functions over a
// `TextDocument`, with one parse + classification + validation per document version. No LSP
// connection in here (server.ts does the wiring), so tests can call it directly.
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { CodeAction, CompletionItem, Diagnostic, DocumentSymbol, Hover, Position, Range } from 'vscode-languageserver/node';
import { DiagnosticSeverity, DiagnosticTag } from 'vscode-languageserver/node';
import { classify, type Classification } from './classify';
import type { AssociationKind, EndpointLensesResult, MigrateToV3Result } from './protocol';
import type { Problem } from './problems';
import { SchemaStore } from './schemaModel';
import { parseText, type ParsedText } from './yamlText';
import { validate } from './validate';
import { documentSymbols, endpointLenses } from './symbols';
import { complete } from './completion';
import { hover } from './hover';
import { codeActions } from './codeActions';
import { migrateToV3 } from './migrate';

export interface Analysis {
  uri: string;
  version: number;
  parsed: ParsedText;
  classification: Classification;
  problems: Problem[];
}

export interface ServiceOptions {
  associations?: Record<string, AssociationKind>;
  schemas?: SchemaStore;
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

  constructor(options: ServiceOptions = {}) {
    this.schemas = options.schemas ?? new SchemaStore();
    this.associations = options.associations;
  }

  /** Parse, classify and validate once per (uri, version); later calls for the same version are free. */
  analyze(doc: TextDocument): Analysis {
    const cached = this.cache.get(doc.uri);
    if (cached && cached.version === doc.version) return cached;
    const parsed = parseText(doc.getText());
    const classification = classify({
      uri: doc.uri,
      languageId: doc.languageId,
      root: parsed.value,
      documentCount: parsed.doc.errors.some((e) => e.code === 'MULTIPLE_DOCS') ? 2 : 1,
      associations: this.associations,
    });
    const problems = validate({ uri: doc.uri, parsed, classification, schemas: this.schemas });
    const analysis: Analysis = { uri: doc.uri, version: doc.version, parsed, classification, problems };
    this.cache.set(doc.uri, analysis);
    return analysis;
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

  diagnostics(doc: TextDocument): Diagnostic[] {
    return this.analyze(doc).problems.map((p) => ({
      range: toRange(doc, p.start, p.end),
      severity: SEVERITY[p.severity],
      code: p.code,
      source: 'burrow',
      message: p.message,
      ...(p.tags?.length ? { tags: p.tags.map((t) => (t === 'deprecated' ? DiagnosticTag.Deprecated : DiagnosticTag.Unnecessary)) } : {}),
      ...(p.data ? { data: p.data } : {}),
    }));
  }

  symbols(doc: TextDocument): DocumentSymbol[] {
    const a = this.analyze(doc);
    return a.classification.kind === 'none' ? [] : documentSymbols(doc, a);
  }

  endpointLenses(doc: TextDocument): EndpointLensesResult {
    return endpointLenses(doc, this.analyze(doc));
  }

  complete(doc: TextDocument, position: Position): CompletionItem[] {
    const a = this.analyze(doc);
    return a.classification.kind === 'none' ? [] : complete(doc, position, a, this.schemas);
  }

  hover(doc: TextDocument, position: Position): Hover | null {
    const a = this.analyze(doc);
    return a.classification.kind === 'none' ? null : hover(doc, position, a, this.schemas);
  }

  codeActions(doc: TextDocument, range: Range, diagnostics: Diagnostic[]): CodeAction[] {
    const a = this.analyze(doc);
    return a.classification.kind === 'none' ? [] : codeActions(doc, range, diagnostics, a, this.schemas);
  }

  migrateToV3(doc: TextDocument): MigrateToV3Result {
    const a = this.analyze(doc);
    if (a.classification.kind !== 'ngrok-config') return { reason: 'not an ngrok config file' };
    return migrateToV3(a.parsed);
  }
}
