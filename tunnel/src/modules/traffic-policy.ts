// Traffic policy (`traffic_policy:` in ngrok.yml, `--traffic-policy-file`, EndpointTrafficPolicy):
// `on_tcp_connect` / `on_http_request` / `on_http_response` rules, each with CEL `expressions` (all must hold) and
// `actions` run in order. Actions that correspond to modules run the same module code
// (basic-auth, restrict-ips, compress-response, circuit-breaker, verify-webhook, and oauth /
// openid-connect once registered); the rest are implemented here. Everything is compiled at bind
// time: a bad expression is ERR_NGROK_2200, an unknown action ERR_NGROK_2201 naming it.
import { Transform } from 'node:stream';
import { ERROR_CODE_HEADER } from '../edge-errors';
import { removeRawHeaders } from '../net/raw-headers';
import { basicAuthModule } from './basic-auth';
import { celTrue, compileCel, compileInterpolation, type CelProgram, type Interpolation } from './cel';
import { circuitBreakerModule } from './circuit-breaker';
import { compressionModule, type CompressionAlgorithm } from './compression';
import { check, durationMs, ModuleConfigError, within, type ConfigPath } from './config-error';
import { ipFilter, ipRestrictionModule, type IpPolicyStore } from './ip-restriction';
import { celVariables, requestUrl, VAR } from './request-vars';
import type { HttpModule, RequestContext, RequestOutcome, ResponseContext, SharedRateLimiter } from './types';
import { webhookVerificationModule } from './webhook-verification';
import type { ManagedOAuth } from './oauth/managed';

export interface TrafficPolicyAction {
  type: string;
  config?: Record<string, unknown>;
}

export interface TrafficPolicyRule {
  name?: string;
  expressions?: string[];
  actions: TrafficPolicyAction[];
}

/** A policy document as in ngrok.yml / a policy file (legacy `inbound`/`outbound` accepted). */
export interface TrafficPolicyDocument {
  on_http_request?: TrafficPolicyRule[];
  on_http_response?: TrafficPolicyRule[];
  on_tcp_connect?: TrafficPolicyRule[];
  inbound?: TrafficPolicyRule[];
  outbound?: TrafficPolicyRule[];
}

type Phase = 'request' | 'response' | 'connect';

/** What an `on_tcp_connect` action sees and changes: one visitor connection, before any byte moves. */
export interface ConnectContext {
  /** CEL `conn` (client_ip, client_port, server_ip, server_port; tls.sni on TLS endpoints). */
  readonly conn: Record<string, unknown>;
  /** `set-vars` values (CEL `vars`). */
  readonly vars: Record<string, unknown>;
  /** `log` entries (ngrok's `traffic_policy.logs`). */
  readonly logs: { metadata: unknown }[];
}

/** The verdict of the `on_tcp_connect` rules on one connection. */
export interface ConnectVerdict {
  close: boolean;
  logs: { metadata: unknown }[];
  vars: Record<string, unknown>;
}

/** The actions ngrok allows in `on_tcp_connect` that Burrow runs. */
const CONNECT_ACTIONS = new Set(['deny', 'close-connection', 'restrict-ips', 'log', 'set-vars']);
const PHASE_KEY: Record<Phase, string> = {
  connect: 'on_tcp_connect',
  request: 'on_http_request',
  response: 'on_http_response',
};

/** Builds an auth module (OAuth / OIDC) from an action config; registered by those modules. */
export type AuthActionFactory = (config: Record<string, unknown>, where: string, env: PolicyEnv) => HttpModule;
const authActions = new Map<string, AuthActionFactory>();

/** Lets the OAuth/OIDC modules plug their actions (`oauth`, `openid-connect`/`oidc`) in. */
export function registerAuthAction(type: string, factory: AuthActionFactory): void {
  authActions.set(type, factory);
}

export interface PolicyEnv {
  ipPolicies?: IpPolicyStore;
  /** The edge's internal endpoint for a `.internal` host name, if one is online (opaque here). */
  internalEndpoint?: (host: string) => unknown;
  managedOAuth?: ManagedOAuth;
  now?: () => number;
  /** Rate limits counted across cluster nodes (PipelineEnv.rateLimiter), scoped by `rateScope`. */
  rateLimiter?: SharedRateLimiter;
  rateScope?: () => string;
  /** Config checks: collect every refusal here and go on, instead of throwing the first. */
  collect?: ModuleConfigError[];
}

/** One compiled action; returns 'handled' when it answered the client. */
interface CompiledAction {
  type: string;
  terminating: boolean;
  /** Config problems that do not stop the edge (paths inside the action), for config checks. */
  warnings?: ModuleConfigError[];
  request?(ctx: RequestContext): RequestOutcome | Promise<RequestOutcome>;
  response?(ctx: ResponseContext): 'handled' | void;
  /** `on_tcp_connect`: 'close' ends the connection (deny, close-connection, a refused address). */
  connect?(ctx: ConnectContext): 'close' | void;
}

interface CompiledRule {
  where: string;
  expressions: CelProgram[];
  actions: CompiledAction[];
}

