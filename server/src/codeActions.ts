import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { CodeAction, Diagnostic, Range } from 'vscode-languageserver/node';
import type { Analysis } from './service';
import type { SchemaStore } from './schemaModel';

export function codeActions(_doc: TextDocument, _range: Range, _diagnostics: Diagnostic[], _a: Analysis, _schemas: SchemaStore): CodeAction[] {
  return [];
}
