// The module pipeline of one endpoint: built once at bind time from the endpoint's EdgeOptions
// (validating every module config, ModuleConfigError with a code), then run per request by the
// edge's HTTP proxy. Fixed order, documented in README.md:
//
//   request:  ip-restriction → mutual-tls → user-agent-filter → circuit-breaker →
//             webhook-verification → basic-auth | oauth | oidc → traffic-policy (on_http_request)
//             → request-headers
//   response: traffic-policy (on_http_response) → response-headers → compression
//
// The request phase stops at the first module that answers the client ('handled'). An endpoint
// without modules has no pipeline at all: the proxy's fast path stays untouched.
import type { Transform } from 'node:stream';
import type { EdgeOptions } from '../model';
import { basicAuthModule } from './basic-auth';
import { circuitBreakerModule } from './circuit-breaker';
import { compressionModule } from './compression';
import { check, ModuleConfigError, within } from './config-error';
import { requestHeadersModule, responseHeadersModule } from './headers';
import { ipRestrictionModule, type IpPolicyStore } from './ip-restriction';
import { mutualTlsModule, validateTlsTermination } from './mutual-tls';
import { trafficPolicyModule } from './traffic-policy';
import type { ManagedOAuth } from './oauth/managed';
import type { HttpModule, RequestContext, RequestOutcome, ResponseContext, SharedRateLimiter } from './types';
import { userAgentFilterModule } from './user-agent-filter';
import { webhookVerificationModule } from './webhook-verification';

export { ModuleConfigError } from './config-error';

/** What the edge offers modules beyond their own config. */
export interface PipelineEnv {
  ipPolicies?: IpPolicyStore;
  /** Config checks: collect every traffic-policy refusal here instead of throwing the first. */
  collect?: ModuleConfigError[];
  /** The edge's managed OAuth apps (modules/oauth/managed.ts); undefined = not an edge (config check). */
  managedOAuth?: ManagedOAuth;
  /** The edge's internal endpoint for a `.internal` name (traffic policy `forward-internal`). */
  internalEndpoint?: (host: string) => unknown;
  /** Clock for time-based modules (tests). */
  now?: () => number;
  /** Rate limits counted across the nodes of a cluster; each pipeline counts on its own without it. */
  rateLimiter?: SharedRateLimiter;
  /** Whose limits these are (`endpoint:NAME`, `route:ID`): the same on every node, read per request. */
  rateScope?: () => string;
  /**
   * Told once a request that a module answered itself (basic auth's 401, an OAuth redirect, an IP
   * denial) has been sent: the embedded edge hands it to the agent's capture store, so the
   * inspector shows what the upstream never saw.
   */
  onRefused?: (ctx: RequestContext, result: { statusCode: number; errorCode?: string }, module: string) => void;
}

/** Builds an auth module (OAuth, OIDC) from its EdgeOptions config; registered by those modules. */
export type AuthModuleFactory = (config: never, env: PipelineEnv) => HttpModule;
const authFactories = new Map<'oauth' | 'oidc', AuthModuleFactory>();

/** Called by the OAuth/OIDC modules (tunnel/src/modules/oauth) to plug into the pipeline. */
export function registerAuthModule(key: 'oauth' | 'oidc', factory: AuthModuleFactory): void {
  authFactories.set(key, factory);
}

/** Every EdgeOptions key the edge knows, in pipeline order (tlsTermination configures the listener). */
export const EDGE_OPTION_KEYS = [
  'ipRestriction',
  'mutualTls',
  'tlsTermination',
  'userAgentFilter',
  'circuitBreaker',
  'webhookVerification',
  'basicAuth',
  'oauth',
  'oidc',
  'trafficPolicy',
  'requestHeaders',
  'responseHeaders',
  'compression',
] as const satisfies readonly (keyof EdgeOptions)[];

type Builder = (config: never, env: PipelineEnv) => HttpModule | undefined;
const BUILDERS: Record<(typeof EDGE_OPTION_KEYS)[number], Builder> = {
  ipRestriction: (c, env) => ipRestrictionModule(c, env.ipPolicies),
  mutualTls: (c) => mutualTlsModule(c),
  tlsTermination: (c) => {
    validateTlsTermination(c);
    return undefined;
  },
  userAgentFilter: (c) => userAgentFilterModule(c),
  circuitBreaker: (c, env) => circuitBreakerModule(c, env.now),
  webhookVerification: (c, env) => webhookVerificationModule(c, env.now),
  basicAuth: (c) => basicAuthModule(c),
  oauth: (c, env) => authModule('oauth', c, env),
  oidc: (c, env) => authModule('oidc', c, env),
  trafficPolicy: (c, env) => trafficPolicyModule(c, env),
  requestHeaders: (c) => requestHeadersModule(c),
  responseHeaders: (c) => responseHeadersModule(c),
  compression: (c) => compressionModule(c),
};

function authModule(key: 'oauth' | 'oidc', config: never, env: PipelineEnv): HttpModule {
  const factory = authFactories.get(key);
  if (!factory)
    throw new ModuleConfigError(
      'ERR_BURROW_UNSUPPORTED_OPTION',
      `this edge does not support the endpoint option "${key}" yet`,
    );
  return factory(config, env);
}

export class Pipeline {
  private readonly requestModules: HttpModule[];
  private readonly responseModules: HttpModule[];
  private readonly bodyModules: HttpModule[];
  private readonly completeModules: HttpModule[];
  /** The request phase reads the visitor's certificate (mutual TLS, TLS templates). */
  readonly wantsPeerCertificate: boolean;
  /** A traffic-policy `log` action runs in the response phase (see HttpModule.logsResponse). */
  readonly logsResponse: boolean;

