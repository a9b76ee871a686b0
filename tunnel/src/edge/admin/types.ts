// The ngrok API v2 objects the edge stores (schemas/edge-api.schema.json has every field). Stored
// forms keep ids where the API shows Refs (`backend_id`, `ip_policy_ids`); the admin API renders
// Refs with `uri`s on the way out. Module objects are kept exactly as written (write form).

export interface Ref {
  id: string;
  uri?: string;
}

interface Common {
  id: string;
  created_at: string;
  description?: string;
  metadata?: string;
}

export interface BackendModule {
  enabled?: boolean | null;
  backend_id?: string;
  backend?: Ref;
}
export interface IpRestrictionModule {
  enabled?: boolean | null;
  ip_policy_ids?: string[] | null;
  ip_policies?: Ref[];
}
export interface CircuitBreakerModule {
  enabled?: boolean | null;
  tripped_duration?: number | null;
  rolling_window?: number | null;
  num_buckets?: number | null;
  volume_threshold?: number | null;
  error_threshold_percentage?: number;
}
export interface EnabledModule {
  enabled?: boolean | null;
}
export interface HeadersModule {
  enabled?: boolean | null;
  add?: Record<string, string> | null;
  remove?: string[] | null;
}
export interface WebhookModule {
  enabled?: boolean | null;
  provider?: string;
  secret?: string;
}
export interface OAuthProviderApp {
  client_id?: string | null;
  client_secret?: string | null;
  scopes?: string[] | null;
  email_addresses?: string[] | null;
  email_domains?: string[] | null;
  teams?: string[] | null;
  organizations?: string[] | null;
}
export interface SessionModule {
  enabled?: boolean | null;
  options_passthrough?: boolean | null;
  cookie_prefix?: string | null;
  inactivity_timeout?: number | null;
  maximum_duration?: number | null;
}
export interface OAuthModule extends SessionModule {
  provider: Partial<Record<string, OAuthProviderApp | null>>;
  auth_check_interval?: number | null;
}
export interface OidcModule extends SessionModule {
  issuer: string;
  client_id: string;
  client_secret: string;
  scopes?: string[] | null;
}
export interface UserAgentFilterModule {
  enabled?: boolean | null;
  allow?: string[] | null;
  deny?: string[] | null;
}
export interface TrafficPolicyModule {
  enabled?: boolean | null;
  value?: string;
}
export interface MutualTlsModule {
  enabled?: boolean | null;
  certificate_authority_ids?: string[] | null;
  certificate_authorities?: Ref[];
}
export interface TlsTerminationModule {
  enabled?: boolean | null;
  terminate_at?: string | null;
  min_version?: string | null;
}

/** Route module keys in ngrok's order, with their schema definition names. */
export const ROUTE_MODULES = {
  backend: 'EndpointBackend',
  ip_restriction: 'EndpointIPPolicy',
  circuit_breaker: 'EndpointCircuitBreaker',
  compression: 'EndpointCompression',
  request_headers: 'EndpointRequestHeaders',
  response_headers: 'EndpointResponseHeaders',
  webhook_verification: 'EndpointWebhookValidation',
  oauth: 'EndpointOAuth',
  saml: 'EndpointSAML',
  oidc: 'EndpointOIDC',
  websocket_tcp_converter: 'EndpointWebsocketTCPConverter',
  user_agent_filter: 'EndpointUserAgentFilter',
  traffic_policy: 'EndpointTrafficPolicy',
} as const;
export type RouteModuleKey = keyof typeof ROUTE_MODULES;

export const EDGE_MODULES = { mutual_tls: 'EndpointMutualTLS', tls_termination: 'EndpointTLSTermination' } as const;
export type EdgeModuleKey = keyof typeof EDGE_MODULES;

export interface RouteModules {
  backend?: BackendModule | null;
  ip_restriction?: IpRestrictionModule | null;
  circuit_breaker?: CircuitBreakerModule | null;
  compression?: EnabledModule | null;
  request_headers?: HeadersModule | null;
  response_headers?: HeadersModule | null;
  webhook_verification?: WebhookModule | null;
  oauth?: OAuthModule | null;
  saml?: Record<string, unknown> | null;
  oidc?: OidcModule | null;
  websocket_tcp_converter?: EnabledModule | null;
  user_agent_filter?: UserAgentFilterModule | null;
  traffic_policy?: TrafficPolicyModule | null;
}

export interface HttpsEdgeRoute extends Common, RouteModules {
  edge_id: string;
  match_type: 'exact_path' | 'path_prefix';
  match: string;
}

export interface HttpsEdge extends Common {
  hostports: string[];
  mutual_tls?: MutualTlsModule | null;
  tls_termination?: TlsTerminationModule | null;
  routes: HttpsEdgeRoute[];
}

export type BackendKind = 'tunnel_group' | 'failover' | 'weighted' | 'http_response';
export const BACKEND_PREFIX: Record<BackendKind, string> = {
  tunnel_group: 'bkdtg',
  failover: 'bkdfo',
  weighted: 'bkdwd',
  http_response: 'bkdhr',
};

