// Completion from the schemas: keys valid at the cursor (with their docs, missing ones only, in
// schema order with required keys first), values (enums with per-value docs, booleans, defaults),
// and snippets for whole tunnels, endpoints and traffic-policy rules.
import type { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CompletionItemKind,
  InsertTextFormat,
  MarkupKind,
  type CompletionItem,
  type Position,
  type Range,
} from 'vscode-languageserver/node';
import { cursorContext, type CursorContext } from './cursorContext';
import type { Analysis } from './analysis';
import {
  enumValues,
  firstOf,
  isDeprecated,
  propertiesOf,
  schemasAtPath,
  type JsonSchemaObject,
  type Located,
  type SchemaStore,
} from './schemaModel';
import { isPlainObject, valueAtPath, type Segment } from './yamlText';
import { TRAFFIC_POLICY_PHASES } from './classify';

export function rootSchemaFor(a: Pick<Analysis, 'classification'>, store: SchemaStore): JsonSchemaObject | undefined {
  switch (a.classification.kind) {
    case 'ngrok-config':
      return store.get(a.classification.configVersion === '3' ? 'ngrok-v3' : 'ngrok-v2');
    case 'traffic-policy':
      return store.get('traffic-policy');
    case 'edge-json':
      return store.edgeNames().length ? store.get(store.edgeNames()[0]) : undefined;
    default:
      return undefined;
  }
}

function docOf(schemas: Located[]): string | undefined {
  const title = firstOf(schemas, 'title');
  const md = firstOf(schemas, 'markdownDescription') ?? firstOf(schemas, 'description');
  const dep = isDeprecated(schemas);
  return (
    [
      md && title && !md.startsWith(title) ? `**${title}**` : undefined,
      md,
      dep && !md?.includes('Deprecated') ? `**Deprecated:** ${dep}` : undefined,
    ]
      .filter(Boolean)
      .join('\n\n') || undefined
  );
}

function typesOf(schemas: Located[]): Set<string> {
  const out = new Set<string>();
  for (const { schema } of schemas)
    for (const t of schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type])
      out.add(t);
  if (!out.size && schemas.some(({ schema }) => schema.properties || schema.additionalProperties)) out.add('object');
  return out;
}

function yamlScalar(v: unknown): string {
  if (typeof v === 'string')
    return /^[\w./@-][\w ./@:-]*$/.test(v) &&
      !/^(true|false|null|yes|no|on|off|~|\d[\d.]*)$/i.test(v) &&
      !v.endsWith(':')
      ? v
      : JSON.stringify(v);
  return JSON.stringify(v);
}

function escapeSnippet(s: string): string {
  return s.replace(/[$}\\]/g, (c) => `\\${c}`);
}

/** The text inserted after `key:` for a property, as a snippet. */
function valueSnippet(schemas: Located[], indent: string): string {
  const types = typesOf(schemas);
  const enums = enumValues(schemas)
    .map((e) => e.value)
    .filter((v) => typeof v === 'string' || typeof v === 'number');
  const def = firstOf(schemas, 'default');
  if (types.has('object') && !types.has('string')) return `\n${indent}  $0`;
  if (types.has('array') && !types.has('string')) return `\n${indent}  - $0`;
  if (enums.length > 1 && enums.length <= 12)
    return ` \${1|${enums.map((e) => escapeSnippet(yamlScalar(e)).replace(/[,|]/g, (c) => `\\${c}`)).join(',')}|}`;
  if (enums.length === 1) return ` ${escapeSnippet(yamlScalar(enums[0]))}`;
  if (types.has('boolean') && types.size === 1) return ` \${1|${def === false ? 'false,true' : 'true,false'}|}`;
  if (def !== undefined && (typeof def !== 'object' || def === null)) return ` \${1:${escapeSnippet(yamlScalar(def))}}`;
  return ' $0';
}

function replaceRange(ctx: CursorContext, position: Position): Range {
  return { start: { line: position.line, character: ctx.prefixStart }, end: position };
}

// ---- snippets for whole blocks ------------------------------------------------------------------

interface BlockSnippet {
  label: string;
  detail: string;
  body: string[];
}

const TUNNEL_SNIPPETS: BlockSnippet[] = [
  {
    label: 'http tunnel',
    detail: 'a named HTTP tunnel',
    body: ['${1:web}:', '  proto: http', '  addr: ${2:8080}', '  ${0}'],
  },
  {
    label: 'tcp tunnel',
    detail: 'a named TCP tunnel',
    body: ['${1:ssh}:', '  proto: tcp', '  addr: ${2:22}', '  ${0}'],
  },
  {
    label: 'tls tunnel',
    detail: 'a named TLS tunnel',
    body: ['${1:secure}:', '  proto: tls', '  addr: ${2:443}', '  domain: ${3:app.example.com}', '  ${0}'],
  },
];

