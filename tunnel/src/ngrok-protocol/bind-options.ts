// ngrok's Bind → Burrow's BindSpec: the same bind Burrow's own agents make, so names, ACLs
// and the module pipeline are shared (edge.ts builds and validates the modules). Every Opts key
// ngrok's SDKs send is mapped or refused here; none is ignored (tunnel/NGROK-PROTOCOL.md §4).
import type { BindSpec } from '../edge/agent-handshake';
import type { EdgeOptions, HeaderRules, Proto, Scheme } from '../model';
import type { TrafficPolicyDocument } from '../modules/traffic-policy';
import { field, stringField, RpcError, type Bind } from './messages';

/** ngrok has no code for "this server does not implement that": Burrow's own, in the error text. */
export const UNSUPPORTED = 'ERR_BURROW_UNSUPPORTED_OPTION';

/** What the session needs besides the BindSpec to serve a tunnel. */
export interface NgrokTunnelOptions {
  /** The Proto the agent asked for ('http' | 'https' | 'tcp' | 'tls'): echoed in proxy headers. */
  ngrokProto: string;
  /** HostHeaderRewrite: the edge sets Host to the upstream's host:port (from ForwardsTo). */
  hostRewrite?: string;
  /** tcp/tls: PROXY protocol version the agent expects at the start of each stream. */
  proxyProto?: 1 | 2;
  /** `app_protocol: http2` (ForwardsProto): the edge speaks HTTP/2 with prior knowledge to the agent. */
  http2?: boolean;
}

/**
 * ForwardsProto (the SDKs' `app_protocol`): how the edge talks HTTP to the agent's streams, which
 * the agent pipes to the upstream. Only http endpoints and labeled tunnels have a choice.
 */
export function forwardsHttp2(body: unknown, httpLike: boolean): boolean {
  const raw = field(body, 'ForwardsProto') ?? '';
  if (typeof raw !== 'string') throw new RpcError('ERR_BURROW_RPC_MALFORMED', 'ForwardsProto must be a string');
  const proto = raw;
  if (proto === '' || (httpLike && proto === 'http1')) return false;
  if (httpLike && proto === 'http2') return true;
  unsupported(`app_protocol "${proto}"${httpLike ? '' : ' on a tcp or tls endpoint'} (use http1 or http2)`);
}

function isSet(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

function list(v: unknown, where: string): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new RpcError('ERR_BURROW_RPC_MALFORMED', `${where} must be a list of strings`);
  return v as string[];
}

function unsupported(what: string): never {
  throw new RpcError(UNSUPPORTED, `${what} is not supported by this Burrow edge`);
}

/** Keys of each endpoint's Opts that we understand; anything else set is refused. */
const HTTP_KEYS = new Set(
  [
    'Domain',
    'Hostname',
    'Auth',
    'Subdomain',
    'HostHeaderRewrite',
    'LocalUrlScheme',
    'ProxyProto',
    'Compression',
    'CircuitBreaker',
    'IPRestriction',
    'BasicAuth',
    'OAuth',
    'OIDC',
    'WebhookVerification',
    'MutualTLSCA',
    'RequestHeaders',
    'ResponseHeaders',
    'WebsocketTCPConverter',
    'UserAgentFilter',
    'TrafficPolicy',
  ].map((k) => k.toLowerCase()),
);
const TCP_KEYS = new Set(['addr', 'proxyproto', 'iprestriction', 'trafficpolicy']);
const TLS_KEYS = new Set(
  [
    'Domain',
    'Hostname',
    'Subdomain',
    'ProxyProto',
    'MutualTLSAtAgent',
    'MutualTLSAtEdge',
    'TLSTermination',
    'IPRestriction',
    'TrafficPolicy',
  ].map((k) => k.toLowerCase()),
);

function refuseUnknown(opts: Record<string, unknown>, known: Set<string>, proto: string): void {
  for (const [k, v] of Object.entries(opts)) {
    if (!known.has(k.toLowerCase()) && isSet(v)) unsupported(`the ${proto} option "${k}"`);
  }
}

