// The wire shape of a bind's `edge` options: the endpoint's modules as the agent sends them.
// Declared here, apart from the modules' own config types (tunnel/src/modules/*), so editing a
// module's options cannot change the wire format by accident; tunnel/src/wire-options.ts converts
// between the two at each end, and the compiler stops a build where they no longer fit.
//
// The wire checks JSON types only. Values (a CIDR, a provider name, a TLS version) are the
// modules' to check at bind time: a bad value refuses that bind with the module's code, where a
// value of the wrong JSON type ends the session as a malformed message.
import { array, bool, jsonObject, num, object, optional, record, str, type Fields, type Shape } from './shape';

export interface WireHeaderRules {
  /** "Name: value" entries. */
  add: string[];
  /** Header names. */
  remove: string[];
}

export interface WireIpRestriction {
  allowCidrs?: string[];
  denyCidrs?: string[];
  ipPolicies?: string[];
  enforce?: boolean;
}

export interface WireMutualTls {
  /** PEM bundles. */
  certificateAuthorities: string[];
}

export interface WireTlsTermination {
  /** '1.2' | '1.3' (checked by the edge). */
  minVersion?: string;
}

export interface WireUserAgentFilter {
  allow?: string[];
  deny?: string[];
}

export interface WireCircuitBreaker {
  errorThreshold: number;
  volumeThreshold?: number;
  windowMs?: number;
  trippedMs?: number;
  numBuckets?: number;
  enforce?: boolean;
}

export interface WireWebhookVerification {
  provider: string;
  secret: string;
  enforce?: boolean;
  maxBodyBytes?: number;
  header?: string;
  /** 'sha1' | 'sha256' | 'sha512' (checked by the edge). */
  algorithm?: string;
  /** 'hex' | 'base64' (checked by the edge). */
  encoding?: string;
}

export interface WireBasicAuth {
  /** `user:password` pairs. */
  credentials: string[];
  realm?: string;
  enforce?: boolean;
}

/** What OAuth and OIDC share: the login session's settings. */
export interface WireAuthSession {
  clientId?: string;
  clientSecret?: string;
  scopes?: string[];
  allowEmails?: string[];
  allowDomains?: string[];
  authzUrlParams?: Record<string, string>;
  authCheckIntervalMs?: number;
  inactivityTimeoutMs?: number;
  maxDurationMs?: number;
  optionsPassthrough?: boolean;
  cookiePrefix?: string;
  authId?: string;
}

export interface WireOAuth extends WireAuthSession {
  /** google, github, … (the edge refuses a provider it does not know). */
  provider: string;
  endpoints?: { authorizationUrl?: string; tokenUrl?: string; userinfoUrl?: string; emailsUrl?: string };
}

export interface WireOidc extends WireAuthSession {
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
}

/** ngrok's traffic policy document; its rules are compiled (and refused with codes) by the edge. */
export interface WireTrafficPolicy {
  on_http_request?: WirePolicyRule[];
  on_http_response?: WirePolicyRule[];
  on_tcp_connect?: WirePolicyRule[];
  inbound?: WirePolicyRule[];
  outbound?: WirePolicyRule[];
}

export interface WirePolicyRule {
  name?: string;
  expressions?: string[];
  /** `config` is the action's own JSON (checked by the edge per action type). */
  actions: { type: string; config?: Record<string, unknown> }[];
}

export interface WireCompression {
  /** 'gzip' | 'deflate' | 'br' (checked by the edge). */
  algorithms?: string[];
}

/**
 * The endpoint's modules. An option the edge does not know is refused for that bind
 * (ERR_BURROW_UNSUPPORTED_OPTION) rather than ignored; a known one of the wrong shape is a
 * malformed message.
 */