const ENDPOINT_SNIPPETS: BlockSnippet[] = [
  {
    label: 'http endpoint',
    detail: 'an HTTPS endpoint forwarding to a local port',
    body: ['name: ${1:web}', 'url: ${2:https://app.example.com}', 'upstream:', '  url: ${3:8080}', '${0}'],
  },
  {
    label: 'tcp endpoint',
    detail: 'a TCP endpoint',
    body: ['name: ${1:ssh}', 'url: tcp://', 'upstream:', '  url: ${2:22}', '${0}'],
  },
];

const RULE_SNIPPETS: BlockSnippet[] = [
  {
    label: 'traffic policy rule',
    detail: 'a rule with an expression and an action',
    body: [
      'name: ${1:rule}',
      'expressions:',
      "  - ${2:req.url.path.startsWith('/api')}",
      'actions:',
      '  - type: ${3:deny}',
      '${0}',
    ],
  },
  {
    label: 'oauth',
    detail: 'require an OAuth login (rule)',
    body: [
      'actions:',
      '  - type: oauth',
      '    config:',
      '      provider: ${1|google,github,microsoft,gitlab,linkedin,twitch,facebook,amazon|}',
      '${0}',
    ],
  },
  {
    label: 'basic auth',
    detail: 'require a user name and password (rule)',
    body: [
      'actions:',
      '  - type: basic-auth',
      '    config:',
      '      credentials:',
      '        - ${1:user}:${2:password123}',
      '${0}',
    ],
  },
];

const TUNNEL_BODY_SNIPPETS: BlockSnippet[] = [
  {
    label: 'oauth',
    detail: 'OAuth login in front of this tunnel',
    body: [
      'oauth:',
      '  provider: ${1|google,github,microsoft,gitlab,linkedin,twitch,facebook,amazon|}',
      '  allow_emails:',
      '    - ${2:me@example.com}',
      '${0}',
    ],
  },
  {
    label: 'basic auth',
    detail: 'HTTP basic auth for this tunnel',
    body: ['basic_auth:', '  - ${1:user}:${2:password123}', '${0}'],
  },
  {
    label: 'traffic policy',
    detail: 'an inline traffic policy with one rule',
    body: [
      'traffic_policy:',
      '  on_http_request:',
      '    - actions:',
      '        - type: ${1:add-headers}',
      '          config:',
      '            headers:',
      '              ${2:x-served-by}: ${3:burrow}',
      '${0}',
    ],
  },
];

function blockItems(snippets: BlockSnippet[], indent: number, range: Range, sortPrefix: string): CompletionItem[] {
  const pad = ' '.repeat(indent);
  return snippets.map((s) => ({
    label: s.label,
    kind: CompletionItemKind.Snippet,
    detail: s.detail,
    insertTextFormat: InsertTextFormat.Snippet,
    textEdit: { range, newText: s.body.map((l, i) => (i === 0 ? l : pad + l)).join('\n') },
    sortText: `${sortPrefix}${s.label}`,
    filterText: s.label,
  }));
}

function isPhase(seg: Segment | undefined): boolean {
  return (
    typeof seg === 'string' &&
    ((TRAFFIC_POLICY_PHASES as readonly string[]).includes(seg) || seg === 'inbound' || seg === 'outbound')
  );
}

function isTunnelPath(a: Pick<Analysis, 'classification'>, path: Segment[]): boolean {
  return a.classification.kind === 'ngrok-config' && path.length === 2 && path[0] === 'tunnels';
}

// ---- completion ---------------------------------------------------------------------------------

/** A port listening on this machine, offered for `addr` / `upstream.url` values. */
export interface PortHint {
  port: number;
  /** The process behind it (`node server.js`), when known. */
  process?: string;
}

/** True when the value at `path` is where an ngrok config names its upstream (v2 `addr`, v3 `upstream.url`). */
export function isUpstreamValue(path: Segment[]): boolean {
  const last = path[path.length - 1];
  return last === 'addr' || (last === 'url' && path[path.length - 2] === 'upstream');
}

