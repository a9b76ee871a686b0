// The one internal model of an endpoint. CLI flags, ngrok.yml v2 tunnels, v3 endpoints and the
// local API's POST /api/tunnels all normalize into EndpointSpec; the agent starts endpoints
// only from this shape.

import type { BasicAuthConfig } from './modules/basic-auth';
import type { CircuitBreakerConfig } from './modules/circuit-breaker';
import type { CompressionConfig } from './modules/compression';
import type { IpRestrictionConfig } from './modules/ip-restriction';
import type { MutualTlsConfig, TlsTerminationConfig } from './modules/mutual-tls';
import type { OAuthConfig, OidcConfig } from './modules/oauth/config';
import type { TrafficPolicyDocument } from './modules/traffic-policy';
import type { UserAgentFilterConfig } from './modules/user-agent-filter';
import type { WebhookVerificationConfig } from './modules/webhook-verification';

export type Proto = 'http' | 'tcp' | 'tls';
export type Scheme = 'http' | 'https';

/** Header edits in ngrok's form: `add` entries are "Name: value", `remove` entries are names. */
export interface HeaderRules {
  add: string[];
  remove: string[];
}

/**
 * Edge-side options sent with a bind (JSON). The edge builds the endpoint's module pipeline from
 * them (tunnel/src/modules/pipeline.ts, order in tunnel/src/modules/README.md) and validates each
 * at bind time with a coded error; an edge that does not know a field refuses the bind rather
 * than ignoring it. Each config type lives with its module.
 */
export interface EdgeOptions {
  ipRestriction?: IpRestrictionConfig;
  mutualTls?: MutualTlsConfig;
  tlsTermination?: TlsTerminationConfig;
  userAgentFilter?: UserAgentFilterConfig;
  circuitBreaker?: CircuitBreakerConfig;
  webhookVerification?: WebhookVerificationConfig;
  basicAuth?: BasicAuthConfig;
  /** OAuth / OIDC: tunnel/src/modules/oauth (registered into the pipeline by that module). */
  oauth?: OAuthConfig;
  oidc?: OidcConfig;
  trafficPolicy?: TrafficPolicyDocument;
  requestHeaders?: HeaderRules;
  responseHeaders?: HeaderRules;
  compression?: CompressionConfig;
}

export interface EndpointSpec {
  /** Tunnel name: the ngrok.yml key, the v3 endpoint name, or generated ("http-3000"). */
  name: string;
  proto: Proto;
  /**
   * Where traffic goes, as the user wrote it: `3000`, `host:port`, `http://…`, `https://…`,
   * `file:///abs/path` (http only), `tcp://host:port`.
   */
  upstream: string;
  /** `http2` = h2c with prior knowledge (or h2 over TLS for https upstreams). */
  upstreamProtocol?: 'http1' | 'http2';
  /** Full host name to bind (http/tls), possibly a wildcard `*.example.test`. */
  domain?: string;
  /** Single label under the edge's base domain (deprecated ngrok form, still accepted). */
  subdomain?: string;
  /** TCP: requested public `host:port` or port. */
  remoteAddr?: string;
  /** HTTP: public schemes; default ['https'] when the edge has TLS, else ['http']. */
  schemes?: Scheme[];
  /** HTTP: `rewrite`, `preserve`, or a literal host sent upstream. Applied by the agent. */
  hostHeader?: string;
  /** Record traffic in the local inspector (default true). */
  inspect: boolean;
  metadata?: string;
  /** Free text shown with the endpoint (v3 `description`). */
  description?: string;
  /** Edge-side request handling: the endpoint's modules. */
  edge?: EdgeOptions;
  /** `pooling_enabled`: share the URL with other agents' endpoints that also pool (round robin). */
  pooling?: boolean;
  /** Internal endpoint: `domain` ends in `.internal`; only `forward-internal` reaches it. */
  internal?: boolean;
  /** Labeled tunnel (ngrok.yml v2 `labels`): served through HTTPS edges' tunnel groups, no URL of its own. */
  labels?: Record<string, string>;
}
