// TypeScript shapes of validated ngrok.yml data. The JSON Schemas in schemas/ are the source of
// truth: each `*_KEYS` table below must list exactly the keys of its type (the compiler checks
// that) and exactly the schema's properties (test/unit/schemas.test.ts checks that).

type Exact<T> = { [K in keyof Required<T>]: true };
const keysOf =
  <T>() =>
  <K extends Exact<T>>(keys: K & Record<Exclude<keyof K, keyof T>, never>): (keyof T)[] =>
    Object.keys(keys) as (keyof T)[];

export type Duration = string;

/** Agent settings: v2 top level and v3 `agent:` share these. */
export interface AgentKeysCommon {
  authtoken?: string;
  api_key?: string;
  connect_interface?: string;
  connect_timeout?: Duration;
  console_ui?: boolean | 'iftty';
  console_ui_color?: 'transparent' | 'black';
  crl_noverify?: boolean;
  crl_url?: string;
  dns_resolver_ips?: string[];
  heartbeat_interval?: Duration;
  heartbeat_tolerance?: Duration;
  inspect_db_size?: number;
  log_level?: 'crit' | 'warn' | 'error' | 'info' | 'debug';
  log_format?: 'logfmt' | 'json' | 'term';
  log?: string | false;
  metadata?: string;
  proxy_url?: string;
  remote_management?: boolean;
  update_channel?: 'stable' | 'beta' | 'unstable';
  update_check?: boolean;
  web_addr?: string | false;
  web_allow_hosts?: string[];
}

export interface HeaderRulesV2 {
  add?: string[];
  remove?: string[];
}

/** A Traffic Policy document; its own schema checks the inside. */
export type TrafficPolicyDoc = Record<string, unknown>;

interface TunnelShared {
  addr: string | number;
  metadata?: string;
  inspect?: boolean;
  proxy_proto?: string | number;
  pooling_enabled?: boolean;
  traffic_policy?: TrafficPolicyDoc;
  policy?: { inbound?: unknown[]; outbound?: unknown[] };
}

export interface HttpTunnelV2 extends TunnelShared {
  proto: 'http';
  schemes?: ('http' | 'https')[];
  domain?: string;
  subdomain?: string;
  hostname?: string;
  bind_tls?: boolean | 'both' | 'true' | 'false';
  auth?: string;
  host_header?: string;
  basic_auth?: string[];
  circuit_breaker?: number;
  compression?: boolean;
  ip_restriction?: { allow_cidrs?: string[]; deny_cidrs?: string[] };
  mutual_tls_cas?: string;
  oauth?: Record<string, unknown>;
  oidc?: Record<string, unknown>;
  request_header?: HeaderRulesV2;
  response_header?: HeaderRulesV2;
  user_agent_filter?: { allow?: string[]; deny?: string[] };
  verify_webhook?: { provider: string; secret?: string };
  websocket_tcp_converter?: boolean;
}

export interface TcpTunnelV2 extends TunnelShared {
  proto: 'tcp';
  remote_addr?: string | number;
  ip_restriction?: { allow_cidrs?: string[]; deny_cidrs?: string[] };
}

export interface TlsTunnelV2 extends TunnelShared {
  proto: 'tls';
  domain?: string;
  subdomain?: string;
  hostname?: string;
  crt?: string;
  key?: string;
  mutual_tls_cas?: string;
  terminate_at?: 'edge' | 'agent' | 'upstream';
  ip_restriction?: { allow_cidrs?: string[]; deny_cidrs?: string[] };
}

export interface LabeledTunnelV2 {
  labels: string[];
  addr: string | number;
  metadata?: string;
  inspect?: boolean;
  crt?: string;
  key?: string;
}

export type TunnelV2 = HttpTunnelV2 | TcpTunnelV2 | TlsTunnelV2 | LabeledTunnelV2;

export interface ConfigV2 extends AgentKeysCommon {
  version: '2' | 2;
  server_addr?: string;
  root_cas?: string;
  region?: string;
  tunnels?: Record<string, TunnelV2>;
}

export interface AgentV3 extends AgentKeysCommon {
  connect_url?: string;
  connect_cas?: string;
}

