// CEL for traffic-policy expressions and `${…}` interpolation, on @marcbachmann/cel-js (a
// maintained, dependency-free CEL implementation). Expressions compile once at bind time; a
// syntax error there is ERR_NGROK_2200. The ngrok macros that read the request (getReqHeader,
// getQueryParam, inCidrRange, …) are registered here; they read the activation of the
// evaluation in progress (evaluation is synchronous, so one slot is enough).
import { Environment } from '@marcbachmann/cel-js';
import { ipInCidr } from '../net/cidr';
import { cookiePairs, setCookiePair } from '../net/cookies';
import { ModuleConfigError } from './config-error';

type Vars = Record<string, unknown>;
let current: Vars = {};

const headersOf = (side: 'req' | 'res'): Record<string, string[]> =>
  (current[side] as { headers?: Record<string, string[]> } | undefined)?.headers ?? {};
const queryOf = (): Record<string, string[]> =>
  (current.req as { url?: { query_params?: Record<string, string[]> } } | undefined)?.url?.query_params ?? {};

/** name → value of the request's cookies or the response's Set-Cookies (the last one of a name wins). */
function cookies(side: 'req' | 'res'): Map<string, string> {
  const pairs =
    side === 'req'
      ? cookiePairs(headersOf('req').cookie)
      : (headersOf('res')['set-cookie'] ?? []).map(setCookiePair).filter((p) => p !== undefined);
  return new Map(pairs.map((p) => [p.name, p.value]));
}

/**
 * ngrok's `req.url` is both the whole URL (`req.url.contains('/admin')`, `req.url == '…'`,
 * `${req.url}`) and the map of its parts (`req.url.path`, `req.url.query_params`): a CEL type of
 * its own whose fields are the parts and whose string functions read `raw`.
 */
export class CelUrl {
  declare readonly raw: string;
  constructor(parts: Record<string, unknown> & { raw: string }) {
    Object.assign(this, parts);
  }
  toString(): string {
    return this.raw;
  }
}

const env = new Environment({ unlistedVariablesAreDyn: true })
  .registerType('NgrokURL', CelUrl)
  .registerFunction('NgrokURL.contains(string): bool', (u: CelUrl, s: string) => u.raw.includes(s))
  .registerFunction('NgrokURL.startsWith(string): bool', (u: CelUrl, s: string) => u.raw.startsWith(s))
  .registerFunction('NgrokURL.endsWith(string): bool', (u: CelUrl, s: string) => u.raw.endsWith(s))
  .registerFunction('NgrokURL.matches(string): bool', (u: CelUrl, re: string) => new RegExp(re, 'u').test(u.raw))
  .registerFunction('NgrokURL.lower(): string', (u: CelUrl) => u.raw.toLowerCase())
  .registerFunction('size(NgrokURL): int', (u: CelUrl) => BigInt(u.raw.length))
  .registerFunction('string(NgrokURL): string', (u: CelUrl) => u.raw)
  .registerOperator('NgrokURL == string', (u: CelUrl, s: string) => u.raw === s)
  .registerFunction('getReqHeader(string): list<string>', (n: string) => headersOf('req')[n.toLowerCase()] ?? [])
  .registerFunction('hasReqHeader(string): bool', (n: string) => Object.hasOwn(headersOf('req'), n.toLowerCase()))
  .registerFunction('getResHeader(string): list<string>', (n: string) => headersOf('res')[n.toLowerCase()] ?? [])
  .registerFunction('hasResHeader(string): bool', (n: string) => Object.hasOwn(headersOf('res'), n.toLowerCase()))
  .registerFunction('getQueryParam(string): list<string>', (n: string) => queryOf()[n] ?? [])
  .registerFunction('hasQueryParam(string): bool', (n: string) => Object.hasOwn(queryOf(), n))
  .registerFunction('getReqCookie(string): string', (n: string) => cookies('req').get(n) ?? '')
  .registerFunction('hasReqCookie(string): bool', (n: string) => cookies('req').has(n))
  .registerFunction('getResCookie(string): string', (n: string) => cookies('res').get(n) ?? '')
  .registerFunction('hasResCookie(string): bool', (n: string) => cookies('res').has(n))
  .registerFunction('inCidrRange(string, string): bool', (ip: string, cidr: string) => ipInCidr(ip, cidr))
  .registerFunction('inCidrRanges(string, list<string>): bool', (ip: string, cidrs: string[]) =>
    cidrs.some((c) => ipInCidr(ip, c)),
  )
  .registerFunction('string.lower(): string', (s: string) => s.toLowerCase())
  .registerFunction('string.upper(): string', (s: string) => s.toUpperCase())
  .registerFunction('string.replace(string, string): string', (s: string, a: string, b: string) => s.split(a).join(b))
  .registerFunction('isPrivateIp(string): bool', (ip: string) =>
    ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', 'fc00::/7', '::1/128'].some((c) =>
      ipInCidr(ip, c),
    ),
  );

