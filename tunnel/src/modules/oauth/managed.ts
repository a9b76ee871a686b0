// Managed OAuth apps, self-hosted: the operator of an edge registers one OAuth app per provider
// (`burrow edge --oauth-app google=ID:SECRET`, or BURROW_OAUTH_APP_GOOGLE=ID:SECRET, also read by
// the agent's embedded edge), with ONE redirect URI at the provider: the edge's managed callback
// (default http://DOMAIN:HTTP_PORT/_burrow/oauth/callback; --oauth-callback-url when a proxy or TLS
// fronts the edge). Then `oauth: {provider: google}` with no client id works on every endpoint.
//
// The flow: the endpoint's module sends the browser to the provider with that redirect URI and a
// state that names the endpoint's origin; the provider returns to the edge's callback, which
// sends the browser on to {origin}/ngrok/callback (only for a host bound on this edge); the
// endpoint's module checks its own login cookie and state, then exchanges the code. Sessions and
// cookies stay per endpoint. Limitations, as with ngrok's managed apps: scopes and authorization
// parameters cannot be changed (ERR_NGROK_7034), the consent screen names the operator's app, and
// every endpoint on the edge shares its provider quota.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { splitHost } from '../../net/host';
import { OAUTH_PROVIDER_IDS, type OAuthProviderId } from './providers';

export const MANAGED_CALLBACK_PATH = '/_burrow/oauth/callback';

export interface ManagedOAuthApp {
  clientId: string;
  clientSecret: string;
}

/** An edge's registered apps and the one callback URL they share. */
export interface ManagedOAuth {
  apps: Partial<Record<OAuthProviderId, ManagedOAuthApp>>;
  callbackUrl: string;
}

export class ManagedAppError extends Error {
  readonly code = 'ERR_BURROW_OAUTH_APP';
}

/** `google=ID:SECRET` (the secret may contain ':'). */
export function parseOAuthApp(text: string, from: string): [OAuthProviderId, ManagedOAuthApp] {
  const m = /^([a-z]+)=([^:]+):(.+)$/.exec(text.trim());
  if (!m)
    throw new ManagedAppError(`${from}: expected PROVIDER=CLIENT_ID:CLIENT_SECRET, e.g. google=1234.apps:GOCSPX-…`);
  if (!(OAUTH_PROVIDER_IDS as readonly string[]).includes(m[1]))
    throw new ManagedAppError(`${from}: unknown provider "${m[1]}" (one of ${OAUTH_PROVIDER_IDS.join(', ')})`);
  return [m[1] as OAuthProviderId, { clientId: m[2], clientSecret: m[3] }];
}

/** Apps from `--oauth-app` values and BURROW_OAUTH_APP_<PROVIDER> variables (flags win). */
export function managedAppsFrom(
  flags: readonly string[],
  env: NodeJS.ProcessEnv,
): Partial<Record<OAuthProviderId, ManagedOAuthApp>> {
  const apps: Partial<Record<OAuthProviderId, ManagedOAuthApp>> = {};
  for (const provider of OAUTH_PROVIDER_IDS) {
    const name = `BURROW_OAUTH_APP_${provider.toUpperCase()}`;
    const value = env[name];
    if (value) apps[provider] = parseOAuthApp(`${provider}=${value}`, name)[1];
  }
  for (const flag of flags) {
    const [provider, app] = parseOAuthApp(flag, `--oauth-app ${flag.split('=')[0]}=…`);
    apps[provider] = app;
  }
  return apps;
}

/** The state sent to the provider names the endpoint's origin, so the edge's callback can route. */
export function managedState(origin: string, random: string): string {
  return `${Buffer.from(origin).toString('base64url')}.${random}`;
}

/**
 * The edge's managed callback: forwards the provider's answer to the endpoint named in the state,
 * if this edge serves that host. Returns false when the request is not for the callback.
 */
export function handleManagedCallback(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  managed: ManagedOAuth | undefined,
  servesHost: (host: string) => boolean,
): boolean {
  if (!managed) return false;
  const callback = new URL(managed.callbackUrl);
  const url = new URL(req.url ?? '/', 'http://request.invalid');
  const host = splitHost(String(req.headers.host ?? req.headers[':authority'] ?? ''));
  const expected = splitHost(callback.host);
  if (url.pathname !== callback.pathname || host.name !== expected.name || host.port !== expected.port) return false;
  const state = url.searchParams.get('state') ?? '';
  let origin: URL | undefined;
  try {
    origin = new URL(Buffer.from(state.slice(0, state.indexOf('.')), 'base64url').toString('utf8'));
  } catch {
    origin = undefined;
  }
  if (!origin || !/^https?:$/.test(origin.protocol) || !servesHost(origin.hostname) || origin.pathname !== '/') {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'ngrok-error-code': 'ERR_NGROK_3300' });
    res.end('This sign-in does not belong to an endpoint of this edge (invalid state parameter).\n');
    return true;
  }
  res.writeHead(302, { location: `${origin.origin}/ngrok/callback${url.search}`, 'cache-control': 'no-store' });
  res.end();
  return true;
}