export interface EndpointV3 {
  name: string;
  url?: string;
  description?: string;
  metadata?: string;
  bindings?: ('public' | 'internal' | 'kubernetes')[];
  pooling_enabled?: boolean;
  traffic_policy?: TrafficPolicyDoc;
  traffic_policy_file?: string;
  upstream: { url: string | number; protocol?: 'http1' | 'http2'; proxy_protocol?: string | number };
  agent_tls_termination?: {
    server_certificate?: string;
    server_private_key?: string;
    mutual_tls_certificate_authorities?: string[];
  };
}

export interface ConfigV3 {
  version: '3' | 3;
  agent?: AgentV3;
  endpoints?: EndpointV3[];
  tunnels?: Record<string, TunnelV2>;
}

// Key tables: the compiler checks them against the types, the schema test against the schemas.
export const CONFIG_V2_KEYS = keysOf<ConfigV2>()({
  version: true,
  authtoken: true,
  api_key: true,
  connect_interface: true,
  connect_timeout: true,
  console_ui: true,
  console_ui_color: true,
  crl_noverify: true,
  crl_url: true,
  dns_resolver_ips: true,
  heartbeat_interval: true,
  heartbeat_tolerance: true,
  inspect_db_size: true,
  log_level: true,
  log_format: true,
  log: true,
  metadata: true,
  proxy_url: true,
  remote_management: true,
  update_channel: true,
  update_check: true,
  web_addr: true,
  web_allow_hosts: true,
  server_addr: true,
  root_cas: true,
  region: true,
  tunnels: true,
});
export const AGENT_V3_KEYS = keysOf<AgentV3>()({
  authtoken: true,
  api_key: true,
  connect_interface: true,
  connect_timeout: true,
  console_ui: true,
  console_ui_color: true,
  crl_noverify: true,
  crl_url: true,
  dns_resolver_ips: true,
  heartbeat_interval: true,
  heartbeat_tolerance: true,
  inspect_db_size: true,
  log_level: true,
  log_format: true,
  log: true,
  metadata: true,
  proxy_url: true,
  remote_management: true,
  update_channel: true,
  update_check: true,
  web_addr: true,
  web_allow_hosts: true,
  connect_url: true,
  connect_cas: true,
});
export const CONFIG_V3_KEYS = keysOf<ConfigV3>()({ version: true, agent: true, endpoints: true, tunnels: true });
export const ENDPOINT_V3_KEYS = keysOf<EndpointV3>()({
  name: true,
  url: true,
  description: true,
  metadata: true,
  bindings: true,
  pooling_enabled: true,
  traffic_policy: true,
  traffic_policy_file: true,
  upstream: true,
  agent_tls_termination: true,
});
export const HTTP_TUNNEL_KEYS = keysOf<HttpTunnelV2>()({
  proto: true,
  addr: true,
  metadata: true,
  inspect: true,
  proxy_proto: true,
  pooling_enabled: true,
  traffic_policy: true,
  policy: true,
  schemes: true,
  domain: true,
  subdomain: true,
  hostname: true,
  bind_tls: true,
  auth: true,
  host_header: true,
  basic_auth: true,
  circuit_breaker: true,
  compression: true,
  ip_restriction: true,
  mutual_tls_cas: true,
  oauth: true,
  oidc: true,
  request_header: true,
  response_header: true,
  user_agent_filter: true,
  verify_webhook: true,
  websocket_tcp_converter: true,
});
export const TCP_TUNNEL_KEYS = keysOf<TcpTunnelV2>()({
  proto: true,
  addr: true,
  metadata: true,
  inspect: true,
  proxy_proto: true,
  pooling_enabled: true,
  traffic_policy: true,
  policy: true,
  remote_addr: true,
  ip_restriction: true,
});
export const TLS_TUNNEL_KEYS = keysOf<TlsTunnelV2>()({
  proto: true,
  addr: true,
  metadata: true,
  inspect: true,
  proxy_proto: true,
  pooling_enabled: true,
  traffic_policy: true,
  policy: true,
  domain: true,
  subdomain: true,
  hostname: true,
  crt: true,
  key: true,
  mutual_tls_cas: true,
  terminate_at: true,
  ip_restriction: true,
});
export const LABELED_TUNNEL_KEYS = keysOf<LabeledTunnelV2>()({
  labels: true,
  addr: true,
  metadata: true,
  inspect: true,
  crt: true,
  key: true,
});
