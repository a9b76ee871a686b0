// Checks beyond both the JSON Schema and tunnel/src/config's validator (which already reports
// unknown/missing keys, conflicts, duplicate names, deprecations and wrong-version keys): `addr` and
// upstream forms with port ranges, basic-auth password length for `auth`, CIDRs, and traffic-policy
// semantics (action allowed in its phase, phases a tcp/tls endpoint never runs, unreachable actions
// after a terminating one, more than one auth action). On the YAML AST, so every range is exact.
// Codes are BURROW_LSP_* (documented in server/README.md).
import net from 'node:net';
import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, Pair, ParsedNode, YAMLMap } from 'yaml';
import type { Problem, Severity } from './problems';
import { TRAFFIC_POLICY_PHASES } from './classify';
import { rootSchema, type JsonSchema } from '../../tunnel/src/config';
import { scalarKey } from './yamlText';

type PNode = ParsedNode | null;
type PPair = Pair<ParsedNode, PNode>;

interface Ctx {
  problems: Problem[];
  version: '2' | '3';
  text: string;
}

function span(node: PNode | undefined): [number, number] {
  const r = node?.range;
  return r ? [r[0], r[1]] : [0, 0];
}

function add(
  ctx: Ctx,
  node: PNode | undefined,
  severity: Severity,
  code: string,
  message: string,
  extra: Partial<Problem> = {},
): void {
  const [start, rawEnd] = span(node);
  let end = rawEnd;
  while (end > start && /\s/.test(ctx.text[end - 1])) end--; // a block collection's range ends after its newline
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
  if (s === '') return 'the upstream address is empty';
  if (isTemplated(s)) return undefined;
  if (/^\d+$/.test(s)) return checkPort(s);
  const url = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(s);
  if (url) {
    const scheme = url[1].toLowerCase();
    const allowed =
      proto === 'tcp' ? ['tcp'] : proto === 'tls' ? ['tls', 'tcp'] : ['http', 'https', 'file', 'tcp', 'tls'];
    if (!allowed.includes(scheme))
      return `\`${scheme}://\` upstreams are not supported${proto ? ` for ${proto} tunnels` : ''} (use ${allowed.map((a) => `\`${a}://\``).join(', ')})`;
    if (scheme === 'file')
      return url[2].startsWith('/') || /^[A-Za-z]:/.test(url[2])
        ? undefined
        : '`file://` needs an absolute path (`file:///srv/www`)';
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
  if (pass.length < 8 || pass.length > 128)
    return `basic-auth passwords must be 8 to 128 characters long (this one has ${pass.length})`;
  return undefined;
}

export function checkCidr(raw: string): string | undefined {
  if (isTemplated(raw)) return undefined;
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(raw.trim());
  if (!m) return `\`${raw}\` is not a CIDR (\`10.0.0.0/8\`, \`2001:db8::/32\`)`;
  const family = net.isIP(m[1]);
  if (!family) return `\`${m[1]}\` is not an IP address`;
  if (m[2] !== undefined && Number(m[2]) > (family === 4 ? 32 : 128))
    return `prefix /${m[2]} is too long for IPv${family}`;
  return undefined;
}

// ---- traffic policy --------------------------------------------------------------------------

type Phase = (typeof TRAFFIC_POLICY_PHASES)[number];
const TCP: Phase = 'on_tcp_connect';

export interface ActionInfo {
  phases: Phase[];
  terminating: boolean;
}

/**
 * The action catalog (phases, terminating) read from the policy schema's per-action descriptions
 * ("… Phases: on_http_request, on_http_response. Terminating: …"), so the schema stays the one
 * place that knows it.
 */
export function actionCatalog(): Record<string, ActionInfo> {
  const action = (rootSchema('traffic-policy').definitions as Record<string, JsonSchema>).action;
  const typeSchema = (action.properties as Record<string, JsonSchema>).type;
  const names = (typeSchema.enum ?? []) as string[];
  const docs = (typeSchema.markdownEnumDescriptions ?? []) as string[];
  const out: Record<string, ActionInfo> = {};
  names.forEach((name, i) => {
    const text = docs[i] ?? '';
    const phases = (/Phases: ([^.]+)\./.exec(text)?.[1] ?? '')
      .split(/,\s*/)
      .filter((p): p is Phase => (TRAFFIC_POLICY_PHASES as readonly string[]).includes(p));
    out[name] = { phases: phases.length ? phases : [...TRAFFIC_POLICY_PHASES], terminating: /Terminating/.test(text) };
  });
  return out;
}

let catalog: Record<string, ActionInfo> | undefined;
const AUTH_ACTIONS = new Set(['basic-auth', 'oauth', 'openid-connect', 'oidc', 'jwt-validation', 'saml']);

