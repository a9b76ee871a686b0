// Talking to the identity provider, through openid-client: the authorization URL (state, PKCE
// S256, nonce), the code exchange with its checks, refresh, and the user-info calls. Generic OIDC
// issuers come from discovery and their ID tokens are checked (issuer, audience, nonce); the known
// providers use their published endpoints, and GitHub's address list is the one hand-written call.
import * as oidc from 'openid-client';
import type { AuthModuleConfig, OAuthConfig, OidcConfig } from './config';
import { isOidcConfig } from './config';
import { PROVIDERS, type Identity, type ProviderSpec } from './providers';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** ms since the epoch; undefined when the provider did not say. */
  accessExpiresAt?: number;
  /** ID token claims when one came back (already checked). */
  claims?: Record<string, unknown>;
}

export interface LoginRequest {
  redirectUri: string;
  state: string;
  codeChallenge: string;
  nonce?: string;
  forceLogin: boolean;
}

export interface LoginChecks {
  state: string;
  codeVerifier: string;
  nonce?: string;
}

/** A provider failure sorted into ngrok's OAuth error codes. */
export class ProviderError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly revoked = false,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

const TIMEOUT_S = 10;
const isLoopback = (url: URL) =>
  ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost');

export class ProviderClient {
  private constructor(
    private readonly config: oidc.Configuration,
    readonly displayName: string,
    /** Send a nonce and expect an ID token (OIDC issuers and OIDC-capable providers). */
    readonly usesIdToken: boolean,
    private readonly scopes: string[],
    private readonly clientId: string,
    private readonly extraParams: Record<string, string>,
    private readonly forceLoginParams: Record<string, string>,
    private readonly spec?: ProviderSpec,
  ) {}

  static async create(config: AuthModuleConfig): Promise<ProviderClient> {
    return isOidcConfig(config) ? ProviderClient.discover(config) : ProviderClient.known(config);
  }

  private static async discover(config: OidcConfig): Promise<ProviderClient> {
    const issuer = new URL(config.issuerUrl);
    let discovered: oidc.Configuration;
    try {
      discovered = await oidc.discovery(issuer, config.clientId, undefined, undefined, {
        timeout: TIMEOUT_S,
        execute: issuer.protocol === 'http:' && isLoopback(issuer) ? [oidc.allowInsecureRequests] : [],
      });
    } catch (err) {
      throw new ProviderError(
        'ERR_NGROK_2227',
        `the issuer ${issuer.origin} has no usable discovery document: ${describe(err)}`,
        502,
      );
    }
    const meta = discovered.serverMetadata();
    // The OpenID default is client_secret_basic; use post only where basic is not offered.
    const methods = meta.token_endpoint_auth_methods_supported;
    const auth =
      !methods || methods.includes('client_secret_basic')
        ? oidc.ClientSecretBasic(config.clientSecret)
        : oidc.ClientSecretPost(config.clientSecret);
    const client = new oidc.Configuration(meta, config.clientId, undefined, auth);
    client.timeout = TIMEOUT_S;
    if (issuer.protocol === 'http:') oidc.allowInsecureRequests(client);
    const prompts = meta.prompt_values_supported as string[] | undefined;
    const force: Record<string, string> = !prompts || prompts.includes('login') ? { prompt: 'login' } : {};
    return new ProviderClient(
      client,
      issuer.host,
      true,
      unique(['openid', 'email', 'profile', ...(config.scopes ?? [])]),
      config.clientId,
      config.authzUrlParams ?? {},
      force,
    );
  }

