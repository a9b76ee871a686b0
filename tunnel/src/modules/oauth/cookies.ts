// Sealed cookies for the OAuth/OIDC modules: the payload is JSON encrypted with AES-256-GCM under
// a key derived (HKDF-SHA256) from the edge's secret and the endpoint's host. GCM's tag is the
// signature: a changed byte, a cookie from another host, or one moved to another cookie name
// (the name is associated data) fails to open. Cookies are host-only (no Domain), HttpOnly,
// SameSite=Lax, Path=/ unless narrower, and Secure on https.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { serializeSetCookie } from '../../net/cookies';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Browsers keep at least 4096 bytes per cookie (name, value and attributes together). */
const MAX_CHUNK = 3800;
const MAX_CHUNKS = 4;
const MAX_KEYS = 10_000;

export class CookieSealer {
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('the cookie secret must have at least 32 bytes');
  }

  private keyFor(host: string): Buffer {
    let key = this.keys.get(host);
    if (!key) {
      if (this.keys.size >= MAX_KEYS) this.keys.clear();
      key = Buffer.from(hkdfSync('sha256', this.secret, 'burrow oauth cookies', `host:${host}`, 32));
      this.keys.set(host, key);
    }
    return key;
  }

  /** Encrypts and authenticates `payload` for `host`; `context` (the cookie name) is bound in. */
  seal(host: string, context: string, payload: unknown): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(host), iv);
    cipher.setAAD(Buffer.from(`${VERSION}\n${host}\n${context}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** The payload, or undefined for anything forged, altered, truncated or sealed elsewhere. */
  unseal<T>(host: string, context: string, sealed: string): T | undefined {
    if (!sealed.startsWith(`${VERSION}.`)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES + 1) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keyFor(host), raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${VERSION}\n${host}\n${context}`));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }
}

export interface CookieAttributes {
  secure: boolean;
  path?: string;
  /** Seconds; 0 deletes the cookie; undefined = a browser-session cookie. */
  maxAge?: number;
}

export function serializeCookie(name: string, value: string, attrs: CookieAttributes): string {
  return serializeSetCookie(name, value, {
    path: attrs.path ?? '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: attrs.secure,
    ...(attrs.maxAge !== undefined ? { maxAge: Math.max(0, Math.floor(attrs.maxAge)) } : {}),
  });
}

/**
 * Set-Cookie values for a sealed value that may exceed one cookie: `name`, `name.1`, … Unused
 * chunk names that the client still sent are deleted.
 */
export function chunkedCookies(
  name: string,
  sealed: string,
  attrs: CookieAttributes,
  present: Map<string, string[]>,
): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < sealed.length; i += MAX_CHUNK) chunks.push(sealed.slice(i, i + MAX_CHUNK));
  if (chunks.length > MAX_CHUNKS) throw new Error(`session too large for ${MAX_CHUNKS} cookies`);
  const out = chunks.map((chunk, i) => serializeCookie(i === 0 ? name : `${name}.${i}`, chunk, attrs));
  for (let i = chunks.length; i < MAX_CHUNKS; i++) {
    if (present.has(`${name}.${i}`)) out.push(serializeCookie(`${name}.${i}`, '', { ...attrs, maxAge: 0 }));
  }
  return out;
}

/** Set-Cookie values deleting `name` and any chunks of it the client sent. */
export function deleteChunkedCookies(name: string, attrs: CookieAttributes, present: Map<string, string[]>): string[] {
  const out = [serializeCookie(name, '', { ...attrs, maxAge: 0 })];
  for (let i = 1; i < MAX_CHUNKS; i++)
    if (present.has(`${name}.${i}`)) out.push(serializeCookie(`${name}.${i}`, '', { ...attrs, maxAge: 0 }));
  return out;
}

/** Candidate sealed values of a chunked cookie: each value sent under `name`, plus the chunks. */
export function chunkedCandidates(name: string, present: Map<string, string[]>): string[] {
  let tail = '';
  for (let i = 1; i < MAX_CHUNKS; i++) {
    const chunk = present.get(`${name}.${i}`)?.[0];
    if (chunk === undefined) break;
    tail += chunk;
  }
  return (present.get(name) ?? []).map((head) => head + tail);
}
