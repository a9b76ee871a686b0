// Merging of several validated files and their normalization into agent settings plus the one
// endpoint model (EndpointSpec). Pure: no fs, no process.
import type { EndpointSpec, HeaderRules, Scheme } from '../model';
import type { AgentKeysCommon, AgentV3, ConfigV2, ConfigV3, EndpointV3, HeaderRulesV2, TunnelV2 } from './types';
import { endpointScheme } from './validate';

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
    return { agent: { ...(v3.agent ?? {}) }, tunnels: { ...(v3.tunnels ?? {}) }, ...(v3.endpoints ? { endpoints: v3.endpoints } : {}) };
  }
  const { version: _version, tunnels, server_addr, root_cas, region: _region, ...agent } = data as ConfigV2;
  return {
    agent: { ...(agent as AgentKeysCommon), ...(server_addr !== undefined ? { connect_url: server_addr } : {}), ...(root_cas !== undefined ? { connect_cas: root_cas } : {}) },
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

/** A v2 tunnel → EndpointSpec. Labeled tunnels (refused by validation) give undefined. */
export function tunnelToSpec(name: string, t: TunnelV2, inspectAll: boolean): EndpointSpec | undefined {
  if (!('proto' in t)) return undefined;
  const spec: EndpointSpec = { name, proto: t.proto, upstream: String(t.addr), inspect: inspectAll && t.inspect !== false };
  if (t.metadata !== undefined) spec.metadata = t.metadata;
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
  const requestHeaders = headerRules(t.request_header);
  const responseHeaders = headerRules(t.response_header);
  if (requestHeaders || responseHeaders) spec.edge = { ...(requestHeaders ? { requestHeaders } : {}), ...(responseHeaders ? { responseHeaders } : {}) };
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
  if (proto === 'tcp') {
    if (rest) spec.remoteAddr = rest;
    return spec;
  }
  const host = rest.replace(/:\d+$/, '');
  if (host) spec.domain = host;
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