const NOT_IN_BURROW = new Set([
  'http-request',
  'jwt-validation',
  'owasp-crs-request',
  'owasp-crs-response',
  'request-body-find-replace',
  'response-body-find-replace',
  'sse-find-replace',
  'terminate-tls',
  'ai-gateway',
  'saml',
]);
/** The actions compiled here (the auth actions are registered by their modules). */
const BUILT_IN_ACTIONS = new Set([
  'deny',
  'close-connection',
  'custom-response',
  'redirect',
  'url-rewrite',
  'rate-limit',
  'add-headers',
  'remove-headers',
  'set-vars',
  'basic-auth',
  'restrict-ips',
  'verify-webhook',
  'circuit-breaker',
  'compress-response',
  'forward-internal',
  'log',
]);

/** Module config names → the action's own keys, where they differ by more than camel → snake case. */
const AUTH_ACTION_KEYS: Record<string, string> = {
  inactivityTimeoutMs: 'idle_session_timeout',
  maxDurationMs: 'max_session_duration',
  authCheckIntervalMs: 'userinfo_refresh_interval',
  optionsPassthrough: 'allow_cors_preflight',
};

/** Builds a module for an action; its config errors are located at the action's own key names. */
function actionModule<T>(renames: Record<string, string>, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof ModuleConfigError && typeof err.path[0] === 'string') {
      const [first, ...rest] = err.path as ConfigPath;
      err.path = [renames[first as string] ?? snakeCase(first as string), ...rest];
    }
    throw err;
  }
}

/** `allowCidrs` → `allow_cidrs`. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const REQUEST_ONLY = new Set([
  'deny',
  'close-connection',
  'forward-internal',
  'redirect',
  'url-rewrite',
  'rate-limit',
  'basic-auth',
  'circuit-breaker',
  'verify-webhook',
  'oauth',
  'openid-connect',
  'oidc',
]);

// Keys ctx.vars uses between the phases of one request.
const REPLACED_BODY = 'policy.replacedBody';
const COMPRESS = 'policy.compress';
/** Modules whose request phase an action ran: their response and completion hooks follow. */
const RAN_MODULES = 'policy.ran-modules';

function str(v: unknown, where: string, required = false): string | undefined {
  if (v === undefined || v === null) {
    check(!required, 'ERR_NGROK_2234', `${where} is required`);
    return undefined;
  }
  check(typeof v === 'string', 'ERR_NGROK_2204', `${where} must be a string`);
  return v;
}

function strMap(v: unknown, where: string, max = 10): Record<string, string> {
  if (v === undefined) return {};
  check(v && typeof v === 'object' && !Array.isArray(v), 'ERR_NGROK_2204', `${where} must be a map of name to value`);
  const entries = Object.entries(v as Record<string, unknown>);
  check(entries.length <= max, 'ERR_NGROK_2218', `${where} has more than ${max} entries`);
  for (const [k, val] of entries) {
    check(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k), 'ERR_NGROK_2208', `${where}: "${k}" is not a valid header name`, [
      k,
    ]);
    check(
      typeof val === 'string' || typeof val === 'number' || typeof val === 'boolean',
      'ERR_NGROK_2204',
      `${where}.${k} must be a string`,
      [k],
    );
  }
  return Object.fromEntries(entries.map(([k, val]) => [k, String(val)]));
}

function statusOf(v: unknown, where: string, fallback: number, range: [number, number] = [100, 599]): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  check(
    typeof n === 'number' && Number.isInteger(n) && n >= range[0] && n <= range[1],
    'ERR_NGROK_2215',
    `${where} must be an HTTP status ${range[0]}..${range[1]}`,
  );
  return n;
}

function compileHeaderMap(map: Record<string, string>, where: string): { name: string; value: Interpolation }[] {
  return Object.entries(map).map(([name, value]) => ({
    name: name.toLowerCase(),
    value: within([name], () => compileInterpolation(value, `${where}.${name}`)),
  }));
}

function sendSimple(
  ctx: RequestContext,
  status: number,
  headers: { name: string; value: string }[],
  body: string,
): void {
  const out: Record<string, string | string[]> = {};
  for (const { name, value } of headers) {
    if (name === ERROR_CODE_HEADER) continue;
    const prev = out[name];
    out[name] = prev === undefined ? value : ([] as string[]).concat(prev, value);
  }
  if (!out['content-type'] && body) out['content-type'] = inferContentType(body);
  out['content-length'] = String(Buffer.byteLength(body));
  ctx.res.writeHead(status, out);
  if (ctx.method === 'HEAD') ctx.res.end();
  else ctx.res.end(body);
}

