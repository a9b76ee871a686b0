// Validates one ngrok.yml (v2/v3) or Traffic Policy document: YAML with positions, the JSON
// Schemas through ajv, then the checks a schema cannot express. Every problem carries a code and a
// 1-based range. Pure: no fs, no process, so the language server calls it on unsaved text.
import type { ErrorObject } from 'ajv';
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import { MAX_NESTING, collectionKey, cyclicAlias, tooDeep } from './yaml-guard';
import { endpointModuleProblems, policyModuleProblems, tunnelModuleProblems } from './module-checks';
import { endpointScheme } from './normalize';
import { type ConfigProblem, type ProblemCode, type ProblemFix, type Severity, sortProblems } from './problems';
import { findDeprecated, getValidator, pickOneOfBranch, rootSchema, type JsonSchema, type SchemaKind } from './schemas';
import { UNSUPPORTED_KEYS, unsupportedMessage } from './unsupported';
import { checkPort, checkUpstream, unreachableActions } from './value-checks';
import {
  type PathSegment,
  firstContentRange,
  parseInstancePath,
  rangeAtPath,
  rangeOfOffsets,
  findNodeAtPath,
  lineCounterOf,
  rangeOfNode,
  type SourceRange,
} from './yaml-nodes';

export type DocumentKind = 'agent' | 'traffic-policy';

export interface ValidateOptions {
  /** What the text is; by default guessed (a document with phase keys and no `version` is a policy). */
  kind?: DocumentKind;
}

export interface ValidationResult {
  problems: ConfigProblem[];
  /** Which schema the document was checked against (undefined when the YAML did not parse). */
  kind?: SchemaKind;
  /** The parsed data with empty (null) values removed; undefined when the YAML did not parse. */
  data?: Record<string, unknown>;
}

const POLICY_PHASES = [
  'on_http_request',
  'on_http_response',
  'on_tcp_connect',
  'on_event_stream_message',
  'inbound',
  'outbound',
];

/** Keys moved or renamed between formats: a hint added to the "not found" message. */
const KEY_HINTS: Record<string, string> = {
  update: 'use `update_check`',
  http_proxy: 'use `proxy_url`',
  socks5_proxy: 'use `proxy_url`',
  auth_token: 'use `authtoken`',
  inspect_addr: 'use `web_addr`',
  trust_host_root_certs: 'use `root_cas: host`',
  client_cas: 'use `mutual_tls_cas`',
  bind_tls: 'use `schemes`',
};
const V3_RENAMES: Record<string, string> = { server_addr: 'connect_url', root_cas: 'connect_cas' };
const V2_RENAMES: Record<string, string> = { connect_url: 'server_addr', connect_cas: 'root_cas' };

/** Agent settings Burrow accepts (valid ngrok keys) but does not act on. */
const IGNORED_AGENT_KEYS: Record<string, string> = {
  proxy_url: 'Burrow connects to the edge directly',
  connect_interface: 'Burrow uses the default route',
  dns_resolver_ips: 'Burrow uses the system resolvers',
  crl_url: 'Burrow does not check certificate revocation',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return 'a string';
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  null: 'empty',
};

function dataAt(data: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (!isObject(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[seg as string];
  }
  return v;
}

/** `tunnels.web.addr`, `endpoints[0].upstream.url` — how messages name a place. */
export function describePath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(String(seg))) out += `[${seg}]`;
    else out += out ? `.${seg}` : String(seg);
  }
  return out || 'document';
}

