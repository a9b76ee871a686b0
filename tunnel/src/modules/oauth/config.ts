// Typed configs of the OAuth and OIDC modules, as every front door normalizes them (CLI flags,
// ngrok.yml `oauth:`/`oidc:`, the `oauth`/`openid-connect` actions, edge-route modules), and the
// bind-time checks with ngrok's error codes. Durations are milliseconds here; the front doors
// convert ngrok's seconds and Go duration strings.
import { check, ModuleConfigError, within, type ConfigPath } from '../config-error';
import { isOAuthProviderId, OAUTH_PROVIDER_IDS, type OAuthProviderId, type ProviderEndpoints } from './providers';

/** Options both modules share. */
export interface AuthSessionOptions {
  /** Your app at the provider. Burrow has no managed apps, so both are required. */
  clientId?: string;
  clientSecret?: string;
  /** Scopes requested on top of the provider's minimum. */
  scopes?: string[];
  /** Only these addresses may in (case-insensitive). Empty with no domains: anyone who signs in. */
  allowEmails?: string[];
  /** Only addresses in these domains (`example.com`, no `@`). */
  allowDomains?: string[];
  /** Extra authorization-URL parameters (`authz_url_params`); cannot replace the protocol ones. */
  authzUrlParams?: Record<string, string>;
  /** Re-check the user at the provider at least this often (refresh + user info). Default 1 h. */
  authCheckIntervalMs?: number;
  /** Sign out after this long without a request. Default: never. */
  inactivityTimeoutMs?: number;
  /** Sign out this long after login, whatever the activity. Default 30 days. */
  maxDurationMs?: number;
  /** Let CORS preflights (`OPTIONS`) through without a session. */
  optionsPassthrough?: boolean;
  /** Session cookie name prefix, ngrok's default `ngrok.`. */
  cookiePrefix?: string;
  /** Names this login (`/ngrok/login?auth_id=…`) and its cookie, when an endpoint has several. */
  authId?: string;
}

export interface OAuthConfig extends AuthSessionOptions {
  provider: OAuthProviderId;
  /** Override the provider's known endpoints (enterprise hosts, one Microsoft tenant…). */
  endpoints?: Partial<ProviderEndpoints>;
}

export interface OidcConfig extends AuthSessionOptions {
  /** Base URL of the OpenID Provider; its discovery document is read from it. */
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
}

export type AuthModuleConfig = OAuthConfig | OidcConfig;

export function isOidcConfig(config: AuthModuleConfig): config is OidcConfig {
  return 'issuerUrl' in config;
}

export const DEFAULTS = {
  authCheckIntervalMs: 60 * 60_000,
  maxDurationMs: 30 * 24 * 3600_000,
  cookiePrefix: 'ngrok.',
} as const;

/** The shortest auth check interval accepted (tests use a few seconds; ngrok's floor is higher). */
export const MIN_AUTH_CHECK_INTERVAL_MS = 1000;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DOMAIN = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
/** Parameters the module sets itself; a config must not replace them (state, PKCE, redirect). */
const RESERVED_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'scope',
]);

function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '127.0.0.1' ||
    host === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/**
 * Bind-time checks. Returns the coded error, or undefined when the config is usable. Messages
 * name the field and never echo the client secret.
 * `managed`: whether the edge has a managed app for the provider (managed.ts); undefined = not
 * known here (the agent checking a config for a remote edge): a config without credentials passes
 * and the edge decides at bind time.
 */
export function validateOAuthConfig(
  config: AuthModuleConfig,
  field = isOidcConfig(config) ? 'oidc' : 'oauth',
  managed?: boolean,
): ModuleConfigError | undefined {
  try {
    checkConfig(config, field, managed);
    return undefined;
  } catch (err) {
    if (err instanceof ModuleConfigError) return err;
    throw err;
  }
}

