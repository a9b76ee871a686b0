// Incremental validation of big ngrok configs. The `yaml` parser needs ~50 ms for a 300-tunnel file,
// so re-parsing everything per keystroke cannot meet the 15 ms budget. Instead a block-style config
// is cut into a *header* (every top-level key, with `tunnels: {}`) and one small document per
// tunnel (`version: …` + `tunnels:` + that tunnel's lines). Each piece is validated with the same
// `validateDocument` and cached by its text, so a keystroke re-validates one tunnel and the header.
// Problems map back by line (columns are unchanged), so the result equals whole-file validation —
// `test/lsp/incremental.test.ts` checks exactly that over the corpus and random edits.
//
// Files this cannot cut safely (anchors/aliases, flow or odd indentation around `tunnels:`,
// duplicate tunnel names, document markers, tabs, versions other than 2/3) go the whole-file way.
import { validateDocument, type ConfigProblem } from '../../tunnel/src/config';
import { parseText, type ParsedText } from './yamlText';
import { semanticChecks } from './semantic';
import type { Problem } from './problems';

export interface Piece {
  /** The small document that is parsed and validated. */
  text: string;
  /** Original 0-based line of each line of `text` (-1 for synthetic lines). */
  lineMap: number[];
  /** Tunnel name, undefined for the header. */
  name?: string;
  /** Tunnel pieces: the original lines [from, to) they hold. */
  lines?: [number, number];
}

export interface Split {
  header: Piece;
  tunnels: Piece[];
  version: '2' | '3';
}

const TUNNELS_LINE = /^tunnels:(?:[ \t]+#.*)?[ \t]*$/;
const ALIAS_OR_ANCHOR = /(?:^|[\s:[{,-])[&*][^\s,\]}]/m;
const KEY_LINE = /^("[^"]*"|'[^']*'|[^\s#'"{}[\],&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)[ \t]*:(?:[ \t]|$)/;

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function indentOf(line: string): number {
  return /^ */.exec(line)![0].length;
}

const isBlankOrComment = (line: string) => /^\s*(#.*)?\r?$/.test(line);

/** Cuts the text into header and tunnel pieces, or undefined when it cannot be done safely. */
export function splitConfig(text: string): Split | undefined {
  if (/^\t/m.test(text) || ALIAS_OR_ANCHOR.test(text) || /^(---|\.\.\.)(\s|$)/m.test(text)) return undefined;
  const lines = text.split('\n');
  const tunnelsAt = lines.findIndex((l) => TUNNELS_LINE.test(l.replace(/\r$/, '')));
  if (tunnelsAt < 0 || lines.findIndex((l, i) => i > tunnelsAt && TUNNELS_LINE.test(l.replace(/\r$/, ''))) >= 0) return undefined;

  let end = tunnelsAt + 1;
  while (end < lines.length && (isBlankOrComment(lines[end]) || indentOf(lines[end]) > 0)) end++;
  // Blank and comment lines just before the next top-level key belong to the header.
  while (end > tunnelsAt + 1 && isBlankOrComment(lines[end - 1]) && indentOf(lines[end - 1]) === 0) end--;

  const version = versionOf(lines);
  if (!version) return undefined;

  // Entries: a key at the first content line's indentation; deeper lines belong to the entry above.
  const entries: { keyLine: number; name: string }[] = [];
  let entryIndent = -1;
  for (let i = tunnelsAt + 1; i < end; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (isBlankOrComment(line)) continue;
    const indent = indentOf(line);
    if (entryIndent < 0) entryIndent = indent;
    if (indent < entryIndent) return undefined;
    if (indent > entryIndent) {
      if (!entries.length) return undefined;
      continue;
    }
    const key = KEY_LINE.exec(line.slice(indent));
    if (!key) return undefined;
    const name = unquote(key[1].trim());
    if (entries.some((e) => e.name === name)) return undefined; // a duplicate key: the whole-file parser reports it
    entries.push({ keyLine: i, name });
  }
  if (!entries.length) return undefined; // `tunnels:` with no entries is null, not `{}`
  // Each piece starts after the previous entry's last content line (comments above an entry are its own).
  const starts = entries.map((e, k) => {
    if (k === 0) return tunnelsAt + 1;
    let s = e.keyLine;
    while (s > entries[k - 1].keyLine + 1 && isBlankOrComment(lines[s - 1])) s--;
    return s;
  });
  const tunnels: Piece[] = entries.map((e, k) => {
    const from = starts[k];
    const to = k + 1 < entries.length ? starts[k + 1] : end;
    const body = lines.slice(from, to);
    // Inside the file, the piece gets the newline that ends its last line; its (empty) last line then
    // stands for the start of the next original line, where value ranges end. At the end of the
    // file, the text is kept as it is (with or without a final newline).
    const inside = to < lines.length;
    return {
      text: `version: "${version}"\ntunnels:\n${body.join('\n')}${inside ? '\n' : ''}`,
      lineMap: [-1, -1, ...body.map((_, i) => from + i), ...(inside ? [to] : [])],
      name: e.name,
      lines: [from, to],
    };
  });

  const headerLines: string[] = [];
  const headerMap: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (i > tunnelsAt && i < end) continue;
    const line = i === tunnelsAt ? lines[i].replace(/^tunnels:/, 'tunnels: {}') : lines[i];
    headerLines.push(line);
    headerMap.push(i);
  }
  return { header: { text: headerLines.join('\n'), lineMap: headerMap }, tunnels, version };
}

