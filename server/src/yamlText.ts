// YAML (and JSON, which `yaml` parses as flow YAML) with positions: one parse per document version,
// lookups from an offset to the node under it (path → node is config/yaml-nodes.ts's findNodeAtPath).
import { isMap, isSeq, parseDocument, type LineCounter } from 'yaml';
import type { Document, Node, Pair, ParsedNode } from 'yaml';
import { collectionKey, cyclicAlias, tooDeep } from '../../tunnel/src/config/yaml-guard';
import { lineCounterOf, scalarKey, type PathSegment } from '../../tunnel/src/config/yaml-nodes';

export type Segment = PathSegment;

export interface ParsedText {
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** `doc.toJS()` computed once (undefined when the document is empty); aliases resolved. */
  value: unknown;
}

export function parseText(text: string): ParsedText {
  const lineCounter = lineCounterOf(text);
  // Nesting the parser's recursion cannot take is not parsed at all (the validator reports it);
  // features then see an empty document.
  const readable = tooDeep(text) === undefined;
  // uniqueKeys stays on: a duplicate tunnel name is a real error for the agent too.
  const doc = parseDocument(readable ? text : '', {
    keepSourceTokens: true,
    prettyErrors: false,
    strict: false,
  });
  let value: unknown;
  try {
    // Collection keys (stringified by toJS, exponentially when nested) and cyclic aliases have no
    // plain value: features fall back to the AST, as for alias bombs and undefined aliases.
    value = collectionKey(doc) || cyclicAlias(doc) ? undefined : doc.toJS({ maxAliasCount: 100 });
  } catch {
    value = undefined;
  }
  return { text, doc, lineCounter, value };
}

export interface OffsetHit {
  path: Segment[];
  /** `key` when the offset is on a map key, else `value`. */
  on: 'key' | 'value';
  node: ParsedNode | null;
  pair?: Pair<ParsedNode, ParsedNode | null>;
}

/** The innermost key or value under `offset` (inclusive of the end, so a cursor right after a word hits it). */
export function nodeAtOffset(doc: Document.Parsed, offset: number): OffsetHit | undefined {
  const within = (n: Node | null | undefined) => !!n?.range && n.range[0] <= offset && offset <= n.range[1];
  const walk = (node: ParsedNode | null, path: Segment[]): OffsetHit | undefined => {
    if (isMap(node)) {
      for (const p of node.items as Pair<ParsedNode, ParsedNode | null>[]) {
        const key = scalarKey(p);
        if (key === undefined) continue;
        if (within(p.key)) return { path: [...path, key], on: 'key', node: p.key, pair: p };
        if (within(p.value)) {
          const inner = walk(p.value, [...path, key]);
          if (inner) return inner;
          if (!isMap(p.value) && !isSeq(p.value)) return { path: [...path, key], on: 'value', node: p.value, pair: p };
          // Inside a collection but on none of its keys or values (whitespace): no hit here, but the
          // inclusive end may touch the next key, so keep looking.
        }
      }
      return undefined;
    }
    if (isSeq(node)) {
      const items = node.items as (ParsedNode | null)[];
      for (let i = 0; i < items.length; i++) {
        if (!within(items[i])) continue;
        const inner = walk(items[i], [...path, i]);
        if (inner) return inner;
        if (!isMap(items[i]) && !isSeq(items[i])) return { path: [...path, i], on: 'value', node: items[i] };
      }
      return undefined;
    }
    if (within(node)) return { path, on: 'value', node };
    return undefined;
  };
  return walk(doc.contents as ParsedNode | null, []);
}

export function valueAtPath(root: unknown, path: readonly Segment[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg as string];
  }
  return v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