function lastKey(path: readonly PathSegment[]): string {
  const segs = path.filter((s) => !/^\d+$/.test(String(s)));
  return String(segs[segs.length - 1] ?? 'document');
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** The closest allowed name, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = norm(c) === norm(word) ? 0 : editDistance(word.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best : undefined;
}

class ProblemSink {
  readonly problems: ConfigProblem[] = [];
  /** Paths of the errors reported through `at`, to skip deeper checks of a part already refused. */
  private readonly errorPaths: string[] = [];
  constructor(
    private readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  add(
    range: SourceRange,
    code: ProblemCode,
    message: string,
    severity: Severity = 'error',
    extra: Pick<ConfigProblem, 'fix' | 'ngrokMessage'> = {},
  ): void {
    const dup = this.problems.some((p) => p.line === range.line && p.col === range.col && p.message === message);
    if (!dup) this.problems.push({ file: this.file, ...range, message, code, severity, ...extra });
  }

  at(
    path: readonly PathSegment[],
    target: 'key' | 'value',
    code: ProblemCode,
    message: string,
    severity: Severity = 'error',
    extra: Pick<ConfigProblem, 'fix' | 'ngrokMessage'> = {},
  ): void {
    if (severity === 'error') this.errorPaths.push(path.map(String).join('\0'));
    this.add(this.rangeFor(path, target), code, message, severity, extra);
  }

  /** How many errors have been reported through `at` so far (for `hasErrorUnder`). */
  get errorCount(): number {
    return this.errorPaths.length;
  }

  /** True when one of the first `upTo` errors was reported at `path` or inside it. */
  hasErrorUnder(path: readonly PathSegment[], upTo = Infinity): boolean {
    const prefix = path.map(String).join('\0');
    const reported = this.errorPaths.slice(0, upTo);
    return path.length === 0 ? reported.length > 0 : reported.some((p) => p === prefix || p.startsWith(prefix + '\0'));
  }

  /** Range for a path; a mapping without a key (a list item) is reported at its first key. */
  rangeFor(path: readonly PathSegment[], target: 'key' | 'value'): SourceRange {
    const found = findNodeAtPath(this.doc, path);
    if (target === 'key' && found.depth === path.length && !found.key && found.value && 'items' in found.value) {
      const first = (found.value as { items: { key?: unknown }[] }).items[0];
      const k =
        first && isObject(first) && first.key && typeof first.key === 'object'
          ? rangeOfNode(first.key as never, this.lines)
          : undefined;
      if (k) return k;
    }
    return path.length === 0
      ? firstContentRange(this.doc, this.lines)
      : rangeAtPath(this.doc, this.lines, path, target);
  }
}

/** Removes `key: null` entries (Go's decoder treats them as unset) and warns about each. */
function dropEmptyValues(value: unknown, path: PathSegment[], sink: ProblemSink): unknown {
  if (Array.isArray(value)) return value.map((v, i) => dropEmptyValues(v, [...path, i], sink));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) {
      sink.at(
        [...path, k],
        'key',
        'BURROW_CONFIG_EMPTY_VALUE',
        `\`${describePath([...path, k])}\` is empty; treated as not set`,
        'warning',
      );
      continue;
    }
    out[k] = dropEmptyValues(v, [...path, k], sink);
  }
  return out;
}

function guessKind(data: Record<string, unknown>): DocumentKind {
  return data.version === undefined && POLICY_PHASES.some((p) => p in data) ? 'traffic-policy' : 'agent';
}

/**
 * Validates one document. `fileName` is only used in the problems it returns. Never throws, and
 * stays bounded whatever the text holds (yaml-guard.ts): what cannot be read is a problem at its place.
 */
export function validateDocument(text: string, fileName: string, options: ValidateOptions = {}): ValidationResult {
  const lines = lineCounterOf(text);
  const deep = tooDeep(text);
  if (deep !== undefined) {
    return {
      problems: [
        {
          file: fileName,
          ...rangeOfOffsets(deep, deep + 1, lines),
          code: 'BURROW_CONFIG_YAML_SYNTAX',
          severity: 'error',
          message: `collections are nested more than ${MAX_NESTING} levels deep here; Burrow does not read further`,
        },
      ],
    };
  }
  try {
    return validateParsed(text, fileName, options, lines);
  } catch (err) {
    // A last resort for input the guards did not foresee (the parser's own recursion): a problem, not a crash.
    if (!(err instanceof RangeError)) throw err;
    return {
      problems: [
        {
          file: fileName,
          line: 1,
          col: 1,
          endLine: 1,
          endCol: 1,
          code: 'BURROW_CONFIG_YAML_SYNTAX',
          severity: 'error',
          message: `the file is too deeply nested to check (${err.message})`,
        },
      ],
    };
  }
}

