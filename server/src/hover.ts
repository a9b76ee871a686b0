// Hover: the schema's markdown description of the key (or value) under the cursor, its default,
// allowed values (the hovered one marked), deprecation, and a link to the ngrok reference.
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Document } from 'yaml';
import { MarkupKind, type Hover, type Position } from 'vscode-languageserver/node';
import type { Analysis } from './analysis';
import { enumValues, firstOf, isDeprecated, schemasAtPath, type SchemaStore } from './schemaModel';
import { rootSchemaFor } from './completion';
import { nodeAtOffset, valueAtPath, type Segment } from './yamlText';

const DOCS = 'https://ngrok.com/docs';

/** The reference page that documents the thing at `path`. */
export function referenceLink(a: Analysis, path: Segment[], value: unknown): { title: string; url: string } {
  const actionIdx = path.lastIndexOf('actions');
  if (actionIdx >= 0 && typeof path[actionIdx + 1] === 'number') {
    const type = valueAtPath(value, [...path.slice(0, actionIdx + 2), 'type']);
    if (typeof type === 'string')
      return { title: `\`${type}\` action reference`, url: `${DOCS}/traffic-policy/actions/${type}/` };
  }
  if (a.classification.kind === 'edge-json')
    return { title: 'ngrok API reference (edges)', url: `${DOCS}/api/resources/https-edges/` };
  if (a.classification.kind === 'traffic-policy' || path.includes('traffic_policy') || path.includes('policy')) {
    return { title: 'Traffic Policy reference', url: `${DOCS}/traffic-policy/` };
  }
  return a.classification.configVersion === '3'
    ? { title: 'ngrok agent config v3 reference', url: `${DOCS}/agent/config/v3/` }
    : { title: 'ngrok agent config v2 reference', url: `${DOCS}/agent/config/v2/` };
}

function fmt(v: unknown): string {
  return `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
}

/** A piece of a piecewise-validated document (see incremental.ts) with offset maps both ways. */
export interface PieceView {
  doc: Document.Parsed;
  /** Editor offset → piece offset (-1 when the offset is not in the piece). */
  fromOffset: (offset: number) => number;
  /** Piece offset → editor offset. */
  toOffset: (offset: number) => number;
  /** Endpoint pieces hold one item at index 0: its index in the whole `endpoints` list. */
  endpointIndex?: number;
}

export function hover(
  doc: TextDocument,
  position: Position,
  a: Analysis,
  store: SchemaStore,
  piece?: PieceView,
): Hover | null {
  const root = rootSchemaFor(a, store);
  if (!root) return null;
  const offset = piece ? piece.fromOffset(doc.offsetAt(position)) : doc.offsetAt(position);
  if (offset < 0) return null;
  const hit = nodeAtOffset(piece?.doc ?? a.parsed.doc, offset);
  if (!hit || !hit.node?.range) return null;
  if (piece?.endpointIndex !== undefined && hit.path[0] === 'endpoints' && hit.path[1] === 0)
    hit.path[1] = piece.endpointIndex;
  const schemas = schemasAtPath(store, root, a.value, hit.path);
  if (!schemas.length) return null;

  const name = hit.path.filter((s) => typeof s === 'string').pop();
  const hovered = hit.on === 'value' ? valueAtPath(a.value, hit.path) : undefined;
  const parts: string[] = [];
  const title = firstOf(schemas, 'title');
  parts.push(`**${name ?? title ?? 'document'}**${title && title !== name ? ` — ${title}` : ''}`);
  const description = firstOf(schemas, 'markdownDescription') ?? firstOf(schemas, 'description');
  if (description) parts.push(description);
  const enums = enumValues(schemas);
  if (enums.length) {
    const current = enums.find((e) => e.value === hovered);
    if (current?.description) parts.push(current.description);
    if (enums.length <= 16)
      parts.push(
        `Allowed: ${enums.map((e) => (e.value === hovered ? `**${fmt(e.value)}**` : fmt(e.value))).join(', ')}`,
      );
    else if (!current && hovered !== undefined)
      parts.push(`${fmt(hovered)} is not one of the ${enums.length} known values.`);
  }
  const def = firstOf(schemas, 'default');
  if (def !== undefined) parts.push(`Default: ${fmt(def)}`);
  const deprecated = isDeprecated(schemas);
  if (deprecated && !description?.includes('Deprecated')) parts.push(`**Deprecated:** ${deprecated}`);
  const link = referenceLink(a, hit.path, a.value);
  parts.push(`[${link.title}](${link.url})`);

  const map = piece?.toOffset ?? ((o: number) => o);
  const [start, end] = [map(hit.node.range[0]), map(hit.node.range[1])];
  return {
    contents: { kind: MarkupKind.Markdown, value: parts.join('\n\n') },
    range: { start: doc.positionAt(start), end: doc.positionAt(end) },
  };
}