export type CelProgram = (vars: Vars) => unknown;

// ngrok's variable set (docs: traffic-policy/variables): a tree of known names; `true` leaves take
// any further field (maps like headers and vars, or objects this list does not spell out).
type VarTree = { [name: string]: VarTree | true };
const ANY = true;
const IP_INFO = ANY; // categories, is_tor_node, as.*, geo.* …
const NGROK_VARIABLES: VarTree = {
  conn: {
    bytes_in: ANY,
    bytes_out: ANY,
    client_ip: IP_INFO,
    client_port: ANY,
    server_ip: IP_INFO,
    server_port: ANY,
    server_region: ANY,
    ts: { start: ANY },
    geo: { city: ANY, country: ANY, country_code: ANY, latitude: ANY, longitude: ANY, radius: ANY, subdivision: ANY },
    tls: {
      cipher_suite: ANY,
      ja4_fingerprint: ANY,
      negotiated_alpn: ANY,
      session_resumed: ANY,
      sni: ANY,
      version: ANY,
      client: ANY,
      server: ANY,
    },
    k8s: ANY,
  },
  req: {
    method: ANY,
    host: ANY,
    headers: ANY,
    trailers: ANY,
    cookies: ANY,
    content_type: ANY,
    content_encoding: ANY,
    content_length: ANY,
    location: ANY,
    user_agent: ANY,
    ts: { header_received: ANY, body_received: ANY },
    url: {
      scheme: ANY,
      authority: ANY,
      host: ANY,
      port: ANY,
      path: ANY,
      raw_path: ANY,
      query: ANY,
      query_params: ANY,
      raw: ANY,
      uri: ANY,
      user_password: ANY,
    },
  },
  res: {
    status_code: ANY,
    headers: ANY,
    trailers: ANY,
    cookies: ANY,
    content_type: ANY,
    content_encoding: ANY,
    content_length: ANY,
    location: ANY,
  },
  endpoint: { id: ANY, url: ANY, addr: ANY, host: ANY, port: ANY, protocol: ANY },
  time: { now: ANY },
  vars: ANY,
  actions: ANY,
  secrets: ANY,
  // Placeholders Burrow substitutes for legacy `${.a.b}` header templates (modules/headers.ts).
  burrow_legacy: ANY,
};
/** Receivers of namespaced functions (`json.decode(…)`), not variables. */
const FUNCTION_NAMESPACES = new Set([
  'json',
  'queryString',
  'url',
  'rand',
  'basic_auth',
  'bytes',
  'lists',
  'cel',
  'math',
  'strings',
  'base64',
]);
/** Macros whose first argument names a variable bound in the others (`list.exists(x, x > 1)`). */
const BINDING_MACROS = new Set([
  'all',
  'exists',
  'exists_one',
  'map',
  'filter',
  'sortBy',
  'bind',
  'transformList',
  'transformMap',
]);

interface AstNode {
  op: string;
  args: unknown;
}
const isNode = (v: unknown): v is AstNode => typeof v === 'object' && v !== null && 'op' in v;

/** The first variable the expression reads that ngrok does not have, as `a.b.c`. */
function unknownVariable(node: unknown, bound: ReadonlySet<string>): string | undefined {
  if (Array.isArray(node)) {
    for (const n of node) {
      const bad = unknownVariable(n, bound);
      if (bad) return bad;
    }
    return undefined;
  }
  if (!isNode(node)) return undefined;
  if (node.op === '.' || node.op === '.?' || node.op === 'id') {
    const path: string[] = [];
    let n: unknown = node;
    while (isNode(n) && (n.op === '.' || n.op === '.?')) {
      const [target, field] = n.args as [unknown, string];
      path.unshift(field);
      n = target;
    }
    if (isNode(n) && n.op === 'id') {
      const root = n.args as string;
      if (bound.has(root)) return undefined;
      let tree: VarTree | true | undefined = NGROK_VARIABLES;
      for (const name of [root, ...path]) {
        if (tree === true) return undefined;
        tree = Object.hasOwn(tree, name) ? tree[name] : undefined;
        if (tree === undefined) return [root, ...path.slice(0, path.indexOf(name) + 1)].join('.');
      }
      return undefined;
    }
    return unknownVariable(n, bound);
  }
  if (node.op === 'rcall') {
    const [method, receiver, args] = node.args as [string, unknown, unknown[]];
    const isNamespace = isNode(receiver) && receiver.op === 'id' && FUNCTION_NAMESPACES.has(receiver.args as string);
    const bad = isNamespace ? undefined : unknownVariable(receiver, bound);
    if (bad) return bad;
    const first = args[0];
    if (BINDING_MACROS.has(method) && args.length >= 2 && isNode(first) && first.op === 'id') {
      return unknownVariable(args.slice(1), new Set([...bound, first.args as string]));
    }
    return unknownVariable(args, bound);
  }
  if (node.op === 'call') return unknownVariable((node.args as [string, unknown[]])[1], bound);
  return unknownVariable(node.args, bound);
}