function validateParsed(
  text: string,
  fileName: string,
  options: ValidateOptions,
  lines: LineCounter,
): ValidationResult {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const sink = new ProblemSink(fileName, doc, lines);

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const code: ProblemCode =
        e.code === 'DUPLICATE_KEY'
          ? 'BURROW_CONFIG_DUPLICATE_KEY'
          : e.code === 'TAB_AS_INDENT'
            ? 'BURROW_CONFIG_TAB_INDENT'
            : 'BURROW_CONFIG_YAML_SYNTAX';
      const message =
        code === 'BURROW_CONFIG_TAB_INDENT'
          ? 'tabs are not allowed for indentation; use spaces'
          : e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      let [start, end] = e.pos;
      if (e.code === 'MISSING_CHAR' && /quote/.test(e.message)) {
        // The parser reports an unclosed quote at the end of the file; point at the opening quote.
        const open = Math.max(text.lastIndexOf('"', start - 1), text.lastIndexOf("'", start - 1));
        if (open >= 0) [start, end] = [open, open + 1];
      }
      sink.add(rangeOfOffsets(start, end, lines), code, message);
    }
    return { problems: sortProblems(sink.problems) };
  }

  const complexKey = collectionKey(doc);
  if (complexKey?.range) {
    sink.add(
      rangeOfOffsets(complexKey.range[0], complexKey.range[1], lines),
      'BURROW_CONFIG_YAML_SYNTAX',
      'a mapping key must be a plain value, not a list or mapping (an unquoted `{{ template }}`? quote it)',
    );
    return { problems: sink.problems };
  }
  const cycle = cyclicAlias(doc);
  if (cycle?.range) {
    sink.add(
      rangeOfOffsets(cycle.range[0], cycle.range[1], lines),
      'BURROW_CONFIG_YAML_SYNTAX',
      `the alias \`${text.slice(cycle.range[0], cycle.range[1])}\` refers to a collection it is inside of (a cycle)`,
    );
    return { problems: sink.problems };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias without its anchor (`authtoken: *****`) or an alias bomb.
    let where = firstContentRange(doc, lines);
    visit(doc, {
      Alias(_, node) {
        if (node.range && !node.resolve(doc)) {
          where = rangeOfOffsets(node.range[0], node.range[1], lines);
          return visit.BREAK;
        }
      },
    });
    sink.add(
      where,
      'BURROW_CONFIG_YAML_SYNTAX',
      `${(err as Error).message} (quote the value if \`*\` or \`&\` is meant literally)`,
    );
    return { problems: sink.problems };
  }
  if (raw === null || raw === undefined) {
    if (options.kind === 'traffic-policy') return { problems: [], kind: 'traffic-policy', data: {} };
    sink.add(
      { line: 1, col: 1, endLine: 1, endCol: 1 },
      'BURROW_CONFIG_VERSION_REQUIRED',
      'the file is empty; `version` is required (add `version: "3"`)',
    );
    return { problems: sink.problems, kind: 'v3', data: {} };
  }
  if (!isObject(raw)) {
    sink.add(
      firstContentRange(doc, lines),
      'BURROW_CONFIG_NOT_A_MAPPING',
      `the document must be a mapping of keys to values, not ${typeName(raw)}`,
    );
    return { problems: sink.problems };
  }
  const data = dropEmptyValues(raw, [], sink) as Record<string, unknown>;
  const docKind = options.kind ?? guessKind(data);

  let kind: SchemaKind;
  let checked = data;
  if (docKind === 'traffic-policy') {
    kind = 'traffic-policy';
  } else {
    const version = data.version;
    if (version === undefined) {
      kind = 'agent' in data || 'endpoints' in data ? 'v3' : 'v2';
      const suggest = kind === 'v3' ? '"3"' : '"2"';
      sink.at(
        [],
        'key',
        'BURROW_CONFIG_VERSION_REQUIRED',
        `\`version\` property is required; add \`version: ${suggest}\` at the top (ngrok agent 3 refuses files without it)`,
        'error',
        { fix: { kind: 'add-version', version: kind === 'v3' ? '3' : '2' } },
      );
      checked = { ...data, version: kind === 'v3' ? '3' : '2' };
    } else if (version === '2' || version === 2 || version === '3' || version === 3) {
      kind = String(version) === '3' ? 'v3' : 'v2';
    } else {
      sink.at(
        ['version'],
        'value',
        'BURROW_CONFIG_BAD_VERSION',
        `\`version\` must be "2" or "3", got ${JSON.stringify(version)}`,
      );
      return { problems: sortProblems(sink.problems), data };
    }
  }

  const validate = getValidator(kind);
  if (!validate(checked)) mapAjvErrors(validate.errors ?? [], checked, kind, sink);
  const schemaErrors = sink.errorCount;
  const schemaRefused = (path: PathSegment[]) => sink.hasErrorUnder(path, schemaErrors);
  semanticChecks(checked, kind, sink);
  moduleChecks(checked, kind, sink, schemaRefused);
  return { problems: sortProblems(sink.problems), kind, data };
}

