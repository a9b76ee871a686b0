// Plugs the OAuth/OIDC module into the module pipeline (EdgeOptions `oauth` / `oidc`) and into
// traffic policy (the `oauth` and `openid-connect`/`oidc` actions). Importing this file is enough;
// the edge imports it once.
import { randomBytes } from 'node:crypto';
import { check, durationMs, ModuleConfigError } from '../config-error';
import { registerAuthModule, type PipelineEnv } from '../pipeline';
import { registerAuthAction } from '../traffic-policy';
import type { AuthModuleConfig, OAuthConfig, OidcConfig } from './config';
import { createOAuthModule } from './module';
import type { OAuthProviderId } from './providers';

/**
 * Used when the edge gives no `cookieSecret`: random per process, so sessions end when the edge
 * restarts (safe, but users sign in again).
 */
let processSecret: Buffer | undefined;
function secretOf(env: PipelineEnv | undefined): Buffer {
  const given = (env as { cookieSecret?: Buffer } | undefined)?.cookieSecret;
  if (given) return given;
  processSecret ??= randomBytes(32);
  return processSecret;
}

registerAuthModule('oauth', (config: never, env) =>
  createOAuthModule(config as OAuthConfig, { secret: secretOf(env), now: env.now, managed: env.managedOAuth }),
);
registerAuthModule('oidc', (config: never, env) =>
  createOAuthModule(config as OidcConfig, { secret: secretOf(env), now: env.now, managed: env.managedOAuth }),
);

const ACTION_KEYS = new Set([
  'provider',
  'issuer_url',
  'auth_id',
  'client_id',
  'client_secret',
  'scopes',
  'authz_url_params',
  'max_session_duration',
  'idle_session_timeout',
  'idle_session_duration',
  'userinfo_refresh_interval',
  'allow_cors_preflight',
  'auth_cookie_domain',
]);

/** An `oauth` / `openid-connect` action config (snake_case, Go durations) → the module config. */
export function authActionConfig(type: string, c: Record<string, unknown>, where: string): AuthModuleConfig {
  for (const key of Object.keys(c)) {
    check(ACTION_KEYS.has(key), 'ERR_NGROK_2203', `${where}: unknown field "${key}" in the ${type} action`, [key]);
  }
  check(
    c.auth_cookie_domain === undefined,
    'ERR_NGROK_2219',
    `${where}: auth_cookie_domain is not supported by Burrow (session cookies are host-only)`,
    ['auth_cookie_domain'],
  );
  const text = (key: string): string | undefined => {
    if (c[key] === undefined) return undefined;
    check(typeof c[key] === 'string', 'ERR_NGROK_2204', `${where}.${key} must be a string`, [key]);
    return c[key] as string;
  };
  const duration = (key: string): number | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    const ms = durationMs(value);
    check(Number.isFinite(ms), 'ERR_NGROK_2204', `${where}.${key}: "${value}" is not a duration (e.g. 30m, 12h)`, [
      key,
    ]);
    return ms;
  };
  check(
    c.scopes === undefined || (Array.isArray(c.scopes) && c.scopes.every((s) => typeof s === 'string')),
    'ERR_NGROK_2204',
    `${where}.scopes must be a list of strings`,
    ['scopes'],
  );
  check(
    c.authz_url_params === undefined ||
      (typeof c.authz_url_params === 'object' && c.authz_url_params !== null && !Array.isArray(c.authz_url_params)),
    'ERR_NGROK_2204',
    `${where}.authz_url_params must be a map`,
    ['authz_url_params'],
  );
  check(
    c.allow_cors_preflight === undefined || typeof c.allow_cors_preflight === 'boolean',
    'ERR_NGROK_2204',
    `${where}.allow_cors_preflight must be true or false`,
    ['allow_cors_preflight'],
  );
  const common = {
    authId: text('auth_id'),
    clientId: text('client_id'),
    clientSecret: text('client_secret'),
    scopes: c.scopes as string[] | undefined,
    authzUrlParams: c.authz_url_params as Record<string, string> | undefined,
    maxDurationMs: duration('max_session_duration'),
    inactivityTimeoutMs:
      duration(type === 'oauth' ? 'idle_session_timeout' : 'idle_session_duration') ??
      duration(type === 'oauth' ? 'idle_session_duration' : 'idle_session_timeout'),
    authCheckIntervalMs: duration('userinfo_refresh_interval'),
    optionsPassthrough: c.allow_cors_preflight as boolean | undefined,
  };
  const config: AuthModuleConfig =
    type === 'oauth'
      ? { ...common, provider: text('provider') as OAuthProviderId }
      : {
          ...common,
          issuerUrl: text('issuer_url') ?? '',
          clientId: common.clientId ?? '',
          clientSecret: common.clientSecret ?? '',
        };
  // Undefined fields out, so the module's defaults apply.
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as unknown as AuthModuleConfig;
}

for (const type of ['oauth', 'openid-connect', 'oidc']) {
  registerAuthAction(type, (c, where, env) => {
    const config = authActionConfig(type, c, where);
    try {
      return createOAuthModule(config, { secret: secretOf(undefined), managed: env.managedOAuth });
    } catch (err) {
      if (err instanceof ModuleConfigError) throw new ModuleConfigError(err.code, `${where}: ${err.message}`, err.path);
      throw err;
    }
  });
}