export interface WireEdgeOptions {
  ipRestriction?: WireIpRestriction;
  mutualTls?: WireMutualTls;
  tlsTermination?: WireTlsTermination;
  userAgentFilter?: WireUserAgentFilter;
  circuitBreaker?: WireCircuitBreaker;
  webhookVerification?: WireWebhookVerification;
  basicAuth?: WireBasicAuth;
  oauth?: WireOAuth;
  oidc?: WireOidc;
  trafficPolicy?: WireTrafficPolicy;
  requestHeaders?: WireHeaderRules;
  responseHeaders?: WireHeaderRules;
  compression?: WireCompression;
}

// ---- checks ----

const strings = array(str);
const headerRules = object<WireHeaderRules>({ add: strings, remove: strings });
const authSession: Fields<WireAuthSession> = {
  clientId: optional(str),
  clientSecret: optional(str),
  scopes: optional(strings),
  allowEmails: optional(strings),
  allowDomains: optional(strings),
  authzUrlParams: optional(record(str)),
  authCheckIntervalMs: optional(num),
  inactivityTimeoutMs: optional(num),
  maxDurationMs: optional(num),
  optionsPassthrough: optional(bool),
  cookiePrefix: optional(str),
  authId: optional(str),
};
// ngrok's document format: the traffic-policy module is its checker (ERR_NGROK_22xx), so keys it
// has its own errors for pass here.
const policyRules = optional(
  array(
    object<WirePolicyRule>(
      {
        name: optional(str),
        expressions: optional(strings),
        actions: array(
          object<WirePolicyRule['actions'][number]>({ type: str, config: optional(jsonObject) }, { extra: 'allow' }),
        ),
      },
      { extra: 'allow' },
    ),
  ),
);

export const wireEdgeOptions: Shape<WireEdgeOptions> = object<WireEdgeOptions>(
  {
    ipRestriction: optional(
      object<WireIpRestriction>({
        allowCidrs: optional(strings),
        denyCidrs: optional(strings),
        ipPolicies: optional(strings),
        enforce: optional(bool),
      }),
    ),
    mutualTls: optional(object<WireMutualTls>({ certificateAuthorities: strings })),
    tlsTermination: optional(object<WireTlsTermination>({ minVersion: optional(str) })),
    userAgentFilter: optional(object<WireUserAgentFilter>({ allow: optional(strings), deny: optional(strings) })),
    circuitBreaker: optional(
      object<WireCircuitBreaker>({
        errorThreshold: num,
        volumeThreshold: optional(num),
        windowMs: optional(num),
        trippedMs: optional(num),
        numBuckets: optional(num),
        enforce: optional(bool),
      }),
    ),
    webhookVerification: optional(
      object<WireWebhookVerification>({
        provider: str,
        secret: str,
        enforce: optional(bool),
        maxBodyBytes: optional(num),
        header: optional(str),
        algorithm: optional(str),
        encoding: optional(str),
      }),
    ),
    basicAuth: optional(object<WireBasicAuth>({ credentials: strings, realm: optional(str), enforce: optional(bool) })),
    oauth: optional(
      object<WireOAuth>({
        ...authSession,
        provider: str,
        endpoints: optional(
          object<NonNullable<WireOAuth['endpoints']>>({
            authorizationUrl: optional(str),
            tokenUrl: optional(str),
            userinfoUrl: optional(str),
            emailsUrl: optional(str),
          }),
        ),
      }),
    ),
    oidc: optional(object<WireOidc>({ ...authSession, issuerUrl: str, clientId: str, clientSecret: str })),
    trafficPolicy: optional(
      object<WireTrafficPolicy>({
        on_http_request: policyRules,
        on_http_response: policyRules,
        on_tcp_connect: policyRules,
        inbound: policyRules,
        outbound: policyRules,
      }),
    ),
    requestHeaders: optional(headerRules),
    responseHeaders: optional(headerRules),
    compression: optional(object<WireCompression>({ algorithms: optional(strings) })),
  },
  // An option this edge does not know is refused per bind with its own code (wire-options.ts).
  { extra: 'allow' },
);
