// v2 → v3 migration of a whole ngrok.yml: `version: "3"`, agent settings under `agent:` (with the
// v3 names), and each tunnel as an `endpoints:` entry. Works on the YAML AST and moves the existing
// nodes, so comments travel with the keys they belong to and key order is kept.
//
// A tunnel becomes an endpoint only when the endpoint means exactly the same thing to Burrow (the
// normalizer in tunnel/src/config gives the same EndpointSpec). Tunnels using something v3
// endpoints cannot say (`subdomain`, `host_header`, both schemes, `inspect: false`, header rules,
// TLS termination keys, labels, OAuth/OIDC) stay under v3's `tunnels:` key, with a comment saying
// why; the agent accepts them there. The other module keys (`basic_auth`/`auth`, `ip_restriction`,
// `verify_webhook`, `circuit_breaker`, `compression`) move into the endpoint's `traffic_policy` as
// the equivalent actions, which Burrow's edge runs the same way.
import { Document, isMap, isScalar, isSeq, Pair, parseDocument, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { Node, ParsedNode } from 'yaml';
import type { MigrateToV3Result } from './protocol';
import type { ParsedText } from './yamlText';
import { scalarKey } from '../../tunnel/src/config/yaml-nodes';

/** v2 top-level agent keys → their v3 `agent:` names (null = dropped in v3). */
export const V2_AGENT_KEYS: Record<string, string | null> = {
  authtoken: 'authtoken',
  api_key: 'api_key',
  connect_interface: 'connect_interface',
  connect_timeout: 'connect_timeout',
  console_ui: 'console_ui',
  console_ui_color: 'console_ui_color',
  crl_noverify: 'crl_noverify',
  crl_url: 'crl_url',
  dns_resolver_ips: 'dns_resolver_ips',
  heartbeat_interval: 'heartbeat_interval',
  heartbeat_tolerance: 'heartbeat_tolerance',
  inspect_db_size: 'inspect_db_size',
  log_level: 'log_level',
  log_format: 'log_format',
  log: 'log',
  metadata: 'metadata',
  proxy_url: 'proxy_url',
  remote_management: 'remote_management',
  update_channel: 'update_channel',
  update_check: 'update_check',
  web_addr: 'web_addr',
  web_allow_hosts: 'web_allow_hosts',
  server_addr: 'connect_url',
  root_cas: 'connect_cas',
  region: null,
};

type AnyPair = Pair<ParsedNode | Scalar, ParsedNode | Node | null>;

function get(map: YAMLMap, key: string): AnyPair | undefined {
  return (map.items as AnyPair[]).find((p) => scalarKey(p as Pair) === key);
}

function plain(node: unknown): unknown {
  return isScalar(node) ? node.value : (node as { toJSON?: () => unknown } | null)?.toJSON?.();
}

function str(v: unknown): Scalar {
  return new Scalar(v);
}

/** Why this tunnel cannot become an endpoint with the same meaning, or undefined when it can. */
function keepAsTunnel(t: YAMLMap): string | undefined {
  const v = (k: string) => plain(get(t, k)?.value);
  const proto = v('proto');
  if (proto === undefined) return 'labeled tunnels have no v3 endpoint form';
  if (!['http', 'tcp', 'tls'].includes(String(proto))) return `proto ${String(proto)} is not http, tcp or tls`;
  if (v('addr') === undefined) return 'no `addr` to use as `upstream.url`';
  if (v('inspect') === false) return 'v3 endpoints cannot turn inspection off per endpoint';
  if (get(t, 'subdomain')) return '`subdomain` has no v3 endpoint form (use a full `domain`)';
  if (get(t, 'host_header')) return '`host_header` has no v3 endpoint form';
  if (get(t, 'request_header') || get(t, 'response_header'))
    return 'header rules would become traffic-policy actions, which Burrow does not apply to v3 endpoints yet';
  if (get(t, 'oauth') || get(t, 'oidc')) return 'OAuth/OIDC are not available as Traffic Policy actions in Burrow yet';
  for (const k of [
    'crt',
    'key',
    'terminate_at',
    'mutual_tls_cas',
    'proxy_proto',
    'websocket_tcp_converter',
    'user_agent_filter',
    'labels',
  ]) {
    if (get(t, k)) return `\`${k}\` has no direct v3 endpoint form`;
  }
  const schemes = schemesOf(t);
  if (schemes && schemes.length !== 1) return 'an endpoint has one scheme; this tunnel binds both http and https';
  if (get(t, 'policy') && get(t, 'traffic_policy')) return 'both `policy` and `traffic_policy` are set';
  return undefined;
}

function schemesOf(t: YAMLMap): string[] | undefined {
  const schemes = plain(get(t, 'schemes')?.value);
  if (Array.isArray(schemes)) return [...new Set(schemes.map(String))];
  const bindTls = plain(get(t, 'bind_tls')?.value);
  if (bindTls === undefined) return undefined;
  if (bindTls === 'both') return ['http', 'https'];
  return bindTls === true || bindTls === 'true' ? ['https'] : ['http'];
}

/** Traffic-policy rules equivalent to the v2 module keys of a tunnel (ngrok-formats.md §3.4). */
function moduleRules(t: YAMLMap): Record<string, unknown>[] {
  const v = (k: string) => plain(get(t, k)?.value);
  const rules: Record<string, unknown>[] = [];
  const credentials = [
    ...(Array.isArray(v('basic_auth')) ? (v('basic_auth') as unknown[]) : []),
    ...(typeof v('auth') === 'string' ? [v('auth')] : []),
  ];
  if (credentials.length) rules.push({ actions: [{ type: 'basic-auth', config: { credentials } }] });
  const ipr = v('ip_restriction') as Record<string, unknown> | undefined;
  if (ipr && typeof ipr === 'object') {
    const config: Record<string, unknown> = {};
    if (ipr.allow_cidrs) config.allow = ipr.allow_cidrs;
    if (ipr.deny_cidrs) config.deny = ipr.deny_cidrs;
    rules.push({ actions: [{ type: 'restrict-ips', config }] });
  }
  const hook = v('verify_webhook') as Record<string, unknown> | undefined;
  if (hook && typeof hook === 'object') rules.push({ actions: [{ type: 'verify-webhook', config: { ...hook } }] });
  if (v('compression') === true) rules.push({ actions: [{ type: 'compress-response' }] });
  const breaker = v('circuit_breaker');
  if (typeof breaker === 'number')
    rules.push({ actions: [{ type: 'circuit-breaker', config: { error_threshold: breaker } }] });
  return rules;
}

function endpointFrom(doc: Document, name: AnyPair, t: YAMLMap): YAMLMap {
  const ep = new YAMLMap();
  const v = (k: string) => plain(get(t, k)?.value);
  const proto = String(v('proto'));
  const nameNode = str(scalarKey(name as Pair));
  ep.add(new Pair(str('name'), nameNode));
  const domain = v('domain') ?? v('hostname');
  const host = typeof domain === 'string' ? domain.trim() : undefined;
  let url: string | undefined;
  if (proto === 'tcp') url = `tcp://${v('remote_addr') !== undefined ? String(v('remote_addr')) : ''}`;
  else if (proto === 'tls') url = `tls://${host ?? ''}`;
  else {
    const scheme = schemesOf(t)?.[0];
    url = scheme ? `${scheme}://${host ?? ''}` : host;
  }
  if (url !== undefined) ep.add(new Pair(str('url'), str(url)));
  for (const k of ['metadata', 'pooling_enabled']) {
    const p = get(t, k);
    if (p) ep.add(p);
  }
  const upstream = new YAMLMap();
  const addr = get(t, 'addr')!;
  upstream.add(new Pair(str('url'), addr.value as Node));
  ep.add(new Pair(str('upstream'), upstream));

  // Inline policies move as they are (`policy` phase names updated); module keys become rules.
  const policyPair = get(t, 'traffic_policy') ?? get(t, 'policy');
  let policy = policyPair && isMap(policyPair.value) ? policyPair.value : undefined;
  if (policy) {
    for (const p of policy.items as AnyPair[]) {
      const phase = scalarKey(p as Pair);
      if (phase === 'inbound') (p.key as Scalar).value = proto === 'http' ? 'on_http_request' : 'on_tcp_connect';
      if (phase === 'outbound') (p.key as Scalar).value = 'on_http_response';
    }
  }
  const rules = moduleRules(t);
  if (rules.length) {
    policy ??= new YAMLMap();
    const phase = get(policy, 'on_http_request');
    const created = doc.createNode(rules) as YAMLSeq;
    if (phase && isSeq(phase.value)) (phase.value.items as unknown[]).unshift(...created.items);
    else policy.add(new Pair(str('on_http_request'), created));
  }
  if (policy) ep.add(new Pair(str('traffic_policy'), policy));
  ep.commentBefore = (name.key as Scalar).commentBefore;
  ep.comment = t.comment;
  // Comments on keys that have no place in the endpoint (`bind_tls`, `inspect`, …) go before `upstream`.
  const carried = new Set<unknown>(ep.items);
  const orphans = (t.items as AnyPair[])
    .filter((p) => !carried.has(p))
    .flatMap((p) => [
      (p.key as Scalar).commentBefore,
      (p.key as Scalar).comment,
      (p.value as Scalar | null)?.commentBefore,
      (p.value as Scalar | null)?.comment,
    ])
    .filter((c): c is string => !!c && !(c === (addr.value as Scalar | null)?.comment));
  if (orphans.length) {
    const upstreamKey = (ep.items as AnyPair[]).find((p) => scalarKey(p as Pair) === 'upstream')!.key as Scalar;
    upstreamKey.commentBefore = orphans.join('\n');
  }
  return ep;
}

/** Migrates a v2 (or version-less v2-style) config. Never throws on odd input; explains instead. */
export function migrateToV3(parsed: ParsedText): MigrateToV3Result {
  if (parsed.doc.errors.length) return { reason: 'the file has YAML syntax errors; fix them first' };
  // A fresh parse: the cached document must not be mutated.
  const doc = parseDocument(parsed.text, { keepSourceTokens: false });
  const root = doc.contents;
  if (!isMap(root)) return { reason: 'the file is not a mapping' };
  const version = plain(get(root, 'version')?.value);
  if (version !== undefined && String(version) !== '2')
    return { reason: `the file is version ${String(version)}, not 2` };
  if (get(root, 'agent') || get(root, 'endpoints'))
    return { reason: 'the file already has v3 keys (`agent`, `endpoints`)' };

  const out = new YAMLMap();
  const versionPair = get(root, 'version');
  const v3 = new Scalar('3');
  v3.type = Scalar.QUOTE_DOUBLE;
  const newVersion = new Pair(str('version'), v3);
  if (versionPair) (newVersion.key as Scalar).commentBefore = (versionPair.key as Scalar).commentBefore;
  out.add(newVersion);

  const agent = new YAMLMap();
  const endpoints = new YAMLSeq();
  const legacy = new YAMLMap();
  const rest: AnyPair[] = [];
  let tunnelsTrailing: string | undefined;
  let pendingComment: string | undefined;
  for (const p of root.items as AnyPair[]) {
    const key = scalarKey(p as Pair);
    if (key === 'version') continue;
    if (key !== undefined && key in V2_AGENT_KEYS) {
      const renamed = V2_AGENT_KEYS[key];
      if (renamed === null) {
        // `region` has no v3 form (chosen automatically); keep a trace, and its comments, as a comment.
        const was = ` ${key}: ${String(plain(p.value))} (removed: version 3 picks the region automatically)`;
        pendingComment = [pendingComment, (p.key as Scalar).commentBefore, was].filter(Boolean).join('\n');
        continue;
      }
      (p.key as Scalar).value = renamed;
      if (pendingComment) {
        (p.key as Scalar).commentBefore = [pendingComment, (p.key as Scalar).commentBefore].filter(Boolean).join('\n');
        pendingComment = undefined;
      }
      agent.add(p);
    } else if (key === 'tunnels' && isMap(p.value)) {
      // Comments above `tunnels:` and above its first entry belong to the first migrated entry.
      const lead = [(p.key as Scalar).commentBefore, p.value.commentBefore].filter(Boolean).join('\n');
      tunnelsTrailing = p.value.comment ?? undefined;
      const first = p.value.items[0] as AnyPair | undefined;
      if (lead && first)
        (first.key as Scalar).commentBefore = [lead, (first.key as Scalar).commentBefore].filter(Boolean).join('\n');
      for (const t of p.value.items as AnyPair[]) {
        const why = isMap(t.value) ? keepAsTunnel(t.value) : 'not a mapping';
        if (why || !isMap(t.value)) {
          const k = t.key as Scalar;
          k.commentBefore = [k.commentBefore, ` kept as a legacy tunnel: ${why}`].filter(Boolean).join('\n');
          legacy.add(t);
        } else {
          endpoints.add(endpointFrom(doc, t, t.value));
        }
      }
    } else {
      rest.push(p);
    }
  }
  if (pendingComment) agent.comment = [agent.comment, pendingComment].filter(Boolean).join('\n');
  // A blank line before the first entry of a new block would print as an indented empty line.
  for (const block of [agent, endpoints, legacy] as (YAMLMap | YAMLSeq)[]) {
    const first = block.items[0] as { key?: Node; spaceBefore?: boolean } | undefined;
    if (first?.key) first.key.spaceBefore = false;
    if (first) first.spaceBefore = false;
  }
  if (agent.items.length) out.add(new Pair(str('agent'), agent));
  if (endpoints.items.length) out.add(new Pair(str('endpoints'), endpoints));
  if (legacy.items.length) out.add(new Pair(str('tunnels'), legacy));
  // Comments after the last tunnel (often commented-out tunnels) stay at the end of that block.
  const last = legacy.items.length ? legacy : endpoints.items.length ? endpoints : undefined;
  if (tunnelsTrailing && last) last.comment = [last.comment, tunnelsTrailing].filter(Boolean).join('\n');
  for (const p of rest) out.add(p);
  doc.contents = out as unknown as typeof doc.contents;
  return { text: doc.toString({ lineWidth: 0 }) };
}
