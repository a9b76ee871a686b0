// Quick fixes and refactorings. Every edit is a minimal text edit on the original text (a key
// renamed, one pair rewritten in flow style, one line inserted or moved), so comments, quoting and
// key order elsewhere are untouched. The whole-file v2 → v3 migration is the exception: it
// rewrites the document through the YAML AST (comments kept, see migrate.ts).
import type { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CodeActionKind,
  type CodeAction,
  type Diagnostic,
  type Range,
  type TextEdit,
} from 'vscode-languageserver/node';
import { isMap } from 'yaml';
import type { Pair, ParsedNode } from 'yaml';
import type { Analysis } from './analysis';
import type { FixData } from './problems';
import type { SchemaStore } from './schemaModel';
import { migrateToV3, V2_AGENT_KEYS } from './migrate';
import { scalarKey } from '../../tunnel/src/config/yaml-nodes';
import { nodeAtOffset, valueAtPath, type Segment } from './yamlText';

type PPair = Pair<ParsedNode, ParsedNode | null>;

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEnd(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  return nl < 0 ? text.length : nl + 1;
}

/** The pair whose key starts at `offset` (diagnostics on keys are reported at the key). */
function pairAtKey(a: Analysis, offset: number): { pair: PPair; path: Segment[] } | undefined {
  const hit = nodeAtOffset(a.parsed.doc, offset);
  if (!hit?.pair || hit.on !== 'key') return undefined;
  return { pair: hit.pair, path: hit.path };
}

function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (typeof v === 'string')
    return /^[\w./@-]+$/.test(v) && !/^(true|false|null|yes|no|on|off|\d+)$/i.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** Replaces the whole `key: value` of a pair (key start → value end) with `text`. */
function replacePair(doc: TextDocument, pair: PPair, text: string): TextEdit {
  const start = pair.key.range![0];
  const end = pair.value?.range?.[1] ?? pair.key.range![1] + 1;
  return { range: { start: doc.positionAt(start), end: doc.positionAt(end) }, newText: text };
}

/** The containing tunnel's proto, for `inbound` → `on_http_request`/`on_tcp_connect`. */
function protoAround(a: Analysis, path: Segment[]): unknown {
  const i = path.indexOf('tunnels');
  return i >= 0 ? valueAtPath(a.value, [...path.slice(0, i + 2), 'proto']) : undefined;
}

/** Fix for a deprecated key: title and edit, or undefined when there is no mechanical replacement. */
function deprecatedFix(
  doc: TextDocument,
  a: Analysis,
  key: string,
  pair: PPair,
  path: Segment[],
): { title: string; edit: TextEdit } | undefined {
  const value = valueAtPath(a.value, path);
  const renameKey = (to: string) => ({
    title: `Replace \`${key}\` with \`${to}\``,
    edit: {
      range: { start: doc.positionAt(pair.key.range![0]), end: doc.positionAt(pair.key.range![1]) },
      newText: to,
    },
  });
  switch (key) {
    case 'hostname':
      return renameKey('domain');
    case 'subdomain':
      return typeof value === 'string'
        ? {
            title: `Replace \`subdomain: ${value}\` with \`domain: ${value}.ngrok.app\``,
            edit: replacePair(doc, pair, `domain: ${value}.ngrok.app`),
          }
        : undefined;
    case 'bind_tls': {
      const schemes = value === 'both' ? ['http', 'https'] : value === true || value === 'true' ? ['https'] : ['http'];
      return {
        title: `Replace \`bind_tls: ${String(value)}\` with \`schemes: ${flow(schemes)}\``,
        edit: replacePair(doc, pair, `schemes: ${flow(schemes)}`),
      };
    }
    case 'auth':
      return typeof value === 'string'
        ? {
            title: 'Replace `auth` with `basic_auth`',
            edit: replacePair(doc, pair, `basic_auth: [${JSON.stringify(value)}]`),
          }
        : undefined;
    case 'policy':
      return renameKey('traffic_policy');
    case 'inbound':
      return renameKey(['tcp', 'tls'].includes(String(protoAround(a, path))) ? 'on_tcp_connect' : 'on_http_request');
    case 'outbound':
      return renameKey('on_http_response');
    case 'content':
      return renameKey('body');
    case 'region': {
      const start = lineStart(a.parsed.text, pair.key.range![0]);
      const end = lineEnd(a.parsed.text, pair.value?.range?.[1] ?? pair.key.range![1]);
      return {
        title: 'Remove deprecated `region`',
        edit: { range: { start: doc.positionAt(start), end: doc.positionAt(end) }, newText: '' },
      };
    }
    default:
      return undefined;
  }
}

