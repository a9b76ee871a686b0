// Incremental validation of big ngrok configs. The `yaml` parser needs ~50 ms for a 300-tunnel file,
// so re-parsing everything per keystroke cannot meet the 15 ms budget. Instead a block-style config
// is cut into a *header* (every top-level key, with `tunnels: {}` / `endpoints: []`) and one small
// document per tunnel or endpoint (`version: …` + `tunnels:`/`endpoints:` + that entry's lines,
// endpoint indexes restored in messages). Each piece is validated with the same
// `validateDocument` and cached by its text, so a keystroke re-validates one tunnel and the header.
// Problems map back by line (columns are unchanged), so the result equals whole-file validation —
// `test/lsp/incremental.test.ts` checks exactly that over the corpus and random edits.
//
// Files this cannot cut safely (anchors/aliases, flow or odd indentation around `tunnels:` or
// `endpoints:`, duplicate names, document markers, tabs, versions other than 2/3) go the whole-file way.
import { validateDocument, type ConfigProblem } from '../../tunnel/src/config';
import { parseText, type ParsedText } from './yamlText';

export interface Piece {
  /** The small document that is parsed and validated. */
  text: string;
  /** Original 0-based line of each line of `text` (-1 for synthetic lines). */
  lineMap: number[];
  /** What the piece holds (the header has the top-level keys, with `tunnels: {}` / `endpoints: []`). */
  kind: 'header' | 'tunnel' | 'endpoint';
  /** Tunnel name or endpoint `name`, when there is one. */
  name?: string;
  /** Tunnel and endpoint pieces: the original lines [from, to) they hold. */
  lines?: [number, number];
  /** Endpoint pieces: the item's index in `endpoints` (validator messages name it: `endpoints[3].url`). */
  index?: number;
}

export interface Split {
  header: Piece;
  tunnels: Piece[];
  endpoints: Piece[];
  version: '2' | '3';
}

const ALIAS_OR_ANCHOR = /(?:^|[\s:[{,-])[&*][^\s,\]}]/m;
const KEY_LINE = /^("[^"]*"|'[^']*'|[^\s#'"{}[\],&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)[ \t]*:(?:[ \t]|$)/;
const DASH_LINE = /^-(?:[ \t]+|$)/;

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function indentOf(line: string): number {
  return /^ */.exec(line)![0].length;
}

