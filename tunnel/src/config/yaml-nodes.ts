// Path → YAML node: turns a JSON path (as ajv reports it) into a source range, so every problem
// points at the exact key or value. Pure: no fs, no process; the config loader and the language
// server (quick fixes, symbols, edge JSON checks) walk documents with these same functions.
import { LineCounter, isMap, isPair, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';

export type PathSegment = string | number;

/** A 1-based source range; end is exclusive. */
export interface SourceRange {
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

export interface NodeAtPath {
  /** The key node of the last segment when it is a mapping key. */
  key?: Node;
  /** The value node (undefined when the value is empty or the path is not in the document). */
  value?: Node;
  /** The pair of the last segment when it is a mapping key. */
  pair?: Pair;
  /** The deepest node that exists on the path (the root when nothing matched). */
  deepest?: Node;
  /** How many segments were found; less than the path length when the path goes past the document. */
  depth: number;
}

/** Splits an ajv `instancePath` (`/tunnels/web/addr`, JSON-pointer escaped) into segments. */
export function parseInstancePath(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A mapping key as text ('' for an empty key); undefined for a collection used as a key. */
export function scalarKey(pair: Pair): string | undefined {
  const k = pair.key;
  if (isScalar(k)) return k.value === null ? '' : String(k.value);
  return undefined;
}

/** Walks the document along `path`; stops at the deepest node that exists. */
export function findNodeAtPath(doc: Document, path: readonly PathSegment[]): NodeAtPath {
  let current: unknown = doc.contents;
  let key: Node | undefined;
  let pair: Pair | undefined;
  let deepest = (current ?? undefined) as Node | undefined;
  let depth = 0;
  for (const seg of path) {
    if (isMap(current)) {
      const found = current.items.find((p) => isPair(p) && scalarKey(p) === String(seg));
      if (!found) break;
      pair = found;
      key = found.key as Node;
      current = found.value;
    } else if (isSeq(current)) {
      const index = typeof seg === 'number' ? seg : Number(seg);
      if (!Number.isInteger(index) || index < 0 || index >= current.items.length) break;
      pair = undefined;
      key = undefined;
      current = current.items[index];
    } else {
      break;
    }
    depth++;
    if (current) deepest = current as Node;
  }
  return { key, value: (current ?? undefined) as Node | undefined, pair, deepest, depth };
}

/**
 * Line starts of `text`, every `\n` counted. (The parser's own LineCounter misses the line breaks
 * inside a scalar it could not close, which would put later positions on the wrong line.)
 */
export function lineCounterOf(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return lines;
}

/** Range of a node's text (not its trailing comment). */
export function rangeOfNode(node: Node, lines: LineCounter): SourceRange | undefined {
  const r = node.range;
  if (!r) return undefined;
  const start = lines.linePos(r[0]);
  const end = lines.linePos(Math.max(r[1], r[0]));
  return { line: start.line, col: start.col, endLine: end.line, endCol: end.col };
}

export function rangeOfOffsets(start: number, end: number, lines: LineCounter): SourceRange {
  const a = lines.linePos(start);
  const b = lines.linePos(Math.max(end, start));
  return { line: a.line, col: a.col, endLine: b.line, endCol: b.col };
}

/**
 * The range to report for a path. `target: 'key'` points at the mapping key (unknown or missing
 * keys, deprecations); `'value'` at the value (type, enum, pattern). Falls back to the key when the
 * value is empty, and to the deepest existing ancestor when the path is not in the document.
 */
export function rangeAtPath(
  doc: Document,
  lines: LineCounter,
  path: readonly PathSegment[],
  target: 'key' | 'value',
): SourceRange {
  const found = findNodeAtPath(doc, path);
  const exact = found.depth === path.length;
  const valueHasText = found.value && found.value.range && found.value.range[1] > found.value.range[0];
  const pick =
    exact && target === 'value' && valueHasText ? found.value : (found.key ?? (valueHasText ? found.value : undefined));
  const range = pick ? rangeOfNode(pick, lines) : undefined;
  if (range) return range;
  return firstContentRange(doc, lines);
}

/** Where document-level problems go: the first key of the document, or 1:1. */
export function firstContentRange(doc: Document, lines: LineCounter): SourceRange {
  const contents = doc.contents;
  if (isMap(contents) && contents.items.length > 0 && isPair(contents.items[0])) {
    const k = contents.items[0].key as Node | null;
    const r = k ? rangeOfNode(k, lines) : undefined;
    if (r) return r;
  }
  const r = contents ? rangeOfNode(contents as Node, lines) : undefined;
  return r && r.line > 0 ? r : { line: 1, col: 1, endLine: 1, endCol: 1 };
}
