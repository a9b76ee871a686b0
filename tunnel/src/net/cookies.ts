// Cookie and Set-Cookie headers, read and written by jshttp's `cookie` (1.x; 2.x needs Node 22)
// for every caller: the OAuth/OIDC session cookies, CEL's getReqCookie/getResCookie, HAR export.
// Values stay as sent (no percent-decoding): sealed sessions are base64url, and what a request
// carries is what a traffic policy and a HAR file should see.
import { parseCookie, parseSetCookie, stringifySetCookie, type SerializeOptions } from 'cookie';

export interface CookiePair {
  name: string;
  value: string;
}

const asSent = { decode: (v: string) => v };

/**
 * Every pair of `Cookie` header(s), in order, a repeated name included: `parseCookie` keeps only
 * the first value of a name, and a cookie tossed in from a parent domain must not hide the real one,
 * so it reads one `;`-separated pair at a time.
 */
export function cookiePairs(header: string | readonly string[] | undefined): CookiePair[] {
  const lines = typeof header === 'string' ? [header] : (header ?? []);
  const out: CookiePair[] = [];
  for (const line of lines)
    for (const part of line.split(';'))
      for (const [name, value] of Object.entries(parseCookie(part, asSent)))
        if (name && value !== undefined) out.push({ name, value });
  return out;
}

/** name → every value sent under it, in order. */
export function cookieJar(header: string | readonly string[] | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { name, value } of cookiePairs(header)) {
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/** The cookie a `Set-Cookie` header sets (its attributes dropped), or undefined for a malformed one. */
export function setCookiePair(header: string): CookiePair | undefined {
  const { name, value } = parseSetCookie(header, asSent);
  return name ? { name, value: value ?? '' } : undefined;
}

/** A `Set-Cookie` header value; the value must already be cookie-safe (it is not encoded). */
export function serializeSetCookie(name: string, value: string, options: SerializeOptions): string {
  return stringifySetCookie(name, value, { ...options, encode: (v) => v });
}
