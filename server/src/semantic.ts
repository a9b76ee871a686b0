// Checks the JSON Schema cannot express (or expresses badly), on the YAML AST so every problem has
// an exact range: duplicate names, `addr`/`url` forms and port ranges, basic-auth credentials, CIDRs,
// mutually exclusive keys, deprecated keys, keys from the other file version, and traffic-policy
// rules (action allowed in the phase, unreachable actions, unknown action types).
import net from 'node:net';
import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, Pair, ParsedNode, YAMLMap } from 'yaml';
import type { Problem, Severity } from './problems';
import { TRAFFIC_POLICY_PHASES } from './classify';
import { closest } from './suggest';
import { scalarKey, type Segment } from './yamlText';

type PNode = ParsedNode | null;
type PPair = Pair<ParsedNode, PNode>;

interface Ctx {
  problems: Problem[];
  version: '2' | '3';
}

function span(node: PNode | undefined): [number, number] {
  const r = node?.range;
  return r ? [r[0], r[1]] : [0, 0];
}

function add(ctx: Ctx, node: PNode | undefined, severity: Severity, code: string, message: string, extra: Partial<Problem> = {}): void {
  const [start, end] = span(node);
  ctx.problems.push({ start, end, severity, code, message, source: 'semantic', ...extra });
}

function pairs(node: PNode | undefined): PPair[] {
  return isMap(node) ? ((node as YAMLMap<ParsedNode, PNode>).items as PPair[]) : [];
}

function pair(node: PNode | undefined, key: string): PPair | undefined {
  return pairs(node).find((p) => scalarKey(p) === key);
}

function str(node: PNode | undefined): string | undefined {
  if (!isScalar(node) || node.value === null || node.value === undefined) return undefined;
  return typeof node.value === 'object' ? undefined : String(node.value);
}

/** `${VAR}`, `$VAR`, `{{ tmpl }}` and `<placeholder>` values are filled in later; never judge them. */
export function isTemplated(s: string): boolean {
  return /\$\{[^}]*\}|^\$[A-Za-z_]|\{\{.*\}\}|<[^>]+>/.test(s);
}

// ---- addresses -----------------------------------------------------------------------------

function checkPort(port: string): string | undefined {
  if (!/^\d+$/.test(port)) return `port \`${port}\` is not a number`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `port ${n} is out of range (1–65535)`;
  return undefined;
}

/** v2 `addr` / v3 `upstream.url`: a port, `host:port`, or a URL. Returns the problem text, if any. */
export function checkUpstream(raw: string, proto: string | undefined): string | undefined {
  const s = raw.trim();
  if (s === '' ) return 'the upstream address is empty';
  if (isTemplated(s)) return undefined;
  if (/^\d+$/.test(s)) return checkPort(s);
  const url = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(s);
  if (url) {
    const scheme = url[1].toLowerCase();
    const allowed = proto === 'tcp' ? ['tcp'] : proto === 'tls' ? ['tls', 'tcp'] : ['http', 'https', 'file', 'tcp', 'tls'];
    if (!allowed.includes(scheme)) return `\`${scheme}://\` upstreams are not supported${proto ? ` for ${proto} tunnels` : ''} (use ${allowed.map((a) => `\`${a}://\``).join(', ')})`;
    if (scheme === 'file') return url[2].startsWith('/') || /^[A-Za-z]:/.test(url[2]) ? undefined : '`file://` needs an absolute path (`file:///srv/www`)';
    try {
      const u = new URL(s);
      if (u.port) return checkPort(u.port);
      if ((scheme === 'tcp' || scheme === 'tls') && !u.port) return `a \`${scheme}://\` upstream needs a port`;
    } catch {
      return `\`${s}\` is not a valid URL`;
    }
    return undefined;
  }
  const hostPort = /^(\[[0-9a-f:.]+\]|[^\s:/]+):([^:/]*)$/i.exec(s);
  if (hostPort) return checkPort(hostPort[2]);
  if (/^[a-z0-9.-]+$/i.test(s)) return proto === 'http' || proto === undefined ? undefined : `\`${s}\` has no port`;
  return `\`${s}\` is not a port, \`host:port\` or URL`;
}