/** Moves a top-level agent key of a v3 file under `agent:` (renamed to its v3 name), line-wise. */
function moveUnderAgent(doc: TextDocument, a: Analysis, key: string, pair: PPair): TextEdit[] | undefined {
  const text = a.parsed.text;
  const root = a.parsed.doc.contents;
  if (!isMap(root)) return undefined;
  const from = lineStart(text, pair.key.range![0]);
  const to = lineEnd(text, pair.value?.range?.[1] ?? pair.key.range![1]);
  const renamed = V2_AGENT_KEYS[key] ?? key;
  const agent = (root.items as PPair[]).find((p) => scalarKey(p) === 'agent');
  if (agent && agent.value !== null && !isMap(agent.value)) return undefined; // `agent: 5`: the user's call

  let indent = 2;
  let at: number;
  if (agent && isMap(agent.value) && agent.value.items.length) {
    const firstKey = (agent.value.items[0] as PPair).key.range![0];
    indent = firstKey - lineStart(text, firstKey);
    at = lineEnd(text, agent.value.range![1] - 1);
  } else if (agent) {
    at = lineEnd(text, agent.key.range![1]);
  } else {
    const version = (root.items as PPair[]).find((p) => scalarKey(p) === 'version');
    at = version ? lineEnd(text, version.value?.range?.[1] ?? version.key.range![1]) : from;
  }
  const moved =
    text
      .slice(from, to)
      .replace(/\n?$/, '\n')
      .split('\n')
      .slice(0, -1)
      .map((line, i) => (line.trim() ? ' '.repeat(indent) + (i === 0 ? line.replace(key, renamed) : line) : line))
      .join('\n') + '\n';
  const block = agent ? moved : `agent:\n${moved}`;
  if (at >= from && at <= to)
    return [{ range: { start: doc.positionAt(from), end: doc.positionAt(to) }, newText: block }];
  return [
    { range: { start: doc.positionAt(from), end: doc.positionAt(to) }, newText: '' },
    { range: { start: doc.positionAt(at), end: doc.positionAt(at) }, newText: block },
  ];
}

function fixesFor(doc: TextDocument, a: Analysis, diagnostic: Diagnostic): CodeAction[] {
  const data = diagnostic.data as FixData | undefined;
  if (!data) return [];
  const start = doc.offsetAt(diagnostic.range.start);
  const quick = (title: string, edits: TextEdit[], preferred = true): CodeAction => ({
    title,
    kind: CodeActionKind.QuickFix,
    diagnostics: [diagnostic],
    isPreferred: preferred,
    edit: { changes: { [doc.uri]: edits } },
  });
  switch (data.kind) {
    case 'rename-key': {
      const hit = pairAtKey(a, start);
      const range = hit
        ? { start: doc.positionAt(hit.pair.key.range![0]), end: doc.positionAt(hit.pair.key.range![1]) }
        : diagnostic.range;
      return [quick(`Rename to \`${data.to}\``, [{ range, newText: data.to }])];
    }
    case 'replace-value':
      return [quick(`Change to \`${data.to}\``, [{ range: diagnostic.range, newText: data.to }])];
    case 'add-version': {
      const text = a.parsed.text;
      const root = a.parsed.doc.contents;
      const firstKey = isMap(root) && root.items.length ? (root.items[0] as PPair).key.range![0] : 0;
      const at = lineStart(text, firstKey);
      return [
        quick(`Add \`version: "${data.version}"\``, [
          { range: { start: doc.positionAt(at), end: doc.positionAt(at) }, newText: `version: "${data.version}"\n` },
        ]),
      ];
    }
    case 'move-under-agent': {
      const hit = pairAtKey(a, start);
      const edits = hit && moveUnderAgent(doc, a, data.key, hit.pair);
      return edits ? [quick(`Move \`${data.key}\` under \`agent:\``, edits)] : [];
    }
    case 'replace-deprecated': {
      const hit = pairAtKey(a, start);
      const fix = hit && deprecatedFix(doc, a, data.key, hit.pair, hit.path);
      return fix ? [quick(fix.title, [fix.edit])] : [];
    }
  }
}