/** ngrok infers a content type for custom responses that name none. */
function inferContentType(body: string): string {
  const t = body.trimStart();
  if (/^[[{]/.test(t)) {
    try {
      JSON.parse(body);
      return 'application/json';
    } catch {
      /* not JSON */
    }
  }
  if (/^<(!doctype html|html|head|body|div|p|h\d)\b/i.test(t)) return 'text/html; charset=utf-8';
  return 'text/plain; charset=utf-8';
}

function setVarsOf(ctx: RequestContext): Record<string, unknown> {
  let vars = ctx.vars.get(VAR.policyVars) as Record<string, unknown> | undefined;
  if (!vars) ctx.vars.set(VAR.policyVars, (vars = {}));
  return vars;
}

function invalidateCel(ctx: RequestContext): void {
  ctx.vars.delete('cel.request');
  ctx.vars.delete('cel.response');
}

/** Applies `from` (regex, Go-style `$1` groups in `to`) to the request URL. */
function rewriteUrl(ctx: RequestContext, from: RegExp | undefined, to: Interpolation): string {
  const href = requestUrl(ctx).href;
  const target = to(celVariables(ctx));
  if (!from) return target;
  return href.replace(from, target);
}

/** A sliding-window counter per bucket key (ngrok's `sliding_window` algorithm). */
class SlidingWindow {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private windowStart = 0;

  constructor(
    private readonly capacity: number,
    private readonly rateMs: number,
    private readonly now: () => number,
  ) {}

  /** Counts one request; false when the key is over capacity (the request is then not counted). */
  take(key: string): { ok: boolean; retryAfterS: number } {
    const t = this.now();
    const start = Math.floor(t / this.rateMs) * this.rateMs;
    if (start !== this.windowStart) {
      this.previous = start - this.windowStart === this.rateMs ? this.current : new Map();
      this.current = new Map();
      this.windowStart = start;
    }
    const weight = 1 - (t - start) / this.rateMs;
    const estimate = (this.previous.get(key) ?? 0) * weight + (this.current.get(key) ?? 0);
    if (estimate + 1 > this.capacity)
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((start + this.rateMs - t) / 1000)) };
    // Bounded memory: a flood of distinct keys resets the window rather than growing without end.
    if (this.current.size >= 100_000) this.current.clear();
    this.current.set(key, (this.current.get(key) ?? 0) + 1);
    return { ok: true, retryAfterS: 0 };
  }
}

/** An action that is a whole module (basic-auth, oauth, circuit-breaker…): same code as the module. */
function fromModule(module: HttpModule, type: string): CompiledAction {
  return {
    type,
    terminating: false,
    request: module.onRequest
      ? (ctx) => {
          const ran = (ctx.vars.get(RAN_MODULES) as HttpModule[] | undefined) ?? [];
          ran.push(module);
          ctx.vars.set(RAN_MODULES, ran);
          return module.onRequest!(ctx);
        }
      : undefined,
  };
}

function compileAction(action: TrafficPolicyAction, phase: Phase, where: string, env: PolicyEnv): CompiledAction {
  check(
    action && typeof action === 'object' && typeof action.type === 'string',
    'ERR_NGROK_2201',
    `${where}: an action needs a "type"`,
    ['type'],
  );
  const type = action.type;
  const c = (action.config ?? {}) as Record<string, unknown>;
  check(typeof c === 'object' && !Array.isArray(c), 'ERR_NGROK_2203', `${where}.config must be a map`, ['config']);
  const at = `${where} (${type})`;
  if (NOT_IN_BURROW.has(type))
    throw new ModuleConfigError('ERR_NGROK_2201', `${at}: the "${type}" action is not supported by Burrow`, ['type']);
  if ((phase === 'response' && REQUEST_ONLY.has(type)) || (phase === 'connect' && !CONNECT_ACTIONS.has(type)))
    throw new ModuleConfigError('ERR_NGROK_2202', `${at}: "${type}" is not allowed in ${PHASE_KEY[phase]}`, ['type']);
  if (!authActions.has(type) && !BUILT_IN_ACTIONS.has(type)) {
    if (type === 'oauth' || type === 'openid-connect' || type === 'oidc')
      throw new ModuleConfigError('ERR_NGROK_2201', `${at}: the "${type}" action is not available in this build`, [
        'type',
      ]);
    throw new ModuleConfigError('ERR_NGROK_2201', `${at}: unknown action type "${type}"`, ['type']);
  }
  return within(['config'], () => compileActionConfig(type, c, at, env));
}