export interface TunnelGroupBackend extends Common {
  labels: Record<string, string>;
}
export interface FailoverBackend extends Common {
  backends: string[];
}
export interface WeightedBackend extends Common {
  backends: Record<string, number>;
}
export interface HttpResponseBackend extends Common {
  body?: string;
  headers?: Record<string, string> | null;
  status_code?: number;
}
export interface BackendsByKind {
  tunnel_group: TunnelGroupBackend;
  failover: FailoverBackend;
  weighted: WeightedBackend;
  http_response: HttpResponseBackend;
}
export type AnyBackend = BackendsByKind[BackendKind];

export interface CertificateManagementPolicy {
  authority: 'letsencrypt';
  private_key_type: 'ecdsa' | 'rsa';
}
/** ACME state of a reserved domain's certificate (written by the edge's ACME manager, edge/acme.ts). */
export interface CertificateManagementStatus {
  /** Burrow: `provisioning`, `issued` or `renewal_error` (ngrok shows only the job). */
  state: 'provisioning' | 'issued' | 'renewal_error';
  renews_at: string | null;
  provisioning_job: {
    error_code: string | null;
    msg: string;
    started_at: string;
    retries_at: string | null;
    /** The CA's problem document when it refused (RFC 8555 §6.7). */
    problem?: Record<string, unknown> | null;
  } | null;
}

export interface ReservedDomain extends Common {
  domain: string;
  region?: string | null;
  /** An uploaded TLS certificate (`cert_…`) the edge terminates this name with. */
  certificate_id?: string | null;
  certificate_management_policy?: CertificateManagementPolicy | null;
  certificate_management_status?: CertificateManagementStatus | null;
  http_endpoint_configuration_id?: string | null;
  https_endpoint_configuration_id?: string | null;
}

/** An uploaded certificate bundle (`/tls_certificates`); the key never leaves the edge. */
export interface TlsCertificateObject extends Common {
  certificate_pem: string;
  private_key_pem: string;
}

/** A reserved TCP address (`/reserved_addrs`): only binds naming it may take its port. */
export interface ReservedAddr extends Common {
  addr: string;
  region?: string | null;
  endpoint_configuration_id?: string | null;
}

/** Endpoint configuration modules (ngrok's pre-edge objects) and the types that allow each. */
export const ENDPOINT_CONFIG_MODULES = {
  circuit_breaker: ['http', 'https'],
  compression: ['http', 'https'],
  request_headers: ['http', 'https'],
  response_headers: ['http', 'https'],
  ip_policy: ['http', 'https', 'tcp'],
  mutual_tls: ['https'],
  tls_termination: ['https'],
  webhook_validation: ['http', 'https'],
  oauth: ['http', 'https'],
  oidc: ['http', 'https'],
  basic_auth: ['http', 'https'],
} as const;
export type EndpointConfigModuleKey = keyof typeof ENDPOINT_CONFIG_MODULES;
export type EndpointConfigType = 'http' | 'https' | 'tcp';

export interface BasicAuthModule {
  enabled?: boolean | null;
  auth_username?: string;
  auth_password?: string;
  allow_options?: boolean | null;
}

export interface EndpointConfiguration extends Common {
  type: EndpointConfigType;
  circuit_breaker?: CircuitBreakerModule | null;
  compression?: EnabledModule | null;
  request_headers?: HeadersModule | null;
  response_headers?: HeadersModule | null;
  ip_policy?: IpRestrictionModule | null;
  mutual_tls?: MutualTlsModule | null;
  tls_termination?: TlsTerminationModule | null;
  webhook_validation?: WebhookModule | null;
  oauth?: OAuthModule | null;
  oidc?: OidcModule | null;
  basic_auth?: BasicAuthModule | null;
}
export type IpPolicyObject = Common;
export interface IpPolicyRuleObject extends Common {
  cidr: string;
  action: 'allow' | 'deny';
  ip_policy_id: string;
}

export interface Credential extends Common {
  acl: string[];
  owner_id?: string | null;
  /** sha256 of the token, hex. The token itself is shown once, on create, and never stored. */
  token_sha256: string;
}

/** Everything the edge persists (`STATE_FILE` in the state directory). */
export interface EdgeState {
  version: 1;
  https_edges: HttpsEdge[];
  backends: { [K in BackendKind]: BackendsByKind[K][] };
  reserved_domains: ReservedDomain[];
  ip_policies: IpPolicyObject[];
  ip_policy_rules: IpPolicyRuleObject[];
  credentials: Credential[];
  tls_certificates: TlsCertificateObject[];
  reserved_addrs: ReservedAddr[];
  endpoint_configurations: EndpointConfiguration[];
  /** Key for OAuth/OIDC session cookies (hex), so sign-ins survive edge restarts. */
  cookie_secret: string;
}