function sameError(a: ErrorObject, b: ErrorObject): boolean {
  return (
    a.instancePath === b.instancePath &&
    a.keyword === b.keyword &&
    JSON.stringify(a.params) === JSON.stringify(b.params)
  );
}

function under(instancePath: string, prefix: string): boolean {
  return instancePath === prefix || instancePath.startsWith(prefix + '/');
}

/** Turns ajv's errors into problems: oneOf/anyOf noise collapsed, each at its key or value. */
function mapAjvErrors(all: ErrorObject[], data: unknown, kind: SchemaKind, sink: ProblemSink): void {
  let errors = all.filter((e, i) => e.keyword !== 'if' && all.findIndex((o) => sameError(o, e)) === i);

  for (const oneOf of all.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')) {
    const path = parseInstancePath(oneOf.instancePath);
    const value = dataAt(data, path);
    const branches = Array.isArray(oneOf.schema) ? (oneOf.schema as unknown[]) : [];
    const chosen = pickOneOfBranch(branches, value);
    const inside = (e: ErrorObject) =>
      e !== oneOf && under(e.instancePath, oneOf.instancePath) && e.schemaPath.startsWith(oneOf.schemaPath + '/');
    const keep = (e: ErrorObject) => chosen >= 0 && e.schemaPath.startsWith(`${oneOf.schemaPath}/${chosen}/`);
    errors = errors.filter((e) => e !== oneOf && (!inside(e) || keep(e)));
    if (chosen >= 0) continue;
    const isTunnel = branches.some((b) => isObject(b) && isObject(b.properties) && isObject(b.properties.proto));
    const parent = (oneOf.parentSchema ?? {}) as JsonSchema;
    if (isTunnel && isObject(value)) {
      // Drop everything else reported inside this tunnel: without a type, its keys mean nothing.
      errors = errors.filter((e) => !under(e.instancePath, oneOf.instancePath));
      if (value.proto !== undefined) {
        const hint = typeof value.proto === 'string' ? didYouMean(value.proto, ['http', 'tcp', 'tls']) : undefined;
        const https =
          value.proto === 'https'
            ? '; use `proto: http` (https is the default scheme)'
            : hint
              ? `; did you mean \`${hint}\`?`
              : '';
        const to = value.proto === 'https' ? 'http' : hint;
        sink.at(
          [...path, 'proto'],
          'value',
          'BURROW_CONFIG_TUNNEL_TYPE',
          `unsupported tunnel proto ${JSON.stringify(value.proto)}: must be http, tcp or tls${https}`,
          'error',
          to ? { fix: { kind: 'replace-value', to } } : {},
        );
      } else {
        sink.at(
          path,
          'key',
          'BURROW_CONFIG_TUNNEL_TYPE',
          `tunnel \`${lastKey(path)}\` needs \`proto\` (http, tcp or tls) or \`labels\``,
        );
      }
    } else {
      const message = typeof parent.errorMessage === 'string' ? parent.errorMessage : 'does not match any allowed form';
      errors = errors.filter(
        (e) => !under(e.instancePath, oneOf.instancePath) || e.instancePath !== oneOf.instancePath,
      );
      sink.at(
        path,
        'value',
        value === undefined
          ? 'BURROW_CONFIG_MISSING_KEY'
          : typeof value === typeof true || typeof value === 'string' || typeof value === 'number'
            ? 'BURROW_CONFIG_BAD_VALUE'
            : 'BURROW_CONFIG_WRONG_TYPE',
        `\`${describePath(path)}\` ${message}, got ${typeName(value)}${typeof value === 'string' || typeof value === 'number' ? ` ${JSON.stringify(value)}` : ''}`,
      );
    }
  }

  // A misspelled required key is one mistake: report the unknown key (with its suggestion), not
  // also the missing one.
  const typos = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const guess = didYouMean(key, allowedKeys((e.parentSchema ?? {}) as JsonSchema));
    if (guess) typos.add(`${e.instancePath}\0${guess}`);
  }
  errors = errors.filter(
    (e) =>
      e.keyword !== 'required' ||
      !typos.has(`${e.instancePath}\0${(e.params as { missingProperty: string }).missingProperty}`),
  );
  for (const e of errors) mapOneError(e, data, kind, sink);
}