function compileActionConfig(type: string, c: Record<string, unknown>, at: string, env: PolicyEnv): CompiledAction {
  const now = env.now ?? Date.now;
  switch (type) {
    case 'deny': {
      const status = within(['status_code'], () => statusOf(c.status_code, `${at}.status_code`, 403));
      return {
        type,
        terminating: true,
        request: (ctx) => {
          sendSimple(ctx, status, [], '');
          return 'handled';
        },
        connect: () => 'close', // ngrok closes a denied TCP connection without a word
      };
    }
    case 'close-connection': {
      check(Object.keys(c).length === 0, 'ERR_NGROK_2203', `${at}: "close-connection" takes no config`);
      return {
        type,
        terminating: true,
        request: (ctx) => {
          closeConnectionOf(ctx);
          return 'handled';
        },
        connect: () => 'close',
      };
    }
    case 'custom-response': {
      const status = within(['status_code'], () => statusOf(c.status_code, `${at}.status_code`, 200));
      const body = within([c.body === undefined && c.content !== undefined ? 'content' : 'body'], () =>
        compileInterpolation(str(c.body ?? c.content, `${at}.body`) ?? '', `${at}.body`),
      );
      const headers = within(['headers'], () => compileHeaderMap(strMap(c.headers, `${at}.headers`), `${at}.headers`));
      const render = (ctx: RequestContext) => {
        const vars = celVariables(ctx);
        return { body: body(vars), headers: headers.map((h) => ({ name: h.name, value: h.value(vars) })) };
      };
      return {
        type,
        terminating: true,
        request: (ctx) => {
          const r = render(ctx);
          sendSimple(ctx, status, r.headers, r.body);
          return 'handled';
        },
        response: (ctx) => {
          const r = render(ctx);
          ctx.statusCode = status;
          ctx.responseHeaders.length = 0;
          for (const h of r.headers) ctx.responseHeaders.push(h.name, h.value);
          if (!r.headers.some((h) => h.name === 'content-type') && r.body)
            ctx.responseHeaders.push('content-type', inferContentType(r.body));
          ctx.responseHeaders.push('content-length', String(Buffer.byteLength(r.body)));
          ctx.vars.set(REPLACED_BODY, Buffer.from(r.body));
          return 'handled';
        },
      };
    }
    case 'redirect': {
      const from = within(['from'], () =>
        c.from === undefined ? undefined : regex(str(c.from, `${at}.from`)!, `${at}.from`),
      );
      const to = within(['to'], () => compileInterpolation(str(c.to, `${at}.to`, true)!, `${at}.to`));
      const status = within(['status_code'], () => statusOf(c.status_code, `${at}.status_code`, 302, [300, 399]));
      const headers = within(['headers'], () => compileHeaderMap(strMap(c.headers, `${at}.headers`), `${at}.headers`));
      return {
        type,
        terminating: true,
        request: (ctx) => {
          const location = rewriteUrl(ctx, from, to);
          const vars = celVariables(ctx);
          sendSimple(
            ctx,
            status,
            [{ name: 'location', value: location }, ...headers.map((h) => ({ name: h.name, value: h.value(vars) }))],
            '',
          );
          return 'handled';
        },
      };
    }
    case 'forward-internal': {
      // Sends the request to an internal endpoint (`https://name.internal`) of this edge instead of
      // this endpoint's upstream; the request as rewritten so far goes there, and no later action runs.
      for (const key of Object.keys(c))
        check(['url', 'binding', 'on_error'].includes(key), 'ERR_NGROK_2203', `${at}: unknown field "${key}"`, [key]);
      const url = within(['url'], () => compileInterpolation(str(c.url, `${at}.url`, true)!, `${at}.url`));
      check(
        c.binding === undefined || c.binding === 'internal',
        'ERR_NGROK_2204',
        `${at}.binding: only "internal" is supported`,
        ['binding'],
      );
      check(
        c.on_error === undefined || c.on_error === 'halt' || c.on_error === 'continue',
        'ERR_NGROK_2204',
        `${at}.on_error must be "halt" or "continue"`,
        ['on_error'],
      );
      return {
        type,
        // on_error: continue falls through to the next action (ngrok's "fallback" pattern)
        terminating: c.on_error !== 'continue',
        request: (ctx) => {
          let host = '';
          try {
            host = new URL(url(celVariables(ctx))).hostname.toLowerCase();
          } catch {
            host = '';
          }
          const target = host.endsWith('.internal') ? env.internalEndpoint?.(host) : undefined;
          if (target) {
            ctx.vars.set(VAR.forwardTarget, target);
            return undefined;
          }
          if (c.on_error === 'continue') return undefined;
          ctx.res.setHeader(ERROR_CODE_HEADER, 'ERR_NGROK_3200');
          sendSimple(ctx, 502, [], `no internal endpoint is online at ${host || 'that URL'}\n`);
          return 'handled';
        },
      };
    }
    case 'log': {
      // ngrok: the metadata is "collected on the http_request_complete.v0 event under the
      // traffic_policy.logs key". Burrow's event is the request's capture and its log line: the
      // entries travel to the agent with the request (and, for on_http_response, after its head).
      for (const key of Object.keys(c))
        check(key === 'metadata', 'ERR_NGROK_2203', `${at}: unknown field "${key}"`, [key]);
      const m = c.metadata;
      check(m !== undefined && m !== null, 'ERR_NGROK_2234', `${at}.metadata is required`, ['metadata']);
      check(
        typeof m === 'object' && !Array.isArray(m) && Object.keys(m).length > 0,
        'ERR_NGROK_2204',
        `${at}.metadata must be a map of name to value with at least one entry`,
        ['metadata'],
      );
      const warnings: ModuleConfigError[] = [];
      const render = compileMetadata(m, `${at}.metadata`, ['metadata'], warnings);
      const record = (ctx: RequestContext) => {
        let logs = ctx.vars.get(VAR.policyLogs) as { metadata: unknown }[] | undefined;
        if (!logs) ctx.vars.set(VAR.policyLogs, (logs = []));
        // Bounded: a rule in a loop of redirects cannot grow one request's record without end.
        if (logs.length < 64) logs.push({ metadata: render(celVariables(ctx)) });
        invalidateCel(ctx); // actions.ngrok.log.metadata changed
      };
      const connect = (cx: ConnectContext) => {
        if (cx.logs.length < 64) cx.logs.push({ metadata: render(connectVariables(cx)) });
      };
      return { type, terminating: false, request: record, response: record, connect, warnings };
    }
    case 'url-rewrite': {
      const from = within(['from'], () =>
        c.from === undefined ? undefined : regex(str(c.from, `${at}.from`)!, `${at}.from`),
      );
      const to = within(['to'], () => compileInterpolation(str(c.to, `${at}.to`, true)!, `${at}.to`));
      return {
        type,
        terminating: false,
        request: (ctx) => {
          const rewritten = rewriteUrl(ctx, from, to);
          // Only the path and query change; the host stays the endpoint's.
          const url = new URL(rewritten, requestUrl(ctx));
          ctx.url = url.pathname + url.search;
          invalidateCel(ctx);
        },
      };
    }
    case 'rate-limit': {
      within(['name'], () => str(c.name, `${at}.name`, true));
      check(
        c.algorithm === undefined || c.algorithm === 'sliding_window',
        'ERR_NGROK_2204',
        `${at}.algorithm must be "sliding_window"`,
        ['algorithm'],
      );
      const capacity = c.capacity;
      check(
        typeof capacity === 'number' && Number.isInteger(capacity) && capacity >= 1 && capacity <= 2_000_000_000,
        'ERR_NGROK_2215',
        `${at}.capacity must be an integer 1..2000000000`,
        ['capacity'],
      );
      const rateMs = durationMs(String(within(['rate'], () => str(c.rate, `${at}.rate`, true))));
      check(
        Number.isFinite(rateMs) && rateMs >= 1000 && rateMs <= 86_400_000,
        'ERR_NGROK_2215',
        `${at}.rate must be a duration between 1s and 24h`,
        ['rate'],
      );
      const keys = (
        Array.isArray(c.bucket_key) ? c.bucket_key : c.bucket_key === undefined ? ['conn.client_ip'] : [c.bucket_key]
      ).map((k, i) =>
        within(Array.isArray(c.bucket_key) ? ['bucket_key', i] : ['bucket_key'], () =>
          compileCel(String(k), `${at}.bucket_key[${i}]`),
        ),
      );
      const window = new SlidingWindow(capacity, rateMs, now);
      const enforce = c.enforce !== false;
      const refuse = (ctx: RequestContext, retryAfterS: number): RequestOutcome => {
        if (!enforce) return;
        const body = JSON.stringify({
          error_code: 'ERR_BURROW_RATE_LIMITED',
          status_code: 429,
          msg: 'Too many requests',
        });
        ctx.res.writeHead(429, {
          'retry-after': String(retryAfterS),
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          [ERROR_CODE_HEADER]: 'ERR_BURROW_RATE_LIMITED',
        });
        ctx.res.end(body);
        return 'handled';
      };
      return {
        type,
        terminating: false,
        request: (ctx) => {
          const vars = celVariables(ctx);
          const key = keys
            .map((k) => {
              try {
                return String(k(vars));
              } catch {
                return '';
              }
            })
            .join('\0');
          // On a cluster the window is shared by every node (one Redis round trip); locally while
          // the shared store is away.
          const shared = env.rateLimiter?.take(`${env.rateScope?.() ?? ''}\0${at}\0${key}`, capacity, rateMs);
          if (shared) {
            return shared.then(
              (r) => (r.ok ? undefined : refuse(ctx, r.retryAfterS)),
              () => {
                const r = window.take(key);
                return r.ok ? undefined : refuse(ctx, r.retryAfterS);
              },
            );
          }
          const { ok, retryAfterS } = window.take(key);
          return ok ? undefined : refuse(ctx, retryAfterS);
        },
      };
    }
    case 'add-headers': {
      const headers = within(['headers'], () => compileHeaderMap(strMap(c.headers, `${at}.headers`), `${at}.headers`));
      check(headers.length > 0, 'ERR_NGROK_2234', `${at}.headers needs at least one header`, ['headers']);
      const apply = (raw: string[], ctx: RequestContext) => {
        const vars = celVariables(ctx);
        for (const h of headers) {
          if (h.name === 'host') removeRawHeaders(raw, (n) => n === 'host');
          raw.push(h.name, h.value(vars));
        }
      };
      return {
        type,
        terminating: false,
        request: (ctx) => apply(ctx.upstreamHeaders, ctx),
        response: (ctx) => apply(ctx.responseHeaders, ctx),
      };
    }
    case 'remove-headers': {
      check(
        Array.isArray(c.headers) && c.headers.length > 0 && c.headers.length <= 10,
        'ERR_NGROK_2218',
        `${at}.headers must list 1..10 header names`,
        ['headers'],
      );
      const names = new Set((c.headers as unknown[]).map((n) => String(n).toLowerCase()));
      const apply = (raw: string[]) => {
        removeRawHeaders(raw, (n) => names.has(n));
      };
      return {
        type,
        terminating: false,
        request: (ctx) => apply(ctx.upstreamHeaders),
        response: (ctx) => apply(ctx.responseHeaders),
      };
    }
    case 'set-vars': {
      check(
        Array.isArray(c.vars) && c.vars.length > 0,
        'ERR_NGROK_2234',
        `${at}.vars must be a list of single-key maps`,
        ['vars'],
      );
      const vars = (c.vars as unknown[]).map((entry, i) => {
        const keys = entry && typeof entry === 'object' ? Object.keys(entry) : [];
        check(keys.length === 1, 'ERR_NGROK_2252', `${at}.vars[${i}] must be a map with exactly one key`, ['vars', i]);
        const value = (entry as Record<string, unknown>)[keys[0]];
        return {
          name: keys[0],
          value:
            typeof value === 'string'
              ? within(['vars', i, keys[0]], () => compileInterpolation(value, `${at}.vars[${i}]`))
              : () => value,
        };
      });
      const run = (ctx: RequestContext) => {
        const target = setVarsOf(ctx);
        for (const v of vars) target[v.name] = v.value(celVariables(ctx));
        invalidateCel(ctx);
      };
      const connect = (cx: ConnectContext) => {
        for (const v of vars) cx.vars[v.name] = v.value(connectVariables(cx));
      };
      return { type, terminating: false, request: run, response: run, connect };
    }
    case 'basic-auth':
      return fromModule(
        actionModule({}, () =>
          basicAuthModule({
            credentials: c.credentials as string[],
            realm: c.realm as string | undefined,
            enforce: c.enforce as boolean | undefined,
          }),
        ),
        type,
      );
    case 'restrict-ips': {
      const module = actionModule({ allowCidrs: 'allow', denyCidrs: 'deny' }, () =>
        ipRestrictionModule(
          {
            allowCidrs: c.allow as string[] | undefined,
            denyCidrs: c.deny as string[] | undefined,
            ipPolicies: c.ip_policies as string[] | undefined,
            enforce: c.enforce as boolean | undefined,
          },
          env.ipPolicies,
        ),
      );
      const enforce = c.enforce !== false;
      const allowed = ipFilter(
        {
          allowCidrs: c.allow as string[] | undefined,
          denyCidrs: c.deny as string[] | undefined,
          ipPolicies: c.ip_policies as string[] | undefined,
        },
        env.ipPolicies,
      );
      return {
        ...fromModule(module, type),
        response: (ctx) => (module.onRequest!(ctx) as RequestOutcome) || undefined,
        connect: (cx) => (enforce && !allowed(String(cx.conn.client_ip)) ? 'close' : undefined),
      };
    }
    case 'verify-webhook':
      return fromModule(
        actionModule({}, () =>
          webhookVerificationModule(
            { provider: c.provider as string, secret: c.secret as string, enforce: c.enforce as boolean | undefined },
            now,
          ),
        ),
        type,
      );
    case 'circuit-breaker': {
      const d = (k: string) => (c[k] === undefined ? undefined : durationMs(String(c[k])));
      const module = actionModule({ windowMs: 'window_duration', trippedMs: 'tripped_duration' }, () =>
        circuitBreakerModule(
          {
            errorThreshold: (c.error_threshold as number | undefined) ?? 0.5,
            volumeThreshold: c.volume_threshold as number | undefined,
            windowMs: d('window_duration'),
            trippedMs: d('tripped_duration'),
            numBuckets: c.num_buckets as number | undefined,
            enforce: c.enforce as boolean | undefined,
          },
          now,
        ),
      );
      return fromModule(module, type);
    }
    case 'compress-response': {
      const module = actionModule({}, () =>
        compressionModule({ algorithms: c.algorithms as CompressionAlgorithm[] | undefined }),
      );
      const mark = (ctx: RequestContext) => {
        ctx.vars.set(COMPRESS, module);
      };
      return { type, terminating: false, request: mark, response: mark };
    }
    default: {
      return fromModule(
        actionModule(AUTH_ACTION_KEYS, () => authActions.get(type)!(c, at, env)),
        type,
      );
    }
  }
}

