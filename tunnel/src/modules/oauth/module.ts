// The OAuth / OpenID Connect HttpModule. A request without a session is sent to the provider
// (authorization code flow with state, PKCE S256 and, for OIDC, a nonce); the provider returns the
// browser to `/ngrok/callback`, where the code is exchanged, the user's address checked against
// the allow lists, and a sealed session cookie set before going back to the original path. Signed
// in requests reach the upstream with Ngrok-Auth-User-Id/-Name/-Email. At least every auth check
// interval the session is re-checked at the provider over the back channel (refresh token, then
// user info), so a user removed there loses access at the next check.
//
// Special paths (ngrok's): /ngrok/login[?redirect_path=/p][&auth_id=a] starts a login (forcing
// re-authentication where the provider supports it), /ngrok/logout signs out, /ngrok/callback is
// the redirect URI to register at the provider: {scheme}://{endpoint host}/ngrok/callback.
// The OAuth module's older paths (seed 003) still hold: nothing under /auth/ reaches the upstream;
// /auth/authn is /ngrok/login, /auth/logout is /ngrok/logout, any other /auth/ path is a 404.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { cookieJar, cookiePairs, setCookiePair } from '../../net/cookies';
import { splitHost } from '../../net/host';
import { rawHeaderValues, removeRawHeaders } from '../../net/raw-headers';
import { VAR } from '../request-vars';
import type { HttpModule, RequestContext, ResponseContext } from '../types';
import { ProviderClient, ProviderError, type TokenSet } from './client';
import { DEFAULTS, isOidcConfig, validateOAuthConfig, type AuthModuleConfig } from './config';
import {
  chunkedCandidates,
  chunkedCookies,
  CookieSealer,
  deleteChunkedCookies,
  serializeCookie,
  type CookieAttributes,
} from './cookies';
import { ReplayGuard, safeReturnPath } from './guards';
import { refusal, sendRedirect, sendRefusal, sendSignedOut, type Refusal } from './pages';
import type { Identity } from './providers';
import { managedState, type ManagedOAuth } from './managed';

export const LOGIN_PATH = '/ngrok/login';
export const LOGOUT_PATH = '/ngrok/logout';
export const CALLBACK_PATH = '/ngrok/callback';
/** Reserved for the module (seed 003): never forwarded upstream. */
const RESERVED_PREFIX = '/auth/';
const LEGACY_LOGIN_PATH = '/auth/authn';
const LEGACY_LOGOUT_PATH = '/auth/logout';

/** ngrok's names for the identity headers sent upstream. Inbound copies are always removed. */
export const USER_HEADERS = {
  id: 'Ngrok-Auth-User-Id',
  name: 'Ngrok-Auth-User-Name',
  email: 'Ngrok-Auth-User-Email',
} as const;
const USER_HEADER_NAMES = new Set(Object.values(USER_HEADERS).map((h) => h.toLowerCase()));
/**
 * A visitor's look-alike spelling counts too: app servers that fold `_` into `-` (CGI, older
 * Rack/gunicorn) would read `ngrok_auth_user_email` as the identity.
 */
const isUserHeader = (name: string): boolean => USER_HEADER_NAMES.has(name.toLowerCase().replace(/_/g, '-'));

/** A login must come back within this long (ngrok: 15 minutes, ERR_NGROK_3119). */
const LOGIN_TTL_MS = 15 * 60_000;
const DISCOVERY_RETRY_MS = 5000;
const MAX_CACHED_CHECKS = 10_000;
const SET_COOKIE_VAR = 'oauth.set_cookie';

export interface OAuthModuleDeps {
  /**
   * The edge's cookie secret (at least 32 bytes). Keys are derived from it per endpoint host;
   * keep it stable to keep sessions across edge restarts.
   */
  secret: Buffer;
  /** Clock in ms (tests). */
  now?: () => number;
  /** The edge's managed OAuth apps; undefined when no edge is known here (a config check). */
  managed?: ManagedOAuth;
}

interface Session {
  v: 1;
  /** Random id: dedupes concurrent re-checks of one session. */
  sid: string;
  user: Identity;
  /** Login time, last request, last check at the provider (ms). */
  login: number;
  seen: number;
  checked: number;
  /** Refresh token when the provider gave one, else the access token and its expiry. */
  rt?: string;
  at?: string;
  atExp?: number;
}