function allowedKeys(schema: JsonSchema): string[] {
  return isObject(schema.properties) ? Object.keys(schema.properties) : [];
}

function mapOneError(e: ErrorObject, data: unknown, kind: SchemaKind, sink: ProblemSink): void {
  const path = parseInstancePath(e.instancePath);
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const value = dataAt(data, path);
  const name = `\`${describePath(path)}\``;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const { message, fix, ngrokMessage } = unknownKey(key, path, parent, kind);
      sink.at([...path, key], 'key', 'BURROW_CONFIG_UNKNOWN_KEY', message, 'error', { fix, ngrokMessage });
      return;
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      const where = path.length ? ` in ${name}` : '';
      sink.at(path, 'key', 'BURROW_CONFIG_MISSING_KEY', `missing required key \`${missing}\`${where}`);
      return;
    }
    case 'type': {
      const want = String((e.params as { type: string | string[] }).type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ');
      sink.at(path, 'value', 'BURROW_CONFIG_WRONG_TYPE', `${name} must be ${want}, not ${typeName(value)}`);
      return;
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).filter(
        (v, i, a) => typeof v === 'string' || !a.includes(String(v)),
      );
      const words = allowed.filter((v): v is string => typeof v === 'string');
      const guess = typeof value === 'string' ? didYouMean(value, words) : undefined;
      const hint = guess ? `; did you mean \`${guess}\`?` : '';
      const extra = guess ? { fix: { kind: 'replace-value', to: guess } as const } : {};
      if (lastKey(path) === 'type' && path.includes('actions')) {
        sink.at(
          path,
          'value',
          'BURROW_CONFIG_UNKNOWN_ACTION',
          `unknown action type ${JSON.stringify(value)}${hint}`,
          'error',
          extra,
        );
      } else if (allowed.length > 10) {
        sink.at(
          path,
          'value',
          'BURROW_CONFIG_BAD_VALUE',
          `${name}: ${JSON.stringify(value)} is not a known value${hint}`,
          'error',
          extra,
        );
      } else {
        sink.at(
          path,
          'value',
          'BURROW_CONFIG_BAD_VALUE',
          `${name} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}${hint}`,
          'error',
          extra,
        );
      }
      return;
    }
    case 'const': {
      sink.at(
        path,
        'value',
        'BURROW_CONFIG_BAD_VALUE',
        `${name} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${JSON.stringify(value)}`,
      );
      return;
    }
    case 'pattern': {
      const custom =
        typeof parent.patternErrorMessage === 'string'
          ? parent.patternErrorMessage
          : `must match ${String((e.params as { pattern: string }).pattern)}`;
      // Credentials (`user:password`) are never echoed whole: a config check's output gets shared.
      const secret =
        path.some((p) => p === 'basic_auth' || p === 'auth' || p === 'credentials') && typeof value === 'string';
      const shown = secret
        ? JSON.stringify(`${value.slice(0, Math.max(0, value.indexOf(':')))}:********`)
        : JSON.stringify(value);
      sink.at(path, 'value', 'BURROW_CONFIG_BAD_VALUE', `${name} ${custom}, got ${shown}`);
      return;
    }
    case 'not': {
      const custom = typeof parent.errorMessage === 'string' ? parent.errorMessage : 'is not allowed here';
      const configAt = isObject(value) && 'config' in value ? [...path, 'config'] : path;
      sink.at(configAt, 'key', 'BURROW_CONFIG_BAD_VALUE', custom);
      return;
    }
    default:
      sink.at(path, 'value', 'BURROW_CONFIG_BAD_VALUE', `${name} ${e.message ?? 'is invalid'}`);
  }
}

/** How a message names the mapping a key is in, in the user's words. */
function placeOf(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'at the top level';
  if (path.length === 2 && path[0] === 'endpoints') return 'in this endpoint';
  if (path.length === 2 && path[0] === 'tunnels') return 'in this tunnel';
  return `in \`${describePath(path)}\``;
}

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1).replace(/[.?]?$/, (m) => m || '.');