/** v3 endpoint `url`: a bare domain, an origin, or a scheme only. */
export function checkEndpointUrl(raw: string): string | undefined {
  const s = raw.trim();
  if (s === '' || isTemplated(s)) return undefined;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(s);
  if (!m) return /^[a-z0-9*][a-z0-9.*-]*$/i.test(s) ? undefined : `\`${s}\` is not a domain or URL`;
  const scheme = m[1].toLowerCase();
  if (!['http', 'https', 'tcp', 'tls'].includes(scheme)) return `endpoint URLs use \`http://\`, \`https://\`, \`tcp://\` or \`tls://\`, not \`${scheme}://\``;
  if (m[2] === '') return undefined; // scheme only: a random address
  try {
    const u = new URL(s.replace(/^\w+:/, 'http:'));
    if (u.pathname !== '/' || s.endsWith('/')) return 'an endpoint URL has no path (not even a trailing `/`)';
    if (u.search || u.hash) return 'an endpoint URL has no query or fragment';
    const port = /:(\d+)$/.exec(m[2])?.[1];
    if (port) {
      const bad = checkPort(port);
      if (bad) return bad;
    }
  } catch {
    return `\`${s}\` is not a valid URL`;
  }
  return undefined;
}

// ---- credentials and CIDRs -------------------------------------------------------------------

/** `user:password` with ngrok's limits (ERR_NGROK_359/360/15008). */
export function checkCredential(raw: string): string | undefined {
  if (isTemplated(raw)) return undefined;
  const i = raw.indexOf(':');
  if (i < 0) return 'basic-auth credentials are `user:password`; this has no `:`';
  const user = raw.slice(0, i);
  const pass = raw.slice(i + 1);
  if (!user) return 'the basic-auth user name is empty';
  if (user.length > 128) return 'the basic-auth user name is longer than 128 characters';
  if (pass.length < 8 || pass.length > 128) return `basic-auth passwords must be 8 to 128 characters long (this one has ${pass.length})`;
  return undefined;
}

export function checkCidr(raw: string): string | undefined {
  if (isTemplated(raw)) return undefined;
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(raw.trim());
  if (!m) return `\`${raw}\` is not a CIDR (\`10.0.0.0/8\`, \`2001:db8::/32\`)`;
  const family = net.isIP(m[1]);
  if (!family) return `\`${m[1]}\` is not an IP address`;
  if (m[2] !== undefined && Number(m[2]) > (family === 4 ? 32 : 128)) return `prefix /${m[2]} is too long for IPv${family}`;
  return undefined;
}

// ---- traffic policy --------------------------------------------------------------------------

type Phase = (typeof TRAFFIC_POLICY_PHASES)[number];
const REQ: Phase = 'on_http_request';
const RES: Phase = 'on_http_response';
const TCP: Phase = 'on_tcp_connect';
const SSE: Phase = 'on_event_stream_message';