interface Transaction {
  v: 1;
  state: string;
  verifier: string;
  nonce?: string;
  returnTo: string;
  created: number;
}

type CheckOutcome =
  { kind: 'ok'; session: Session } | { kind: 'reauthorize' } | { kind: 'refused'; refusal: Refusal; clear: boolean };

const sha = (s: string) => createHash('sha256').update(s).digest('base64url');

/** Creates the module; throws a ModuleConfigError for a config the edge must refuse. */
export function createOAuthModule(given: AuthModuleConfig, deps: OAuthModuleDeps): HttpModule {
  // No credentials of its own: the edge's managed app for the provider, if it has one.
  const managedApp =
    !isOidcConfig(given) && !given.clientId && !given.clientSecret ? deps.managed?.apps[given.provider] : undefined;
  const invalid = validateOAuthConfig(given, undefined, deps.managed ? !!managedApp : undefined);
  if (invalid) throw invalid;
  const config: AuthModuleConfig = managedApp ? { ...given, ...managedApp } : given;
  // Read when used: an edge knows its callback URL once it listens.
  const managedCallback = (): string | undefined => (managedApp ? deps.managed!.callbackUrl : undefined);
  const now = deps.now ?? Date.now;
  const sealer = new CookieSealer(deps.secret);
  const replay = new ReplayGuard(LOGIN_TTL_MS);
  const authCheckMs = config.authCheckIntervalMs ?? DEFAULTS.authCheckIntervalMs;
  const maxDurationMs = config.maxDurationMs ?? DEFAULTS.maxDurationMs;
  const idleMs = config.inactivityTimeoutMs;
  const cookiePrefix = `${config.cookiePrefix ?? DEFAULTS.cookiePrefix}${config.authId ? `${config.authId}.` : ''}`;
  // Sessions are bound to the app they came from: another provider or client id cannot use them.
  const binding = sha(
    JSON.stringify([isOidcConfig(config) ? config.issuerUrl : config.provider, config.clientId, config.authId ?? '']),
  );
  const allowEmails = new Set((config.allowEmails ?? []).map((e) => e.toLowerCase()));
  const allowDomains = new Set((config.allowDomains ?? []).map((d) => d.toLowerCase()));

  // The provider client; discovery failures are retried after a pause, not cached forever.
  let client: { promise: Promise<ProviderClient>; failedAt?: number } | undefined;
  const getClient = (): Promise<ProviderClient> => {
    if (!config.clientId)
      return Promise.reject(
        new ProviderError(
          'ERR_NGROK_7166',
          `no OAuth app for ${isOidcConfig(config) ? config.issuerUrl : config.provider} on this edge`,
          502,
        ),
      );
    if (!client || (client.failedAt !== undefined && now() - client.failedAt > DISCOVERY_RETRY_MS)) {
      const entry: { promise: Promise<ProviderClient>; failedAt?: number } = { promise: ProviderClient.create(config) };
      entry.promise.catch(() => {
        entry.failedAt = now();
      });
      client = entry;
    }
    return client.promise;
  };

  // Concurrent requests of one session share one re-check (a rotated refresh token must be used
  // once), and its result serves the requests still carrying the old cookie.
  const inflight = new Map<string, Promise<CheckOutcome>>();
  const recent = new Map<string, { until: number; outcome: CheckOutcome }>();

  const names = (https: boolean) => ({
    // __Host-: the browser refuses it from a sibling host or with a Domain attribute.
    session: `${https ? '__Host-' : ''}${cookiePrefix}session`,
    transactionPrefix: `${https ? '__Secure-' : ''}${cookiePrefix}nonce.`,
  });
  const sessionAttrs = (ctx: RequestContext, maxAge?: number): CookieAttributes => ({
    secure: ctx.scheme === 'https',
    maxAge,
  });
  const txAttrs = (ctx: RequestContext, maxAge?: number): CookieAttributes => ({
    secure: ctx.scheme === 'https',
    path: CALLBACK_PATH,
    maxAge,
  });
  const sessionContext = (name: string) => `${name}|${binding}`;

  const loginLink = (path = '/') => ({
    href: `${LOGIN_PATH}?redirect_path=${encodeURIComponent(path)}${config.authId ? `&auth_id=${encodeURIComponent(config.authId)}` : ''}`,
    text: 'Sign in again',
  });

  /** The origin the browser used, for the redirect URI: the Host header's port, our host name. */
  function origin(ctx: RequestContext): string {
    const { name, port } = splitHost(String(ctx.req.headers.host ?? ctx.req.headers[':authority'] ?? ''));
    return `${ctx.scheme}://${ctx.host}${name === ctx.host && /^\d{1,5}$/.test(port) ? `:${port}` : ''}`;
  }

  function refuseIdentity(user: Identity): Refusal | undefined {
    if (allowEmails.size === 0 && allowDomains.size === 0) return undefined;
    if (!user.email)
      return refusal(
        'ERR_NGROK_3109',
        'The identity provider did not give a verified email address for your account, and this site only admits listed addresses.',
        loginLink(),
      );
    const email = user.email.toLowerCase();
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (allowEmails.has(email) || allowDomains.has(domain)) return undefined;
    return refusal(
      'ERR_NGROK_3105',
      `${user.email} is not allowed to use this site. Contact its owner to be admitted, or sign in with another account.`,
      loginLink(),
    );
  }

  function readSession(ctx: RequestContext, cookies: Map<string, string[]>): Session | undefined {
    const name = names(ctx.scheme === 'https').session;
    for (const candidate of chunkedCandidates(name, cookies)) {
      const s = sealer.unseal<Session>(ctx.host, sessionContext(name), candidate);
      if (s && s.v === 1 && typeof s.sid === 'string' && s.user && typeof s.login === 'number') return s;
    }
    return undefined;
  }

  function sessionCookies(ctx: RequestContext, s: Session, cookies: Map<string, string[]>): string[] {
    const name = names(ctx.scheme === 'https').session;
    const remainingS = (s.login + maxDurationMs - now()) / 1000;
    return chunkedCookies(name, sealer.seal(ctx.host, sessionContext(name), s), sessionAttrs(ctx, remainingS), cookies);
  }

  function clearSession(ctx: RequestContext, cookies: Map<string, string[]>): string[] {
    const name = names(ctx.scheme === 'https').session;
    return cookies.has(name) ? deleteChunkedCookies(name, sessionAttrs(ctx), cookies) : [];
  }

  /** Sends the browser to the provider; `returnTo` is already a safe path. */
  async function startLogin(
    ctx: RequestContext,
    returnTo: string,
    forceLogin: boolean,
    setCookies: string[],
  ): Promise<'handled'> {
    // Fetches and other sub-resources cannot follow a login; they get a 401 pointing at it.
    const mode = ctx.req.headers['sec-fetch-mode'];
    if (mode !== undefined && mode !== 'navigate' && !forceLogin) {
      sendRefusal(
        ctx.req,
        ctx.res,
        refusal(
          'ERR_BURROW_OAUTH_LOGIN_REQUIRED',
          'Sign in first: open this site in the browser.',
          loginLink(returnTo),
        ),
        setCookies,
      );
      return 'handled';
    }
    let provider: ProviderClient;
    try {
      provider = await getClient();
    } catch (err) {
      sendRefusal(ctx.req, ctx.res, providerRefusal(err), setCookies);
      return 'handled';
    }
    const tx: Transaction = {
      v: 1,
      state: managedApp ? managedState(origin(ctx), oidc.randomState()) : oidc.randomState(),
      verifier: oidc.randomPKCECodeVerifier(),
      nonce: provider.usesIdToken ? oidc.randomNonce() : undefined,
      returnTo,
      created: now(),
    };
    const url = provider.authorizationUrl({
      redirectUri: managedCallback() ?? `${origin(ctx)}${CALLBACK_PATH}`,
      state: tx.state,
      codeChallenge: await oidc.calculatePKCECodeChallenge(tx.verifier),
      nonce: tx.nonce,
      forceLogin,
    });
    // One cookie per pending login (named after its state), so two tabs logging in at once do
    // not overwrite each other; only sent to the callback path, gone after 15 minutes.
    const txName = names(ctx.scheme === 'https').transactionPrefix + sha(tx.state).slice(0, 16);
    setCookies.push(serializeCookie(txName, sealer.seal(ctx.host, txName, tx), txAttrs(ctx, LOGIN_TTL_MS / 1000)));
    sendRedirect(ctx.res, url.href, setCookies);
    return 'handled';
  }

  async function callback(ctx: RequestContext, url: URL, cookies: Map<string, string[]>): Promise<'handled'> {
    const send = (r: Refusal, extra: string[] = []) => {
      sendRefusal(ctx.req, ctx.res, r, [...clearTx, ...extra]);
      return 'handled' as const;
    };
    const prefix = names(ctx.scheme === 'https').transactionPrefix;
    const txNames = [...cookies.keys()].filter((n) => n.startsWith(prefix));
    const state = url.searchParams.get('state');
    const txName = state ? prefix + sha(state).slice(0, 16) : undefined;
    // Whatever happens, the used login cookie and any expired or unreadable ones are removed.
    const clearTx: string[] = [];
    let tx: Transaction | undefined;
    for (const name of txNames) {
      const t = sealer.unseal<Transaction>(ctx.host, name, cookies.get(name)![0]);
      if (name === txName && t) tx = t;
      if (name === txName || !t || now() - t.created > LOGIN_TTL_MS)
        clearTx.push(serializeCookie(name, '', txAttrs(ctx, 0)));
    }
    const error = url.searchParams.get('error');
    if (error) {
      const described = `${error}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`;
      return send(
        error === 'access_denied'
          ? refusal(
              'ERR_NGROK_3114',
              `Sign-in was not authorized at the identity provider (${described}).`,
              loginLink(),
            )
          : refusal(
              'ERR_NGROK_3112',
              `The identity provider returned an error: ${described.slice(0, 300)}`,
              loginLink(),
            ),
      );
    }
    if (!state)
      return send(
        refusal(
          'ERR_NGROK_3107',
          'The state parameter used to validate this sign-in is missing. Close this page and try again.',
          loginLink(),
        ),
      );
    if (txNames.length === 0)
      return send(
        refusal(
          'ERR_NGROK_3121',
          'The login cookie needed to finish this sign-in is missing (was the sign-in started in this browser?). Start over.',
          loginLink(),
        ),
      );
    if (!cookies.has(txName!))
      return send(refusal('ERR_NGROK_3300', 'The state parameter of this sign-in is invalid.', loginLink()));
    if (!tx)
      return send(
        refusal(
          'ERR_NGROK_3108',
          'The state of this sign-in cannot be read. Close this page and try again.',
          loginLink(),
        ),
      );
    const a = Buffer.from(tx.state);
    const b = Buffer.from(state);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return send(refusal('ERR_NGROK_3300', 'The state parameter of this sign-in is invalid.', loginLink()));
    if (now() - tx.created > LOGIN_TTL_MS)
      return send(
        refusal(
          'ERR_NGROK_3119',
          'Signing in took more than 15 minutes and was refused for security. Try again.',
          loginLink(tx.returnTo),
        ),
      );
    if (!replay.consume(sha(tx.state), now()))
      return send(
        refusal(
          'ERR_NGROK_3123',
          'This sign-in was already used. Remove any bookmark to this page and sign in again.',
          loginLink(tx.returnTo),
        ),
      );

    let user: Identity;
    let tokens: TokenSet;
    try {
      const provider = await getClient();
      const current = new URL(`${managedCallback() ?? `${origin(ctx)}${CALLBACK_PATH}`}${url.search}`);
      tokens = await provider.exchange(current, { state: tx.state, codeVerifier: tx.verifier, nonce: tx.nonce });
      user = await provider.identity(tokens.accessToken, undefined, tokens.claims);
    } catch (err) {
      return send(providerRefusal(err, tx.returnTo));
    }
    if (!user.id)
      return send(
        refusal('ERR_NGROK_3164', 'The identity provider did not identify the user.', loginLink(tx.returnTo)),
      );
    const refused = refuseIdentity(user);
    if (refused) return send(refused, clearSession(ctx, cookies));
    const t = now();
    const session: Session = {
      v: 1,
      sid: randomBytes(12).toString('base64url'),
      user,
      login: t,
      seen: t,
      checked: t,
      ...(tokens.refreshToken
        ? { rt: tokens.refreshToken }
        : { at: tokens.accessToken, atExp: tokens.accessExpiresAt }),
    };
    const returnTo = safeReturnPath(tx.returnTo) ?? '/';
    sendRedirect(ctx.res, returnTo, [...clearTx, ...sessionCookies(ctx, session, cookies)]);
    return 'handled';
  }

  function providerRefusal(err: unknown, returnTo = '/'): Refusal {
    if (err instanceof ProviderError) return refusal(err.code, err.message, loginLink(returnTo), err.status);
    return refusal(
      'ERR_NGROK_3160',
      `Unexpected error talking to the identity provider: ${(err as Error)?.message ?? String(err)}`,
      loginLink(returnTo),
    );
  }

  /** The back-channel re-check: refresh, then user info, then the allow lists again. */
  async function recheck(s: Session): Promise<CheckOutcome> {
    try {
      const provider = await getClient();
      let { rt, at, atExp } = s;
      if (rt) {
        const fresh = await provider.refresh(rt);
        if (fresh.claims && typeof fresh.claims.sub === 'string' && fresh.claims.sub !== s.user.id) {
          return {
            kind: 'refused',
            refusal: refusal(
              'ERR_NGROK_3151',
              'The identity provider returned a different user for this session.',
              loginLink(),
            ),
            clear: true,
          };
        }
        rt = fresh.refreshToken ?? rt;
        at = fresh.accessToken;
      } else if (!at || (atExp !== undefined && atExp <= now())) {
        // No refresh token and the access token is spent: send the browser through the provider.
        return { kind: 'reauthorize' };
      }
      const user = await provider.identity(at!, s.user.id);
      if (user.id !== s.user.id) {
        return {
          kind: 'refused',
          refusal: refusal(
            'ERR_NGROK_3151',
            'The identity provider returned a different user for this session.',
            loginLink(),
          ),
          clear: true,
        };
      }
      const refused = refuseIdentity(user);
      if (refused) return { kind: 'refused', refusal: refused, clear: true };
      return {
        kind: 'ok',
        session: { ...s, user, checked: now(), ...(rt ? { rt, at: undefined, atExp: undefined } : {}) },
      };
    } catch (err) {
      if (err instanceof ProviderError && err.revoked) {
        return {
          kind: 'refused',
          refusal: refusal('ERR_NGROK_3151', `${err.message}. Your session is no longer valid.`, loginLink()),
          clear: true,
        };
      }
      // The provider could not be asked (down, throttling): refuse this request, keep the session.
      return { kind: 'refused', refusal: providerRefusal(err), clear: false };
    }
  }

  function sharedRecheck(s: Session): Promise<CheckOutcome> {
    const cached = recent.get(s.sid);
    if (cached && cached.until > now()) return Promise.resolve(cached.outcome);
    let p = inflight.get(s.sid);
    if (!p) {
      p = recheck(s).then((outcome) => {
        inflight.delete(s.sid);
        if (outcome.kind === 'ok' || (outcome.kind === 'refused' && outcome.clear)) {
          if (recent.size >= MAX_CACHED_CHECKS) recent.delete(recent.keys().next().value!);
          recent.set(s.sid, { until: now() + Math.min(authCheckMs, 60_000), outcome });
        }
        return outcome;
      });
      inflight.set(s.sid, p);
    }
    return p;
  }

  /** Removes our cookies from what the upstream sees: the session holds provider tokens. */
  function stripOwnCookies(ctx: RequestContext): void {
    const { session, transactionPrefix } = names(ctx.scheme === 'https');
    const ours = (n: string) => n === session || n.startsWith(`${session}.`) || n.startsWith(transactionPrefix);
    const kept = cookiePairs(rawHeaderValues(ctx.upstreamHeaders, 'cookie')).filter((c) => !ours(c.name));
    removeRawHeaders(ctx.upstreamHeaders, (n) => n === 'cookie');
    if (kept.length) ctx.upstreamHeaders.push('Cookie', kept.map((c) => `${c.name}=${c.value}`).join('; '));
  }

  function forward(ctx: RequestContext, user: Identity): void {
    ctx.vars.set(VAR.oauthUser, { ...user });
    stripOwnCookies(ctx);
    ctx.upstreamHeaders.push(
      USER_HEADERS.id,
      headerValue(user.id),
      USER_HEADERS.name,
      headerValue(user.name),
      USER_HEADERS.email,
      headerValue(user.email),
    );
  }

  return {
    name: isOidcConfig(config) ? 'oidc' : 'oauth',

    async onRequest(ctx) {
      // A visitor can never present their own identity headers, signed in or not.
      removeRawHeaders(ctx.upstreamHeaders, isUserHeader);
      const url = new URL(ctx.req.url ?? '/', 'http://request.invalid');
      if (url.pathname === LEGACY_LOGIN_PATH) url.pathname = LOGIN_PATH;
      else if (url.pathname === LEGACY_LOGOUT_PATH) url.pathname = LOGOUT_PATH;
      else if (url.pathname.startsWith(RESERVED_PREFIX)) {
        sendRefusal(
          ctx.req,
          ctx.res,
          refusal('ERR_BURROW_OAUTH_RESERVED_PATH', `${url.pathname} is reserved for sign-in and is not served.`),
        );
        return 'handled';
      }
      const cookies = cookieJar(ctx.req.headers.cookie);
      const authIdParam = url.searchParams.get('auth_id');
      const ourAuthId = authIdParam === null || authIdParam === (config.authId ?? authIdParam);

      if (url.pathname === CALLBACK_PATH) return callback(ctx, url, cookies);
      if (url.pathname === LOGIN_PATH && ourAuthId) {
        const wanted = url.searchParams.get('redirect_path') ?? '/';
        const returnTo = safeReturnPath(wanted);
        if (!returnTo) {
          sendRefusal(
            ctx.req,
            ctx.res,
            refusal('ERR_NGROK_3117', 'redirect_path must be a path on this site (starting with a single "/").'),
          );
          return 'handled';
        }
        return startLogin(ctx, returnTo, true, []);
      }
      if (url.pathname === LOGOUT_PATH && ourAuthId) {
        sendSignedOut(
          ctx.req,
          ctx.res,
          loginLink().href,
          deleteChunkedCookies(names(ctx.scheme === 'https').session, sessionAttrs(ctx), cookies),
        );
        return 'handled';
      }
      if (config.optionsPassthrough && ctx.req.method === 'OPTIONS') return;

      const returnTo = safeReturnPath(ctx.req.url ?? '/') ?? '/';
      let session = readSession(ctx, cookies);
      const t = now();
      if (!session || t - session.login >= maxDurationMs || (idleMs !== undefined && t - session.seen >= idleMs)) {
        return startLogin(ctx, returnTo, false, clearSession(ctx, cookies));
      }
      let rewrite = false;
      if (t - session.checked >= authCheckMs) {
        const outcome = await sharedRecheck(session);
        if (outcome.kind === 'reauthorize') return startLogin(ctx, returnTo, false, []);
        if (outcome.kind === 'refused') {
          sendRefusal(ctx.req, ctx.res, outcome.refusal, outcome.clear ? clearSession(ctx, cookies) : []);
          return 'handled';
        }
        session = { ...outcome.session, seen: session.seen };
        rewrite = true;
      }
      // Activity is recorded coarsely: a new cookie at most once a minute (or a quarter of the
      // inactivity timeout), not on every request.
      const seenStep = Math.min(60_000, idleMs !== undefined ? idleMs / 4 : 60_000);
      if (t - session.seen >= seenStep) {
        session = { ...session, seen: t };
        rewrite = true;
      }
      if (rewrite) ctx.vars.set(SET_COOKIE_VAR, sessionCookies(ctx, session, cookies));
      forward(ctx, session.user);
    },

    onResponse(ctx: ResponseContext) {
      // An upstream may not replace or delete the edge's own cookies.
      const { session, transactionPrefix } = names(ctx.scheme === 'https');
      removeRawHeaders(ctx.responseHeaders, (n, value) => {
        const name = n === 'set-cookie' ? setCookiePair(value)?.name : undefined;
        return (
          name !== undefined &&
          (name === session || name.startsWith(`${session}.`) || name.startsWith(transactionPrefix))
        );
      });
      const pending = ctx.vars.get(SET_COOKIE_VAR) as string[] | undefined;
      if (pending) for (const c of pending) ctx.responseHeaders.push('Set-Cookie', c);
    },
  };
}

/**
 * Header values travel as bytes: UTF-8 names go out as their UTF-8 bytes (what Go's net/http,
 * and so ngrok, sends); control characters are dropped so nothing can split the header.
 */
function headerValue(value: string): string {
  return Buffer.from(value.replace(/[\0-\x1f\x7f]/g, ''), 'utf8').toString('latin1');
}