function versionOf(lines: string[]): '2' | '3' | undefined {
  const found = lines.filter((l) => /^version[ \t]*:/.test(l));
  if (found.length !== 1) return undefined;
  const m = /^version[ \t]*:[ \t]*(?:"([23])"|'([23])'|([23]))[ \t]*(#.*)?\r?$/.exec(found[0]);
  return m ? ((m[1] ?? m[2] ?? m[3]) as '2' | '3') : undefined;
}

const SYNTAX = new Set(['BURROW_CONFIG_YAML_SYNTAX', 'BURROW_CONFIG_TAB_INDENT', 'BURROW_CONFIG_DUPLICATE_KEY']);

interface PieceResult {
  parsed: ParsedText;
  /** Filled on first validation (completion only needs the parse). */
  checked?: { config: ConfigProblem[]; semantic: Problem[] };
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

  check(text: string, version: '2' | '3'): Required<PieceResult> {
    const result = this.parse(text);
    if (!result.checked) {
      const config = validateDocument(text, '', { kind: 'agent' }).problems;
      const broken = config.some((p) => SYNTAX.has(p.code));
      result.checked = { config, semantic: broken ? [] : semanticChecks({ doc: result.parsed.doc, text, kind: 'ngrok-config', version }) };
    }
    return result as Required<PieceResult>;
  }
}

export interface IncrementalResult {
  /** Problems with 1-based original lines (as ConfigProblem) — the validator's, mapped back. */
  config: ConfigProblem[];
  /** Semantic problems as original [line, col] pairs (0-based line, 0-based col) for start and end. */
  semantic: { problem: Problem; start: [number, number]; end: [number, number] }[];
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
    out.push({ ...p, line: line + 1, endLine: (endLine !== undefined && endLine >= 0 ? endLine : line) + 1 });
  }
  return out;
}

function mapSemantic(piece: Piece, parsed: ParsedText, problems: Problem[]): IncrementalResult['semantic'] {
  const out: IncrementalResult['semantic'] = [];
  for (const p of problems) {
    const a = parsed.lineCounter.linePos(p.start);
    const b = parsed.lineCounter.linePos(p.end);
    const la = piece.lineMap[a.line - 1];
    const lb = piece.lineMap[b.line - 1];
    if (la === undefined || la < 0) continue;
    out.push({ problem: p, start: [la, a.col - 1], end: [lb !== undefined && lb >= 0 ? lb : la, b.col - 1] });
  }
  return out;
}

/** The document's value composed from the pieces' values (equal to parsing the whole file). */
export function composeValue(split: Split, cache: PieceCache): unknown {
  const value = cache.parse(split.header.text).parsed.value;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const tunnels: Record<string, unknown> = {};
  for (const t of split.tunnels) {
    const tv = (cache.parse(t.text).parsed.value as { tunnels?: Record<string, unknown> } | undefined)?.tunnels;
    if (tv && typeof tv === 'object') Object.assign(tunnels, tv);
  }
  return { ...(value as Record<string, unknown>), tunnels };
}

/** Validates a split config piece by piece. */
export function validateSplit(split: Split, cache: PieceCache): IncrementalResult {
  const all = [split.header, ...split.tunnels].map((piece) => ({ piece, result: cache.check(piece.text, split.version) }));
  const broken = all.some(({ result }) => result.checked.config.some((p) => SYNTAX.has(p.code)));
  const config = all.flatMap(({ piece, result }) => mapConfig(piece, broken ? result.checked.config.filter((p) => SYNTAX.has(p.code)) : result.checked.config));
  const semantic = broken ? [] : all.flatMap(({ piece, result }) => mapSemantic(piece, result.parsed, result.checked.semantic));
  return { config, semantic, value: composeValue(split, cache), broken };
}