function ipRestriction(opts: unknown, ipPolicyRef: string | undefined): EdgeOptions['ipRestriction'] {
  const r = field(opts, 'IPRestriction');
  const allow = list(field(r, 'allow_cidrs'), 'IPRestriction.allow_cidrs');
  const deny = list(field(r, 'deny_cidrs'), 'IPRestriction.deny_cidrs');
  const policies = ipPolicyRef
    ? ipPolicyRef
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  if (!allow?.length && !deny?.length && !policies.length) return undefined;
  return {
    ...(allow?.length ? { allowCidrs: allow } : {}),
    ...(deny?.length ? { denyCidrs: deny } : {}),
    ...(policies.length ? { ipPolicies: policies } : {}),
  };
}

function trafficPolicy(opts: unknown): TrafficPolicyDocument | undefined {
  const text = field(opts, 'TrafficPolicy');
  if (!isSet(text)) return undefined;
  if (typeof text !== 'string') throw new RpcError('ERR_NGROK_2236', 'TrafficPolicy must be a JSON string');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RpcError('ERR_NGROK_2236', `the traffic policy is not valid JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new RpcError('ERR_NGROK_2236', 'the traffic policy is not a policy document');
  return doc as TrafficPolicyDocument;
}

function headerRules(v: unknown, where: string): HeaderRules | undefined {
  if (!isSet(v)) return undefined;
  if (isSet(field(v, 'add_parsed'))) unsupported(`${where}.add_parsed`);
  const add = list(field(v, 'add'), `${where}.add`) ?? [];
  const remove = list(field(v, 'remove'), `${where}.remove`) ?? [];
  return add.length || remove.length ? { add, remove } : undefined;
}

function pemOf(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new RpcError('ERR_BURROW_RPC_MALFORMED', `${where} must be base64 text`);
  const pem = Buffer.from(v, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new RpcError('ERR_NGROK_2230', `${where} is not a PEM certificate bundle (pass the CA's PEM text)`);
  return pem;
}

function httpEdgeOptions(opts: Record<string, unknown>, ipPolicyRef: string | undefined): EdgeOptions {
  const edge: EdgeOptions = {};
  const ip = ipRestriction(opts, ipPolicyRef);
  if (ip) edge.ipRestriction = ip;

  const credentials: string[] = [];
  const legacyAuth = stringField(opts, 'Auth');
  if (legacyAuth) credentials.push(legacyAuth);
  const basic = field(opts, 'BasicAuth');
  if (isSet(basic)) {
    const creds = field(basic, 'credentials');
    if (!Array.isArray(creds)) throw new RpcError('ERR_BURROW_RPC_MALFORMED', 'BasicAuth.credentials must be a list');
    for (const c of creds) {
      if (isSet(field(c, 'hashed_password'))) unsupported('BasicAuth with hashed passwords');
      const user = stringField(c, 'username') ?? '';
      credentials.push(`${user}:${stringField(c, 'cleartext_password') ?? ''}`);
    }
  }
  if (credentials.length) edge.basicAuth = { credentials };

  const cb = field(opts, 'CircuitBreaker');
  if (isSet(cb)) {
    const threshold = field(cb, 'error_threshold');
    if (typeof threshold !== 'number')
      throw new RpcError('ERR_BURROW_RPC_MALFORMED', 'CircuitBreaker.error_threshold must be a number');
    edge.circuitBreaker = { errorThreshold: threshold };
  }
  if (isSet(field(opts, 'Compression'))) edge.compression = {};

  const oauth = field(opts, 'OAuth');
  if (isSet(oauth)) {
    if (isSet(field(oauth, 'sealed_client_secret'))) unsupported('OAuth with a sealed client secret');
    edge.oauth = defined({
      provider: stringField(oauth, 'provider') as NonNullable<EdgeOptions['oauth']>['provider'],
      clientId: stringField(oauth, 'client_id') || undefined,
      clientSecret: stringField(oauth, 'client_secret') || undefined,
      scopes: list(field(oauth, 'scopes'), 'OAuth.scopes'),
      allowEmails: list(field(oauth, 'allow_emails'), 'OAuth.allow_emails'),
      allowDomains: list(field(oauth, 'allow_domains'), 'OAuth.allow_domains'),
    });
  }
  const oidc = field(opts, 'OIDC');
  if (isSet(oidc)) {
    if (isSet(field(oidc, 'sealed_client_secret'))) unsupported('OIDC with a sealed client secret');
    edge.oidc = defined({
      issuerUrl: stringField(oidc, 'issuer_url') ?? '',
      clientId: stringField(oidc, 'client_id') ?? '',
      clientSecret: stringField(oidc, 'client_secret') ?? '',
      scopes: list(field(oidc, 'scopes'), 'OIDC.scopes'),
      allowEmails: list(field(oidc, 'allow_emails'), 'OIDC.allow_emails'),
      allowDomains: list(field(oidc, 'allow_domains'), 'OIDC.allow_domains'),
    });
  }
  const webhook = field(opts, 'WebhookVerification');
  if (isSet(webhook)) {
    if (isSet(field(webhook, 'sealed_secret'))) unsupported('WebhookVerification with a sealed secret');
    edge.webhookVerification = {
      provider: stringField(webhook, 'provider') ?? '',
      secret: stringField(webhook, 'secret') ?? '',
    };
  }
  const mtls = field(opts, 'MutualTLSCA');
  if (isSet(mtls)) edge.mutualTls = { certificateAuthorities: [pemOf(field(mtls, 'mutual_tls_ca'), 'MutualTLSCA')] };
  const requestHeaders = headerRules(field(opts, 'RequestHeaders'), 'RequestHeaders');
  if (requestHeaders) edge.requestHeaders = requestHeaders;
  const responseHeaders = headerRules(field(opts, 'ResponseHeaders'), 'ResponseHeaders');
  if (responseHeaders) edge.responseHeaders = responseHeaders;
  if (isSet(field(opts, 'WebsocketTCPConverter'))) unsupported('WebsocketTCPConverter (websocket-to-TCP conversion)');
  const ua = field(opts, 'UserAgentFilter');
  if (isSet(ua)) {
    edge.userAgentFilter = defined({
      allow: list(field(ua, 'allow'), 'UserAgentFilter.allow'),
      deny: list(field(ua, 'deny'), 'UserAgentFilter.deny'),
    });
  }
  const policy = trafficPolicy(opts);
  if (policy) edge.trafficPolicy = policy;
  return edge;
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The one host name a bind asks for (ngrok refuses more than one of them: ERR_NGROK_9021). */
function names(opts: unknown): { domain?: string; subdomain?: string } {
  const domain = stringField(opts, 'Domain') || undefined;
  const hostname = stringField(opts, 'Hostname') || undefined;
  const subdomain = stringField(opts, 'Subdomain') || undefined;
  if ([domain, hostname, subdomain].filter(Boolean).length > 1)
    throw new RpcError('ERR_NGROK_9021', 'set only one of domain, hostname and subdomain');
  return { domain: domain ?? hostname, subdomain };
}

/**
 * Maps an ngrok Bind onto Burrow's BindSpec. `name` is the tunnel's name at the edge;
 * `previousUrls` come from the bind Id of a reconnecting agent.
 */
export function toBindRequest(
  bind: Bind,
  name: string,
  previousUrls: string[],
): { request: BindSpec; tunnel: NgrokTunnelOptions } {
  const ngrokProto = stringField(bind, 'Proto') ?? '';
  const opts = (field(bind, 'Opts') ?? {}) as Record<string, unknown>;
  if (typeof opts !== 'object' || Array.isArray(opts))
    throw new RpcError('ERR_BURROW_RPC_MALFORMED', 'Bind.Opts must be an object');
  const extra = field(bind, 'Extra');
  if (field(extra, 'PoolingEnabled') === true) unsupported('endpoint pooling (pooling_enabled)');
  const bindings = list(field(extra, 'Bindings'), 'Extra.Bindings') ?? [];
  if (bindings.some((b) => b !== 'public'))
    unsupported(`the endpoint binding "${bindings.find((b) => b !== 'public')}"`);
  const ipPolicyRef = stringField(extra, 'IPPolicyRef') || undefined;
  const proxyProto = field(opts, 'ProxyProto') ?? 0;
  if (proxyProto !== 0 && proxyProto !== 1 && proxyProto !== 2)
    throw new RpcError('ERR_BURROW_RPC_MALFORMED', 'ProxyProto must be 0, 1 or 2');
  const base = { name, previousUrls };

  if (ngrokProto === 'http' || ngrokProto === 'https') {
    refuseUnknown(opts, HTTP_KEYS, 'http');
    // Pooled keep-alive streams serve many visitors: one PROXY header per stream would lie.
    if (proxyProto) unsupported('the PROXY protocol (proxy_proto) on http endpoints');
    const schemes: Scheme[] = [ngrokProto];
    const edge = httpEdgeOptions(opts, ipPolicyRef);
    const tunnel: NgrokTunnelOptions = { ngrokProto, ...(forwardsHttp2(bind, true) ? { http2: true } : {}) };
    if (field(opts, 'HostHeaderRewrite') === true) {
      const forwardsTo = stringField(bind, 'ForwardsTo') ?? '';
      const host = hostPortOf(forwardsTo);
      if (!host) unsupported(`HostHeaderRewrite for the upstream "${forwardsTo}"`);
      tunnel.hostRewrite = host;
    }
    return { request: { ...base, proto: 'http', ...names(opts), schemes, edge }, tunnel };
  }
  if (ngrokProto === 'tcp') {
    refuseUnknown(opts, TCP_KEYS, 'tcp');
    forwardsHttp2(bind, false);
    const edge: EdgeOptions = {};
    const ip = ipRestriction(opts, ipPolicyRef);
    if (ip) edge.ipRestriction = ip;
    const policy = trafficPolicy(opts); // on_tcp_connect, judged by the edge per connection
    if (policy) edge.trafficPolicy = policy;
    const addr = stringField(opts, 'Addr') || undefined;
    return {
      request: { ...base, proto: 'tcp', remoteAddr: addr, edge },
      tunnel: { ngrokProto, ...(proxyProto ? { proxyProto } : {}) },
    };
  }
  if (ngrokProto === 'tls') {
    refuseUnknown(opts, TLS_KEYS, 'tls');
    forwardsHttp2(bind, false);
    if (isSet(field(opts, 'TLSTermination'))) unsupported('TLS termination at the edge for tls endpoints (crt/key)');
    if (isSet(field(opts, 'MutualTLSAtEdge'))) unsupported('mutual TLS at the edge for tls endpoints');
    const edge: EdgeOptions = {};
    const ip = ipRestriction(opts, ipPolicyRef);
    if (ip) edge.ipRestriction = ip;
    const policy = trafficPolicy(opts);
    if (policy) edge.trafficPolicy = policy;
    return {
      request: { ...base, proto: 'tls' as Proto, ...names(opts), edge },
      tunnel: { ngrokProto, ...(proxyProto ? { proxyProto } : {}) },
    };
  }
  throw new RpcError('ERR_NGROK_332', `unsupported protocol "${ngrokProto}"`);
}

/** host:port of an upstream URL or address, for Host rewriting; undefined for app:// and such. */
function hostPortOf(forwardsTo: string): string | undefined {
  try {
    const u = new URL(forwardsTo.includes('://') ? forwardsTo : `http://${forwardsTo}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.host || undefined;
  } catch {
    return undefined;
  }
}