/**
 * The `log` action's metadata: any JSON value, its strings CEL-interpolated. An unknown variable is
 * a warning (ERR_NGROK_2238, rendered as ""), never a refusal: logging must not stop an endpoint.
 */
function compileMetadata(
  value: unknown,
  where: string,
  path: ConfigPath,
  warnings: ModuleConfigError[],
): (vars: Record<string, unknown>) => unknown {
  if (typeof value === 'string') {
    const text = within(path, () =>
      compileInterpolation(value, where, (w) => warnings.push(Object.assign(w, { path: [...path] }))),
    );
    return (vars) => text(vars);
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileMetadata(v, `${where}[${i}]`, [...path, i], warnings));
    return (vars) => items.map((item) => item(vars));
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([k, v]) => [k, compileMetadata(v, `${where}.${k}`, [...path, k], warnings)] as const,
    );
    return (vars) => Object.fromEntries(entries.map(([k, item]) => [k, item(vars)]));
  }
  return () => value;
}

function regex(source: string, where: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new ModuleConfigError(
      'ERR_NGROK_2204',
      `${where}: invalid regular expression "${source}": ${(err as Error).message}`,
    );
  }
}

function compileRules(rules: unknown, phase: Phase, key: string, env: PolicyEnv): CompiledRule[] {
  if (rules === undefined) return [];
  check(Array.isArray(rules), 'ERR_NGROK_2236', `${key} must be a list of rules`, [key]);
  let authActionsSeen = 0;
  const compiled = rules.map((rule: TrafficPolicyRule, i) => {
    const where = `${key}[${i}]${rule?.name ? ` "${rule.name}"` : ''}`;
    return attempt(env, [key, i], () => compileRule(rule, where, phase, key, env, [key, i], () => ++authActionsSeen));
  });
  return compiled.filter((r): r is CompiledRule => r !== undefined);
}

