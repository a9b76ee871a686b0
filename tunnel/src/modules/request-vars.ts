// What a request looks like to expressions and templates: the CEL variables of traffic policy
// (`conn.*`, `req.*`, `res.*`, `endpoint.*`, `vars.*`, `actions.ngrok.*`) and the legacy
// JSONPath header templates (`${.ngrok.request_id}`, `${.conn.client_ip}`, …). Built lazily, only
// for endpoints that use templates or expressions.
import type { TLSSocket } from 'node:tls';
import { rawHeadersMap } from '../net/raw-headers';
import { CelUrl } from './cel';
import type { RequestContext, ResponseContext } from './types';

/** Module results other modules and templates read, keyed `<module>.<field>` in ctx.vars. */
export const VAR = {
  basicAuthUsername: 'basic_auth.username',
  basicAuthDecision: 'basic_auth.decision',
  ipPolicyDecision: 'ip_policy.decision',
  circuitBreakerDecision: 'circuit_breaker.decision',
  webhookDecision: 'webhook_validation.decision',
  compressionAlgorithm: 'compression.algorithm',
  /** `{id, name, email}` of the signed-in user; set by the OAuth/OIDC modules. */
  oauthUser: 'oauth.user',
  /** Traffic-policy `set-vars` values (`vars.*` in CEL). */
  policyVars: 'policy.vars',
  /** Set by `forward-internal`: the internal endpoint (edge HttpTarget) the request goes to instead. */
  forwardTarget: 'policy.forward_target',
  /** `{metadata}` entries the `log` action recorded, both phases (ngrok's `traffic_policy.logs`). */
  policyLogs: 'policy.logs',
} as const;

function tlsInfo(ctx: RequestContext): Record<string, unknown> | undefined {
  const socket = ctx.req.socket as TLSSocket | undefined;
  if (!socket || typeof socket.getProtocol !== 'function') return undefined;
  const cert = ctx.peerCertificate;
  return {
    version: socket.getProtocol() ?? '',
    cipher_suite: socket.getCipher()?.standardName ?? '',
    sni: (socket as TLSSocket & { servername?: string | false }).servername || '',
    client:
      cert && Object.keys(cert).length
        ? {
            subject: { common_name: cert.subject?.CN ?? '', organization: cert.subject?.O ?? '' },
            issuer: { common_name: cert.issuer?.CN ?? '', organization: cert.issuer?.O ?? '' },
            serial_number: cert.serialNumber ?? '',
            san: {
              dns_names: (cert.subjectaltname ?? '')
                .split(', ')
                .filter((s) => s.startsWith('DNS:'))
                .map((s) => s.slice(4)),
            },
          }
        : undefined,
  };
}

/** The URL the client asked for (Host header with its port), with the current (maybe rewritten) path. */
export function requestUrl(ctx: RequestContext): URL {
  const authority = String(ctx.req.headers.host ?? ctx.req.headers[':authority'] ?? ctx.host) || 'localhost';
  try {
    return new URL(ctx.url, `${ctx.scheme}://${authority}`);
  } catch {
    return new URL(ctx.url.startsWith('/') ? ctx.url : '/', `${ctx.scheme}://${ctx.host || 'localhost'}`);
  }
}

function queryParams(url: URL): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (out[k] ??= []).push(v);
  return out;
}

