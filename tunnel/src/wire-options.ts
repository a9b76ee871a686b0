// Converts an endpoint's modules between the internal model (EdgeOptions: each module's own config
// type) and the wire (protocol/edge-options.ts). The agent converts before a bind, the edge after
// decoding one. Field by field on purpose: a module gaining, renaming or retyping an option stops
// the build here instead of silently changing the wire format; extend WireEdgeOptions (and
// tunnel/PROTOCOL.md) to send it.
import type { EdgeOptions } from './model';
import type { WireAuthSession, WireEdgeOptions } from './protocol/edge-options';
import type { AuthSessionOptions, OAuthConfig } from './modules/oauth/config';
import type { CompressionAlgorithm } from './modules/compression';
import type { TlsTerminationConfig } from './modules/mutual-tls';
import type { WebhookVerificationConfig } from './modules/webhook-verification';

/** `o` without its undefined fields (the edge tells options apart by their keys). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Maps each present option with its converter. Every key of From needs one, returning To's type
 * for that key: an option one side has and the other lacks does not compile.
 */
function convert<From extends object, To>(
  from: From,
  converters: { [K in keyof From]-?: (v: NonNullable<From[K]>) => K extends keyof To ? To[K] : never },
): To {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(from)) {
    const fn = (converters as Record<string, ((v: unknown) => unknown) | undefined>)[key];
    if (fn && value !== undefined) out[key] = fn(value);
  }
  return out as To;
}

/** Agent side: the modules of an endpoint as a bind carries them. */
export function toWireEdgeOptions(edge: EdgeOptions): WireEdgeOptions {
  return convert<EdgeOptions, WireEdgeOptions>(edge, {
    ipRestriction: (o) =>
      defined({ allowCidrs: o.allowCidrs, denyCidrs: o.denyCidrs, ipPolicies: o.ipPolicies, enforce: o.enforce }),
    mutualTls: (o) => ({ certificateAuthorities: o.certificateAuthorities }),
    tlsTermination: (o) => defined({ minVersion: o.minVersion }),
    userAgentFilter: (o) => defined({ allow: o.allow, deny: o.deny }),
    circuitBreaker: (o) =>
      defined({
        errorThreshold: o.errorThreshold,
        volumeThreshold: o.volumeThreshold,
        windowMs: o.windowMs,
        trippedMs: o.trippedMs,
        numBuckets: o.numBuckets,
        enforce: o.enforce,
      }),
    webhookVerification: (o) =>
      defined({
        provider: o.provider,
        secret: o.secret,
        enforce: o.enforce,
        maxBodyBytes: o.maxBodyBytes,
        header: o.header,
        algorithm: o.algorithm,
        encoding: o.encoding,
      }),
    basicAuth: (o) => defined({ credentials: o.credentials, realm: o.realm, enforce: o.enforce }),
    oauth: (o) => defined({ ...authSession(o), provider: o.provider, endpoints: o.endpoints && defined(o.endpoints) }),
    oidc: (o) =>
      defined({ ...authSession(o), issuerUrl: o.issuerUrl, clientId: o.clientId, clientSecret: o.clientSecret }),
    trafficPolicy: (o) =>
      defined({
        on_http_request: o.on_http_request,
        on_http_response: o.on_http_response,
        on_tcp_connect: o.on_tcp_connect,
        inbound: o.inbound,
        outbound: o.outbound,
      }),
    requestHeaders: (o) => ({ add: o.add, remove: o.remove }),
    responseHeaders: (o) => ({ add: o.add, remove: o.remove }),
    compression: (o) => defined({ algorithms: o.algorithms }),
  });
}

/**
 * Edge side: the modules of a decoded bind. Values the wire keeps as plain strings (a TLS version,
 * an algorithm) are checked by their module when the pipeline is built. Keys this edge has no
 * option for are kept, so the pipeline refuses them by name (ERR_BURROW_UNSUPPORTED_OPTION).
 */
export function fromWireEdgeOptions(wire: WireEdgeOptions): EdgeOptions {
  const known = convert<WireEdgeOptions, EdgeOptions>(wire, {
    ipRestriction: (o) =>
      defined({ allowCidrs: o.allowCidrs, denyCidrs: o.denyCidrs, ipPolicies: o.ipPolicies, enforce: o.enforce }),
    mutualTls: (o) => ({ certificateAuthorities: o.certificateAuthorities }),
    tlsTermination: (o) => defined({ minVersion: o.minVersion as TlsTerminationConfig['minVersion'] }),
    userAgentFilter: (o) => defined({ allow: o.allow, deny: o.deny }),
    circuitBreaker: (o) =>
      defined({
        errorThreshold: o.errorThreshold,
        volumeThreshold: o.volumeThreshold,
        windowMs: o.windowMs,
        trippedMs: o.trippedMs,
        numBuckets: o.numBuckets,
        enforce: o.enforce,
      }),
    webhookVerification: (o) =>
      defined({
        provider: o.provider,
        secret: o.secret,
        enforce: o.enforce,
        maxBodyBytes: o.maxBodyBytes,
        header: o.header,
        algorithm: o.algorithm as WebhookVerificationConfig['algorithm'],
        encoding: o.encoding as WebhookVerificationConfig['encoding'],
      }),
    basicAuth: (o) => defined({ credentials: o.credentials, realm: o.realm, enforce: o.enforce }),
    oauth: (o) =>
      defined({
        ...authSession(o),
        provider: o.provider as OAuthConfig['provider'],
        endpoints: o.endpoints && defined(o.endpoints),
      }),
    oidc: (o) =>
      defined({ ...authSession(o), issuerUrl: o.issuerUrl, clientId: o.clientId, clientSecret: o.clientSecret }),
    trafficPolicy: (o) =>
      defined({
        on_http_request: o.on_http_request,
        on_http_response: o.on_http_response,
        on_tcp_connect: o.on_tcp_connect,
        inbound: o.inbound,
        outbound: o.outbound,
      }),
    requestHeaders: (o) => ({ add: o.add, remove: o.remove }),
    responseHeaders: (o) => ({ add: o.add, remove: o.remove }),
    compression: (o) => defined({ algorithms: o.algorithms as CompressionAlgorithm[] | undefined }),
  });
  const unknown = Object.entries(wire).filter(([k, v]) => !(k in known) && v !== undefined);
  return { ...Object.fromEntries(unknown), ...known };
}

/** The login-session settings OAuth and OIDC share (same names on both sides). */
function authSession(o: AuthSessionOptions | WireAuthSession) {
  return {
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    scopes: o.scopes,
    allowEmails: o.allowEmails,
    allowDomains: o.allowDomains,
    authzUrlParams: o.authzUrlParams,
    authCheckIntervalMs: o.authCheckIntervalMs,
    inactivityTimeoutMs: o.inactivityTimeoutMs,
    maxDurationMs: o.maxDurationMs,
    optionsPassthrough: o.optionsPassthrough,
    cookiePrefix: o.cookiePrefix,
    authId: o.authId,
  };
}