/**
 * An unknown key, in the user's words: "Unknown key `upstrem` in this endpoint. Did you mean
 * `upstream`?" — with the fix as data, and ngrok's own wording (Go type names) for the
 * ngrok-compatible local API.
 */
function unknownKey(
  key: string,
  path: readonly PathSegment[],
  parent: JsonSchema,
  kind: SchemaKind,
): { message: string; fix?: ProblemFix; ngrokMessage?: string } {
  const title = typeof parent.title === 'string' ? parent.title : undefined;
  const ngrokMessage = title ? `field ${key} not found in type ${title}` : undefined;
  const base = `Unknown key \`${key}\` ${placeOf(path)}`;
  const props = isObject(parent.properties) ? parent.properties : {};
  const proto = isObject(props.proto) ? props.proto.const : undefined;
  let hint: string | undefined;
  let fix: ProblemFix | undefined;
  const v3AgentKeys = allowedKeys((rootSchema('v3').properties as Record<string, JsonSchema>).agent);
  if (path.length === 0 && kind === 'v3' && v3AgentKeys.includes(key)) {
    hint = `in version 3 files \`${key}\` belongs under \`agent:\``;
    fix = { kind: 'move-under-agent', key };
  } else if (path.length === 0 && kind === 'v3' && V3_RENAMES[key]) {
    hint = `in version 3 files it is \`agent.${V3_RENAMES[key]}\``;
    fix = { kind: 'move-under-agent', key };
  } else if (kind === 'v3' && path.length === 1 && path[0] === 'agent' && V3_RENAMES[key]) {
    hint = `in version 3 files it is \`${V3_RENAMES[key]}\``;
    fix = { kind: 'rename-key', to: V3_RENAMES[key] };
  } else if (path.length === 0 && kind === 'v2' && (key === 'agent' || key === 'endpoints'))
    hint = `\`${key}\` is a version 3 key; set \`version: "3"\``;
  else if (path.length === 0 && kind === 'v2' && V2_RENAMES[key]) {
    hint = `in version 2 files it is \`${V2_RENAMES[key]}\``;
    fix = { kind: 'rename-key', to: V2_RENAMES[key] };
  } else if (key === 'region' && kind === 'v3') hint = 'regions are not set in version 3 files; remove it';
  else if (KEY_HINTS[key] && !(key in props)) {
    hint = KEY_HINTS[key];
    const to = /^use `([a-z_]+)`$/.exec(hint)?.[1];
    if (to && to in props) fix = { kind: 'rename-key', to };
  }
  if (!hint && (proto !== undefined || title === 'LabeledTunnel')) {
    const noun = proto !== undefined ? `${String(proto)} tunnels` : 'labeled tunnels';
    const tunnelKeys = ['http', 'tcp', 'tls'].flatMap((p) => allowedKeysOfTunnel(p));
    if (tunnelKeys.includes(key) || key === 'proto' || key === 'labels')
      return { message: `${noun} do not take \`${key}\``, ngrokMessage };
  }
  if (!hint) {
    const guess = didYouMean(key, allowedKeys(parent));
    if (guess) {
      hint = `did you mean \`${guess}\`?`;
      fix = { kind: 'rename-key', to: guess };
    }
  }
  return { message: hint ? `${base}. ${sentence(hint)}` : `${base}.`, fix, ngrokMessage };
}

function allowedKeysOfTunnel(proto: string): string[] {
  const tunnel = (rootSchema('v2').definitions as Record<string, JsonSchema>).tunnel;
  const branch = (tunnel.oneOf as JsonSchema[]).find(
    (b) => (b.properties as Record<string, JsonSchema>).proto?.const === proto,
  );
  return branch ? allowedKeys(branch) : [];
}

// ---- checks the schema cannot express ----

function tunnelEntries(data: Record<string, unknown>): [string, Record<string, unknown>][] {
  return isObject(data.tunnels)
    ? (Object.entries(data.tunnels).filter(([, t]) => isObject(t)) as [string, Record<string, unknown>][])
    : [];
}

