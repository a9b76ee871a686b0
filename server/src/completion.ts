import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { CompletionItem, Position } from 'vscode-languageserver/node';
import type { Analysis } from './service';
import type { SchemaStore } from './schemaModel';

export function complete(_doc: TextDocument, _position: Position, _a: Analysis, _schemas: SchemaStore): CompletionItem[] {
  return [];
}