/** Keys with a mechanical replacement, offered on the key under the cursor even without a diagnostic. */
const CURSOR_DEPRECATED = new Set(['hostname', 'subdomain', 'bind_tls', 'auth', 'policy', 'inbound', 'outbound']);

export function codeActions(
  doc: TextDocument,
  range: Range,
  diagnostics: Diagnostic[],
  a: Analysis,
  _schemas: SchemaStore,
): CodeAction[] {
  const actions: CodeAction[] = [];
  for (const d of diagnostics) {
    if (d.source !== 'burrow') continue;
    actions.push(...fixesFor(doc, a, d));
  }
  // Deprecated keys the validator reports otherwise (e.g. `auth` is "not supported yet" in Burrow,
  // which hides its deprecation) still get their replacement as a refactoring at the cursor.
  const hit = pairAtKey(a, doc.offsetAt(range.start));
  const key = hit && scalarKey(hit.pair);
  if (
    hit &&
    key &&
    CURSOR_DEPRECATED.has(key) &&
    (hit.path[0] === 'tunnels' || key === 'inbound' || key === 'outbound')
  ) {
    const fix = deprecatedFix(doc, a, key, hit.pair, hit.path);
    if (fix && !actions.some((x) => x.title === fix.title)) {
      actions.push({
        title: fix.title,
        kind: CodeActionKind.RefactorRewrite,
        edit: { changes: { [doc.uri]: [fix.edit] } },
      });
    }
  }
  // The whole-file migration, offered anywhere in a clean-parsing v2 file; the edit is computed
  // on `codeAction/resolve` (a full rewrite is too much work for every cursor move).
  const root = a.value;
  const isObject = typeof root === 'object' && root !== null && !Array.isArray(root);
  const parsesClean = !a.problems.some((p) => p.source === 'syntax');
  if (
    a.classification.kind === 'ngrok-config' &&
    a.classification.configVersion === '2' &&
    parsesClean &&
    isObject &&
    !('agent' in root) &&
    !('endpoints' in root)
  ) {
    actions.push({
      title:
        'tunnels' in root
          ? 'Migrate this file to ngrok config v3 (tunnels → endpoints)'
          : 'Migrate this file to ngrok config v3',
      kind: CodeActionKind.RefactorRewrite,
      data: { migrateToV3: doc.uri, version: doc.version } satisfies MigrateData,
    });
  }
  return actions;
}

export interface MigrateData {
  migrateToV3: string;
  version: number;
}

/** Fills in the edit of the migration action (`codeAction/resolve`). */
export function resolveCodeAction(doc: TextDocument, action: CodeAction, a: Analysis): CodeAction {
  const data = action.data as MigrateData | undefined;
  if (!data?.migrateToV3 || data.version !== doc.version) return action;
  const result = migrateToV3(a.parsed);
  if (result.text === undefined)
    return { ...action, disabled: { reason: result.reason ?? 'cannot migrate this file' } };
  const end = doc.positionAt(a.text.length);
  return {
    ...action,
    edit: { changes: { [doc.uri]: [{ range: { start: { line: 0, character: 0 }, end }, newText: result.text }] } },
  };
}