/** Phases each action may run in, and whether it ends processing (ngrok-formats.md §4.3; unions where sources disagree). */
export const ACTIONS: Record<string, { phases: Phase[]; terminating?: boolean }> = {
  'add-headers': { phases: [REQ, RES] },
  'remove-headers': { phases: [REQ, RES] },
  'basic-auth': { phases: [REQ] },
  'circuit-breaker': { phases: [REQ] },
  'close-connection': { phases: [TCP, REQ], terminating: true },
  'compress-response': { phases: [REQ, RES] },
  'custom-response': { phases: [REQ, RES], terminating: true },
  deny: { phases: [TCP, REQ], terminating: true },
  'forward-internal': { phases: [TCP, REQ], terminating: true },
  'http-request': { phases: [REQ, RES] },
  'jwt-validation': { phases: [REQ] },
  log: { phases: [TCP, REQ, RES] },
  oauth: { phases: [REQ] },
  'openid-connect': { phases: [REQ] },
  oidc: { phases: [REQ] },
  'owasp-crs-request': { phases: [REQ] },
  'owasp-crs-response': { phases: [RES] },
  'rate-limit': { phases: [REQ] },
  redirect: { phases: [REQ] },
  'request-body-find-replace': { phases: [REQ] },
  'response-body-find-replace': { phases: [RES] },
  'restrict-ips': { phases: [TCP, REQ, RES] },
  'set-vars': { phases: [TCP, REQ, RES] },
  'sse-find-replace': { phases: [SSE] },
  'terminate-tls': { phases: [TCP] },
  'url-rewrite': { phases: [REQ] },
  'verify-webhook': { phases: [REQ] },
  'ai-gateway': { phases: [REQ] },
  saml: { phases: [REQ] },
};
const AUTH_ACTIONS = new Set(['basic-auth', 'oauth', 'openid-connect', 'oidc', 'jwt-validation', 'saml']);
const LEGACY_PHASES: Record<string, string> = { inbound: 'on_http_request (or on_tcp_connect for tcp/tls)', outbound: 'on_http_response' };

