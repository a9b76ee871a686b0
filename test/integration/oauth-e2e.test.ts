/**
 * OIDC end to end: a real OpenID Provider (oidc-provider) on loopback, a real tunnel (agent +
 * embedded edge with the endpoint's `oidc` module), a real upstream, and headless Chromium
 * filling in the provider's own login page. Covers: unauthenticated → provider → login → back to
 * the original path with the Ngrok-Auth-User-* headers; a disallowed address refused; logout;
 * tampered state, tampered/replayed login cookie and tampered session cookie refused; and the auth
 * check interval revoking a user removed at the provider.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { parseSetCookie } from 'cookie';
import http from 'node:http';
import type { Browser, BrowserContext, Cookie, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import type { Agent } from '../../tunnel/src/agent/agent';
import '../../tunnel/src/modules/oauth/register';
import { Resources, listen, startAgent, startTunnel } from '../support/tunnel';
import { startTestIdp, type TestIdp } from './oauth-support';

const ACCOUNTS = [
  { id: 'alice', email: 'alice@example.com', name: 'Alice Example', password: 'alice-password' },
  { id: 'bob', email: 'bob@elsewhere.test', name: 'Bob Elsewhere', password: 'bob-password' },
  { id: 'carol', email: 'carol@example.com', name: 'Carol Example', password: 'carol-password' },
];

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

describe('oauth: OIDC end to end with a real provider and headless Chromium', function () {
  this.timeout(60_000);
  const res = new Resources();
  let agent: Agent;
  let idp: TestIdp;
  let browser: Browser;
  let app: string; // http://app.localhost:PORT — allow list: @example.com
  let chk: string; // http://chk.localhost:PORT — auth check every 2.5 s
  const seen: Seen[] = [];

  before(async function () {
    browser = res.add(await launchChromium(), (b) => b.close());
    const upstream = res.server(
      http.createServer((req, rsp) => {
        seen.push({ path: req.url ?? '', headers: req.headers });
        rsp.writeHead(200, {
          'content-type': 'text/plain; charset=utf-8',
          'set-cookie': 'ngrok.session=from-upstream; Path=/',
        });
        rsp.end(JSON.stringify({ path: req.url, headers: req.headers }));
      }),
    );
    const upstreamPort = await listen(upstream);
    agent = await startAgent(res);
    const port = agent.embedded!.httpPort;
    app = `http://app.localhost:${port}`;
    chk = `http://chk.localhost:${port}`;
    idp = await startTestIdp({ redirectUris: [`${app}/ngrok/callback`, `${chk}/ngrok/callback`], accounts: ACCOUNTS });
    res.add(idp, (i) => i.close());
    const oidc = { issuerUrl: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret };
    const a = await startTunnel(agent, {
      upstream: String(upstreamPort),
      subdomain: 'app',
      edge: { oidc: { ...oidc, allowDomains: ['example.com'] } },
    });
    const c = await startTunnel(agent, {
      upstream: String(upstreamPort),
      subdomain: 'chk',
      edge: { oidc: { ...oidc, authCheckIntervalMs: 2500 } },
    });
    assert.equal(a.url, app);
    assert.equal(c.url, chk);
  });

  after(() => res.closeAll());

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    res.add(context, (c) => c.close());
    return { context, page: await context.newPage() };
  }

  /** Fills the provider's login form; resolves once the browser is back on `expectUrl`'s origin. */
  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`));
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
  }

  const bodyJson = async (page: Page) =>
    JSON.parse(await page.evaluate(() => document.body.innerText)) as { path: string; headers: Record<string, string> };
  const sessionCookie = (cookies: Cookie[], host: string) =>
    cookies.find((c) => c.name === 'ngrok.session' && c.domain === host);
  const seenBy = (email: string) => seen.filter((s) => s.headers['ngrok-auth-user-email'] === email);

  it('sends an unauthenticated visitor to the provider and back to the original path with the user headers', async () => {
    const { context, page } = await newPage();
    const before = seen.length;
    await page.goto(`${app}/private/page?x=1&y=two`);
    // The edge redirected to the provider's authorization endpoint, which shows its login page.
    assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), page.url());
    assert.equal(seen.length, before, 'nothing reached the upstream before login');
    await signIn(page, 'alice@example.com', 'alice-password');
    await page.waitForURL(`${app}/private/page?x=1&y=two`);
    const echoed = await bodyJson(page);
    assert.equal(echoed.path, '/private/page?x=1&y=two');
    assert.equal(echoed.headers['ngrok-auth-user-email'], 'alice@example.com');
    assert.equal(echoed.headers['ngrok-auth-user-id'], 'alice');
    assert.equal(echoed.headers['ngrok-auth-user-name'], 'Alice Example');
    // The upstream never sees the edge's session cookie (it holds provider tokens).
    assert.ok(!String(echoed.headers.cookie ?? '').includes('ngrok.session'), String(echoed.headers.cookie));

    const cookie = sessionCookie(await context.cookies(app), 'app.localhost');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.secure, false, 'plain http endpoint: no Secure flag');
    assert.equal(cookie.path, '/');
    assert.ok(cookie.value.startsWith('v1.') && !cookie.value.includes('alice'), 'sealed, not readable');
    // The upstream's attempt to overwrite the edge cookie was dropped.
    assert.notEqual(cookie.value, 'from-upstream');

    // Signed in: the next request goes straight through.
    const again = await get(context, `${app}/second`);
    assert.equal(again.status, 200);
    assert.equal(again.json().headers['ngrok-auth-user-email'], 'alice@example.com');
  });

  it('a visitor cannot forge the identity headers', async () => {
    const { context, page } = await newPage();
    await page.goto(`${app}/`);
    await signIn(page, 'alice@example.com', 'alice-password');
    await page.waitForURL(`${app}/`);
    const r = await get(context, `${app}/forge`, {
      'Ngrok-Auth-User-Email': 'ceo@example.com',
      'ngrok-auth-user-id': 'ceo',
    });
    const echoed = r.json();
    assert.equal(echoed.headers['ngrok-auth-user-email'], 'alice@example.com');
    assert.equal(echoed.headers['ngrok-auth-user-id'], 'alice');
  });

  it('refuses an address outside the allowed domains (ERR_NGROK_3105) and forwards nothing', async () => {
    const { context, page } = await newPage();
    await page.goto(`${app}/for-bob`);
    const refused = page.waitForResponse((r) => r.url().startsWith(`${app}/ngrok/callback`));
    await signIn(page, 'bob@elsewhere.test', 'bob-password');
    const response = await refused;
    assert.equal(response.status(), 403);
    assert.equal(response.headers()['ngrok-error-code'], 'ERR_NGROK_3105');
    assert.match(await page.evaluate(() => document.body.innerText), /bob@elsewhere\.test is not allowed/);
    assert.equal(seenBy('bob@elsewhere.test').length, 0);
    assert.equal(
      sessionCookie(await context.cookies(app), 'app.localhost'),
      undefined,
      'no session for a refused user',
    );
  });

  it('logs out: the cookie is cleared and the next request goes back to the provider', async () => {
    const { context, page } = await newPage();
    await page.goto(`${app}/`);
    await signIn(page, 'alice@example.com', 'alice-password');
    await page.waitForURL(`${app}/`);
    assert.ok(sessionCookie(await context.cookies(app), 'app.localhost'));
    const out = await page.goto(`${app}/ngrok/logout`);
    assert.equal(out?.status(), 200);
    assert.match(await page.evaluate(() => document.body.innerText), /Signed out/);
    assert.equal(sessionCookie(await context.cookies(app), 'app.localhost'), undefined);
    const before = seen.length;
    const next = await get(context, `${app}/after-logout`);
    assert.equal(next.status, 302);
    assert.ok(String(next.headers.location).startsWith(`${idp.issuer}/auth?`), next.headers.location);
    assert.equal(seen.length, before);
  });

  it('refuses a tampered state, a tampered or missing login cookie and a replayed callback; the genuine login still works once', async () => {
    const { context, page } = await newPage();
    // The edge's redirect to the provider carries the state; its Set-Cookie the login cookie.
    const toProvider = page.waitForResponse((r) => r.url() === `${app}/target?k=v`);
    await page.goto(`${app}/target?k=v`);
    const redirect = await toProvider;
    assert.equal(redirect.status(), 302);
    const state = new URL(redirect.headers().location).searchParams.get('state')!;
    const setCookie = (await redirect.headersArray()).find((h) => h.name.toLowerCase() === 'set-cookie')!.value;
    const { name, value, ...attributes } = parseSetCookie(setCookie);
    assert.match(name, /^ngrok\.nonce\.[\w-]+$/);
    assert.match(value ?? '', /^v1\.[\w-]+$/);
    assert.deepEqual({ ...attributes }, { path: '/ngrok/callback', httpOnly: true, sameSite: 'lax', maxAge: 900 });
    const loginCookie = setCookie.slice(0, setCookie.indexOf(';'));
    const [cookieName, cookieValue] = [
      loginCookie.slice(0, loginCookie.indexOf('=')),
      loginCookie.slice(loginCookie.indexOf('=') + 1),
    ];
    const before = seen.length;
    const callbackWith = (query: string, cookie?: string) =>
      get(undefined, `${app}/ngrok/callback?${query}`, cookie ? { cookie } : {});

    // Tampered state: no pending login of this browser has it.
    let r = await callbackWith(`code=x&state=${state.slice(0, -2)}xx`, loginCookie);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3300');
    assert.equal(r.status, 400);
    // Tampered login cookie: it no longer opens.
    r = await callbackWith(`code=x&state=${state}`, `${cookieName}=${flip(cookieValue)}`);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3108');
    // The right state without the browser's login cookie (another browser, a leaked link).
    r = await callbackWith(`code=x&state=${state}`);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3121');
    // No state at all.
    r = await callbackWith('code=x', loginCookie);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3107');
    // The provider's error answer is shown, not followed.
    r = await callbackWith(`error=access_denied&state=${state}`, loginCookie);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3114');
    assert.equal(seen.length, before, 'no refused callback reached the upstream');

    // The genuine login, untouched by the attempts above, signs in once.
    let callback: string | undefined;
    page.on('request', (q) => {
      if (q.url().startsWith(`${app}/ngrok/callback`)) callback = q.url();
    });
    await signIn(page, 'alice@example.com', 'alice-password');
    await page.waitForURL(`${app}/target?k=v`);
    assert.equal((await bodyJson(page)).headers['ngrok-auth-user-email'], 'alice@example.com');
    assert.ok(callback && new URL(callback).searchParams.get('state') === state);
    assert.equal(
      (await context.cookies(`${app}/ngrok/callback`)).filter((c) => c.name.startsWith('ngrok.nonce.')).length,
      0,
      'login cookie removed',
    );

    // Replaying the used callback, even with the login cookie, is refused: the state is spent.
    r = await get(undefined, callback, { cookie: loginCookie });
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3123');
    r = await get(undefined, callback);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3121');
  });

  it('treats a tampered session cookie as no session: back to the provider, cookie cleared, nothing forwarded', async () => {
    const { context, page } = await newPage();
    await page.goto(`${app}/`);
    await signIn(page, 'alice@example.com', 'alice-password');
    await page.waitForURL(`${app}/`);
    // The browser's cookies as a Cookie header, the session one changed. Set by hand, not through
    // Chromium's store: the page's own late requests (its favicon) would carry a tampered store
    // cookie to the edge first, and the edge's "cookie cleared" answer would empty the store.
    const cookies = await context.cookies(app);
    await page.close();
    assert.ok(sessionCookie(cookies, 'app.localhost'), 'signed in');
    const jar = (tamper: boolean) =>
      cookies.map((c) => `${c.name}=${tamper && c.name === 'ngrok.session' ? flip(c.value) : c.value}`).join('; ');
    const forwarded = (path: string) => seen.filter((s) => s.path === path).length;
    const r = await get(undefined, `${app}/tampered`, { cookie: jar(true) });
    assert.equal(r.status, 302);
    assert.ok(String(r.headers.location).startsWith(`${idp.issuer}/auth?`));
    assert.ok(
      r.setCookies
        .map((c) => ({ ...parseSetCookie(c) }))
        .some((c) =>
          isDeepStrictEqual(c, {
            name: 'ngrok.session',
            value: '',
            path: '/',
            httpOnly: true,
            sameSite: 'lax',
            maxAge: 0,
          }),
        ),
      r.setCookies.join('\n'),
    );
    assert.equal(forwarded('/tampered'), 0);
    // The same header untouched is a session: the change alone made the difference.
    assert.equal((await get(undefined, `${app}/genuine`, { cookie: jar(false) })).status, 200);
    assert.equal(forwarded('/genuine'), 1);
    // A cookie sealed for one endpoint does not open on another.
    const other = await get(undefined, `${chk}/moved`, { cookie: jar(false) });
    assert.equal(other.status, 302);
    assert.equal(forwarded('/moved'), 0);
  });

  it('refuses an open redirect in /ngrok/login (ERR_NGROK_3117)', async () => {
    const { context } = await newPage();
    for (const target of [
      '//evil.example/x',
      'https://evil.example/',
      '/\\evil.example',
      '/%09/evil.example'.replace('%09', '\t'),
    ]) {
      const r = await get(context, `${app}/ngrok/login?redirect_path=${encodeURIComponent(target)}`);
      assert.equal(r.status, 400, target);
      assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3117', target);
    }
    const ok = await get(context, `${app}/ngrok/login?redirect_path=${encodeURIComponent('/deep/path?q=1')}`);
    assert.equal(ok.status, 302);
    const location = new URL(String(ok.headers.location));
    assert.equal(location.origin, idp.issuer);
    assert.equal(location.searchParams.get('redirect_uri'), `${app}/ngrok/callback`);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(location.searchParams.get('prompt'), 'login', 'an explicit login forces re-authentication');
    assert.ok(location.searchParams.get('nonce'));
    assert.ok(!location.href.includes(idp.clientSecret));
  });

  it('auth check interval: a user removed at the provider loses access at the next check; others keep it', async () => {
    const alice = await newPage();
    await alice.page.goto(`${chk}/alice`);
    await signIn(alice.page, 'alice@example.com', 'alice-password');
    await alice.page.waitForURL(`${chk}/alice`);

    const carol = await newPage();
    await carol.page.goto(`${chk}/carol`);
    await signIn(carol.page, 'carol@example.com', 'carol-password');
    await carol.page.waitForURL(`${chk}/carol`);
    assert.equal((await bodyJson(carol.page)).headers['ngrok-auth-user-email'], 'carol@example.com');

    const removed = idp.accounts.get('carol')!;
    idp.accounts.delete('carol');
    try {
      // Within the interval nothing is asked of the provider: carol still gets in.
      const early = await get(carol.context, `${chk}/early`);
      assert.equal(early.status, 200);
      await carol.page.waitForTimeout(2700);
      const before = seenBy('carol@example.com').length;
      const late = await carol.page.goto(`${chk}/late`);
      assert.equal(late?.status(), 401);
      assert.equal(late?.headers()['ngrok-error-code'], 'ERR_NGROK_3151');
      assert.equal(seenBy('carol@example.com').length, before, 'the removed user reached nothing after the check');
      assert.equal(
        sessionCookie(await carol.context.cookies(chk), 'chk.localhost'),
        undefined,
        'the refusal cleared the session cookie',
      );
      const again = await get(carol.context, `${chk}/late-again`);
      assert.equal(again.status, 302, 'a new login is needed');

      // Alice's session was re-checked (refresh + user info) and stays valid.
      const ok = await get(alice.context, `${chk}/alice-late`);
      assert.equal(ok.status, 200);
      assert.equal(ok.json().headers['ngrok-auth-user-email'], 'alice@example.com');
      const renewed = ok.setCookies.find((c) => c.startsWith('ngrok.session='));
      assert.ok(renewed, 'the re-checked session got a fresh cookie');
    } finally {
      idp.accounts.set('carol', removed);
    }
  });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  setCookies: string[];
  body: string;
  json(): { path: string; headers: Record<string, string> };
}

/**
 * GET through the edge from Node (Playwright's request API cannot resolve *.localhost), sending
 * the browser context's cookies for the URL; redirects are not followed.
 */
async function get(
  context: BrowserContext | undefined,
  url: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const u = new URL(url);
  const jar = context ? (await context.cookies(url)).map((c) => `${c.name}=${c.value}`).join('; ') : '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(u.port),
        path: u.pathname + u.search,
        agent: false,
        headers: { host: u.host, ...(jar ? { cookie: jar } : {}), ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            setCookies: res.headers['set-cookie'] ?? [],
            body,
            json: () => JSON.parse(body),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Changes one character in the middle of a sealed value (still valid base64url). */
function flip(value: string): string {
  const i = Math.floor(value.length / 2);
  return value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
}
