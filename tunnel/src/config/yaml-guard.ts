// What keeps the YAML path bounded whatever a file holds: nesting too deep for the parser's
// recursion is refused before parsing (a linear scan), an alias that refers to a collection it is
// inside of is found before anything walks the value (it would be a cycle), and a collection used
// as a mapping key is found before `toJS` (which stringifies such keys, exponentially when nested).
import { isAlias, isCollection, isScalar, visit, type Document, type Node } from 'yaml';

/** Deeper than any real config; the parser recurses per level, so this keeps its stack bounded. */
export const MAX_NESTING = 100;

/**
 * Offset of the first `[`, `{`, `- ` or `? ` that opens a collection more than MAX_NESTING levels
 * deep, or undefined. Flow brackets are counted outside quotes and comments; `- ` and `? `
 * indicators (block nesting on one line, `- - - …`, or explicit keys) per line on top. An approximation that errs towards parsing: real files are
 * nowhere near the limit.
 */
export function tooDeep(text: string): number | undefined {
  let depth = 0;
  let quote = '';
  let lineDepth = 0;
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      else if (c === '\n' && depth === 0) quote = ''; // a stray apostrophe in a plain scalar
      continue;
    }
    if (c === '\n') {
      lineDepth = 0;
      lineStart = true;
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      const end = text.indexOf('\n', i);
      if (end < 0) break;
      i = end - 1;
      continue;
    }
    if (c === '[' || c === '{') {
      if (++depth > MAX_NESTING) return i;
    } else if (c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
    } else if ((c === '"' || c === "'") && (depth > 0 || lineStart || /[\s:,[{-]/.test(text[i - 1] ?? ' '))) {
      quote = c;
    } else if (
      (c === '-' || c === '?') &&
      /\s/.test(text[i + 1] ?? '\n') &&
      (lineStart || /[\s[{,]/.test(text[i - 1] ?? ' '))
    ) {
      if (++lineDepth + depth > MAX_NESTING) return i;
      continue;
    }
    if (c !== ' ' && c !== '\t') lineStart = false;
  }
  return undefined;
}

/** The first alias that refers to a collection containing it (`tunnels: &t` / `  t: *t`). */
export function cyclicAlias(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Alias(_key, node, path) {
      const target = node.resolve(doc);
      if (target && isCollection(target) && path.includes(target as never)) {
        found = node;
        return visit.BREAK;
      }
    },
  });
  return found;
}

/** The first mapping key that is a collection (or an alias of one), which no ngrok file has. */
export function collectionKey(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Pair(_key, pair) {
      const k = pair.key as Node | null;
      if (k && !isScalar(k) && (isCollection(k) || (isAlias(k) && isCollection(k.resolve(doc))))) {
        found = k;
        return visit.BREAK;
      }
    },
  });
  return found;
}