function checkPolicy(ctx: Ctx, policy: PNode, proto: string | undefined): void {
  if (!isMap(policy)) return;
  const authActions: PNode[] = [];
  for (const phasePair of pairs(policy)) {
    const phase = scalarKey(phasePair);
    if (!phase) continue;
    if (phase in LEGACY_PHASES) {
      add(ctx, phasePair.key, 'warning', 'deprecated', `\`${phase}\` is the pre-3.17 name of \`${LEGACY_PHASES[phase]}\``, { tags: ['deprecated'] });
    }
    const effectivePhase = (phase === 'inbound' ? (proto === 'tcp' || proto === 'tls' ? TCP : REQ) : phase === 'outbound' ? RES : phase) as Phase;
    if ((proto === 'tcp' || proto === 'tls') && effectivePhase !== TCP && (TRAFFIC_POLICY_PHASES as readonly string[]).includes(effectivePhase)) {
      add(ctx, phasePair.key, 'error', 'policy-phase', `${proto} endpoints only run \`on_tcp_connect\`; \`${phase}\` never runs (ERR_NGROK_2230)`);
    }
    if (!isSeq(phasePair.value)) continue;
    let terminatedBy: string | undefined;
    for (const rule of phasePair.value.items as PNode[]) {
      const actions = pair(rule, 'actions');
      if (isMap(rule) && !actions) {
        add(ctx, rule, 'error', 'policy-rule-actions', 'a rule needs at least one action (ERR_NGROK_2206)');
        continue;
      }
      const hasExpressions = !!pair(rule, 'expressions') && isSeq(pair(rule, 'expressions')!.value) && (pair(rule, 'expressions')!.value as { items: unknown[] }).items.length > 0;
      if (!isSeq(actions?.value)) continue;
      for (const action of actions!.value.items as PNode[]) {
        const typeNode = pair(action, 'type')?.value;
        const type = str(typeNode);
        if (!type) continue;
        if (terminatedBy) {
          add(ctx, action, 'warning', 'policy-unreachable', `never runs: an earlier \`${terminatedBy}\` in \`${phase}\` always ends processing (ERR_NGROK_2207)`, { tags: ['unnecessary'] });
        }
        const info = ACTIONS[type];
        if (!info) {
          const guess = closest(type, Object.keys(ACTIONS));
          add(ctx, typeNode, 'warning', 'policy-unknown-action', `unknown action type \`${type}\`${guess ? `; did you mean \`${guess}\`?` : ''}`, guess ? { data: { fix: 'replace-value', to: guess } } : {});
          continue;
        }
        if ((TRAFFIC_POLICY_PHASES as readonly string[]).includes(effectivePhase) && !info.phases.includes(effectivePhase)) {
          add(ctx, typeNode, 'error', 'policy-action-phase', `\`${type}\` cannot run in \`${phase}\`; it runs in ${info.phases.map((p) => `\`${p}\``).join(', ')} (ERR_NGROK_2202)`);
        }
        if (type === 'oidc') add(ctx, typeNode, 'information', 'policy-action-alias', '`oidc` is an alias; the reference name is `openid-connect`', { data: { fix: 'replace-value', to: 'openid-connect' } });
        if (AUTH_ACTIONS.has(type)) authActions.push(typeNode ?? null);
        if (info.terminating && !hasExpressions) terminatedBy = type;
        checkActionConfig(ctx, type, pair(action, 'config')?.value);
      }
    }
  }
  if (authActions.length > 1) {
    for (const n of authActions.slice(1)) add(ctx, n, 'warning', 'policy-multiple-auth', 'only one authentication action is allowed per endpoint (ERR_NGROK_2239)');
  }
}

function checkStringList(ctx: Ctx, node: PNode | undefined, check: (s: string) => string | undefined, code: string): void {
  if (!isSeq(node)) return;
  for (const item of node.items as PNode[]) {
    const s = str(item);
    if (s === undefined) continue;
    const bad = check(s);
    if (bad) add(ctx, item, 'error', code, bad);
  }
}

function checkActionConfig(ctx: Ctx, type: string, config: PNode | undefined): void {
  if (!isMap(config)) return;
  switch (type) {
    case 'basic-auth':
      checkStringList(ctx, pair(config, 'credentials')?.value, checkCredential, 'basic-auth');
      break;
    case 'restrict-ips':
      checkStringList(ctx, pair(config, 'allow')?.value, checkCidr, 'cidr');
      checkStringList(ctx, pair(config, 'deny')?.value, checkCidr, 'cidr');
      break;
    case 'set-vars': {
      const vars = pair(config, 'vars')?.value;
      if (isSeq(vars)) for (const v of vars.items as PNode[]) if (isMap(v) && v.items.length !== 1) add(ctx, v, 'error', 'set-vars', 'each `vars` entry is a map with exactly one key (ERR_NGROK_2252)');
      break;
    }
    case 'custom-response':
      if (pair(config, 'content')) add(ctx, pair(config, 'content')!.key, 'warning', 'deprecated', '`content` is deprecated; use `body`', { tags: ['deprecated'], data: { fix: 'rename-key', to: 'body' } });
      break;
  }
}

// ---- agent config ----------------------------------------------------------------------------

/** v2 top-level keys that live under `agent:` in v3 (with their v3 names). */
export const V2_AGENT_KEYS: Record<string, string | null> = {
  authtoken: 'authtoken', api_key: 'api_key', connect_interface: 'connect_interface', connect_timeout: 'connect_timeout',
  console_ui: 'console_ui', console_ui_color: 'console_ui_color', crl_noverify: 'crl_noverify', dns_resolver_ips: 'dns_resolver_ips',
  heartbeat_interval: 'heartbeat_interval', heartbeat_tolerance: 'heartbeat_tolerance', inspect_db_size: 'inspect_db_size',
  log_level: 'log_level', log_format: 'log_format', log: 'log', metadata: 'metadata', proxy_url: 'proxy_url',
  remote_management: 'remote_management', update_channel: 'update_channel', update_check: 'update_check', web_addr: 'web_addr',
  web_allow_hosts: 'web_allow_hosts', server_addr: 'connect_url', root_cas: 'connect_cas', region: null,
};

/** Deprecated tunnel keys and what replaces them (used for warnings and the quick fixes). */
export const DEPRECATED_TUNNEL_KEYS: Record<string, string> = {
  hostname: 'deprecated since agent 3.2.1; use `domain`',
  subdomain: 'deprecated since agent 3.2.1; use `domain` (the full host name)',
  bind_tls: 'renamed in agent 3.0; use `schemes` (`true` → `[https]`, `false` → `[http]`, `both` → `[http, https]`)',
  auth: 'renamed in agent 3.0; use `basic_auth: ["user:password"]`',
  policy: 'renamed `traffic_policy` in agent 3.14',
  client_cas: 'renamed `mutual_tls_cas`',
};

function checkTunnel(ctx: Ctx, tunnel: PNode): void {
  if (!isMap(tunnel)) return;
  const proto = str(pair(tunnel, 'proto')?.value);
  const addr = pair(tunnel, 'addr');
  const addrText = str(addr?.value);
  if (addr && addrText !== undefined) {
    const bad = checkUpstream(addrText, proto);
    if (bad) add(ctx, addr.value, 'error', 'addr', bad);
  }
  const nameKeys = ['domain', 'subdomain', 'hostname'].map((k) => pair(tunnel, k)).filter((p): p is PPair => !!p);
  if (nameKeys.length > 1) {
    for (const p of nameKeys.slice(1)) {
      add(ctx, p.key, 'error', 'exclusive-keys', `\`${nameKeys.map((k) => scalarKey(k)).join('`, `')}\`: use only one of \`domain\`, \`subdomain\`, \`hostname\` (ERR_NGROK_9021)`);
    }
  }
  for (const [key, why] of Object.entries(DEPRECATED_TUNNEL_KEYS)) {
    const p = pair(tunnel, key);
    if (p) add(ctx, p.key, 'warning', 'deprecated', `\`${key}\` is ${why}`, { tags: ['deprecated'], data: { fix: 'replace-deprecated', key } });
  }
  if (pair(tunnel, 'bind_tls') && pair(tunnel, 'schemes')) add(ctx, pair(tunnel, 'bind_tls')!.key, 'error', 'exclusive-keys', '`bind_tls` and `schemes` cannot both be set');
  if (pair(tunnel, 'policy') && pair(tunnel, 'traffic_policy')) add(ctx, pair(tunnel, 'policy')!.key, 'error', 'exclusive-keys', '`policy` and `traffic_policy` cannot both be set (ERR_NGROK_9025)');
  const auth = pair(tunnel, 'auth');
  const authText = str(auth?.value);
  if (auth && authText !== undefined) {
    const bad = checkCredential(authText);
    if (bad) add(ctx, auth.value, 'error', 'basic-auth', bad);
  }
  checkStringList(ctx, pair(tunnel, 'basic_auth')?.value, checkCredential, 'basic-auth');
  const ipr = pair(tunnel, 'ip_restriction')?.value;
  checkStringList(ctx, pair(ipr, 'allow_cidrs')?.value, checkCidr, 'cidr');
  checkStringList(ctx, pair(ipr, 'deny_cidrs')?.value, checkCidr, 'cidr');
  if (proto && proto !== 'tcp' && pair(tunnel, 'remote_addr')) add(ctx, pair(tunnel, 'remote_addr')!.key, 'error', 'wrong-proto-key', `\`remote_addr\` is for tcp tunnels; this is a ${proto} tunnel`);
  for (const key of ['traffic_policy', 'policy']) {
    const p = pair(tunnel, key);
    if (p) checkPolicy(ctx, p.value, proto);
  }
}

