// Where is the cursor, structurally, in a YAML block document that is being typed and may not parse?
// Completion cannot rely on the AST here (a half-typed key has no `:` yet), so this reads the
// indentation of the lines above the cursor, the way a person does.
import type { Segment } from './yamlText';

export interface CursorContext {
  /** Path of the mapping that gets the key (`key`), or of the value being typed (`value`). */
  path: Segment[];
  kind: 'key' | 'value';
  /** For `value`: the key whose value is typed (also the last element of `path`, unless a sequence item). */
  key?: string;
  /** The partial word before the cursor (without quotes). */
  prefix: string;
  /** Column where the partial word starts (the completion replaces prefixStart..cursor). */
  prefixStart: number;
  /** Column of the key being typed (`kind: key`) — snippets indent relative to it. */
  indent: number;
  /** True when the cursor is on a `- ` sequence item (a new list entry). */
  inSequenceItem: boolean;
}

interface LineInfo {
  /** Column of the first non-space character. */
  indent: number;
  /** Column of each `- ` marker at the start of the line. */
  dashes: number[];
  /** Column where the key or scalar content starts (after dashes). */
  contentCol: number;
  key?: string;
  /** Text after `key:` (trimmed, comments removed). */
  afterColon?: string;
  blank: boolean;
}

const KEY_RE = /^("[^"]*"|'[^']*'|[^\s:#'"{}[\],][^:#{}[\],]*?)\s*:(?:\s+(.*))?$/;

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function lineInfo(line: string): LineInfo {
  const m = /^(\s*)/.exec(line)!;
  const indent = m[1].length;
  let rest = line.slice(indent);
  if (rest === '' || rest.startsWith('#')) return { indent, dashes: [], contentCol: indent, blank: true };
  const dashes: number[] = [];
  let col = indent;
  for (;;) {
    const d = /^-(\s+|$)/.exec(rest);
    if (!d) break;
    dashes.push(col);
    col += d[0].length;
    rest = rest.slice(d[0].length);
  }
  const body = rest.replace(/\s+#.*$/, '').trimEnd();
  const k = KEY_RE.exec(body);
  if (k)
    return {
      indent,
      dashes,
      contentCol: col,
      key: unquote(k[1].trim()),
      afterColon: (k[2] ?? '').trim(),
      blank: false,
    };
  return { indent, dashes, contentCol: col, blank: false };
}

/**
 * The YAML path of the collection an entry belongs to, for an entry whose content starts at `col`
 * on line `lineNo`. Only lines above are consulted.
 */
function containerPath(lines: LineInfo[], lineNo: number, col: number): Segment[] {
  for (let j = lineNo - 1; j >= 0; j--) {
    const info = lines[j];
    if (info.blank || info.contentCol > col) continue; // deeper content of an earlier sibling
    if (info.contentCol === col) {
      // `- a: 1` followed by `  b: 2`: both keys live in the item's map.
      if (info.dashes.length) return seqItemPath(lines, j, info.dashes[info.dashes.length - 1]);
      continue; // a sibling key
    }
    if (info.key === undefined) return []; // a parent we cannot read (flow, scalar): give up safely
    return [...pathOfKeyLine(lines, j), info.key];
  }
  return [];
}

/** Path of the mapping that holds the key on line j. */
function pathOfKeyLine(lines: LineInfo[], j: number): Segment[] {
  const info = lines[j];
  if (info.dashes.length) return seqItemPath(lines, j, info.dashes[info.dashes.length - 1]);
  return containerPath(lines, j, info.contentCol);
}

/** Path of the sequence item whose `-` is at column `dashCol` on line `lineNo`. */
function seqItemPath(lines: LineInfo[], lineNo: number, dashCol: number): Segment[] {
  const info = lines[lineNo];
  const depthInLine = info.dashes.indexOf(dashCol);
  if (depthInLine > 0) {
    // `- - x`: an item of a sequence that is itself an item of the outer one on this line.
    return [...seqItemPath(lines, lineNo, info.dashes[depthInLine - 1]), 0];
  }
  let index = 0;
  for (let j = lineNo - 1; j >= 0; j--) {
    const up = lines[j];
    if (up.blank || up.indent > dashCol) continue; // blank, or content of an earlier item
    if (up.indent === dashCol && up.dashes[0] === dashCol) {
      index++;
      continue;
    }
    // The owner: `key:` at a smaller indent, or at the same indent (YAML allows `key:\n- item`).
    if (up.key !== undefined && up.contentCol <= dashCol) return [...pathOfKeyLine(lines, j), up.key, index];
    return [index];
  }
  return [index]; // a root-level sequence
}

/** Reads the cursor's structural context from the text (0-based line and character). */
export function cursorContext(text: string, line: number, character: number): CursorContext | undefined {
  const rawLines = text.split(/\r?\n/);
  if (line >= rawLines.length) return undefined;
  const current = rawLines[line].slice(0, character);
  if (/#/.test(current.replace(/(["'])(?:(?!\1).)*\1/g, ''))) return undefined; // inside a comment
  const lines = rawLines.map((l, i) =>
    i < line ? lineInfo(l) : { indent: 0, dashes: [], contentCol: 0, blank: true },
  );

  const m = /^(\s*)((?:-\s+)*)(.*)$/.exec(current)!;
  const indent = m[1].length;
  const dashText = m[2];
  const rest = m[3];
  const dashCols: number[] = [];
  {
    let c = indent;
    for (const d of dashText.match(/-\s+/g) ?? []) {
      dashCols.push(c);
      c += d.length;
    }
  }
  const contentCol = indent + dashText.length;
  lines[line] = { indent, dashes: dashCols, contentCol, blank: dashCols.length === 0 };

  const containerFor = (): Segment[] =>
    dashCols.length ? seqItemPath(lines, line, dashCols[dashCols.length - 1]) : containerPath(lines, line, contentCol);

  const kv = /^("[^"]*"|'[^']*'|[^\s:#'"{}[\],][^:#{}[\],]*?)\s*:\s+(.*)$/.exec(rest);
  if (kv) {
    const key = unquote(kv[1].trim());
    const valueText = kv[2];
    if (/^[[{|>]/.test(valueText)) return undefined; // flow collections and block scalars: not handled here
    const prefix = valueText.replace(/^["']/, '');
    return {
      path: [...containerFor(), key],
      kind: 'value',
      key,
      prefix,
      prefixStart: character - prefix.length,
      indent: contentCol,
      inSequenceItem: false,
    };
  }
  if (/^[\w.$-]*$/.test(rest)) {
    // A bare word after `- ` under a key whose items are scalars is a value (e.g. `schemes:\n  - ht`);
    // the caller decides between key and value by looking at the schema of the item.
    return {
      path: containerFor(),
      kind: 'key',
      prefix: rest,
      prefixStart: character - rest.length,
      indent: contentCol,
      inSequenceItem: dashCols.length > 0,
    };
  }
  return undefined;
}
