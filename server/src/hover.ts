import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Hover, Position } from 'vscode-languageserver/node';
import type { Analysis } from './service';
import type { SchemaStore } from './schemaModel';

export function hover(_doc: TextDocument, _position: Position, _a: Analysis, _schemas: SchemaStore): Hover | null {
  return null;
}