export function complete(
  doc: TextDocument,
  position: Position,
  a: Pick<Analysis, 'classification' | 'value'>,
  store: SchemaStore,
  ports: PortHint[] = [],
): CompletionItem[] {
  const root = rootSchemaFor(a, store);
  // Block YAML only: JSON files get completion from VS Code's JSON server (see server/README.md).
  if (!root || a.classification.kind === 'edge-json' || doc.languageId === 'json' || doc.languageId === 'jsonc')
    return [];
  const ctx = cursorContext(doc.getText(), position.line, position.character);
  if (!ctx) return [];
  const value = a.value;
  const range = replaceRange(ctx, position);

  if (ctx.kind === 'value') {
    const items = valueItems(schemasAtPath(store, root, value, ctx.path), range);
    if (a.classification.kind === 'ngrok-config' && isUpstreamValue(ctx.path))
      items.unshift(...portItems(ports, range));
    return items;
  }

  const here = schemasAtPath(store, root, value, ctx.path);
  const items: CompletionItem[] = [];
  const last = ctx.path[ctx.path.length - 1];
  const parentIsPhase = typeof last === 'number' && isPhase(ctx.path[ctx.path.length - 2]);
  const newItem = ctx.inSequenceItem;

  // A new list item whose items are scalars (`schemes:` → `- http`): complete values.
  if (ctx.inSequenceItem && here.length && !typesOf(here).has('object')) return valueItems(here, range);

  if (a.classification.kind === 'ngrok-config' && ctx.path.length === 1 && ctx.path[0] === 'tunnels')
    items.push(...blockItems(TUNNEL_SNIPPETS, ctx.indent, range, '0'));
  if (
    a.classification.kind === 'ngrok-config' &&
    ctx.path.length === 2 &&
    ctx.path[0] === 'endpoints' &&
    newItem &&
    isEmptyItem(value, ctx.path)
  ) {
    items.push(...blockItems(ENDPOINT_SNIPPETS, ctx.indent, range, '0'));
  }
  if (parentIsPhase && newItem && isEmptyItem(value, ctx.path))
    items.push(...blockItems(RULE_SNIPPETS, ctx.indent, range, '0'));
  if (isTunnelPath(a, ctx.path)) {
    const tunnel = valueAtPath(value, ctx.path);
    const proto = isPlainObject(tunnel) ? tunnel.proto : undefined;
    if (proto === undefined || proto === 'http')
      items.push(...blockItems(TUNNEL_BODY_SNIPPETS, ctx.indent, range, '2'));
  }

  const current = valueAtPath(value, ctx.path);
  const present = new Set(isPlainObject(current) ? Object.keys(current) : []);
  present.delete(ctx.prefix); // the key being typed may already parse as a key with no value
  const props = propertiesOf(store, here, current);
  props.forEach((p, i) => {
    if (present.has(p.name)) return;
    const dep = isDeprecated(p.schemas);
    if (p.schemas.some(({ schema }) => schema.doNotSuggest)) return;
    items.push({
      label: p.name,
      kind: typesOf(p.schemas).has('object') ? CompletionItemKind.Module : CompletionItemKind.Property,
      detail: dep ? 'deprecated' : p.required ? 'required' : undefined,
      documentation: docOf(p.schemas) ? { kind: MarkupKind.Markdown, value: docOf(p.schemas)! } : undefined,
      insertTextFormat: InsertTextFormat.Snippet,
      textEdit: { range, newText: `${p.name}:${valueSnippet(p.schemas, ' '.repeat(ctx.indent))}` },
      sortText: `${dep ? '9' : p.required ? '1' : '3'}${String(i).padStart(3, '0')}`,
      filterText: p.name,
      ...(dep ? { tags: [1] } : {}),
    });
  });
  return items;
}

/** The machine's listening ports as values (`3000`), each with the process behind it. */
function portItems(ports: PortHint[], range: Range): CompletionItem[] {
  return ports.map((p, i) => ({
    label: String(p.port),
    kind: CompletionItemKind.Value,
    detail: p.process ? `listening: ${p.process}` : 'listening on this machine',
    textEdit: { range, newText: String(p.port) },
    sortText: `0${String(i).padStart(3, '0')}`,
    filterText: String(p.port),
  }));
}

/** True when the sequence item at `path` is empty or only holds the key being typed. */
function isEmptyItem(value: unknown, path: Segment[]): boolean {
  const item = valueAtPath(value, path);
  return (
    item === undefined ||
    item === null ||
    typeof item === 'string' ||
    (isPlainObject(item) && Object.keys(item).length <= 1)
  );
}

function valueItems(schemas: Located[], range: Range): CompletionItem[] {
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  const push = (v: unknown, doc?: string, sort = '1') => {
    const text = yamlScalar(v);
    if (seen.has(text)) return;
    seen.add(text);
    items.push({
      label: typeof v === 'string' ? v : JSON.stringify(v),
      kind: CompletionItemKind.Value,
      documentation: doc ? { kind: MarkupKind.Markdown, value: doc } : undefined,
      textEdit: { range, newText: text },
      sortText: `${sort}${String(items.length).padStart(3, '0')}`,
      filterText: typeof v === 'string' ? v : JSON.stringify(v),
    });
  };
  for (const e of enumValues(schemas)) push(e.value, e.description);
  const types = typesOf(schemas);
  if (types.has('boolean')) {
    push(true);
    push(false);
  }
  const def = firstOf(schemas, 'default');
  if (def !== undefined && (typeof def !== 'object' || def === null)) push(def, 'default', '0');
  for (const { schema } of schemas)
    for (const ex of schema.examples ?? []) if (typeof ex !== 'object') push(ex, 'example', '2');
  return items;
}