/** The known variable closest to an unknown one (same last name), for the "did you mean". */
function knownVariableLike(name: string): string | undefined {
  const [root, ...rest] = name.split('.');
  const leaf = rest[rest.length - 1];
  const walk = (tree: VarTree, prefix: string): string | undefined => {
    for (const [k, v] of Object.entries(tree)) {
      if (k === leaf) return `${prefix}.${k}`;
      if (v !== true) {
        const found = walk(v, `${prefix}.${k}`);
        if (found) return found;
      }
    }
    return undefined;
  };
  const tree = NGROK_VARIABLES[root];
  return leaf && tree && tree !== true ? walk(tree, root) : undefined;
}

/** Compiles one expression; `where` names it in the error (e.g. "on_http_request[0].expressions[1]"). */
export function compileCel(expression: string, where: string): CelProgram {
  let program: ReturnType<Environment['parse']>;
  try {
    program = env.parse(expression);
  } catch (err) {
    throw new ModuleConfigError(
      'ERR_NGROK_2200',
      `${where}: invalid CEL expression "${expression}": ${firstLine((err as Error).message)}`,
    );
  }
  // As ngrok: an expression naming a variable that does not exist is refused, not false at run time.
  const unknown = unknownVariable(program.ast, new Set());
  if (unknown) {
    const like = knownVariableLike(unknown);
    throw new ModuleConfigError(
      'ERR_NGROK_2200',
      `${where}: unknown variable "${unknown}" in CEL expression "${expression}"${like ? `; did you mean "${like}"?` : ''}`,
    );
  }
  return (vars) => {
    current = vars;
    try {
      return program(vars);
    } finally {
      current = {};
    }
  };
}

/** Runs a boolean expression; an evaluation error (missing key, wrong type) counts as false. */
export function celTrue(program: CelProgram, vars: Vars): boolean {
  try {
    return program(vars) === true;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}

/** A string whose `${expr}` parts are CEL, compiled once. */
export type Interpolation = (vars: Vars) => string;

/**
 * Compiles `text` with `${…}` CEL parts (no parts: a constant). Errors: ERR_NGROK_2224. With
 * `onUnknown` (the `log` action, which only records), a part naming a variable that does not
 * exist is reported there (ERR_NGROK_2238, "fails to resolve") and renders as "" instead.
 */
export function compileInterpolation(
  text: string,
  where: string,
  onUnknown?: (err: ModuleConfigError) => void,
): Interpolation {
  const parts = splitTemplate(text);
  if (parts.every((p) => typeof p === 'string')) return () => text;
  const compiled = parts.map((p) => {
    if (typeof p === 'string') return p;
    try {
      return compileCel(p.expr, where);
    } catch (err) {
      const message = (err as Error).message;
      if (onUnknown && message.includes('unknown variable')) {
        onUnknown(new ModuleConfigError('ERR_NGROK_2238', `${message}: it is recorded as ""`, [], true));
        return '';
      }
      throw new ModuleConfigError('ERR_NGROK_2224', message);
    }
  });
  return (vars) => compiled.map((p) => (typeof p === 'string' ? p : celString(p, vars))).join('');
}

function celString(program: CelProgram, vars: Vars): string {
  try {
    const v = program(vars);
    if (v === null || v === undefined) return '';
    if (Array.isArray(v)) return v.join(',');
    if (v instanceof CelUrl) return v.raw;
    return typeof v === 'object' && !(v instanceof Date)
      ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x))
      : String(v);
  } catch {
    return '';
  }
}

/** Splits "a ${x} b" into ['a ', {expr:'x'}, ' b'], honouring nested braces and quotes. */
export function splitTemplate(text: string): (string | { expr: string })[] {
  const out: (string | { expr: string })[] = [];
  let i = 0;
  let literal = '';
  while (i < text.length) {
    if (text[i] === '$' && text[i + 1] === '{') {
      let depth = 1;
      let j = i + 2;
      let quote = '';
      for (; j < text.length && depth > 0; j++) {
        const c = text[j];
        if (quote) {
          if (c === '\\') j++;
          else if (c === quote) quote = '';
          continue;
        }
        if (c === '"' || c === "'") quote = c;
        else if (c === '{') depth++;
        else if (c === '}') depth--;
      }
      if (depth !== 0) throw new ModuleConfigError('ERR_NGROK_2224', `unclosed "\${" in "${text}"`);
      if (literal) out.push(literal);
      literal = '';
      out.push({ expr: text.slice(i + 2, j - 1).trim() });
      i = j;
    } else {
      literal += text[i++];
    }
  }
  if (literal) out.push(literal);
  return out;
}