/** Phase-level rules of a policy: the schema checks shapes; this checks what runs where and when. */
function checkPolicy(ctx: Ctx, policy: PNode, proto: string | undefined): void {
  if (!isMap(policy)) return;
  catalog ??= actionCatalog();
  const authActions: PNode[] = [];
  for (const phasePair of pairs(policy)) {
    const phase = scalarKey(phasePair);
    if (!phase) continue;
    const effective = (
      phase === 'inbound'
        ? proto === 'tcp' || proto === 'tls'
          ? TCP
          : 'on_http_request'
        : phase === 'outbound'
          ? 'on_http_response'
          : phase
    ) as Phase;
    const known = (TRAFFIC_POLICY_PHASES as readonly string[]).includes(effective);
    if ((proto === 'tcp' || proto === 'tls') && known && effective !== TCP) {
      add(
        ctx,
        phasePair.key,
        'error',
        'BURROW_LSP_POLICY_PHASE',
        `${proto} endpoints only run \`on_tcp_connect\`; \`${phase}\` would never run (ERR_NGROK_2230)`,
      );
    }
    if (!isSeq(phasePair.value)) continue;
    let terminatedBy: string | undefined;
    for (const rule of phasePair.value.items as PNode[]) {
      const actions = pair(rule, 'actions')?.value;
      const expressions = pair(rule, 'expressions')?.value;
      const conditional = isSeq(expressions) && expressions.items.length > 0;
      if (!isSeq(actions)) continue;
      for (const action of actions.items as PNode[]) {
        const typeNode = pair(action, 'type')?.value;
        const type = str(typeNode);
        if (!type) continue;
        if (terminatedBy) {
          add(
            ctx,
            action,
            'warning',
            'BURROW_LSP_POLICY_UNREACHABLE',
            `never runs: the earlier \`${terminatedBy}\` in \`${phase}\` always ends processing (ERR_NGROK_2207)`,
            { tags: ['unnecessary'] },
          );
        }
        const info = catalog[type];
        if (!info) continue; // unknown types are the validator's (BURROW_CONFIG_UNKNOWN_ACTION)
        if (known && !info.phases.includes(effective)) {
          add(
            ctx,
            typeNode,
            'error',
            'BURROW_LSP_ACTION_PHASE',
            `\`${type}\` cannot run in \`${phase}\`; it runs in ${info.phases.map((p) => `\`${p}\``).join(', ')} (ERR_NGROK_2202)`,
          );
        }
        if (AUTH_ACTIONS.has(type)) authActions.push(typeNode ?? null);
        if (info.terminating && !conditional) terminatedBy = type;
        checkActionConfig(ctx, type, pair(action, 'config')?.value);
      }
    }
  }
  for (const n of authActions.slice(1))
    add(
      ctx,
      n,
      'warning',
      'BURROW_LSP_MULTIPLE_AUTH',
      'only one authentication action is allowed per endpoint (ERR_NGROK_2239)',
    );
}

function checkStringList(
  ctx: Ctx,
  node: PNode | undefined,
  check: (s: string) => string | undefined,
  code: string,
): void {
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
  if (type === 'restrict-ips') {
    checkStringList(ctx, pair(config, 'allow')?.value, checkCidr, 'BURROW_LSP_CIDR');
    checkStringList(ctx, pair(config, 'deny')?.value, checkCidr, 'BURROW_LSP_CIDR');
  }
}

// ---- agent config ----------------------------------------------------------------------------

function checkTunnel(ctx: Ctx, tunnel: PNode): void {
  if (!isMap(tunnel)) return;
  const proto = str(pair(tunnel, 'proto')?.value);
  const addr = pair(tunnel, 'addr');
  const addrText = str(addr?.value);
  if (addr && addrText !== undefined) {
    const bad = checkUpstream(addrText, proto);
    if (bad) add(ctx, addr.value, 'error', 'BURROW_LSP_ADDR', bad);
  }
  // The schema checks `auth` has a `:`; the agent also wants an 8..128 character password.
  const auth = pair(tunnel, 'auth');
  const authText = str(auth?.value);
  if (auth && authText?.includes(':')) {
    const bad = checkCredential(authText);
    if (bad) add(ctx, auth.value, 'error', 'BURROW_LSP_BASIC_AUTH', bad);
  }
  const ipr = pair(tunnel, 'ip_restriction')?.value;
  checkStringList(ctx, pair(ipr, 'allow_cidrs')?.value, checkCidr, 'BURROW_LSP_CIDR');
  checkStringList(ctx, pair(ipr, 'deny_cidrs')?.value, checkCidr, 'BURROW_LSP_CIDR');
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
  const port = url ? /:(\d+)$/.exec(url.trim())?.[1] : undefined;
  const portProblem = port ? checkPort(port) : undefined;
  if (portProblem) add(ctx, urlPair!.value, 'error', 'BURROW_LSP_PORT', portProblem);
  const proto = endpointProto(url);
  const upstream = pair(pair(endpoint, 'upstream')?.value, 'url');
  const up = str(upstream?.value);
  if (upstream && up !== undefined) {
    const bad = checkUpstream(up, proto === 'http' ? undefined : proto);
    if (bad) add(ctx, upstream.value, 'error', 'BURROW_LSP_ADDR', bad);
  }
  const tp = pair(endpoint, 'traffic_policy');
  if (tp) checkPolicy(ctx, tp.value, proto);
}

export interface SemanticInput {
  doc: Document.Parsed;
  /** The text `doc` was parsed from. */
  text: string;
  kind: 'ngrok-config' | 'traffic-policy';
  version: '2' | '3';
}

export function semanticChecks(input: SemanticInput): Problem[] {
  const ctx: Ctx = { problems: [], version: input.version, text: input.text };
  const root = input.doc.contents as PNode;
  if (input.kind === 'traffic-policy') {
    checkPolicy(ctx, root, undefined);
    return ctx.problems;
  }
  if (!isMap(root)) return ctx.problems;
  for (const t of pairs(pair(root, 'tunnels')?.value)) checkTunnel(ctx, t.value);
  const endpoints = pair(root, 'endpoints')?.value;
  if (isSeq(endpoints)) for (const ep of endpoints.items as PNode[]) checkEndpoint(ctx, ep);
  return ctx.problems;
}
