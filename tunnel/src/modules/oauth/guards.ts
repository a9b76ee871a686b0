// Protections around the login round trip: where a login may send the browser back to (only a
// path on the same origin), and single use of each login state on this edge.

const MAX_PATH = 2048;

/**
 * The path+query to return to after login, or undefined when `target` is not a plain same-origin
 * path. Refuses absolute and scheme-relative URLs (`//evil.example`, `/\evil.example`), control
 * characters and whitespace (browsers drop tabs and newlines, turning `/\t/evil` into `//evil`),
 * and backslashes anywhere.
 */
export function safeReturnPath(target: unknown): string | undefined {
  if (typeof target !== 'string' || target.length === 0 || target.length > MAX_PATH) return undefined;
  if (target[0] !== '/' || target[1] === '/') return undefined;
  if (/[\0-\x20\x7f\\]/.test(target)) return undefined;
  let url: URL;
  try {
    url = new URL(target, 'http://origin.invalid');
  } catch {
    return undefined;
  }
  if (url.origin !== 'http://origin.invalid') return undefined;
  const out = url.pathname + url.search;
  return out.startsWith('//') ? undefined : out;
}

/**
 * Login states already used on this edge, kept until they would have expired anyway, so a
 * captured callback URL (with its cookie) cannot be replayed. Bounded: beyond `max` entries the
 * oldest are dropped (they are also the closest to expiry).
 */
export class ReplayGuard {
  private readonly used = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 100_000,
  ) {}

  /** true the first time `key` is seen within its lifetime; false on every replay. */
  consume(key: string, now: number): boolean {
    this.prune(now);
    if (this.used.has(key)) return false;
    if (this.used.size >= this.max) this.used.delete(this.used.keys().next().value!);
    this.used.set(key, now + this.ttlMs);
    return true;
  }

  private prune(now: number): void {
    for (const [key, until] of this.used) {
      if (until > now) break; // insertion order = expiry order
      this.used.delete(key);
    }
  }
}
