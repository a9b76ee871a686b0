// Basic auth (`--basic-auth user:pass`, `basic_auth:`, the basic-auth action): several
// credentials, ngrok's length rules, constant-time compare, a WWW-Authenticate realm.
import { createHash, timingSafeEqual } from 'node:crypto';
import { check, within } from './config-error';
import { VAR } from './request-vars';
import type { HttpModule, RequestContext } from './types';

export interface BasicAuthConfig {
  /** `user:password` pairs (password 8..128 characters, username 1..128 without ':'). */
  credentials: string[];
  /** Realm in the challenge; default `ngrok` as ngrok's. */
  realm?: string;
  /** false = record the result (`${.basic_auth.decision}`) and let the request through. */
  enforce?: boolean;
}

// The v2 module has no documented cap; the basic-auth action allows 10. Enough for both uses.
const MAX_CREDENTIALS = 100;

/** Checks ngrok's rules; `field` names the config key in messages. Never echoes a password. */
export function validateBasicAuth(config: BasicAuthConfig, field = 'basicAuth'): void {
  check(
    config && Array.isArray(config.credentials) && config.credentials.length > 0,
    'ERR_NGROK_359',
    `${field}: at least one "user:password" credential is required`,
    ['credentials'],
  );
  check(
    config.credentials.length <= MAX_CREDENTIALS,
    'ERR_NGROK_15009',
    `${field}: at most ${MAX_CREDENTIALS} credentials`,
  );
  config.credentials.forEach((cred, i) =>
    within(['credentials', i], () => {
      check(typeof cred === 'string', 'ERR_NGROK_359', `${field}.credentials[${i}] must be a "user:password" string`);
      const colon = cred.indexOf(':');
      const user = colon < 0 ? cred : cred.slice(0, colon);
      check(
        colon > 0,
        'ERR_NGROK_359',
        `${field}.credentials[${i}]: expected "user:password" with a non-empty user name`,
      );
      const password = cred.slice(colon + 1);
      check(
        user.length <= 128,
        'ERR_NGROK_15008',
        `${field}.credentials[${i}]: the user name "${user.slice(0, 20)}…" is longer than 128 characters`,
      );
      check(
        password.length >= 8 && password.length <= 128,
        'ERR_NGROK_360',
        `${field}.credentials[${i}]: the password for "${user}" must be 8 to 128 characters long (it has ${password.length})`,
      );
      // RFC 7617: no control characters in either part.
      check(
        !/[\0-\x1f\x7f]/.test(cred),
        'ERR_NGROK_15012',
        `${field}.credentials[${i}]: control characters are not allowed (RFC 7617)`,
      );
    }),
  );
  check(
    config.realm === undefined || (typeof config.realm === 'string' && !/["\\\0-\x1f]/.test(config.realm)),
    'ERR_BURROW_MODULE_CONFIG',
    `${field}.realm must be text without quotes or control characters`,
    ['realm'],
  );
}

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

export function basicAuthModule(config: BasicAuthConfig): HttpModule {
  validateBasicAuth(config);
  // Only digests are kept: comparisons take the same time whatever matches, and no plain
  // password lives in the module.
  const accepted = config.credentials.map((c) => ({ user: c.slice(0, c.indexOf(':')), hash: digest(c) }));
  const challenge = `Basic realm="${config.realm ?? 'ngrok'}", charset="UTF-8"`;
  const enforce = config.enforce !== false;

  const verify = (ctx: RequestContext): string | undefined => {
    const header = ctx.req.headers.authorization;
    const m = typeof header === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return undefined;
    const presented = digest(Buffer.from(m[1], 'base64'));
    let user: string | undefined;
    for (const a of accepted) if (timingSafeEqual(presented, a.hash) && user === undefined) user = a.user;
    return user;
  };

  return {
    name: 'basic-auth',
    onRequest(ctx) {
      const user = verify(ctx);
      ctx.vars.set(VAR.basicAuthDecision, user === undefined ? 'block' : 'allow');
      if (user !== undefined) {
        ctx.vars.set(VAR.basicAuthUsername, user);
        return;
      }
      if (!enforce) return;
      const body = 'Unauthorized: this endpoint requires a user name and password.\n';
      ctx.res.writeHead(401, {
        'www-authenticate': challenge,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        'cache-control': 'no-store',
      });
      ctx.res.end(body);
      return 'handled';
    },
  };
}
