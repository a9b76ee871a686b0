// Merging of several validated files and their normalization into agent settings plus the one
// endpoint model (EndpointSpec). Pure (no process) except for the files a key names
// (`mutual_tls_cas`, `traffic_policy_file`), read here so the edge receives their contents.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { EdgeOptions, EndpointSpec, HeaderRules, Scheme } from '../model';
import { ModuleConfigError } from '../modules/config-error';
import type { OAuthConfig, OidcConfig } from '../modules/oauth/config';
import type { TrafficPolicyDocument } from '../modules/traffic-policy';
import type {
  AgentKeysCommon,
  AgentV3,
  ConfigV2,
  ConfigV3,
  EndpointV3,
  HeaderRulesV2,
  HttpTunnelV2,
  TrafficPolicyDoc,
  TunnelV2,
} from './types';

/** Scheme of an endpoint `url` (or `https` when omitted), as the real agent infers it. */
export function endpointScheme(url: string | undefined): 'http' | 'https' | 'tcp' | 'tls' {
  const m = /^([a-z0-9+.-]+):\/\//i.exec(url ?? '');
  return m ? (m[1].toLowerCase() as 'http' | 'https' | 'tcp' | 'tls') : 'https';
}

/** Agent-level settings Burrow acts on, with ngrok's defaults filled in. */
export interface AgentSettings {
  authtoken?: string;
  /** Where the authtoken came from: the CLI flag, an environment variable, or a config file. */
  authtokenSource?: 'flag' | 'BURROW_AUTHTOKEN' | 'NGROK_AUTHTOKEN' | 'file';
  apiKey?: string;
  /** `host:port` of the local API and inspector, or false when turned off. Default 127.0.0.1:4040. */
  webAddr: string | false;
  webAllowHosts: string[];
  /** Capture store cap in bytes (ngrok's 0 = 50 MB is resolved); -1 means inspection is off. */
  inspectDbSize: number;
  /** `server_addr` (v2) / `connect_url` (v3) as a ws(s) URL; undefined = the embedded local edge. */
  edgeUrl?: string;
  log: string | false;
  logLevel: 'crit' | 'warn' | 'error' | 'info' | 'debug';
  logFormat: 'logfmt' | 'json' | 'term';
  heartbeatIntervalMs: number;
  heartbeatToleranceMs: number;
  connectTimeoutMs: number;
  consoleUi: boolean | 'iftty';
  metadata?: string;
}

/** One file's data in a version-neutral shape, ready to merge. */
export interface UnifiedConfig {
  agent: AgentV3;
  tunnels: Record<string, TunnelV2>;
  endpoints?: EndpointV3[];
}

const DEFAULT_INSPECT_DB_SIZE = 50 * 1024 * 1024;

/** Lifts a v2 file's top-level agent keys into the v3 `agent:` shape (server_addr → connect_url). */
export function unify(data: ConfigV2 | ConfigV3): UnifiedConfig {
  if (String(data.version) === '3') {
    const v3 = data as ConfigV3;
    return {
      agent: { ...(v3.agent ?? {}) },
      tunnels: { ...(v3.tunnels ?? {}) },
      ...(v3.endpoints ? { endpoints: v3.endpoints } : {}),
    };
  }
  const { version: _version, tunnels, server_addr, root_cas, region: _region, ...agent } = data as ConfigV2;
  return {
    agent: {
      ...(agent as AgentKeysCommon),
      ...(server_addr !== undefined ? { connect_url: server_addr } : {}),
      ...(root_cas !== undefined ? { connect_cas: root_cas } : {}),
    },
    tunnels: { ...(tunnels ?? {}) },
  };
}

/**
 * ngrok's `--config a.yml,b.yml` merge: later scalars win, lists are replaced whole, maps merge per
 * key (agent settings key by key; a tunnel of the same name is replaced whole, as Go's decoder
 * does when it decodes a second file into the same struct).
 */
export function mergeConfigs(configs: readonly UnifiedConfig[]): UnifiedConfig {
  const out: UnifiedConfig = { agent: {}, tunnels: {} };
  for (const c of configs) {
    out.agent = { ...out.agent, ...c.agent };
    out.tunnels = { ...out.tunnels, ...c.tunnels };
    if (c.endpoints) out.endpoints = c.endpoints;
  }
  return out;
}

