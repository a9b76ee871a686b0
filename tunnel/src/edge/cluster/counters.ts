// Rate limits counted across nodes (traffic policy `rate-limit`, on endpoints and on HTTPS edge
// routes alike).
import type { SharedRateLimiter } from '../../modules/types';
import { KEY_PREFIX, type RedisNode } from './redis';
import type { ClusterSecret } from './secret';

// Sliding window over two fixed windows (ngrok's `sliding_window`): the previous window's count,
// weighted by how much of it still overlaps, plus the current one. Checked and counted in one
// script, so N nodes admitting at once never let more than `capacity` through.
const WINDOW_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if prev * tonumber(ARGV[2]) + cur + 1 > tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if cur == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

type WindowRedis = {
  rateTake(cur: string, prev: string, capacity: number, weight: string, ttlMs: number): Promise<number>;
};

/**
 * Rate limits (traffic policy `rate-limit`) counted by every node together. Keys are
 * `burrow:rate:<hmac of scope, rule and bucket key>:<window start>` (client addresses never reach
 * Redis). While Redis is away `take` answers undefined and each node counts on its own.
 */
export class SharedRateWindows implements SharedRateLimiter {
  constructor(
    private readonly node: RedisNode,
    private readonly secret: ClusterSecret,
    private readonly now: () => number = Date.now,
  ) {
    if (!('rateTake' in node.redis)) node.redis.defineCommand('rateTake', { numberOfKeys: 2, lua: WINDOW_LUA });
  }

  take(bucket: string, capacity: number, rateMs: number): Promise<{ ok: boolean; retryAfterS: number }> | undefined {
    if (!this.node.available) return undefined;
    const t = this.now();
    const start = Math.floor(t / rateMs) * rateMs;
    const base = `${KEY_PREFIX}rate:${this.secret.sign(`rate|${bucket}`).slice(0, 32)}`;
    const weight = (1 - (t - start) / rateMs).toFixed(6);
    return (this.node.redis as unknown as WindowRedis)
      .rateTake(`${base}:${start}`, `${base}:${start - rateMs}`, capacity, weight, 2 * rateMs)
      .then((ok) => ({
        ok: ok === 1,
        retryAfterS: ok === 1 ? 0 : Math.max(1, Math.ceil((start + rateMs - t) / 1000)),
      }));
  }
}