function endpointProto(url: string | undefined): string | undefined {
  const m = url ? /^([a-z]+):\/\//i.exec(url.trim()) : undefined;
  if (!m) return url ? 'http' : undefined;
  const s = m[1].toLowerCase();
  return s === 'https' ? 'http' : s;
}

function checkEndpoint(ctx: Ctx, endpoint: PNode): void {
  if (!isMap(endpoint)) return;
  const urlPair = pair(endpoint, 'url');
  const url = str(urlPair?.value);
  if (urlPair && url !== undefined) {
    const bad = checkEndpointUrl(url);
    if (bad) add(ctx, urlPair.value, 'error', 'endpoint-url', bad);
  }
  const proto = endpointProto(url);
  const upstream = pair(pair(endpoint, 'upstream')?.value, 'url');
  const up = str(upstream?.value);
  if (upstream && up !== undefined) {
    const bad = checkUpstream(up, proto === 'http' ? undefined : proto);
    if (bad) add(ctx, upstream.value, 'error', 'addr', bad);
  }
  if (pair(endpoint, 'traffic_policy') && pair(endpoint, 'traffic_policy_file')) {
    add(ctx, pair(endpoint, 'traffic_policy_file')!.key, 'error', 'exclusive-keys', '`traffic_policy` and `traffic_policy_file` cannot both be set');
  }
  const tp = pair(endpoint, 'traffic_policy');
  if (tp) checkPolicy(ctx, tp.value, proto);
}