/** The CEL activation for `ctx`; `res.*` only in the response phase. Cached per request and phase. */
export function celVariables(ctx: RequestContext | ResponseContext): Record<string, unknown> {
  const phase = 'statusCode' in ctx ? 'cel.response' : 'cel.request';
  const cached = ctx.vars.get(phase) as Record<string, unknown> | undefined;
  if (cached) return cached;
  const url = requestUrl(ctx);
  const headers = rawHeadersMap(ctx.req.rawHeaders);
  const socket = ctx.req.socket;
  const contentLength = Number(headers['content-length']?.[0] ?? -1);
  const out: Record<string, unknown> = {
    conn: {
      client_ip: ctx.clientIp,
      client_port: socket?.remotePort ?? 0,
      server_ip: (socket?.localAddress ?? '').replace(/^::ffff:/, ''),
      server_port: socket?.localPort ?? 0,
      tls: tlsInfo(ctx),
    },
    req: {
      method: ctx.method,
      host: ctx.host,
      headers,
      content_length: Number.isFinite(contentLength) ? contentLength : -1,
      content_type: headers['content-type']?.[0] ?? '',
      user_agent: headers['user-agent']?.[0] ?? '',
      url: new CelUrl({
        scheme: ctx.scheme,
        host: url.hostname,
        port: url.port,
        authority: url.host,
        path: url.pathname,
        raw_path: url.pathname,
        query: url.search.slice(1),
        query_params: queryParams(url),
        raw: url.href,
        uri: url.pathname + url.search,
      }),
    },
    endpoint: { host: ctx.host, url: url.origin, port: url.port, protocol: ctx.scheme },
    vars: (ctx.vars.get(VAR.policyVars) as Record<string, unknown> | undefined) ?? {},
    actions: {
      ngrok: {
        oauth: { identity: ctx.vars.get(VAR.oauthUser) ?? {} },
        basic_auth: { credentials: { username: ctx.vars.get(VAR.basicAuthUsername) ?? '' } },
        // The last `log` action's metadata (ngrok: "results are not concatenated").
        log: {
          metadata: (ctx.vars.get(VAR.policyLogs) as { metadata: unknown }[] | undefined)?.at(-1)?.metadata ?? {},
        },
      },
    },
    time: { now: new Date() },
  };
  if ('statusCode' in ctx) {
    const resHeaders = rawHeadersMap(ctx.responseHeaders);
    const len = Number(resHeaders['content-length']?.[0] ?? -1);
    out.res = {
      status_code: ctx.statusCode,
      headers: resHeaders,
      content_type: resHeaders['content-type']?.[0] ?? '',
      content_encoding: resHeaders['content-encoding'] ?? [],
      content_length: Number.isFinite(len) ? len : -1,
      location: resHeaders.location?.[0] ?? '',
    };
  }
  ctx.vars.set(phase, out);
  return out;
}

/** Legacy header-template variables (ngrok "HTTP Header Templates"), dotted path → value. */
const LEGACY: Record<string, (ctx: RequestContext | ResponseContext) => unknown> = {
  'ngrok.request_id': (c) => c.requestId,
  'http.request_id': (c) => c.requestId,
  'ngrok.client_ip': (c) => c.clientIp,
  'conn.client_ip': (c) => c.clientIp,
  'conn.server_name': (c) => c.host,
  'conn.server_ip': (c) => (c.req.socket?.localAddress ?? '').replace(/^::ffff:/, ''),
  'conn.server_port': (c) => c.req.socket?.localPort ?? '',
  'http.request.method': (c) => c.method,
  'http.request.url.host': (c) => c.host,
  'http.request.url.path': (c) => requestUrl(c).pathname,
  'http.request.url.query': (c) => requestUrl(c).search.slice(1),
  'http.request.url.raw': (c) => requestUrl(c).href,
  'http.request.url.scheme': (c) => c.scheme,
  'http.request.user_agent': (c) => c.req.headers['user-agent'] ?? '',
  'http.request.version': (c) => c.req.httpVersion,
  'http.response.status_code': (c) => ('statusCode' in c ? c.statusCode : ''),
  'tls.version': (c) => (tlsInfo(c)?.version as string | undefined) ?? '',
  'tls.cipher_suite': (c) => (tlsInfo(c)?.cipher_suite as string | undefined) ?? '',
  'tls.client_cert.subject.cn': (c) => c.peerCertificate?.subject?.CN ?? '',
  'tls.client_cert.serial_number': (c) => c.peerCertificate?.serialNumber ?? '',
  'tls.client_cert.subject': (c) => subjectString(c.peerCertificate?.subject),
  'oauth.user.email': (c) => (c.vars.get(VAR.oauthUser) as { email?: string } | undefined)?.email ?? '',
  'oauth.user.id': (c) => (c.vars.get(VAR.oauthUser) as { id?: string } | undefined)?.id ?? '',
  'oauth.user.name': (c) => (c.vars.get(VAR.oauthUser) as { name?: string } | undefined)?.name ?? '',
};
/** Module results read straight from ctx.vars. */
for (const key of [
  VAR.basicAuthUsername,
  VAR.basicAuthDecision,
  VAR.ipPolicyDecision,
  VAR.circuitBreakerDecision,
  VAR.webhookDecision,
  VAR.compressionAlgorithm,
  'oauth.decision',
]) {
  LEGACY[key] = (c) => c.vars.get(key) ?? '';
}

function subjectString(subject: object | undefined): string {
  if (!subject) return '';
  return Object.entries(subject as Record<string, string | string[]>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
}

export function isLegacyVariable(path: string): boolean {
  return Object.hasOwn(LEGACY, path);
}

export function legacyVariable(path: string, ctx: RequestContext | ResponseContext): string {
  const v = LEGACY[path]?.(ctx);
  return v === undefined || v === null ? '' : String(v);
}

export const LEGACY_VARIABLES = (): string[] => Object.keys(LEGACY).sort();
