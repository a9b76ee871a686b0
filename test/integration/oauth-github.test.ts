/**
 * The plain OAuth 2.0 path (GitHub style: no ID token, identity from /user and /user/emails)
 * through a real tunnel, against a loopback server that speaks GitHub's documented OAuth and REST
 * shapes (the provider's endpoints are overridable, as for GitHub Enterprise). A small cookie-jar
 * HTTP client follows the redirects. Also covers inactivity timeout, maximum duration, CORS
 * preflight passthrough, non-navigation requests, and a revoked token at the auth check.
 */
import assert from 'node:assert/strict';
import { parseSetCookie } from 'cookie';
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from '../../tunnel/src/agent/agent';
import type { OAuthConfig } from '../../tunnel/src/modules/oauth/config';
import '../../tunnel/src/modules/oauth/register';
import { Resources, delay, listen, startAgent, startTunnel } from '../support/tunnel';

interface GhUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

/** GitHub's OAuth endpoints and the two REST calls, in their documented shapes. */
async function startFakeGitHub(res: Resources, clientId: string, clientSecret: string) {
  const codes = new Map<string, { user: GhUser; redirectUri: string; challenge: string }>();
  const tokens = new Map<string, GhUser>();
  const state = { user: undefined as GhUser | undefined, tokenRequests: 0 };
  const server = res.server(
    http.createServer((req, rsp) => {
      const url = new URL(req.url ?? '/', 'http://gh');
      const json = (status: number, body: unknown) => {
        rsp.writeHead(status, { 'content-type': 'application/json' });
        rsp.end(JSON.stringify(body));
      };
      if (url.pathname === '/login/oauth/authorize') {
        // The "user" has already approved the app: straight back with a code.
        assert.equal(url.searchParams.get('client_id'), clientId);
        assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
        const code = randomBytes(8).toString('hex');
        codes.set(code, {
          user: state.user!,
          redirectUri: url.searchParams.get('redirect_uri')!,
          challenge: url.searchParams.get('code_challenge')!,
        });
        const back = new URL(url.searchParams.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', url.searchParams.get('state')!);
        rsp.writeHead(302, { location: back.href }).end();
        return;
      }
      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c;
        });
        req.on('end', () => {
          state.tokenRequests++;
          const form = new URLSearchParams(body);
          const grant = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret)
            return json(200, { error: 'incorrect_client_credentials' });
          if (
            !grant ||
            grant.redirectUri !== form.get('redirect_uri') ||
            createHash('sha256').update(verifier).digest('base64url') !== grant.challenge
          ) {
            return json(200, { error: 'bad_verification_code' });
          }
          const token = `gho_${randomBytes(12).toString('hex')}`;
          tokens.set(token, grant.user);
          json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
        });
        return;
      }
      const user = tokens.get(String(req.headers.authorization ?? '').replace(/^(Bearer|token) /i, ''));
      if (!user) return json(401, { message: 'Bad credentials' });
      if (url.pathname === '/user') return json(200, { id: user.id, login: user.login, name: user.name });
      if (url.pathname === '/user/emails') return json(200, user.emails);
      json(404, { message: 'Not Found' });
    }),
  );
  const port = await listen(server);
  return { base: `http://127.0.0.1:${port}`, state, tokens };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A browser-ish client: a cookie jar per host, redirects followed (up to 10). */
class Visitor {
  readonly jar = new Map<string, Map<string, string>>();
  readonly hops: string[] = [];
  /** Set-Cookie lines of the last response. */
  readonly rawSetCookies: string[] = [];

  async get(url: string, headers: Record<string, string> = {}, follow = true, method = 'GET'): Promise<Reply> {
    let current = new URL(url);
    for (let i = 0; i < 10; i++) {
      const reply = await this.once(current, headers, method);
      this.hops.push(`${reply.status} ${current.href}`);
      if (!follow || reply.status < 300 || reply.status >= 400 || !reply.headers.location) return reply;
      current = new URL(reply.headers.location, current);
    }
    throw new Error('too many redirects');
  }