export interface SemanticInput {
  doc: Document.Parsed;
  kind: 'ngrok-config' | 'traffic-policy';
  version: '2' | '3';
}

export function semanticChecks(input: SemanticInput): Problem[] {
  const ctx: Ctx = { problems: [], version: input.version };
  const root = input.doc.contents as PNode;
  if (input.kind === 'traffic-policy') {
    checkPolicy(ctx, root, undefined);
    return ctx.problems;
  }
  if (!isMap(root)) return ctx.problems;

  if (input.version === '3') {
    for (const p of pairs(root)) {
      const key = scalarKey(p);
      if (key && key in V2_AGENT_KEYS && key !== 'metadata') {
        const v3 = V2_AGENT_KEYS[key];
        add(ctx, p.key, 'error', 'wrong-version-key',
          v3 === null ? `\`${key}\` does not exist in version 3 (remove it)` : `in version 3, \`${key}\` belongs under \`agent:\`${v3 !== key ? ` as \`${v3}\`` : ''}`,
          v3 === null ? {} : { data: { fix: 'move-under-agent', key } });
      }
    }
  } else {
    for (const key of ['agent', 'endpoints']) {
      const p = pair(root, key);
      if (p) add(ctx, p.key, 'error', 'wrong-version-key', `\`${key}\` needs \`version: "3"\` (this file is version 2)`);
    }
    const region = pair(root, 'region');
    if (region) add(ctx, region.key, 'warning', 'deprecated', '`region` is deprecated: the agent picks the closest point of presence', { tags: ['deprecated'] });
  }
  if (!pair(root, 'version')) {
    add(ctx, pairs(root)[0]?.key ?? root, 'error', 'missing-version', `\`version\` is required (agent ≥ 3.0); this file looks like version ${input.version}`, {
      data: { fix: 'add-version', version: input.version },
    });
  }

  const tunnels = pair(root, 'tunnels');
  for (const t of pairs(tunnels?.value)) {
    const name = scalarKey(t);
    if (name !== undefined) checkTunnel(ctx, t.value);
  }

  const endpoints = pair(root, 'endpoints');
  if (isSeq(endpoints?.value)) {
    const seen = new Map<string, PNode>();
    for (const t of pairs(tunnels?.value)) if (scalarKey(t)) seen.set(scalarKey(t)!, t.key);
    for (const ep of endpoints!.value.items as PNode[]) {
      checkEndpoint(ctx, ep);
      const nameNode = pair(ep, 'name')?.value;
      const name = str(nameNode);
      if (name === undefined) continue;
      if (seen.has(name)) add(ctx, nameNode, 'error', 'duplicate-name', `another tunnel or endpoint is already named \`${name}\`; \`burrow start ${name}\` would be ambiguous`);
      else seen.set(name, nameNode ?? null);
    }
  }
  return ctx.problems;
}

export type { Segment };
