/**
 * OAuth/OIDC module units: cookie sealing (AES-256-GCM, per-host keys), cookie attributes and
 * chunking, single-use login states, return-path checks against open redirects, config checks with
 * ngrok's codes, the provider table, the traffic-policy action mapping, and the authorization URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ProviderClient } from '../../tunnel/src/modules/oauth/client';
import {
  oauthCallbackUrl,
  redactOAuthConfig,
  validateOAuthConfig,
  type AuthModuleConfig,
} from '../../tunnel/src/modules/oauth/config';
import {
  chunkedCandidates,
  chunkedCookies,
  CookieSealer,
  deleteChunkedCookies,
  serializeCookie,
} from '../../tunnel/src/modules/oauth/cookies';
import { cookieJar as parseCookies } from '../../tunnel/src/net/cookies';
import { parseSetCookie } from 'cookie';
import { ReplayGuard, safeReturnPath } from '../../tunnel/src/modules/oauth/guards';
import { createOAuthModule } from '../../tunnel/src/modules/oauth/module';
import { OAUTH_PROVIDER_IDS, PROVIDERS } from '../../tunnel/src/modules/oauth/providers';
import { authActionConfig } from '../../tunnel/src/modules/oauth/register';

const secret = randomBytes(32);

describe('oauth: sealed cookies', () => {
  const sealer = new CookieSealer(secret);
  const payload = { sid: 'abc', user: { id: '1', email: 'a@example.com' }, rt: 'refresh-token-value' };

  it('round-trips and hides the payload', () => {
    const sealed = sealer.seal('app.example.test', 'ngrok.session', payload);
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assert.ok(!Buffer.from(sealed.slice(3), 'base64url').toString('latin1').includes('refresh-token-value'));
    assert.deepEqual(sealer.unseal('app.example.test', 'ngrok.session', sealed), payload);
    // A fresh IV every time: equal payloads give different cookies.
    assert.notEqual(sealer.seal('app.example.test', 'ngrok.session', payload), sealed);
  });

  it('refuses every single-byte change, truncation and extension', () => {
    const sealed = sealer.seal('h.test', 'c', payload);
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const bad = Buffer.from(raw);
      bad[i] ^= 0x01;
      assert.equal(sealer.unseal('h.test', 'c', `v1.${bad.toString('base64url')}`), undefined, `byte ${i}`);
    }
    assert.equal(sealer.unseal('h.test', 'c', sealed.slice(0, -4)), undefined);
    assert.equal(sealer.unseal('h.test', 'c', `${sealed}AAAA`), undefined);
    assert.equal(sealer.unseal('h.test', 'c', 'v1.'), undefined);
    assert.equal(sealer.unseal('h.test', 'c', 'garbage'), undefined);
    assert.equal(sealer.unseal('h.test', 'c', `v2${sealed.slice(2)}`), undefined);
  });

  it('binds the cookie to its host, its name and the edge secret', () => {
    const sealed = sealer.seal('a.test', 'ngrok.session', payload);
    assert.equal(sealer.unseal('b.test', 'ngrok.session', sealed), undefined, 'another endpoint');
    assert.equal(sealer.unseal('a.test', 'ngrok.nonce.x', sealed), undefined, 'another cookie role');
    assert.equal(
      new CookieSealer(randomBytes(32)).unseal('a.test', 'ngrok.session', sealed),
      undefined,
      'another edge',
    );
    assert.deepEqual(
      new CookieSealer(Buffer.from(secret)).unseal('a.test', 'ngrok.session', sealed),
      payload,
      'same secret, new process',
    );
  });

  it('needs a secret of at least 32 bytes', () => {
    assert.throws(() => new CookieSealer(randomBytes(16)), /at least 32 bytes/);
  });

  it('serializes host-only, HttpOnly, SameSite=Lax cookies, Secure only on https', () => {
    const plain = serializeCookie('ngrok.session', 'v', { secure: false, maxAge: 60 });
    assert.deepEqual(
      { ...parseSetCookie(plain) },
      { name: 'ngrok.session', value: 'v', path: '/', httpOnly: true, sameSite: 'lax', maxAge: 60 },
    );
    const secure = serializeCookie('__Host-ngrok.session', 'v', { secure: true });
    assert.deepEqual(
      { ...parseSetCookie(secure) },
      { name: '__Host-ngrok.session', value: 'v', path: '/', httpOnly: true, sameSite: 'lax', secure: true },
    );
    assert.ok(!/domain=/i.test(plain + secure));
    assert.match(serializeCookie('n', '', { secure: false, maxAge: -5 }), /Max-Age=0/);
  });

  it('splits a large session over numbered cookies and reads it back; stale chunks are deleted', () => {
    const big = sealer.seal('h.test', 's', { rt: randomBytes(4000).toString('base64') });
    const present = parseCookies('s.3=old');
    const headers = chunkedCookies('s', big, { secure: false }, present);
    const sent = headers.filter((h) => !h.includes('Max-Age=0'));
    assert.ok(sent.length >= 2 && sent.every((h) => h.length < 4096));
    assert.ok(headers.some((h) => h.startsWith('s.3=;') && h.includes('Max-Age=0')));
    const jar = parseCookies(sent.map((h) => h.slice(0, h.indexOf(';'))).join('; '));
    const [candidate] = chunkedCandidates('s', jar);
    assert.equal(candidate, big);
    assert.ok(deleteChunkedCookies('s', { secure: false }, jar).length === sent.length);
  });

  it('parses every value of a repeated cookie name (a tossed duplicate cannot hide the real one)', () => {
    const jar = parseCookies('a=1; ngrok.session=forged; b=2; ngrok.session=real');
    assert.deepEqual(jar.get('ngrok.session'), ['forged', 'real']);
    assert.deepEqual(chunkedCandidates('ngrok.session', jar), ['forged', 'real']);
  });
});

describe('oauth: login state and return paths', () => {
  it('accepts each state once within its lifetime', () => {
    const guard = new ReplayGuard(1000);
    assert.equal(guard.consume('s1', 0), true);
    assert.equal(guard.consume('s1', 500), false);
    assert.equal(guard.consume('s2', 500), true);
    assert.equal(guard.consume('s1', 1500), true, 'forgotten after it would have expired anyway');
  });

  it('stays bounded', () => {
    const guard = new ReplayGuard(60_000, 3);
    for (const k of ['a', 'b', 'c', 'd']) assert.equal(guard.consume(k, 0), true);
    assert.equal(guard.consume('d', 1), false);
    assert.equal(guard.consume('a', 1), true, 'the oldest was dropped');
  });

  it('allows only same-origin paths as return targets', () => {
    assert.equal(safeReturnPath('/'), '/');
    assert.equal(safeReturnPath('/a/b?c=d&e=%2F%2Ff'), '/a/b?c=d&e=%2F%2Ff');
    assert.equal(safeReturnPath('/a/../b'), '/b');
    assert.equal(safeReturnPath('/a#frag'), '/a');
    const refused = [
      '',
      'a/b',
      'evil.example',
      '//evil.example',
      '///evil.example',
      '/\\evil.example',
      '\\/evil.example',
      '/\\/evil.example',
      'http://evil.example/',
      'https:evil.example',
      'javascript:alert(1)',
      'data:text/html,x',
      '/\t/evil.example',
      '/\n/evil.example',
      '/ /evil',
      '/a\\b',
      `/${'a'.repeat(3000)}`,
      '/%0d%0aSet-Cookie:x'.replace('%0d%0a', '\r\n'),
    ];
    for (const target of refused) assert.equal(safeReturnPath(target), undefined, JSON.stringify(target));
    assert.equal(safeReturnPath(undefined), undefined);
    assert.equal(safeReturnPath(42), undefined);
  });
});

describe('oauth: config checks', () => {
  const own = { clientId: 'id', clientSecret: 'secret' };
  const code = (c: unknown) => validateOAuthConfig(c as AuthModuleConfig)?.code;

  it('accepts complete configs', () => {
    assert.equal(
      code({
        provider: 'google',
        ...own,
        allowEmails: ['A@Example.com'],
        allowDomains: ['example.com'],
        scopes: ['openid'],
      }),
      undefined,
    );
    assert.equal(
      code({ issuerUrl: 'https://id.example.com/realms/x', ...own, authCheckIntervalMs: 60_000 }),
      undefined,
    );
    assert.equal(code({ issuerUrl: 'http://127.0.0.1:8080', ...own }), undefined, 'plain http on loopback');
  });

  it('refuses bad configs with ngrok codes', () => {
    assert.equal(code({}), 'ERR_NGROK_363');
    assert.equal(code({ provider: 'myspace', ...own }), 'ERR_NGROK_365');
    assert.equal(code({ provider: 'github', clientSecret: 's' }), 'ERR_NGROK_383');
    assert.equal(code({ provider: 'github', clientId: 'i' }), 'ERR_NGROK_384');
    assert.equal(code({ provider: 'github' }), undefined, 'no edge known here (a config check): the edge decides');
    assert.equal(
      validateOAuthConfig({ provider: 'github' }, 'oauth', false)?.code,
      'ERR_NGROK_7166',
      'an edge without a managed github app',
    );
    assert.equal(validateOAuthConfig({ provider: 'github' }, 'oauth', true), undefined, 'an edge with one');
    assert.equal(
      validateOAuthConfig({ provider: 'github', scopes: ['repo'] }, 'oauth', true)?.code,
      'ERR_NGROK_7034',
      'a managed app takes no scopes',
    );
    assert.equal(code({ issuerUrl: '', ...own }), 'ERR_NGROK_387');
    assert.equal(code({ issuerUrl: 'https://id.example.com', clientSecret: 's' }), 'ERR_NGROK_385');
    assert.equal(code({ issuerUrl: 'https://id.example.com', clientId: 'i' }), 'ERR_NGROK_386');
    assert.equal(code({ issuerUrl: 'not a url', ...own }), 'ERR_NGROK_2226');
    assert.equal(code({ issuerUrl: 'http://id.example.com', ...own }), 'ERR_BURROW_OIDC_INSECURE_ISSUER');
    assert.equal(code({ provider: 'google', ...own, allowEmails: ['nobody'] }), 'ERR_NGROK_7043');
    assert.equal(code({ provider: 'google', ...own, allowEmails: [''] }), 'ERR_NGROK_7043');
    assert.equal(code({ provider: 'google', ...own, allowDomains: ['@example.com'] }), 'ERR_NGROK_7039');
    assert.equal(code({ provider: 'google', ...own, allowEmails: ['a@b.co', 'A@B.co'] }), 'ERR_NGROK_2231');
    assert.equal(code({ provider: 'google', ...own, scopes: ['has space'] }), 'ERR_NGROK_391');
    assert.equal(code({ provider: 'google', ...own, authzUrlParams: { state: 'x' } }), 'ERR_NGROK_2219');
    assert.equal(code({ provider: 'google', ...own, authCheckIntervalMs: 10 }), 'ERR_NGROK_7035');
    assert.equal(code({ provider: 'google', ...own, cookiePrefix: 'bad prefix;' }), 'ERR_BURROW_OAUTH_COOKIE_PREFIX');
    assert.equal(
      code({ provider: 'github', ...own, endpoints: { tokenUrl: 'http://github.example.com/token' } }),
      'ERR_NGROK_2226',
    );
  });

  it('never echoes the client secret', () => {
    const err = validateOAuthConfig({
      provider: 'google',
      clientId: 'id',
      clientSecret: 'TOPSECRET',
      allowEmails: ['x'],
    });
    assert.ok(err && !err.message.includes('TOPSECRET'));
    assert.equal(
      redactOAuthConfig({ provider: 'google', clientId: 'id', clientSecret: 'TOPSECRET' }).clientSecret,
      '<redacted>',
    );
    assert.throws(
      () =>
        createOAuthModule({ provider: 'github' }, { secret, managed: { apps: {}, callbackUrl: 'http://localhost/' } }),
      (e: Error & { code?: string }) => e.code === 'ERR_NGROK_7166',
    );
  });

  it('gives the redirect URI to register for an endpoint', () => {
    assert.equal(oauthCallbackUrl('https://app.example.com'), 'https://app.example.com/ngrok/callback');
    assert.equal(oauthCallbackUrl('http://app.localhost:8480/some/path'), 'http://app.localhost:8480/ngrok/callback');
  });
});

describe('oauth: providers', () => {
  it("lists ngrok's eight providers with https endpoints and scopes", () => {
    assert.deepEqual([...OAUTH_PROVIDER_IDS].sort(), [
      'amazon',
      'facebook',
      'github',
      'gitlab',
      'google',
      'linkedin',
      'microsoft',
      'twitch',
    ]);
    for (const id of OAUTH_PROVIDER_IDS) {
      const p = PROVIDERS[id];
      assert.equal(p.id, id);
      for (const url of [p.authorizationUrl, p.tokenUrl, p.userinfoUrl, p.emailsUrl].filter(Boolean))
        assert.equal(new URL(url!).protocol, 'https:', `${id} ${url}`);
      assert.ok(p.scopes.length > 0, id);
      // Providers that issue ID tokens declare the issuer those tokens carry.
      assert.equal(p.scopes.includes('openid'), p.issuer !== undefined, id);
    }
  });

  it("maps each provider's user info to id, name and a verified email", () => {
    assert.deepEqual(
      PROVIDERS.github.identity({ id: 42, login: 'octo', name: null }, [
        { email: 'old@example.com', primary: false, verified: true },
        { email: 'octo@example.com', primary: true, verified: true },
      ]),
      { id: '42', name: 'octo', email: 'octo@example.com' },
    );
    assert.equal(
      PROVIDERS.github.identity({ id: 1 }, [{ email: 'x@example.com', primary: true, verified: false }]).email,
      '',
      'unverified primary',
    );
    assert.deepEqual(PROVIDERS.google.identity({ sub: '1', name: 'G', email: 'g@example.com', email_verified: true }), {
      id: '1',
      name: 'G',
      email: 'g@example.com',
    });
    assert.equal(PROVIDERS.google.identity({ sub: '1', email: 'g@example.com', email_verified: false }).email, '');
    assert.deepEqual(PROVIDERS.gitlab.identity({ sub: '7', preferred_username: 'gl', email: 'gl@example.com' }), {
      id: '7',
      name: 'gl',
      email: 'gl@example.com',
    });
    assert.deepEqual(
      PROVIDERS.microsoft.identity({ id: 'm1', displayName: 'M', mail: 'm@example.com', userPrincipalName: 'x@y' }),
      { id: 'm1', name: 'M', email: 'm@example.com' },
    );
    assert.deepEqual(
      PROVIDERS.twitch.identity({ data: [{ id: 't1', login: 'tw', display_name: 'Tw', email: 't@example.com' }] }),
      { id: 't1', name: 'Tw', email: 't@example.com' },
    );
    assert.deepEqual(PROVIDERS.amazon.identity({ user_id: 'amzn1.account.X', name: 'A', email: 'a@example.com' }), {
      id: 'amzn1.account.X',
      name: 'A',
      email: 'a@example.com',
    });
    assert.deepEqual(PROVIDERS.facebook.identity({ id: 'f1', name: 'F', email: 'f@example.com' }), {
      id: 'f1',
      name: 'F',
      email: 'f@example.com',
    });
    assert.deepEqual(
      PROVIDERS.linkedin.identity({ sub: 'l1', name: 'L', email: 'l@example.com', email_verified: true }),
      { id: 'l1', name: 'L', email: 'l@example.com' },
    );
    assert.deepEqual(PROVIDERS.twitch.userinfoHeaders!('cid'), { 'client-id': 'cid' });
  });

  it("builds an authorization URL with state, PKCE S256, the provider's scopes and overrides, and no secret", async () => {
    const client = await ProviderClient.create({
      provider: 'github',
      clientId: 'gh-id',
      clientSecret: 'gh-secret',
      scopes: ['read:org'],
      authzUrlParams: { allow_signup: 'false' },
      endpoints: { authorizationUrl: 'https://github.example.com/login/oauth/authorize' },
    });
    const url = client.authorizationUrl({
      redirectUri: 'https://app.example.com/ngrok/callback',
      state: 'st',
      codeChallenge: 'cc',
      forceLogin: false,
    });
    assert.equal(url.origin + url.pathname, 'https://github.example.com/login/oauth/authorize');
    assert.equal(url.searchParams.get('client_id'), 'gh-id');
    assert.equal(url.searchParams.get('redirect_uri'), 'https://app.example.com/ngrok/callback');
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('scope'), 'read:user user:email read:org');
    assert.equal(url.searchParams.get('state'), 'st');
    assert.equal(url.searchParams.get('code_challenge'), 'cc');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('allow_signup'), 'false');
    assert.equal(url.searchParams.get('nonce'), null, 'GitHub issues no ID token');
    assert.ok(!url.href.includes('gh-secret'));
    assert.equal(client.usesIdToken, false);
    const google = await ProviderClient.create({ provider: 'google', clientId: 'g', clientSecret: 's' });
    assert.equal(google.usesIdToken, true);
    const forced = google.authorizationUrl({
      redirectUri: 'https://a.test/ngrok/callback',
      state: 's',
      codeChallenge: 'c',
      nonce: 'n',
      forceLogin: true,
    });
    assert.equal(forced.searchParams.get('nonce'), 'n');
    assert.equal(forced.searchParams.get('prompt'), 'select_account');
  });
});

describe('oauth: traffic-policy action configs', () => {
  it('maps oauth and openid-connect action fields', () => {
    assert.deepEqual(
      authActionConfig(
        'oauth',
        {
          provider: 'google',
          client_id: 'i',
          client_secret: 's',
          scopes: ['x'],
          auth_id: 'main',
          max_session_duration: '12h',
          idle_session_timeout: '30m',
          userinfo_refresh_interval: '5m',
          allow_cors_preflight: true,
          authz_url_params: { hd: 'example.com' },
        },
        'on_http_request[0].actions[0]',
      ),
      {
        provider: 'google',
        clientId: 'i',
        clientSecret: 's',
        scopes: ['x'],
        authId: 'main',
        maxDurationMs: 12 * 3600_000,
        inactivityTimeoutMs: 30 * 60_000,
        authCheckIntervalMs: 5 * 60_000,
        optionsPassthrough: true,
        authzUrlParams: { hd: 'example.com' },
      },
    );
    assert.deepEqual(
      authActionConfig(
        'openid-connect',
        { issuer_url: 'https://id.example.com', client_id: 'i', client_secret: 's', idle_session_duration: '1h' },
        'x',
      ),
      { issuerUrl: 'https://id.example.com', clientId: 'i', clientSecret: 's', inactivityTimeoutMs: 3600_000 },
    );
  });

  it('refuses unknown fields, bad durations and cookie domains with codes', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    assert.equal(
      codeOf(() => authActionConfig('oauth', { provider: 'google', colour: 'red' }, 'x')),
      'ERR_NGROK_2203',
    );
    assert.equal(
      codeOf(() => authActionConfig('oauth', { provider: 'google', max_session_duration: 'soon' }, 'x')),
      'ERR_NGROK_2204',
    );
    assert.equal(
      codeOf(() => authActionConfig('oauth', { provider: 'google', auth_cookie_domain: 'example.com' }, 'x')),
      'ERR_NGROK_2219',
    );
  });
});