/**
 * Runs one part of the compilation. With `env.collect` (config checks that report every problem)
 * a refusal is collected at `path` and compilation goes on; otherwise it is thrown.
 */
function attempt<T>(env: PolicyEnv, path: ConfigPath, fn: () => T): T | undefined {
  if (!env.collect) return within(path, fn);
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ModuleConfigError)) throw err;
    err.path = [...path, ...err.path];
    env.collect.push(err);
    return undefined;
  }
}

function compileRule(
  rule: TrafficPolicyRule,
  where: string,
  phase: Phase,
  key: string,
  env: PolicyEnv,
  at: ConfigPath,
  countAuth: () => number,
): CompiledRule {
  check(rule && typeof rule === 'object', 'ERR_NGROK_2236', `${where} must be a rule object`);
  check(
    rule.expressions === undefined || Array.isArray(rule.expressions),
    'ERR_NGROK_2200',
    `${where}.expressions must be a list of CEL strings`,
    ['expressions'],
  );
  check(Array.isArray(rule.actions) && rule.actions.length > 0, 'ERR_NGROK_2206', `${where} has no actions`, [
    Array.isArray(rule.actions) ? 'actions' : 'expressions',
  ]);
  const expressions = (rule.expressions ?? []).map((e, j) =>
    attempt(env, [...at, 'expressions', j], () => {
      check(typeof e === 'string', 'ERR_NGROK_2200', `${where}.expressions[${j}] must be a string`);
      return compileCel(e, `${where}.expressions[${j}]`);
    }),
  );
  const actions = rule.actions.map((a, j) =>
    attempt(env, [...at, 'actions', j], () => compileAction(a, phase, `${where}.actions[${j}]`, env)),
  );
  actions.forEach((a, j) => {
    for (const w of a?.warnings ?? [])
      env.collect?.push(Object.assign(w, { path: [...at, 'actions', j, 'config', ...w.path] }));
  });
  actions.forEach((a, j) => {
    if (!a) return;
    attempt(env, [...at, 'actions'], () => {
      check(
        !(a.terminating && j < actions.length - 1),
        'ERR_NGROK_2207',
        `${where}.actions[${j + 1}] can never run: "${a.type}" before it ends the request`,
        [j + 1],
      );
      if (['basic-auth', 'oauth', 'openid-connect', 'oidc'].includes(a.type))
        check(
          countAuth() <= 1,
          'ERR_NGROK_2239',
          `${key}: only one authentication action (basic-auth, oauth, openid-connect) per policy`,
          [j, 'type'],
        );
    });
  });
  return {
    where,
    expressions: expressions.filter((e): e is CelProgram => e !== undefined),
    actions: actions.filter((a): a is CompiledAction => a !== undefined),
  };
}