const isBlankOrComment = (line: string) => /^\s*(#.*)?\r?$/.test(line);

interface Block {
  /** The `key:` line. */
  at: number;
  /** End (exclusive) of the block's content lines. */
  end: number;
}

/** The block of top-level `key:` (alone on its line), undefined when absent, null when it cannot be cut (inline value, twice). */
function blockOf(lines: string[], key: string, dashAtZero: boolean): Block | undefined | null {
  const alone = new RegExp(`^${key}:(?: +#.*)? *$`); // spaces only: a tab here changes how YAML reads the block
  const any = new RegExp(`^${key}[ \\t]*:`);
  const hits = lines.map((l, i) => (any.test(l) ? i : -1)).filter((i) => i >= 0);
  if (!hits.length) return undefined;
  if (hits.length > 1 || !alone.test(lines[hits[0]].replace(/\r$/, ''))) return null;
  const at = hits[0];
  let end = at + 1;
  while (
    end < lines.length &&
    (isBlankOrComment(lines[end]) || indentOf(lines[end]) > 0 || (dashAtZero && DASH_LINE.test(lines[end])))
  )
    end++;
  // Blank and comment lines just before the next top-level key belong to the header; at the end of
  // the file they stay with the last entry (the parser gives them to its node).
  if (end < lines.length)
    while (end > at + 1 && isBlankOrComment(lines[end - 1]) && indentOf(lines[end - 1]) === 0) end--;
  return { at, end };
}

/** Piece boundaries: each entry starts after the previous entry's last content line (comments above an entry are its own). */
function boundaries(lines: string[], block: Block, heads: number[]): [number, number][] {
  const starts = heads.map((head, k) => {
    if (k === 0) return block.at + 1;
    let s = head;
    while (s > heads[k - 1] + 1 && isBlankOrComment(lines[s - 1])) s--;
    return s;
  });
  return starts.map((from, k) => [from, k + 1 < starts.length ? starts[k + 1] : block.end]);
}

function piece(
  lines: string[],
  version: string,
  key: string,
  [from, to]: [number, number],
  extra: Omit<Piece, 'text' | 'lineMap' | 'lines'>,
): Piece {
  const body = lines.slice(from, to);
  // Inside the file, the piece gets the newline that ends its last line; its (empty) last line then
  // stands for the start of the next original line, where value ranges end. At the end of the
  // file, the text is kept as it is (with or without a final newline).
  const inside = to < lines.length;
  return {
    text: `version: "${version}"\n${key}:\n${body.join('\n')}${inside ? '\n' : ''}`,
    lineMap: [-1, -1, ...body.map((_, i) => from + i), ...(inside ? [to] : [])],
    lines: [from, to],
    ...extra,
  };
}

/** Tunnel entries: a key at the first content line's indentation; deeper lines belong to the entry above. */
function tunnelPieces(lines: string[], block: Block, version: string): Piece[] | null {
  const heads: { line: number; name: string }[] = [];
  let indentAt = -1;
  for (let i = block.at + 1; i < block.end; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (isBlankOrComment(line)) continue;
    const indent = indentOf(line);
    if (indentAt < 0) indentAt = indent;
    if (indent < indentAt) return null;
    if (indent > indentAt) {
      if (!heads.length) return null;
      continue;
    }
    const key = KEY_LINE.exec(line.slice(indent));
    if (!key) return null;
    const name = unquote(key[1].trim());
    if (heads.some((e) => e.name === name)) return null; // a duplicate key: the whole-file parser reports it
    heads.push({ line: i, name });
  }
  if (!heads.length) return null; // `tunnels:` with no entries is null, not `{}`
  return boundaries(
    lines,
    block,
    heads.map((h) => h.line),
  ).map((range, k) => piece(lines, version, 'tunnels', range, { kind: 'tunnel', name: heads[k].name }));
}

/** Endpoint items: `- ` at the first content line's indentation; deeper lines belong to the item above. */
function endpointPieces(lines: string[], block: Block, version: string): Piece[] | null {
  const heads: { line: number; name?: string }[] = [];
  let dashAt = -1;
  let keyCol = -1;
  for (let i = block.at + 1; i < block.end; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (isBlankOrComment(line)) continue;
    const indent = indentOf(line);
    if (dashAt < 0) dashAt = indent;
    if (indent < dashAt) return null;
    if (indent === dashAt) {
      const dash = DASH_LINE.exec(line.slice(indent));
      if (!dash) return null;
      keyCol = indent + dash[0].length;
      heads.push({ line: i });
    } else if (!heads.length) {
      return null;
    }
    // The item's `name:` (on the dash line or at the item's key column) names the piece.
    const name = /^name[ \t]*:[ \t]*(.*?)[ \t]*(?:#.*)?$/.exec(line.slice(keyCol));
    if (name && (indent === dashAt || indent === keyCol)) heads[heads.length - 1].name = unquote(name[1]);
  }
  if (!heads.length) return null; // `endpoints:` with no items is null, not `[]`
  return boundaries(
    lines,
    block,
    heads.map((h) => h.line),
  ).map((range, k) => piece(lines, version, 'endpoints', range, { kind: 'endpoint', name: heads[k].name, index: k }));
}

/** Cuts the text into header, tunnel and endpoint pieces, or undefined when it cannot be done safely. */
export function splitConfig(text: string): Split | undefined {
  if (/^\t/m.test(text) || ALIAS_OR_ANCHOR.test(text) || /^(---|\.\.\.)(\s|$)/m.test(text)) return undefined;
  const lines = text.split('\n');
  const version = versionOf(lines);
  if (!version) return undefined;
  const tunnelsBlock = blockOf(lines, 'tunnels', false);
  const endpointsBlock = blockOf(lines, 'endpoints', true);
  if (tunnelsBlock === null || endpointsBlock === null || (!tunnelsBlock && !endpointsBlock)) return undefined;
  const tunnels = tunnelsBlock ? tunnelPieces(lines, tunnelsBlock, version) : [];
  const endpoints = endpointsBlock ? endpointPieces(lines, endpointsBlock, version) : [];
  if (!tunnels || !endpoints) return undefined;
  // Name clashes are judged across pieces by the validator: leave those files to the whole-file path.
  const names = [...tunnels, ...endpoints].map((p) => p.name).filter((n): n is string => n !== undefined);
  if (new Set(names).size !== names.length) return undefined;

  const inBlock = (i: number) => [tunnelsBlock, endpointsBlock].some((b) => b && i > b.at && i < b.end);
  const headerLines: string[] = [];
  const headerMap: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (inBlock(i)) continue;
    let line = lines[i];
    if (tunnelsBlock && i === tunnelsBlock.at) line = line.replace(/^tunnels:/, 'tunnels: {}');
    if (endpointsBlock && i === endpointsBlock.at) line = line.replace(/^endpoints:/, 'endpoints: []');
    headerLines.push(line);
    headerMap.push(i);
  }
  return { header: { text: headerLines.join('\n'), lineMap: headerMap, kind: 'header' }, tunnels, endpoints, version };
}

function versionOf(lines: string[]): '2' | '3' | undefined {
  const found = lines.filter((l) => /^version[ \t]*:/.test(l));
  if (found.length !== 1) return undefined;
  // A comment needs a space before its `#` (`3#` is the string "3#").
  const m = /^version[ \t]*:[ \t]*(?:"([23])"|'([23])'|([23]))(?:[ \t]+#.*)?[ \t]*\r?$/.exec(found[0]);
  return m ? ((m[1] ?? m[2] ?? m[3]) as '2' | '3') : undefined;
}

const SYNTAX = new Set(['BURROW_CONFIG_YAML_SYNTAX', 'BURROW_CONFIG_TAB_INDENT', 'BURROW_CONFIG_DUPLICATE_KEY']);

interface PieceResult {
  parsed: ParsedText;
  /** Filled on first validation (completion only needs the parse). */
  checked?: { config: ConfigProblem[] };
}

/** Parses and validates pieces with a cache keyed by their text; bounded (LRU), so editing a huge file cannot grow it forever. */
export class PieceCache {
  private readonly cache = new Map<string, PieceResult>();
  constructor(private readonly max = 4000) {}

  parse(text: string): PieceResult {
    const hit = this.cache.get(text);
    if (hit) {
      this.cache.delete(text); // refresh its place in the LRU order
      this.cache.set(text, hit);
      return hit;
    }
    const result: PieceResult = { parsed: parseText(text) };
    this.cache.set(text, result);
    if (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value!);
    return result;
  }

  check(text: string): Required<PieceResult> {
    const result = this.parse(text);
    result.checked ??= { config: validateDocument(text, '', { kind: 'agent' }).problems };
    return result as Required<PieceResult>;
  }
}

export interface IncrementalResult {
  /** Problems with 1-based original lines (as ConfigProblem) — the validator's, mapped back. */
  config: ConfigProblem[];
  /** The document's value, composed from the pieces (equal to parsing the whole file). */
  value: unknown;
  /** True when some piece has a syntax error: then only syntax problems are reported, as for the whole file. */
  broken: boolean;
}

function mapConfig(piece: Piece, problems: ConfigProblem[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const p of problems) {
    const line = piece.lineMap[p.line - 1];
    const endLine = piece.lineMap[p.endLine - 1] ?? piece.lineMap[piece.lineMap.length - 1];
    if (line === undefined || line < 0) continue; // on a synthetic line (`version`, `tunnels:`)
    const message =
      piece.index !== undefined ? p.message.replace(/endpoints\[0\]/g, `endpoints[${piece.index}]`) : p.message;
    out.push({ ...p, message, line: line + 1, endLine: (endLine !== undefined && endLine >= 0 ? endLine : line) + 1 });
  }
  return out;
}

/** The document's value composed from the pieces' values (equal to parsing the whole file). */
export function composeValue(split: Split, cache: PieceCache): unknown {
  const value = cache.parse(split.header.text).parsed.value;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const of = (p: Piece) =>
    cache.parse(p.text).parsed.value as { tunnels?: Record<string, unknown>; endpoints?: unknown[] } | undefined;
  if (split.tunnels.length) out.tunnels = Object.assign({}, ...split.tunnels.map((t) => of(t)?.tunnels ?? {}));
  if (split.endpoints.length) out.endpoints = split.endpoints.flatMap((e) => of(e)?.endpoints ?? []);
  return out;
}

/** Validates a split config piece by piece. */
export function validateSplit(split: Split, cache: PieceCache): IncrementalResult {
  const all = [split.header, ...split.tunnels, ...split.endpoints].map((piece) => ({
    piece,
    result: cache.check(piece.text),
  }));
  const broken = all.some(({ result }) => result.checked.config.some((p) => SYNTAX.has(p.code)));
  const config = all.flatMap(({ piece, result }) =>
    mapConfig(piece, broken ? result.checked.config.filter((p) => SYNTAX.has(p.code)) : result.checked.config),
  );
  return { config, value: composeValue(split, cache), broken };
}
