// The answers the OAuth/OIDC modules give the browser themselves: refusals with ngrok's codes
// (ERR_NGROK_31xx/33xx, in the `ngrok-error-code` header the upstream can never set), the
// signed-out page, and redirects. HTML for browsers, ngrok's JSON error body for everything else.
import type { ClientRequest, ClientResponse } from '../types';

export const ERROR_CODE_HEADER = 'ngrok-error-code';

export interface Refusal {
  code: string;
  status: number;
  title: string;
  /** Shown to the visitor; never contains a token or secret. */
  message: string;
  /** A link to offer (e.g. sign in again). */
  link?: { href: string; text: string };
}

/** ngrok's meanings for the codes these modules use (from its error catalogue). */
export const OAUTH_ERRORS: Record<string, { status: number; title: string }> = {
  ERR_NGROK_3100: { status: 401, title: 'Session expired' },
  ERR_NGROK_3105: { status: 403, title: 'Access denied' },
  ERR_NGROK_3107: { status: 400, title: 'Missing state parameter' },
  ERR_NGROK_3108: { status: 400, title: 'Unreadable state' },
  ERR_NGROK_3109: { status: 403, title: 'No email address' },
  ERR_NGROK_3112: { status: 403, title: 'The identity provider returned an error' },
  ERR_NGROK_3114: { status: 403, title: 'Authorization required' },
  ERR_NGROK_3117: { status: 400, title: 'Unsupported login parameters' },
  ERR_NGROK_3119: { status: 400, title: 'Login took too long' },
  ERR_NGROK_3121: { status: 400, title: 'Missing login cookie' },
  ERR_NGROK_3123: { status: 400, title: 'Login already used' },
  ERR_NGROK_3124: { status: 400, title: 'State does not match this host' },
  ERR_NGROK_3125: { status: 502, title: 'Application credentials refused' },
  ERR_NGROK_3126: { status: 502, title: 'Scope refused' },
  ERR_NGROK_3151: { status: 401, title: 'Session no longer valid' },
  ERR_NGROK_3160: { status: 502, title: 'Identity provider unreachable' },
  ERR_NGROK_3161: { status: 503, title: 'Identity provider throttling' },
  ERR_NGROK_3163: { status: 400, title: 'Could not finish sign-in' },
  ERR_NGROK_3164: { status: 400, title: 'Sign-in failed' },
  ERR_NGROK_3165: { status: 503, title: 'Identity provider busy' },
  ERR_NGROK_3166: { status: 502, title: 'Identity provider error' },
  ERR_NGROK_3167: { status: 503, title: 'Identity provider busy' },
  ERR_NGROK_3300: { status: 400, title: 'Invalid state parameter' },
  ERR_NGROK_2227: { status: 502, title: 'OpenID Provider discovery failed' },
  ERR_BURROW_OAUTH_LOGIN_REQUIRED: { status: 401, title: 'Sign-in required' },
  ERR_BURROW_OAUTH_RESERVED_PATH: { status: 404, title: 'Not found' },
};

export function refusal(code: string, message: string, link?: Refusal['link'], status?: number): Refusal {
  const known = OAUTH_ERRORS[code] ?? { status: status ?? 400, title: 'Sign-in error' };
  return { code, status: status ?? known.status, title: known.title, message, link };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function wantsHtml(req: ClientRequest): boolean {
  return /text\/html/.test(String(req.headers.accept ?? ''));
}

function page(title: string, inner: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
code{background:#eee;padding:.1em .3em;border-radius:3px}@media(prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}code{background:#333}a{color:#8cf}}</style>
</head><body>${inner}</body></html>`;
}

function write(res: ClientResponse, status: number, headers: Record<string, string | string[]>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store' });
  res.end(body);
}

export function sendRefusal(req: ClientRequest, res: ClientResponse, r: Refusal, setCookies: string[] = []): void {
  const html = wantsHtml(req);
  const body = html
    ? page(
        r.title,
        `<h1>${esc(r.title)}</h1><p>${esc(r.message)}</p>${r.link ? `<p><a href="${esc(r.link.href)}">${esc(r.link.text)}</a></p>` : ''}
<p><code>${esc(r.code)}</code> · Burrow edge</p>`,
      )
    : JSON.stringify({
        error_code: r.code,
        status_code: r.status,
        msg: r.title,
        details: { err: r.message, ...(r.link ? { login_url: r.link.href } : {}) },
      });
  write(
    res,
    r.status,
    {
      'content-type': html ? 'text/html; charset=utf-8' : 'application/json',
      [ERROR_CODE_HEADER]: r.code,
      ...(setCookies.length ? { 'set-cookie': setCookies } : {}),
    },
    body,
  );
}

export function sendRedirect(res: ClientResponse, location: string, setCookies: string[] = []): void {
  write(
    res,
    302,
    {
      location,
      'content-type': 'text/plain; charset=utf-8',
      ...(setCookies.length ? { 'set-cookie': setCookies } : {}),
    },
    `Redirecting to ${location}\n`,
  );
}

export function sendSignedOut(req: ClientRequest, res: ClientResponse, loginHref: string, setCookies: string[]): void {
  const html = wantsHtml(req);
  const body = html
    ? page(
        'Signed out',
        `<h1>Signed out</h1><p>You have been signed out of this site.</p><p><a href="${esc(loginHref)}">Sign in again</a></p>`,
      )
    : JSON.stringify({ signed_out: true, login_url: loginHref });
  write(
    res,
    200,
    { 'content-type': html ? 'text/html; charset=utf-8' : 'application/json', 'set-cookie': setCookies },
    body,
  );
}