function semanticChecks(data: Record<string, unknown>, kind: SchemaKind, sink: ProblemSink): void {
  const refused = new Set<string>();
  const refuse = (where: 'tunnel' | 'endpoint', base: PathSegment[], obj: Record<string, unknown>) => {
    for (const entry of UNSUPPORTED_KEYS) {
      if (entry.where !== where) continue;
      const v = dataAt(obj, entry.path);
      if (v === undefined || (entry.when && !entry.when(v))) continue;
      const path = [...base, ...entry.path];
      refused.add(describePath(path));
      sink.at(path, 'key', 'BURROW_CONFIG_UNSUPPORTED', unsupportedMessage(entry));
    }
  };

  if (kind !== 'traffic-policy') {
    for (const [name, t] of tunnelEntries(data)) {
      const base = ['tunnels', name];
      const names = ['domain', 'subdomain', 'hostname'].filter((k) => t[k] !== undefined);
      if (names.length > 1)
        sink.at(
          [...base, names[1]],
          'key',
          'BURROW_CONFIG_CONFLICT',
          `set only one of \`${names.join('`, `')}\` on tunnel \`${name}\``,
        );
      if (t.policy !== undefined && t.traffic_policy !== undefined)
        sink.at(
          [...base, 'policy'],
          'key',
          'BURROW_CONFIG_CONFLICT',
          '`policy` and `traffic_policy` cannot both be set; keep `traffic_policy`',
        );
      if (t.bind_tls !== undefined && t.schemes !== undefined)
        sink.at(
          [...base, 'bind_tls'],
          'key',
          'BURROW_CONFIG_CONFLICT',
          '`bind_tls` is ignored because `schemes` is set',
          'warning',
        );
      refuse('tunnel', base, t);
      if (typeof t.addr === 'string' || typeof t.addr === 'number') {
        const bad = checkUpstream(String(t.addr), typeof t.proto === 'string' ? t.proto : undefined);
        if (bad) sink.at([...base, 'addr'], 'value', 'BURROW_CONFIG_BAD_VALUE', bad);
      }
      for (const key of ['traffic_policy', 'policy']) policyLints(t[key], [...base, key], sink);
    }
    const agent = kind === 'v3' ? (isObject(data.agent) ? data.agent : {}) : data;
    const agentBase = kind === 'v3' ? ['agent'] : [];
    for (const [key, why] of Object.entries(IGNORED_AGENT_KEYS)) {
      if (agent[key] !== undefined)
        sink.at(
          [...agentBase, key],
          'key',
          'BURROW_CONFIG_IGNORED',
          `\`${key}\` is accepted but not used: ${why}`,
          'warning',
        );
    }
    for (const key of ['root_cas', 'connect_cas']) {
      if (agent[key] !== undefined && agent[key] !== 'trusted')
        sink.at(
          [...agentBase, key],
          'key',
          'BURROW_CONFIG_IGNORED',
          `\`${key}\` is accepted but not used: Burrow verifies the edge with the system trust store`,
          'warning',
        );
    }
  }

  if (kind === 'v3' && Array.isArray(data.endpoints)) {
    const seen = new Map<string, number>(tunnelEntries(data).map(([n]) => [n, -1]));
    data.endpoints.forEach((ep, i) => {
      if (!isObject(ep)) return;
      const base = ['endpoints', i];
      if (typeof ep.name === 'string') {
        if (seen.has(ep.name))
          sink.at(
            [...base, 'name'],
            'value',
            'BURROW_CONFIG_DUPLICATE_NAME',
            `endpoint name ${JSON.stringify(ep.name)} is already used`,
          );
        seen.set(ep.name, i);
      }
      checkEndpointUrls(ep, base, sink);
      refuse('endpoint', base, ep);
      policyLints(ep.traffic_policy, [...base, 'traffic_policy'], sink);
    });
  }

  if (kind === 'traffic-policy') policyLints(data, [], sink);

  findDeprecated(kind, data, (path, message) => {
    if (refused.has(describePath(path))) return;
    sink.at(path, 'key', 'BURROW_CONFIG_DEPRECATED', `\`${lastKey(path)}\` is deprecated: ${message}`, 'warning', {
      fix: { kind: 'replace-deprecated', key: lastKey(path) },
    });
  });
}