/** Go duration (`1h30m`, `250ms`, `10s`) → milliseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]];
  return total;
}

function edgeUrlOf(connectUrl: string | undefined): string | undefined {
  if (!connectUrl) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(connectUrl) ? connectUrl : `wss://${connectUrl}`;
}

export function settingsFrom(agent: AgentV3): AgentSettings {
  const size = agent.inspect_db_size ?? 0;
  return {
    ...(agent.authtoken !== undefined ? { authtoken: agent.authtoken, authtokenSource: 'file' as const } : {}),
    ...(agent.api_key !== undefined ? { apiKey: agent.api_key } : {}),
    webAddr: agent.web_addr ?? '127.0.0.1:4040',
    webAllowHosts: agent.web_allow_hosts ?? [],
    inspectDbSize: size === 0 ? DEFAULT_INSPECT_DB_SIZE : size,
    ...(agent.connect_url !== undefined ? { edgeUrl: edgeUrlOf(agent.connect_url) } : {}),
    log: agent.log ?? false,
    logLevel: agent.log_level ?? 'info',
    logFormat: agent.log_format ?? 'term',
    heartbeatIntervalMs: parseDuration(agent.heartbeat_interval ?? '10s'),
    heartbeatToleranceMs: parseDuration(agent.heartbeat_tolerance ?? '15s'),
    connectTimeoutMs: parseDuration(agent.connect_timeout ?? '10s'),
    consoleUi: agent.console_ui ?? 'iftty',
    ...(agent.metadata !== undefined ? { metadata: agent.metadata } : {}),
  };
}

function headerRules(rules: HeaderRulesV2 | undefined): HeaderRules | undefined {
  return rules ? { add: rules.add ?? [], remove: rules.remove ?? [] } : undefined;
}

function schemesFromBindTls(bindTls: boolean | string | undefined): Scheme[] | undefined {
  if (bindTls === undefined) return undefined;
  if (bindTls === 'both') return ['http', 'https'];
  return bindTls === true || bindTls === 'true' ? ['https'] : ['http'];
}

/** Reads a file a config key names; ModuleConfigError (ERR_BURROW_CONFIG_FILE) when it cannot. */
function readKeyFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ModuleConfigError(
      'ERR_BURROW_CONFIG_FILE',
      `\`${key}\`: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      [key],
    );
  }
}

function policyFromFile(path: string, key: string): TrafficPolicyDocument {
  let doc: unknown;
  try {
    doc = parseYaml(readKeyFile(path, key));
  } catch (err) {
    if (err instanceof ModuleConfigError) throw err;
    throw new ModuleConfigError(
      'ERR_NGROK_2236',
      `\`${key}\`: "${path}" does not parse: ${(err as Error).message.split('\n')[0]}`,
      [key],
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new ModuleConfigError('ERR_NGROK_2236', `\`${key}\`: "${path}" is not a policy document`, [key]);
  return doc as TrafficPolicyDocument;
}

function policyOf(t: {
  traffic_policy?: TrafficPolicyDoc;
  policy?: { inbound?: unknown[]; outbound?: unknown[] };
}): TrafficPolicyDocument | undefined {
  if (t.traffic_policy) return t.traffic_policy as TrafficPolicyDocument;
  if (t.policy) return t.policy as TrafficPolicyDocument; // legacy inbound/outbound phases
  return undefined;
}

/** The module keys of a v2 HTTP tunnel → EdgeOptions (ngrok's names → the edge's). */
function httpEdgeOptions(t: HttpTunnelV2): EdgeOptions {
  const edge: EdgeOptions = {};
  if (t.ip_restriction)
    edge.ipRestriction = { allowCidrs: t.ip_restriction.allow_cidrs, denyCidrs: t.ip_restriction.deny_cidrs };
  if (t.mutual_tls_cas !== undefined)
    edge.mutualTls = { certificateAuthorities: [readKeyFile(t.mutual_tls_cas, 'mutual_tls_cas')] };
  if (t.user_agent_filter) edge.userAgentFilter = { allow: t.user_agent_filter.allow, deny: t.user_agent_filter.deny };
  if (t.circuit_breaker !== undefined) edge.circuitBreaker = { errorThreshold: t.circuit_breaker };
  if (t.verify_webhook)
    edge.webhookVerification = { provider: t.verify_webhook.provider, secret: t.verify_webhook.secret ?? '' };
  const credentials = [...(t.basic_auth ?? []), ...(t.auth !== undefined ? [t.auth] : [])];
  if (credentials.length) edge.basicAuth = { credentials };
  if (t.oauth) edge.oauth = oauthFromV2(t.oauth);
  if (t.oidc) edge.oidc = oidcFromV2(t.oidc);
  const policy = policyOf(t);
  if (policy) edge.trafficPolicy = policy;
  const requestHeaders = headerRules(t.request_header);
  const responseHeaders = headerRules(t.response_header);
  if (requestHeaders) edge.requestHeaders = requestHeaders;
  if (responseHeaders) edge.responseHeaders = responseHeaders;
  if (t.compression) edge.compression = {};
  return edge;
}

/** Drops absent keys so the module's defaults apply. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** v2 `oauth:` (schema-validated) → the OAuth module config; the edge checks the rest at bind. */
function oauthFromV2(o: Record<string, unknown>): OAuthConfig {
  return defined({
    provider: o.provider as OAuthConfig['provider'],
    clientId: o.client_id as string | undefined,
    clientSecret: o.client_secret as string | undefined,
    scopes: o.scopes as string[] | undefined,
    allowEmails: o.allow_emails as string[] | undefined,
    allowDomains: o.allow_domains as string[] | undefined,
  });
}