/** Validates and compiles a document; throws ModuleConfigError with ngrok's 22xx codes. */
export function compileTrafficPolicy(
  doc: TrafficPolicyDocument,
  env: PolicyEnv = {},
): { connect: CompiledRule[]; request: CompiledRule[]; response: CompiledRule[] } {
  check(
    doc && typeof doc === 'object' && !Array.isArray(doc),
    'ERR_NGROK_2236',
    'trafficPolicy must be a policy document (a map with on_tcp_connect / on_http_request / on_http_response)',
  );
  for (const key of Object.keys(doc)) {
    check(
      ['on_http_request', 'on_http_response', 'on_tcp_connect', 'inbound', 'outbound'].includes(key),
      'ERR_NGROK_2236',
      `trafficPolicy: unknown phase "${key}"`,
      [key],
    );
  }
  check(
    !(doc.inbound && doc.on_http_request) && !(doc.outbound && doc.on_http_response),
    'ERR_NGROK_2236',
    'trafficPolicy: use on_http_request/on_http_response or the legacy inbound/outbound, not both',
    [doc.inbound ? 'inbound' : 'outbound'],
  );
  return {
    connect: compileRules(doc.on_tcp_connect, 'connect', 'on_tcp_connect', env),
    request: compileRules(
      doc.on_http_request ?? doc.inbound,
      'request',
      doc.inbound ? 'inbound' : 'on_http_request',
      env,
    ),
    response: compileRules(
      doc.on_http_response ?? doc.outbound,
      'response',
      doc.outbound ? 'outbound' : 'on_http_response',
      env,
    ),
  };
}

function matches(rule: CompiledRule, ctx: RequestContext): boolean {
  if (rule.expressions.length === 0) return true;
  const vars = celVariables(ctx);
  return rule.expressions.every((e) => celTrue(e, vars));
}

/** Runs `on_tcp_connect` rules on one connection, top to bottom, until an action closes it. */
function runConnect(rules: CompiledRule[], conn: Record<string, unknown>): ConnectVerdict {
  const cx: ConnectContext = { conn, vars: {}, logs: [] };
  for (const rule of rules) {
    if (rule.expressions.length && !rule.expressions.every((e) => celTrue(e, connectVariables(cx)))) continue;
    for (const action of rule.actions) {
      if (action.connect?.(cx) === 'close') return { close: true, logs: cx.logs, vars: cx.vars };
    }
  }
  return { close: false, logs: cx.logs, vars: cx.vars };
}

/** CEL variables of the connect phase: the connection, set-vars, the last log entry. */
function connectVariables(cx: ConnectContext): Record<string, unknown> {
  return {
    conn: cx.conn,
    vars: cx.vars,
    actions: { ngrok: { log: { metadata: cx.logs.at(-1)?.metadata ?? {} } } },
    time: { now: new Date() },
  };
}