/** Policy rules no request reaches: a warning at each dead action (ngrok accepts them). */
function policyLints(policy: unknown, base: PathSegment[], sink: ProblemSink): void {
  if (!isObject(policy)) return;
  for (const [phase, rules] of Object.entries(policy)) {
    for (const [i, j, by] of unreachableActions(rules))
      sink.at(
        [...base, phase, i, 'actions', j],
        'value',
        'BURROW_CONFIG_UNREACHABLE',
        `never runs: an earlier \`${by}\` in \`${phase}\` always ends the request`,
        'warning',
      );
  }
}

/** Each module's own option check (the edge's bind-time code), on every part the schema accepted. */
function moduleChecks(
  data: Record<string, unknown>,
  kind: SchemaKind,
  sink: ProblemSink,
  schemaRefused: (path: PathSegment[]) => boolean,
): void {
  if (kind === 'traffic-policy') {
    if (schemaRefused([])) return;
    for (const p of policyModuleProblems(data))
      sink.at(p.path, 'value', 'BURROW_CONFIG_MODULE', p.message, p.warning ? 'warning' : 'error');
    return;
  }
  for (const [name, t] of tunnelEntries(data)) {
    const base = ['tunnels', name];
    if (schemaRefused(base)) continue;
    for (const p of tunnelModuleProblems(name, t))
      sink.at(
        [...base, ...p.path],
        p.atKey ? 'key' : 'value',
        'BURROW_CONFIG_MODULE',
        `tunnel "${name}": ${p.message}`,
        p.warning ? 'warning' : 'error',
      );
  }
  if (kind !== 'v3' || !Array.isArray(data.endpoints)) return;
  data.endpoints.forEach((ep, i) => {
    const base = ['endpoints', i];
    if (!isObject(ep) || schemaRefused(base)) return;
    for (const p of endpointModuleProblems(ep))
      sink.at(
        [...base, ...p.path],
        p.atKey ? 'key' : 'value',
        'BURROW_CONFIG_MODULE',
        `endpoint "${String(ep.name)}": ${p.message}`,
        p.warning ? 'warning' : 'error',
      );
  });
}

function checkEndpointUrls(ep: Record<string, unknown>, base: PathSegment[], sink: ProblemSink): void {
  const url = typeof ep.url === 'string' ? ep.url : undefined;
  const scheme = endpointScheme(url);
  const upstream = isObject(ep.upstream) ? ep.upstream.url : undefined;
  const up = typeof upstream === 'string' ? /^([a-z0-9+.-]+):\/\//i.exec(upstream)?.[1]?.toLowerCase() : undefined;
  const upPath = [...base, 'upstream', 'url'];
  const mismatch =
    ((scheme === 'tcp' || scheme === 'tls') && (up === 'http' || up === 'https')) ||
    ((scheme === 'http' || scheme === 'https') && (up === 'tcp' || up === 'tls'));
  if (!mismatch && (typeof upstream === 'string' || typeof upstream === 'number')) {
    const bad = checkUpstream(String(upstream), scheme === 'http' || scheme === 'https' ? undefined : scheme);
    if (bad) sink.at(upPath, 'value', 'BURROW_CONFIG_BAD_VALUE', bad);
  }
  if (url) {
    const port = /:(\d+)$/.exec(url)?.[1];
    const portProblem = port ? checkPort(port) : undefined;
    if (portProblem) sink.at([...base, 'url'], 'value', 'BURROW_CONFIG_BAD_VALUE', portProblem);
    else if (port && (scheme === 'http' || scheme === 'https') && port !== (scheme === 'http' ? '80' : '443')) {
      sink.at(
        [...base, 'url'],
        'value',
        'BURROW_CONFIG_BAD_VALUE',
        `${scheme} endpoints take port ${scheme === 'http' ? 80 : 443} only, got ${port}`,
      );
    }
    if ((scheme === 'tcp' || scheme === 'tls') && (up === 'http' || up === 'https')) {
      sink.at(upPath, 'value', 'BURROW_CONFIG_BAD_VALUE', `unsupported scheme for ${scheme} tunnel: ${up}`);
    }
  }
  if ((scheme === 'http' || scheme === 'https') && (up === 'tcp' || up === 'tls')) {
    const where = url ? [...base, 'url'] : upPath;
    sink.at(
      where,
      'value',
      'BURROW_CONFIG_BAD_VALUE',
      `endpoint \`${String(ep.name)}\` has a ${up}:// upstream but ${url ? `a ${scheme}` : 'no'} url; set \`url: ${up}://\``,
    );
  }
}