  constructor(
    readonly modules: readonly HttpModule[],
    private readonly onRefused?: PipelineEnv['onRefused'],
  ) {
    this.requestModules = modules.filter((m) => m.onRequest);
    this.responseModules = modules.filter((m) => m.onResponse);
    this.bodyModules = modules.filter((m) => m.responseBody);
    this.completeModules = modules.filter((m) => m.onComplete);
    this.wantsPeerCertificate = modules.some((m) => m.name === 'mutual-tls');
    this.logsResponse = modules.some((m) => m.logsResponse);
  }

  get hasResponsePhase(): boolean {
    return this.responseModules.length > 0 || this.bodyModules.length > 0;
  }

  /** Runs the request phase; synchronous while every module is, a promise from the first async one. */
  runRequest(ctx: RequestContext, from = 0): RequestOutcome | Promise<RequestOutcome> {
    for (let i = from; i < this.requestModules.length; i++) {
      const module = this.requestModules[i];
      const outcome = module.onRequest!(ctx);
      if (outcome instanceof Promise) {
        return outcome.then((o) => {
          if (o !== 'handled' && !ctx.res.headersSent) return this.runRequest(ctx, i + 1);
          ctx.answeredBy = module.name;
          return 'handled';
        });
      }
      if (outcome === 'handled' || ctx.res.headersSent) {
        ctx.answeredBy = module.name;
        return 'handled';
      }
    }
    return undefined;
  }

  runResponse(ctx: ResponseContext): void {
    for (const m of this.responseModules) m.onResponse!(ctx);
  }

  /** Body transforms in pipeline order (e.g. a replaced body, then compression). */
  bodyTransforms(ctx: ResponseContext): Transform[] {
    const out: Transform[] = [];
    for (const m of this.bodyModules) {
      const t = m.responseBody!(ctx);
      if (t) out.push(t);
    }
    return out;
  }

  complete(ctx: RequestContext, result: { statusCode: number; errorCode?: string }): void {
    // A module that hung up (close-connection, on_tcp_connect's deny) answered nothing to record.
    if (ctx.answeredBy && this.onRefused && ctx.res.headersSent) {
      try {
        this.onRefused(ctx, result, ctx.answeredBy);
      } catch {
        // Capture must never break a finished request.
      }
    }
    for (const m of this.completeModules) {
      try {
        m.onComplete!(ctx, result);
      } catch {
        // Statistics must never break a finished request.
      }
    }
  }
}

/** True when `options` asks for any module (header rules included). */
export function hasModules(options: EdgeOptions | undefined): boolean {
  return !!options && EDGE_OPTION_KEYS.some((k) => options[k] !== undefined);
}

/**
 * Validates `options` and builds the pipeline; undefined when no module is configured.
 * Unknown keys are refused (ERR_BURROW_UNSUPPORTED_OPTION): an edge never ignores a module.
 */
export function buildPipeline(options: EdgeOptions | undefined, env: PipelineEnv = {}): Pipeline | undefined {
  const { modules, errors } = buildModules(options, env, true);
  if (errors.length) throw errors[0];
  return modules.length ? new Pipeline(modules, env.onRefused) : undefined;
}

/**
 * Every refusal `buildPipeline` would make, not just the first: each module's config checked on its
 * own, each error's `path` starting at its EdgeOptions key. For config front doors (ngrok.yml
 * checks, the language server) that report all problems at once.
 */
export function edgeOptionErrors(options: EdgeOptions | undefined, env: PipelineEnv = {}): ModuleConfigError[] {
  return buildModules(options, env, false).errors;
}

function buildModules(
  options: EdgeOptions | undefined,
  env: PipelineEnv,
  stopAtFirst: boolean,
): { modules: HttpModule[]; errors: ModuleConfigError[] } {
  const modules: HttpModule[] = [];
  const errors: ModuleConfigError[] = [];
  const attempt = (fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      if (!(err instanceof ModuleConfigError)) throw err;
      errors.push(err);
      return false;
    }
  };
  if (!options) return { modules, errors };
  const ok = attempt(() => {
    check(
      typeof options === 'object' && !Array.isArray(options),
      'ERR_BURROW_MODULE_CONFIG',
      'edge options must be an object',
    );
    for (const key of Object.keys(options)) {
      check(
        (EDGE_OPTION_KEYS as readonly string[]).includes(key),
        'ERR_BURROW_UNSUPPORTED_OPTION',
        `this edge does not support the endpoint option "${key}"`,
        [key],
      );
    }
    const auth = (['basicAuth', 'oauth', 'oidc'] as const).filter((k) => options[k] !== undefined);
    check(
      auth.length <= 1,
      'ERR_NGROK_7079',
      `only one of basic auth, OAuth and OIDC per endpoint (got ${auth.join(', ')})`,
      [auth[1] ?? 'basicAuth'],
    );
  });
  if (!ok && stopAtFirst) return { modules, errors };
  for (const key of EDGE_OPTION_KEYS) {
    const config = options[key];
    if (config === undefined) continue;
    // A policy has many parts: config checks want each part's refusal, not only the first.
    const collect: ModuleConfigError[] = [];
    const built = attempt(() => {
      const module = within([key], () =>
        BUILDERS[key](config as never, key === 'trafficPolicy' && !stopAtFirst ? { ...env, collect } : env),
      );
      if (module) modules.push(module);
    });
    for (const err of collect) errors.push(Object.assign(err, { path: [key, ...err.path] }));
    if (!built && stopAtFirst) break;
  }
  return { modules, errors };
}