/** An HTTP/1 visitor's socket, or an HTTP/2 visitor's session: what on_tcp_connect judges once. */
function connectionOf(ctx: RequestContext): object {
  const h2 = (ctx.req as { stream?: { session?: object } }).stream?.session;
  return h2 ?? ctx.req.socket;
}

function closeConnectionOf(ctx: RequestContext): void {
  const h2 = (ctx.req as { stream?: { session?: { destroy(): void } } }).stream?.session;
  if (h2) h2.destroy();
  else ctx.req.socket?.destroy();
}

/**
 * A TCP or TLS endpoint's policy: only `on_tcp_connect` (or its legacy name `inbound`) applies;
 * the HTTP phases are refused (ERR_NGROK_2230). Undefined when there are no rules.
 */
export function connectPolicy(
  doc: TrafficPolicyDocument,
  env: PolicyEnv = {},
): ((conn: Record<string, unknown>) => ConnectVerdict) | undefined {
  check(
    doc && typeof doc === 'object' && !Array.isArray(doc),
    'ERR_NGROK_2236',
    'trafficPolicy must be a policy document (a map with on_tcp_connect)',
  );
  for (const key of Object.keys(doc)) {
    attempt(env, [], () =>
      check(
        key === 'on_tcp_connect' || key === 'inbound',
        ['on_http_request', 'on_http_response', 'outbound'].includes(key) ? 'ERR_NGROK_2230' : 'ERR_NGROK_2236',
        `trafficPolicy: "${key}" is not a phase of TCP and TLS endpoints: they take on_tcp_connect only`,
        [key],
      ),
    );
  }
  attempt(env, [], () =>
    check(
      !(doc.on_tcp_connect && doc.inbound),
      'ERR_NGROK_2236',
      'trafficPolicy: use on_tcp_connect or the legacy inbound, not both',
      ['inbound'],
    ),
  );
  const key = doc.inbound ? 'inbound' : 'on_tcp_connect';
  const rules = compileRules(doc.on_tcp_connect ?? doc.inbound, 'connect', key, env);
  return rules.length ? (conn) => runConnect(rules, conn) : undefined;
}

export function trafficPolicyModule(doc: TrafficPolicyDocument, env: PolicyEnv = {}): HttpModule {
  const { connect, request, response } = compileTrafficPolicy(doc, env);
  // on_tcp_connect on an HTTP endpoint: judged once per visitor connection, at its first request here.
  const judged = new WeakMap<object, ConnectVerdict>();
  const onConnect = (ctx: RequestContext): RequestOutcome => {
    const key = connectionOf(ctx);
    let verdict = judged.get(key);
    if (!verdict) {
      verdict = runConnect(connect, celVariables(ctx).conn as Record<string, unknown>);
      judged.set(key, verdict);
      if (verdict.logs.length) {
        let logs = ctx.vars.get(VAR.policyLogs) as { metadata: unknown }[] | undefined;
        if (!logs) ctx.vars.set(VAR.policyLogs, (logs = []));
        logs.push(...verdict.logs);
      }
    }
    if (verdict.close) {
      closeConnectionOf(ctx);
      return 'handled';
    }
    if (Object.keys(verdict.vars).length) {
      Object.assign(setVarsOf(ctx), verdict.vars);
      invalidateCel(ctx);
    }
    return undefined;
  };
  return {
    name: 'traffic-policy',
    logsResponse: response.some((rule) => rule.actions.some((a) => a.type === 'log')),
    onRequest:
      request.length || connect.length
        ? async (ctx) => {
            if (connect.length && onConnect(ctx) === 'handled') return 'handled';
            for (const rule of request) {
              if (!matches(rule, ctx)) continue;
              for (const action of rule.actions) {
                if (!action.request) continue;
                const outcome = await action.request(ctx);
                if (outcome === 'handled' || ctx.res.headersSent) return 'handled';
                if (ctx.vars.has(VAR.forwardTarget)) return undefined; // forward-internal ends the policy
              }
            }
            return undefined;
          }
        : undefined,
    onResponse(ctx) {
      for (const module of (ctx.vars.get(RAN_MODULES) as HttpModule[] | undefined) ?? []) module.onResponse?.(ctx);
      outer: for (const rule of response) {
        if (!matches(rule, ctx)) continue;
        for (const action of rule.actions) {
          if (action.response?.(ctx) === 'handled') break outer;
        }
      }
      const compress = ctx.vars.get(COMPRESS) as HttpModule | undefined;
      if (compress && !ctx.vars.has(REPLACED_BODY)) compress.onResponse!(ctx);
    },
    responseBody(ctx) {
      const replaced = ctx.vars.get(REPLACED_BODY) as Buffer | undefined;
      if (replaced) return replaceBody(replaced);
      const compress = ctx.vars.get(COMPRESS) as HttpModule | undefined;
      return compress?.responseBody?.(ctx);
    },
    onComplete(ctx, result) {
      for (const module of (ctx.vars.get(RAN_MODULES) as HttpModule[] | undefined) ?? [])
        module.onComplete?.(ctx, result);
    },
  };
}

/** Drops the upstream body and sends `body` instead. */
function replaceBody(body: Buffer): Transform {
  return new Transform({
    transform(_chunk, _enc, cb) {
      cb();
    },
    flush(cb) {
      this.push(body);
      cb();
    },
  });
}