  private static async known(config: OAuthConfig): Promise<ProviderClient> {
    const overrides = Object.fromEntries(
      Object.entries(config.endpoints ?? {}).filter(([, v]) => typeof v === 'string'),
    );
    const spec: ProviderSpec = { ...PROVIDERS[config.provider], ...overrides };
    const meta: oidc.ServerMetadata = {
      issuer: spec.issuer ?? new URL(spec.authorizationUrl).origin,
      authorization_endpoint: spec.authorizationUrl,
      token_endpoint: spec.tokenUrl,
      userinfo_endpoint: spec.userinfoUrl,
    };
    const client = new oidc.Configuration(
      meta,
      config.clientId!,
      undefined,
      oidc.ClientSecretPost(config.clientSecret!),
    );
    client.timeout = TIMEOUT_S;
    if ([spec.authorizationUrl, spec.tokenUrl, spec.userinfoUrl].some((u) => new URL(u).protocol === 'http:'))
      oidc.allowInsecureRequests(client);
    const force: Record<string, string> =
      spec.id === 'google'
        ? { prompt: 'select_account' }
        : spec.id === 'microsoft' || spec.id === 'gitlab'
          ? { prompt: 'login' }
          : {};
    return new ProviderClient(
      client,
      spec.displayName,
      spec.issuer !== undefined,
      unique([...spec.scopes, ...(config.scopes ?? [])]),
      config.clientId!,
      config.authzUrlParams ?? {},
      force,
      spec,
    );
  }

  authorizationUrl(req: LoginRequest): URL {
    const params: Record<string, string> = {
      ...this.extraParams,
      ...(req.forceLogin ? this.forceLoginParams : {}),
      redirect_uri: req.redirectUri,
      response_type: 'code',
      scope: this.scopes.join(' '),
      state: req.state,
      code_challenge: req.codeChallenge,
      code_challenge_method: 'S256',
    };
    if (req.nonce) params.nonce = req.nonce;
    return oidc.buildAuthorizationUrl(this.config, params);
  }

  /** Checks the callback (state, issuer, PKCE, nonce) and exchanges the code. */
  async exchange(callbackUrl: URL, checks: LoginChecks): Promise<TokenSet> {
    try {
      const tokens = await oidc.authorizationCodeGrant(this.config, callbackUrl, {
        expectedState: checks.state,
        pkceCodeVerifier: checks.codeVerifier,
        ...(this.usesIdToken ? { expectedNonce: checks.nonce, idTokenExpected: true } : {}),
      });
      return toTokenSet(tokens);
    } catch (err) {
      throw classify(tokenEndpointError(err), this.displayName, false);
    }
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    try {
      return toTokenSet(await oidc.refreshTokenGrant(this.config, refreshToken));
    } catch (err) {
      throw classify(tokenEndpointError(err), this.displayName, true);
    }
  }

  /** The user as the provider describes them now; `expectedId` pins the subject on re-checks. */
  async identity(accessToken: string, expectedId?: string, claims?: Record<string, unknown>): Promise<Identity> {
    try {
      if (!this.spec) {
        const subject = expectedId ?? (typeof claims?.sub === 'string' ? claims.sub : undefined);
        const info = this.config.serverMetadata().userinfo_endpoint
          ? await oidc.fetchUserInfo(this.config, accessToken, subject ?? oidc.skipSubjectCheck)
          : {};
        const merged: Record<string, unknown> = { ...claims, ...info };
        const verified = merged.email_verified !== false && merged.email_verified !== 'false';
        return {
          id: str(merged.sub),
          name: str(merged.name) || str(merged.preferred_username),
          email: verified ? str(merged.email) : '',
        };
      }
      const profile = await this.getJson(this.spec.userinfoUrl, accessToken);
      const emails = this.spec.emailsUrl ? await this.getJson(this.spec.emailsUrl, accessToken) : undefined;
      return this.spec.identity(profile as Record<string, unknown>, emails);
    } catch (err) {
      throw err instanceof ProviderError ? err : classify(err, this.displayName, expectedId !== undefined);
    }
  }

  private async getJson(url: string, accessToken: string): Promise<unknown> {
    const headers = new Headers({ accept: 'application/json', ...this.spec?.userinfoHeaders?.(this.clientId) });
    const res = await oidc.fetchProtectedResource(this.config, accessToken, new URL(url), 'GET', undefined, headers);
    if (res.status === 401 || res.status === 403) {
      throw new ProviderError(
        'ERR_NGROK_3151',
        `${this.displayName} rejected the session's token (HTTP ${res.status})`,
        401,
        true,
      );
    }
    if (res.status === 429)
      throw new ProviderError('ERR_NGROK_3161', `${this.displayName} is throttling this application`, 503);
    if (res.status >= 500)
      throw new ProviderError('ERR_NGROK_3167', `${this.displayName} answered HTTP ${res.status}`, 503);
    if (res.status !== 200)
      throw new ProviderError(
        'ERR_NGROK_3160',
        `${this.displayName} answered HTTP ${res.status} for ${new URL(url).pathname}`,
        502,
      );
    return res.json();
  }
}