  private once(url: URL, headers: Record<string, string>, method: string): Promise<Reply> {
    const cookies = [...(this.jar.get(url.host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
    this.rawSetCookies.length = 0;
    return new Promise((resolve, reject) => {
      // https: the edge's self-signed certificate for the name (SNI), not verified here.
      const req = (url.protocol === 'https:' ? https : http).request(
        {
          host: '127.0.0.1',
          port: Number(url.port),
          method,
          path: url.pathname + url.search,
          agent: false,
          servername: url.hostname,
          rejectUnauthorized: false,
          headers: { host: url.host, accept: 'text/html', ...(cookies ? { cookie: cookies } : {}), ...headers },
        },
        (res) => {
          this.rawSetCookies.push(...(res.headers['set-cookie'] ?? []));
          const jar = this.jar.get(url.host) ?? new Map<string, string>();
          this.jar.set(url.host, jar);
          for (const line of res.headers['set-cookie'] ?? []) {
            const [pair] = line.split(';');
            const name = pair.slice(0, pair.indexOf('='));
            if (/Max-Age=0/.test(line)) jar.delete(name);
            else jar.set(name, pair.slice(pair.indexOf('=') + 1));
          }
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}

describe('oauth: GitHub-style OAuth 2.0 through a real tunnel', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let gh: Awaited<ReturnType<typeof startFakeGitHub>>;
  let upstreamPort: number;
  const seen: http.IncomingHttpHeaders[] = [];
  const octo: GhUser = {
    id: 583231,
    login: 'octocat',
    name: 'The Octocat',
    emails: [
      { email: 'octocat@users.noreply.github.com', primary: false, verified: true },
      { email: 'octo@example.com', primary: true, verified: true },
    ],
  };
  const noname: GhUser = {
    id: 7,
    login: 'nameless',
    name: null,
    emails: [{ email: 'nameless@other.test', primary: true, verified: true }],
  };

  before(async () => {
    const upstream = res.server(
      http.createServer((req, rsp) => {
        seen.push(req.headers);
        rsp.writeHead(200, { 'content-type': 'application/json' });
        rsp.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
      }),
    );
    upstreamPort = await listen(upstream);
    agent = await startAgent(res);
    gh = await startFakeGitHub(res, 'gh-client', 'gh-secret-value');
  });
  after(() => res.closeAll());

  async function tunnel(
    subdomain: string,
    extra: Partial<OAuthConfig> = {},
    schemes?: ('http' | 'https')[],
  ): Promise<string> {
    const oauth: OAuthConfig = {
      provider: 'github',
      clientId: 'gh-client',
      clientSecret: 'gh-secret-value',
      endpoints: {
        authorizationUrl: `${gh.base}/login/oauth/authorize`,
        tokenUrl: `${gh.base}/login/oauth/access_token`,
        userinfoUrl: `${gh.base}/user`,
        emailsUrl: `${gh.base}/user/emails`,
      },
      ...extra,
    };
    return (
      await startTunnel(agent, {
        upstream: String(upstreamPort),
        subdomain,
        edge: { oauth },
        ...(schemes ? { schemes } : {}),
      })
    ).url;
  }

  it('signs in with the primary verified address and sends the user headers', async () => {
    const url = await tunnel('gh1', { allowEmails: ['OCTO@example.com'] });
    gh.state.user = octo;
    const v = new Visitor();
    const r = await v.get(`${url}/repo?tab=code`);
    assert.equal(r.status, 200, v.hops.join('\n'));
    const echoed = JSON.parse(r.body);
    assert.equal(echoed.url, '/repo?tab=code');
    assert.equal(echoed.headers['ngrok-auth-user-id'], '583231');
    assert.equal(echoed.headers['ngrok-auth-user-name'], 'The Octocat');
    assert.equal(echoed.headers['ngrok-auth-user-email'], 'octo@example.com');
    assert.deepEqual(
      v.hops.map((h) => h.split(' ')[0]),
      ['302', '302', '302', '200'],
    );
    assert.ok(v.hops[2].includes('/ngrok/callback?code='));
  });

  it('refuses an address not on the list, and a user without a name falls back to the login', async () => {
    const url = await tunnel('gh2', { allowEmails: ['octo@example.com'] });
    gh.state.user = noname;
    const v = new Visitor();
    const r = await v.get(`${url}/`);
    assert.equal(r.status, 403);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3105');
    const open = await tunnel('gh3');
    const ok = await new Visitor().get(`${open}/`);
    assert.equal(JSON.parse(ok.body).headers['ngrok-auth-user-name'], 'nameless');
  });

  it('answers fetches without a session with 401 instead of a redirect, and lets preflights through when asked', async () => {
    const url = await tunnel('gh4', { optionsPassthrough: true });
    const v = new Visitor();
    const api = await v.get(`${url}/api/items`, { 'sec-fetch-mode': 'cors', accept: 'application/json' }, false);
    assert.equal(api.status, 401);
    assert.equal(api.headers['ngrok-error-code'], 'ERR_BURROW_OAUTH_LOGIN_REQUIRED');
    assert.equal(JSON.parse(api.body).details.login_url, '/ngrok/login?redirect_path=%2Fapi%2Fitems');
    const before = seen.length;
    const preflight = await v.get(
      `${url}/api/items`,
      { origin: 'https://ui.example', 'access-control-request-method': 'POST' },
      false,
      'OPTIONS',
    );
    assert.equal(preflight.status, 200);
    assert.equal(seen.length, before + 1);
    assert.equal(seen.at(-1)!['ngrok-auth-user-email'], undefined);
    const strict = await tunnel('gh5');
    const refused = await v.get(`${strict}/api/items`, {}, false, 'OPTIONS');
    assert.equal(refused.status, 302, 'without options passthrough a preflight needs a session too');
  });

  it('ends a session after the inactivity timeout, and after the maximum duration despite activity', async () => {
    gh.state.user = octo;
    const idle = await tunnel('gh6', { inactivityTimeoutMs: 1200 });
    const v = new Visitor();
    assert.equal((await v.get(`${idle}/`)).status, 200);
    await delay(400);
    assert.equal((await v.get(`${idle}/`, {}, false)).status, 200, 'active: still signed in');
    await delay(1300);
    const expired = await v.get(`${idle}/`, {}, false);
    assert.equal(expired.status, 302, 'idle too long: back to the provider');
    assert.ok(String(expired.headers.location).startsWith(`${gh.base}/login/oauth/authorize?`));

    const capped = await tunnel('gh7', { maxDurationMs: 1500 });
    const w = new Visitor();
    assert.equal((await w.get(`${capped}/`)).status, 200);
    for (let i = 0; i < 3; i++) {
      await delay(300);
      assert.equal((await w.get(`${capped}/`, {}, false)).status, 200);
    }
    await delay(700);
    assert.equal((await w.get(`${capped}/`, {}, false)).status, 302, 'past the maximum duration');
  });

  it('auth check: a token revoked at the provider ends the session (ERR_NGROK_3151)', async () => {
    gh.state.user = octo;
    const url = await tunnel('gh8', { authCheckIntervalMs: 1000 });
    const v = new Visitor();
    assert.equal((await v.get(`${url}/`)).status, 200);
    await delay(1100);
    assert.equal((await v.get(`${url}/`, {}, false)).status, 200, 'the check passes while the token is valid');
    for (const [token, user] of gh.tokens) if (user === octo) gh.tokens.delete(token);
    await delay(1100);
    const before = seen.length;
    const r = await v.get(`${url}/`, {}, false);
    assert.equal(r.status, 401);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3151');
    assert.equal(seen.length, before);
  });

  it('over https: __Host- session cookie with Secure, an https redirect URI, and the login cookie under __Secure-', async () => {
    gh.state.user = octo;
    const url = await tunnel('gh10', {}, ['https']);
    assert.match(url, /^https:\/\/gh10\.localhost:\d+$/);
    const v = new Visitor();
    const first = await v.get(`${url}/secure`, {}, false);
    assert.equal(first.status, 302);
    const authorize = new URL(String(first.headers.location));
    assert.equal(authorize.searchParams.get('redirect_uri'), `${url}/ngrok/callback`);
    const { name, value, ...attributes } = parseSetCookie(v.rawSetCookies[0]);
    assert.match(name, /^__Secure-ngrok\.nonce\.[\w-]+$/);
    assert.match(value ?? '', /^v1\.[\w-]+$/);
    assert.deepEqual(
      { ...attributes },
      { path: '/ngrok/callback', httpOnly: true, sameSite: 'lax', maxAge: 900, secure: true },
    );
    const r = await v.get(`${url}/secure`);
    assert.equal(r.status, 200, v.hops.join('\n'));
    assert.equal(JSON.parse(r.body).headers['ngrok-auth-user-email'], 'octo@example.com');
    const names = [...v.jar.get(new URL(url).host)!.keys()];
    assert.deepEqual(
      names.filter((n) => n.startsWith('__Host-')),
      ['__Host-ngrok.session'],
    );
    // The used login cookie is gone; only the abandoned first attempt's remains (it expires in 15 min).
    assert.equal(names.filter((n) => n.startsWith('__Secure-ngrok.nonce.')).length, 1);
    const again = await v.get(`${url}/again`, {}, false);
    assert.equal(again.status, 200);
  });

  it('refuses wrong application credentials with the credentials code ERR_NGROK_3125, never the secret', async () => {
    const url = await tunnel('gh9', { clientSecret: 'not-the-secret' });
    gh.state.user = octo;
    const r = await new Visitor().get(`${url}/`);
    assert.equal(r.status, 502);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3125');
    assert.ok(!r.body.includes('not-the-secret'));
  });

  it("seed 003's paths: nothing under /auth/ reaches the upstream; /auth/authn logs in, /auth/logout signs out", async () => {
    gh.state.user = octo;
    const url = await tunnel('gh12');
    const v = new Visitor();
    assert.equal((await v.get(`${url}/`)).status, 200);
    const before = seen.length;
    const other = await v.get(`${url}/auth/anything`, {}, false);
    assert.equal(other.status, 404);
    assert.equal(other.headers['ngrok-error-code'], 'ERR_BURROW_OAUTH_RESERVED_PATH');
    const authn = await v.get(`${url}/auth/authn?redirect_path=/after`, {}, false);
    assert.equal(authn.status, 302, 'a forced login, even with a session');
    assert.ok(String(authn.headers.location).startsWith(`${gh.base}/login/oauth/authorize?`));
    const out = await v.get(`${url}/auth/logout`, {}, false);
    assert.equal(out.status, 200);
    assert.equal(seen.length, before, 'the upstream saw none of them');
    const after = await v.get(`${url}/`, {}, false);
    assert.equal(after.status, 302, 'signed out: back to the provider');
  });

  it("strips a visitor's identity headers whatever their spelling (_ or -, any case)", async () => {
    gh.state.user = octo;
    const url = await tunnel('gh13');
    const v = new Visitor();
    assert.equal((await v.get(`${url}/`)).status, 200);
    const r = await v.get(
      `${url}/who`,
      { ngrok_auth_user_email: 'boss@example.com', 'NGROK-AUTH-USER-ID': '1', Ngrok_Auth_User_Name: 'Boss' },
      false,
    );
    const headers = JSON.parse(r.body).headers as Record<string, string>;
    assert.equal(headers['ngrok-auth-user-email'], 'octo@example.com');
    assert.equal(headers['ngrok-auth-user-id'], '583231');
    assert.equal(headers['ngrok-auth-user-name'], 'The Octocat');
    for (const k of Object.keys(headers)) assert.ok(!k.includes('_'), `${k} reached the upstream`);
  });

  it("managed app: endpoints with no client id sign in through the edge's one callback URL, sessions per endpoint", async () => {
    // The user's managed app for the embedded edge comes from the environment (the extension passes it).
    process.env.BURROW_OAUTH_APP_GITHUB = 'gh-client:gh-secret-value';
    let managedAgent: Agent;
    try {
      managedAgent = await startAgent(res);
    } finally {
      delete process.env.BURROW_OAUTH_APP_GITHUB;
    }
    const endpoints = {
      authorizationUrl: `${gh.base}/login/oauth/authorize`,
      tokenUrl: `${gh.base}/login/oauth/access_token`,
      userinfoUrl: `${gh.base}/user`,
      emailsUrl: `${gh.base}/user/emails`,
    };
    const managed = async (subdomain: string) =>
      (
        await startTunnel(managedAgent, {
          upstream: String(upstreamPort),
          subdomain,
          edge: { oauth: { provider: 'github', endpoints } },
        })
      ).url;
    const one = await managed('managed1');
    const two = await managed('managed2');
    const edgePort = managedAgent.embedded!.httpPort;
    const callback = `http://localhost:${edgePort}/_burrow/oauth/callback`;
    gh.state.user = octo;

    const v = new Visitor();
    const r = await v.get(`${one}/inside`);
    assert.equal(r.status, 200, v.hops.join('\n'));
    assert.equal(JSON.parse(r.body).headers['ngrok-auth-user-email'], 'octo@example.com');
    const authorize = new URL(v.hops.find((h) => h.includes('/login/oauth/authorize'))!.split(' ')[1]);
    assert.equal(authorize.searchParams.get('redirect_uri'), callback, 'the one URL registered at the provider');
    assert.ok(
      v.hops.some((h) => h.startsWith(`302 ${callback}?code=`)),
      v.hops.join('\n'),
    );
    assert.ok(
      v.hops.some((h) => h.startsWith(`302 ${one}/ngrok/callback?code=`)),
      v.hops.join('\n'),
    );

    // The same app serves the second endpoint; its session is its own.
    const before = v.hops.length;
    const r2 = await v.get(`${two}/`);
    assert.equal(r2.status, 200);
    assert.ok(
      v.hops.slice(before).some((h) => h.includes('/login/oauth/authorize')),
      'a new sign-in: no session shared across endpoints',
    );

    // The edge's callback only hands a sign-in to an endpoint it serves.
    const forged = Buffer.from('http://elsewhere.example').toString('base64url');
    const bad = await new Visitor().get(`${callback}?code=c&state=${forged}.x`, {}, false);
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['ngrok-error-code'], 'ERR_NGROK_3300');

    // An edge without a managed app refuses the endpoint at bind time, as clearly as before.
    await assert.rejects(
      startTunnel(agent, {
        upstream: String(upstreamPort),
        subdomain: 'unmanaged',
        edge: { oauth: { provider: 'github', endpoints } },
      }),
      (e: { code?: string; message: string }) => e.code === 'ERR_NGROK_7166' && /no managed github app/.test(e.message),
    );
  });
});
