/**
 * A real OpenID Provider on loopback for the OAuth/OIDC tests: `oidc-provider` (certified) with
 * one confidential test client, a few accounts that tests can remove, refresh tokens, and a login
 * page of its own (email + password form) that the headless browser fills in.
 */
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { listen } from '../support/tunnel';

export interface TestAccount {
  id: string;
  email: string;
  name: string;
  password: string;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by id; delete one to "remove the user at the provider". */
  accounts: Map<string, TestAccount>;
  close(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, error?: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Email <input name="email" type="email" autocomplete="off"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form></body></html>`;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > 10_000) req.destroy(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

export async function startTestIdp(options: { redirectUris: string[]; accounts: TestAccount[] }): Promise<TestIdp> {
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map(options.accounts.map((a) => [a.id, a]));
  const clientId = 'burrow-test';
  const clientSecret = 'test-secret-0123456789abcdef0123456789';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['burrow-oauth-test-cookie-key-0123456789'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    ttl: { Interaction: 600, Grant: 3600, Session: 3600, AccessToken: 600, RefreshToken: 3600, IdToken: 600 },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `/interaction/${interaction.uid}` },
    // An account deleted from the map no longer exists for the token, refresh and user-info endpoints.
    findAccount: async (_ctx: KoaContextWithOIDC, id: string) => {
      const a = accounts.get(id);
      return a
        ? { accountId: a.id, claims: async () => ({ sub: a.id, email: a.email, email_verified: true, name: a.name }) }
        : undefined;
    },
    // Refresh tokens for the test client without prompt=consent (so the back channel can refresh).
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client) => client.grantTypeAllowed('refresh_token'),
    // First-party client: consent is implied, no consent screen.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const session = ctx.oidc.session!;
      const client = ctx.oidc.client!;
      const existing = session.grantIdFor(client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId! });
      grant.addOIDCScope('openid email profile offline_access');
      grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name']);
      await grant.save();
      session.grantIdFor(client.clientId, grant.jti);
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  const oidcHandler = provider.callback();

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (!m) {
      oidcHandler(req, res);
      return;
    }
    const [, uid, login] = m;
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (!login) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(loginPage(uid));
        return;
      }
      const form = await readForm(req);
      const account = [...accounts.values()].find((a) => a.email === form.get('email'));
      if (!account || account.password !== form.get('password') || details.prompt.name !== 'login') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(loginPage(uid, 'Wrong email or password'));
        return;
      }
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: account.id } },
        { mergeWithLastSubmission: false },
      );
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${err.message}`);
    });
  });

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
