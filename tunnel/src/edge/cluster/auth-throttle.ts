// The authtoken-guessing throttle (edge/auth-throttle.ts) counted across every node: failures and
// locks live in Redis, so an address locked on one node is locked on all, and guesses spread over
// the nodes behind a balancer add up. Same rules as MemoryAuthThrottle (burst, doubling lock, limits).
// Keys are HMACs under the cluster secret (`burrow:auth:fail:…`, `burrow:auth:lock:…`): client
// addresses never reach Redis. While Redis is away each node falls back to its own memory count.
import { MemoryAuthThrottle, throttleKey, type AuthThrottle, type AuthThrottleOptions } from '../auth-throttle';
import { KEY_PREFIX, type RedisNode } from './redis';
import type { ClusterSecret } from './secret';

// One round trip: count the failure (forgotten after `forget` ms without another) and, past the
// burst, set the lock for `base * 2^(over-1)` ms, at most `max`.
const FAIL_LUA = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local over = n - tonumber(ARGV[2])
if over > 0 then
  local ms = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(over - 1, 30))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(ms))
end
return n`;

type ThrottleRedis = {
  authFail(
    failKey: string,
    lockKey: string,
    forgetMs: number,
    burst: number,
    baseMs: number,
    maxMs: number,
  ): Promise<number>;
};

export class ClusterAuthThrottle implements AuthThrottle {
  private readonly local: MemoryAuthThrottle;
  private readonly burst: number;
  private readonly baseLockMs: number;
  private readonly maxLockMs: number;
  private readonly forgetAfterMs: number;

  constructor(
    private readonly node: RedisNode,
    private readonly secret: ClusterSecret,
    options: AuthThrottleOptions = {},
  ) {
    this.local = new MemoryAuthThrottle(options);
    this.burst = options.burst ?? 10;
    this.baseLockMs = options.baseLockMs ?? 1_000;
    this.maxLockMs = options.maxLockMs ?? 5 * 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    if (!('authFail' in node.redis)) node.redis.defineCommand('authFail', { numberOfKeys: 2, lua: FAIL_LUA });
  }

  async check(addr: string): Promise<number> {
    const local = await this.local.check(addr);
    if (!this.node.available) return local;
    const ttl = await this.node.redis.pttl(this.key('lock', addr)).catch(() => -2);
    return Math.max(local, ttl > 0 ? ttl : 0);
  }

  async failed(addr: string): Promise<void> {
    await this.local.failed(addr);
    if (!this.node.available) return;
    await (this.node.redis as unknown as ThrottleRedis)
      .authFail(
        this.key('fail', addr),
        this.key('lock', addr),
        this.forgetAfterMs,
        this.burst,
        this.baseLockMs,
        this.maxLockMs,
      )
      .catch(() => undefined);
  }

  async succeeded(addr: string): Promise<void> {
    await this.local.succeeded(addr);
    if (!this.node.available) return;
    await this.node.redis.del(this.key('fail', addr)).catch(() => undefined);
  }

  private key(kind: 'fail' | 'lock', addr: string): string {
    return `${KEY_PREFIX}auth:${kind}:${this.secret.sign(`auth|${throttleKey(addr)}`).slice(0, 32)}`;
  }
}