/** v2 `oidc:` → the OIDC module config. */
function oidcFromV2(o: Record<string, unknown>): OidcConfig {
  return defined({
    issuerUrl: (o.issuer_url as string | undefined) ?? '',
    clientId: (o.client_id as string | undefined) ?? '',
    clientSecret: (o.client_secret as string | undefined) ?? '',
    scopes: o.scopes as string[] | undefined,
    allowEmails: o.allow_emails as string[] | undefined,
    allowDomains: o.allow_domains as string[] | undefined,
  });
}

/**
 * A v2 tunnel → EndpointSpec (labeled tunnels included: `labels`, proto http). Throws
 * ModuleConfigError when a file a key names cannot be read.
 */
export function tunnelToSpec(name: string, t: TunnelV2, inspectAll: boolean): EndpointSpec | undefined {
  if (!('proto' in t)) {
    // Labeled tunnel: HTTP to `addr`, reached only through HTTPS edges whose tunnel group selects
    // these labels (`name=value` strings; validation checked the form).
    if (!('labels' in t)) return undefined;
    const labels = Object.fromEntries(
      t.labels.map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
    );
    return {
      name,
      proto: 'http',
      upstream: String(t.addr),
      inspect: inspectAll && t.inspect !== false,
      labels,
      ...(t.metadata !== undefined ? { metadata: t.metadata } : {}),
    };
  }
  const spec: EndpointSpec = {
    name,
    proto: t.proto,
    upstream: String(t.addr),
    inspect: inspectAll && t.inspect !== false,
  };
  if (t.metadata !== undefined) spec.metadata = t.metadata;
  if ('pooling_enabled' in t && t.pooling_enabled === true) spec.pooling = true;
  if (t.proto !== 'http') {
    // TCP/TLS: IP restrictions apply per connection; a policy is passed on and judged by the edge.
    const edge: EdgeOptions = {};
    if (t.ip_restriction)
      edge.ipRestriction = { allowCidrs: t.ip_restriction.allow_cidrs, denyCidrs: t.ip_restriction.deny_cidrs };
    const policy = policyOf(t);
    if (policy) edge.trafficPolicy = policy;
    if (Object.keys(edge).length) spec.edge = edge;
  }
  if (t.proto === 'tcp') {
    if (t.remote_addr !== undefined) spec.remoteAddr = String(t.remote_addr);
    return spec;
  }
  const domain = t.domain ?? t.hostname;
  if (domain !== undefined) spec.domain = domain.trim();
  if (t.subdomain !== undefined) spec.subdomain = t.subdomain;
  if (t.proto === 'tls') return spec;
  const schemes = t.schemes ?? schemesFromBindTls(t.bind_tls);
  if (schemes) spec.schemes = [...schemes];
  if (t.host_header !== undefined) spec.hostHeader = t.host_header;
  const edge = httpEdgeOptions(t);
  if (Object.keys(edge).length) spec.edge = edge;
  return spec;
}

/** A v3 endpoint → EndpointSpec: the `url` scheme decides the protocol. */
export function endpointToSpec(ep: EndpointV3, inspectAll: boolean): EndpointSpec {
  const scheme = endpointScheme(ep.url);
  const rest = (ep.url ?? '').replace(/^[a-z0-9+.-]+:\/\//i, '');
  const hasScheme = rest !== (ep.url ?? '');
  const proto = scheme === 'tcp' ? 'tcp' : scheme === 'tls' ? 'tls' : 'http';
  const spec: EndpointSpec = { name: ep.name, proto, upstream: String(ep.upstream.url), inspect: inspectAll };
  if (ep.upstream.protocol) spec.upstreamProtocol = ep.upstream.protocol;
  if (ep.metadata !== undefined) spec.metadata = ep.metadata;
  if (ep.description !== undefined) spec.description = ep.description;
  if (ep.pooling_enabled === true) spec.pooling = true;
  // Judged by the edge at bind time (a tcp/tls endpoint refuses http phases there, with a code).
  const policy = ep.traffic_policy
    ? (ep.traffic_policy as TrafficPolicyDocument)
    : ep.traffic_policy_file
      ? policyFromFile(ep.traffic_policy_file, 'traffic_policy_file')
      : undefined;
  if (policy) spec.edge = { trafficPolicy: policy };
  if (proto === 'tcp') {
    if (rest) spec.remoteAddr = rest;
    return spec;
  }
  const host = rest.replace(/:\d+$/, '');
  if (host) spec.domain = host;
  // A `.internal` host (or `bindings: [internal]`) makes an internal endpoint.
  if (host.toLowerCase().endsWith('.internal') || ep.bindings?.includes('internal')) spec.internal = true;
  if (proto === 'http' && hasScheme) spec.schemes = [scheme as Scheme];
  return spec;
}

/** Tunnels first (file order), then endpoints. */
export function endpointsFrom(config: UnifiedConfig): EndpointSpec[] {
  const inspectAll = config.agent.inspect_db_size !== -1;
  const specs: EndpointSpec[] = [];
  for (const [name, t] of Object.entries(config.tunnels)) {
    const spec = tunnelToSpec(name, t, inspectAll);
    if (spec) specs.push(spec);
  }
  for (const ep of config.endpoints ?? []) specs.push(endpointToSpec(ep, inspectAll));
  return specs;
}