function toTokenSet(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenSet {
  const expiresIn = tokens.expiresIn();
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    accessExpiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000,
    claims: tokens.claims() as Record<string, unknown> | undefined,
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const unique = (list: string[]) => [...new Set(list)];

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return [e?.message, e?.cause?.message].filter(Boolean).join(': ') || String(err);
}

/**
 * A 401 challenge from the token endpoint is about the client (id or secret), not the user's
 * session: RFC 6749 §5.2 answers a failed client authentication with 401 + WWW-Authenticate.
 */
function tokenEndpointError(err: unknown): unknown {
  type Body = { body?: { error?: unknown; error_description?: unknown } };
  const e = err as { name?: string; cause?: Body & { cause?: Body } };
  if (e?.name === 'WWWAuthenticateChallengeError')
    return Object.assign(new Error(describe(err)), { error: 'invalid_client' });
  // GitHub-style providers answer token errors with HTTP 200 and {error}: openid-client reports a
  // missing access_token, with the body beside it.
  const body = e?.cause?.body ?? e?.cause?.cause?.body;
  if (body && typeof body.error === 'string')
    return Object.assign(new Error(describe(err)), { error: body.error, error_description: body.error_description });
  return err;
}

/**
 * openid-client errors → ngrok codes. `recheck`: a refusal here means the session is no longer
 * good (revoked at the provider), not that a login went wrong.
 */
export function classify(err: unknown, provider: string, recheck: boolean): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { error?: unknown; error_description?: unknown; status?: unknown; code?: unknown; name?: string };
  const detail =
    typeof e.error_description === 'string'
      ? `${String(e.error)}: ${e.error_description}`
      : String(e.error ?? describe(err));
  if (e.name === 'WWWAuthenticateChallengeError') {
    return new ProviderError('ERR_NGROK_3151', `${provider} rejected the session's token: ${describe(err)}`, 401, true);
  }
  if (typeof e.error === 'string') {
    if (e.status === 429) return new ProviderError('ERR_NGROK_3161', `${provider} is throttling this application`, 503);
    switch (e.error) {
      case 'invalid_grant':
        return recheck
          ? new ProviderError('ERR_NGROK_3151', `${provider} rejected the session's token: ${detail}`, 401, true)
          : new ProviderError(
              'ERR_NGROK_3163',
              `${provider} refused the authorization code (expired or already used): ${detail}`,
              400,
            );
      case 'invalid_token':
        return new ProviderError('ERR_NGROK_3151', `${provider} rejected the session's token: ${detail}`, 401, true);
      case 'invalid_client':
      case 'unauthorized_client':
      case 'incorrect_client_credentials': // GitHub's word for it (HTTP 200)
        return new ProviderError('ERR_NGROK_3125', `${provider} refused this application's client id or secret`, 502);
      case 'invalid_scope':
        return new ProviderError('ERR_NGROK_3126', `${provider} refused a requested scope: ${detail}`, 502);
      case 'access_denied':
        return new ProviderError('ERR_NGROK_3114', `${provider} sign-in was not authorized: ${detail}`, 403);
      case 'temporarily_unavailable':
        return new ProviderError('ERR_NGROK_3165', `${provider} is too busy to complete sign-in`, 503);
      case 'server_error':
        return new ProviderError('ERR_NGROK_3166', `${provider} had an error: ${detail}`, 502);
      default:
        return new ProviderError('ERR_NGROK_3164', `${provider} sign-in failed: ${detail}`, 400);
    }
  }
  // Validation failures in openid-client (state, issuer, nonce, ID token claims) carry OAUTH_* codes.
  if (typeof e.code === 'string' && e.code.startsWith('OAUTH_')) {
    return new ProviderError('ERR_NGROK_3164', `${provider} sign-in failed a check: ${describe(err)}`, 400);
  }
  return new ProviderError('ERR_NGROK_3160', `could not reach ${provider}: ${describe(err)}`, 502);
}