function checkConfig(config: AuthModuleConfig, field: string, managed: boolean | undefined): void {
  check(config && typeof config === 'object', 'ERR_BURROW_MODULE_CONFIG', `${field} must be an object`);
  if (isOidcConfig(config)) {
    check(
      typeof config.issuerUrl === 'string' && config.issuerUrl !== '',
      'ERR_NGROK_387',
      `${field}: the issuer URL is required`,
      ['issuerUrl'],
    );
    let issuer: URL;
    try {
      issuer = new URL(config.issuerUrl);
    } catch {
      throw new ModuleConfigError('ERR_NGROK_2226', `${field}: the issuer "${config.issuerUrl}" is not a URL`, [
        'issuerUrl',
      ]);
    }
    check(
      issuer.protocol === 'https:' || (issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)),
      'ERR_BURROW_OIDC_INSECURE_ISSUER',
      `${field}: the issuer must use https (plain http only for a loopback issuer), got "${issuer.origin}"`,
      ['issuerUrl'],
    );
    check(
      !issuer.search && !issuer.hash,
      'ERR_NGROK_2226',
      `${field}: the issuer URL must not have a query or fragment`,
      ['issuerUrl'],
    );
    check(
      typeof config.clientId === 'string' && config.clientId !== '',
      'ERR_NGROK_385',
      `${field}: the client id is required`,
      ['clientId'],
    );
    check(
      typeof config.clientSecret === 'string' && config.clientSecret !== '',
      'ERR_NGROK_386',
      `${field}: the client secret is required`,
      ['clientSecret'],
    );
  } else {
    check(
      config.provider !== undefined && (config.provider as string) !== '',
      'ERR_NGROK_363',
      `${field}: the provider is required (one of ${OAUTH_PROVIDER_IDS.join(', ')})`,
      ['provider'],
    );
    check(
      isOAuthProviderId(config.provider),
      'ERR_NGROK_365',
      `${field}: unsupported OAuth provider "${String(config.provider)}"; supported: ${OAUTH_PROVIDER_IDS.join(', ')}`,
      ['provider'],
    );
    const hasId = typeof config.clientId === 'string' && config.clientId !== '';
    const hasSecret = typeof config.clientSecret === 'string' && config.clientSecret !== '';
    check(hasId || !hasSecret, 'ERR_NGROK_383', `${field}: a client secret was given without a client id`, [
      'clientSecret',
    ]);
    check(hasSecret || !hasId, 'ERR_NGROK_384', `${field}: a client id was given without a client secret`, [
      'clientId',
    ]);
    check(
      (hasId && hasSecret) || managed !== false,
      'ERR_NGROK_7166',
      `${field}: this edge has no managed ${config.provider} app; register your own and pass its client id and secret (redirect URI: https://YOUR-ENDPOINT/ngrok/callback), or have the edge's operator register one (burrow edge --oauth-app ${config.provider}=ID:SECRET)`,
      ['provider'],
    );
    check(
      hasId || !config.scopes?.length,
      'ERR_NGROK_7034',
      `${field}: scopes can only be set with your own OAuth app (client id and secret), not a managed one`,
      ['scopes'],
    );
    for (const [key, url] of Object.entries(config.endpoints ?? {})) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(String(url));
      } catch {
        parsed = undefined;
      }
      check(
        parsed && (parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))),
        'ERR_NGROK_2226',
        `${field}.endpoints.${key}: "${String(url)}" is not an https URL`,
        ['endpoints', key],
      );
    }
  }
  checkList(
    config.scopes,
    `${field}.scopes`,
    ['scopes'],
    (s) => /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/.test(s),
    'ERR_NGROK_391',
    'is not a valid scope',
  );
  checkList(
    config.allowEmails,
    `${field}.allowEmails`,
    ['allowEmails'],
    (s) => EMAIL.test(s),
    'ERR_NGROK_7043',
    'is not an email address',
  );
  checkList(
    config.allowDomains,
    `${field}.allowDomains`,
    ['allowDomains'],
    (s) => DOMAIN.test(s.toLowerCase()),
    'ERR_NGROK_7039',
    'is not a domain name (write example.com, without @)',
  );
  for (const key of Object.keys(config.authzUrlParams ?? {})) {
    check(
      !RESERVED_PARAMS.has(key),
      'ERR_NGROK_2219',
      `${field}.authzUrlParams: "${key}" is set by Burrow and cannot be configured`,
      ['authzUrlParams', key],
    );
    check(
      typeof config.authzUrlParams![key] === 'string',
      'ERR_NGROK_2204',
      `${field}.authzUrlParams.${key} must be a string`,
      ['authzUrlParams', key],
    );
  }
  within(['authCheckIntervalMs'], () =>
    checkDuration(
      config.authCheckIntervalMs,
      `${field}.authCheckInterval`,
      MIN_AUTH_CHECK_INTERVAL_MS,
      'ERR_NGROK_7035',
    ),
  );
  within(['inactivityTimeoutMs'], () =>
    checkDuration(config.inactivityTimeoutMs, `${field}.inactivityTimeout`, 1000, 'ERR_NGROK_2215'),
  );
  within(['maxDurationMs'], () =>
    checkDuration(config.maxDurationMs, `${field}.maximumDuration`, 1000, 'ERR_NGROK_2215'),
  );
  check(
    config.cookiePrefix === undefined || /^[A-Za-z0-9.]{1,64}$/.test(config.cookiePrefix),
    'ERR_BURROW_OAUTH_COOKIE_PREFIX',
    `${field}.cookiePrefix may only contain letters, digits and dots`,
    ['cookiePrefix'],
  );
  check(
    config.authId === undefined || /^[A-Za-z0-9._-]{1,64}$/.test(config.authId),
    'ERR_NGROK_2204',
    `${field}.authId may only contain letters, digits, '.', '_' and '-'`,
    ['authId'],
  );
}

function checkList(
  list: unknown,
  field: string,
  path: ConfigPath,
  ok: (s: string) => boolean,
  code: string,
  what: string,
): void {
  if (list === undefined) return;
  check(Array.isArray(list), 'ERR_NGROK_2204', `${field} must be a list`, path);
  const seen = new Set<string>();
  (list as unknown[]).forEach((item, i) => {
    check(typeof item === 'string' && item !== '', code, `${field}: entries must not be empty`, [...path, i]);
    check(ok(item), code, `${field}: "${item}" ${what}`, [...path, i]);
    check(!seen.has(item.toLowerCase()), 'ERR_NGROK_2231', `${field}: "${item}" is listed twice`, [...path, i]);
    seen.add(item.toLowerCase());
  });
}

function checkDuration(ms: unknown, field: string, min: number, code: string): void {
  if (ms === undefined) return;
  check(typeof ms === 'number' && Number.isFinite(ms) && ms >= min, code, `${field} must be at least ${min / 1000} s`);
}

/** A copy safe to log or show in API output: the secret is replaced. */
export function redactOAuthConfig<T extends AuthModuleConfig>(config: T): T {
  return config.clientSecret ? { ...config, clientSecret: '<redacted>' } : { ...config };
}

/** The redirect URI to register at the provider for an endpoint's public URL. */
export function oauthCallbackUrl(publicUrl: string): string {
  return `${new URL(publicUrl).origin}/ngrok/callback`;
}
