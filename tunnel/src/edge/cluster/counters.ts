// Counters that count across nodes (the authtoken-guessing throttle, rate limits): fixed windows in
// Redis (`burrow:count:<name>:<key>`, INCRBY + PEXPIRE in one script). The callers' checks are
// synchronous, so `add` counts locally at once and in Redis in the background, and `count` answers
// from the larger of the local count and the cluster total Redis last returned: a node never lets
// more through than it would alone, and sees the other nodes' counts within one round trip.
// Keys are hashed (HMAC under the cluster secret): client IPs and token prefixes never reach Redis.
import { KEY_PREFIX, type RedisNode } from './redis';
import type { ClusterSecret } from './secret';

const ADD_LUA = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`;

type CounterRedis = { addCount(key: string, n: number, windowMs: number): Promise<number> };

export class SharedCounter {
  private readonly local = new Map<string, { n: number; cluster: number; until: number }>();

  constructor(
    private readonly node: RedisNode,
    private readonly secret: ClusterSecret,
    /** Namespace, e.g. `auth-fail`. */
    private readonly name: string,
    private readonly windowMs: number,
  ) {
    if (!('addCount' in node.redis)) node.redis.defineCommand('addCount', { numberOfKeys: 1, lua: ADD_LUA });
  }

  /** Counts `n` for `key` now (locally) and in Redis (cluster-wide, in the background). */
  add(key: string, n = 1): void {
    const entry = this.entry(key);
    entry.n += n;
    if (!this.node.available) return;
    (this.node.redis as unknown as CounterRedis)
      .addCount(this.redisKey(key), n, this.windowMs)
      .then((total) => {
        const e = this.local.get(key);
        if (e) e.cluster = Math.max(e.cluster, total);
      })
      .catch(() => undefined);
  }

  /** The count in the current window: cluster-wide as far as this node knows. */
  count(key: string): number {
    const e = this.local.get(key);
    if (!e || e.until <= Date.now()) return 0;
    return Math.max(e.n, e.cluster);
  }

  reset(key: string): void {
    this.local.delete(key);
    if (this.node.available) void this.node.redis.del(this.redisKey(key)).catch(() => undefined);
  }

  private entry(key: string) {
    const now = Date.now();
    let e = this.local.get(key);
    if (!e || e.until <= now) {
      // Bounded memory: expired entries go whenever the map grows large.
      if (this.local.size >= 100_000) for (const [k, v] of this.local) if (v.until <= now) this.local.delete(k);
      e = { n: 0, cluster: 0, until: now + this.windowMs };
      this.local.set(key, e);
    }
    return e;
  }

  private redisKey(key: string): string {
    return `${KEY_PREFIX}count:${this.name}:${this.secret.sign(key).slice(0, 32)}`;
  }
}
