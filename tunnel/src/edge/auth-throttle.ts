// Slows authtoken guessing: after a burst of failed authentications from one source address, that
// address is refused for a while (ERR_BURROW_AUTH_THROTTLED) before its credential is even looked
// at, the lock doubling with each further failure. Agents already connected are never touched,
// other addresses are not affected, and the right token works again once the lock has passed.
//
// The seam: every agent front door (Burrow's WebSocket sessions, ngrok's protocol Auth) calls
// `check` before verifying a credential and `failed`/`succeeded` after. The interface is async so
// a shared store (Redis counters, for several edge nodes) can implement it; `MemoryAuthThrottle`
// is the single-edge implementation.
import net from 'node:net';
import type { WireError } from '../protocol/messages';

export interface AuthThrottle {
  /** 0 when `addr` may try a credential now, else how many ms it must wait. */
  check(addr: string): Promise<number>;
  /** A credential from `addr` was wrong (or missing). */
  failed(addr: string): Promise<void>;
  /** A credential from `addr` was right: forget its failures. */
  succeeded(addr: string): Promise<void>;
}

export const AUTH_THROTTLED = 'ERR_BURROW_AUTH_THROTTLED';

/** The refusal an agent gets while its address is locked. */
export function throttledError(retryAfterMs: number): WireError {
  return {
    code: AUTH_THROTTLED,
    message: `too many failed authentications from this address: retry in ${Math.ceil(retryAfterMs / 1000)} s`,
  };
}

/**
 * The key failures are counted under: the IPv4 address, or the /64 of an IPv6 address (one host
 * usually owns a whole /64, so counting single v6 addresses would let it rotate freely).
 */
export function throttleKey(addr: string): string {
  let ip = addr.startsWith('::ffff:') && net.isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
  if (!net.isIPv6(ip)) return ip;
  ip = ip.replace(/%.*$/, '');
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

export interface AuthThrottleOptions {
  /** Failures allowed before the first lock (default 10). */
  burst?: number;
  /** First lock; each further failure doubles it (default 1 s). */
  baseLockMs?: number;
  /** Longest lock (default 5 min). */
  maxLockMs?: number;
  /** Failures older than this are forgotten (default 15 min). */
  forgetAfterMs?: number;
  /** Addresses remembered at most (the oldest are forgotten first; default 100,000). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  lockedUntil: number;
}

export class MemoryAuthThrottle implements AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly burst: number;
  private readonly baseLockMs: number;
  private readonly maxLockMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.burst = options.burst ?? 10;
    this.baseLockMs = options.baseLockMs ?? 1_000;
    this.maxLockMs = options.maxLockMs ?? 5 * 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async check(addr: string): Promise<number> {
    const entry = this.entries.get(throttleKey(addr));
    return entry ? Math.max(0, entry.lockedUntil - this.now()) : 0;
  }

  async failed(addr: string): Promise<void> {
    const key = throttleKey(addr);
    const now = this.now();
    let entry = this.entries.get(key);
    if (!entry || now - entry.lastFailure > this.forgetAfterMs)
      entry = { failures: 0, lastFailure: now, lockedUntil: 0 };
    this.entries.delete(key); // re-inserted last: Map order is then oldest-failure first
    entry.failures++;
    entry.lastFailure = now;
    const over = entry.failures - this.burst;
    if (over > 0) entry.lockedUntil = now + Math.min(this.maxLockMs, this.baseLockMs * 2 ** Math.min(over - 1, 30));
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  async succeeded(addr: string): Promise<void> {
    this.entries.delete(throttleKey(addr));
  }

  /** Addresses with failures on record (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}
