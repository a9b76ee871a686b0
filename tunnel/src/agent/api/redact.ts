// Secrets never leave the local API: authtokens, API keys, basic-auth passwords, OAuth/OIDC client
// secrets, webhook-verification secrets and credential-bearing header values in tunnel definitions
// are replaced before any JSON is written.

export const REDACTED = '********';

/** snake_case (ngrok files) and camelCase (internal model) spellings alike. */
const SECRET_KEY =
  /(secret|password|passwd|authtoken|auth_?token|api_?key|private_?key|access_?token|refresh_?token|secret_?key)$|^token$/i;
/** Values of the form `user:password`. */
const USER_PASS_KEYS = new Set(['auth', 'basic_auth', 'basicAuth', 'credentials', 'basic_auth_credentials']);
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|x-api-key|api-key)\s*:/i;

function maskUserPass(v: string): string {
  const colon = v.indexOf(':');
  return colon >= 0 ? `${v.slice(0, colon)}:${REDACTED}` : REDACTED;
}

function maskHeaderLine(v: string): string {
  const m = SECRET_HEADERS.exec(v);
  return m ? `${v.slice(0, m[0].length)} ${REDACTED}` : v;
}

/** Removes the password from `scheme://user:pass@host` URLs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, `$1:${REDACTED}@`);
}

/** A deep copy of `value` with every secret replaced. */
export function redactSecrets<T>(value: T, key = ''): T {
  if (Array.isArray(value)) {
    if (USER_PASS_KEYS.has(key))
      return value.map((v) => (typeof v === 'string' ? maskUserPass(v) : redactSecrets(v))) as T;
    return value.map((v) => (typeof v === 'string' ? maskHeaderLine(v) : redactSecrets(v))) as T;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && SECRET_KEY.test(k)) out[k] = v === '' ? v : REDACTED;
      else if (typeof v === 'string' && USER_PASS_KEYS.has(k)) out[k] = maskUserPass(v);
      else out[k] = redactSecrets(v, k);
    }
    return out as T;
  }
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return redactUrl(value) as T;
  return value;
}
