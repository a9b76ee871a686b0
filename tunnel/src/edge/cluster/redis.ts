// One node's view of the cluster in Redis: name claims (leases renewed by heartbeats), lookups of
// who holds a name, and liveness of the connection. Every value is signed with the cluster secret
// and checked on read; a value that does not verify is treated as absent.
//
// A claim is one key per name, `burrow:claim:<kind>:<name>` (kind http, tls or tcp), whose value is
// `owner|session|node|addr|hmac`. `owner` is a digest of the agent's authtoken and client id: the
// same agent reconnecting through another node takes its names over at once, anyone else gets
// ERR_NGROK_334 until the holder unbinds or its lease runs out (a dead node's names free up
// within LEASE_MS).
import { EventEmitter } from 'node:events';
import Redis from 'ioredis';
import type { ClusterSecret } from './secret';

export const KEY_PREFIX = 'burrow:';
/**
 * Members of groups that span nodes: endpoint pools (`pool:<name>`) and labeled tunnels (`labels`).
 * One sorted set, each member a signed JSON value scored by when its lease ends.
 */
export const MEMBERS_KEY = `${KEY_PREFIX}members`;
/** A node joined or left a group: every node re-reads the members at once. */
export const MEMBERS_CHANNEL = `${KEY_PREFIX}members-changed`;
/** A name was taken over by another session (an agent moved): holders check theirs, caches drop it. */
export const MOVED_CHANNEL = `${KEY_PREFIX}claim-moved`;
/** The claim owner of a pooled name: any pooling agent may bind it, nobody else. */
export const POOL_OWNER = 'pool';
/** A claim lives this long without renewal: how soon a dead node's names are free for others. */
export const LEASE_MS = 6000;

export class ClusterError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Who binds a name: the agent identity (owner) and its session on this node. */
export interface Holder {
  owner: string;
  session: string;
}

/** One binding serving a group (a pool's name, or labeled tunnels), on some node. */
export interface Member {
  group: string;
  binding: string;
  node: string;
  addr: string;
  labels?: Record<string, string>;
}

/** A verified claim read from Redis. */
export interface Claim extends Holder {
  node: string;
  addr: string;
}

// Claim if free, or if the same agent identity holds it (a reconnect through another node):
// 1, or 2 when that took the name from another session (the old holder is told at once);
// 0 when another agent holds it, -1 when a pool does (mixing pooled and not: ERR_NGROK_6030).
const CLAIM_LUA = `
local v = redis.call('GET', KEYS[1])
if (not v) or string.sub(v, 1, #ARGV[2]) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  if v and v ~= ARGV[1] then return 2 end
  return 1
end
if string.sub(v, 1, 5) == 'pool|' then return -1 end
return 0`;
// A pool member's claim: the name is the pool's (1), unless an agent without pooling holds it (-1).
// The member goes into the members set in the same step, so a leaving last member (LEAVE_LUA)
// never deletes the claim of one joining.
const POOL_CLAIM_LUA = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 5) ~= 'pool|' then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1`;
// A member leaves its group; a pool's name is deleted with its last live member (1: members remain).
const LEAVE_LUA = `
redis.call('ZREM', KEYS[1], ARGV[1])
if not KEYS[2] then return 1 end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  if string.sub(m, 1, #ARGV[3]) == ARGV[3] then return 1 end
end
local v = redis.call('GET', KEYS[2])
if v and string.sub(v, 1, 5) == 'pool|' then redis.call('DEL', KEYS[2]) end
return 0`;
// Renew each key still held by exactly this holder on this node; 0 for the ones lost.
const RENEW_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and string.sub(v, 1, #ARGV[i + 1]) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`;
const RELEASE_LUA = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type ClusterRedis = Redis & {
  claimName(key: string, value: string, ownerPrefix: string, leaseMs: number): Promise<number>;
  claimPool(
    key: string,
    members: string,
    value: string,
    leaseMs: number,
    member: string,
    until: number,
  ): Promise<number>;
  leaveGroup(...args: (string | number)[]): Promise<number>;
  renewNames(...args: (string | number)[]): Promise<number[]>;
  releaseName(key: string, prefix: string): Promise<number>;
};

export interface RedisNodeOptions {
  url: string;
  secret: ClusterSecret;
  /** This node's id and the address peers reach it at. */
  node: string;
  addr: string;
  leaseMs?: number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export interface RedisNodeEvents {
  /** Redis answered again after being lost (claims re-asserted already). */
  resync: [];
  down: [];
  /** A pub/sub message on one of our channels (verified by the reader, not here). */
  message: [channel: string, message: string];
  /** A claim this node held now belongs to someone else (its agent moved, or Redis lost it). */
  lost: [key: string, holder: Holder];
}

export class RedisNode extends EventEmitter<RedisNodeEvents> {
  readonly redis: ClusterRedis;
  /** Pub/sub needs a connection of its own. */
  readonly sub: Redis;
  private readonly held = new Map<string, Holder>();
  /** Group members bound on this node, by binding id: their signed values, renewed with the claims. */
  private readonly memberValues = new Map<string, string>();
  private readonly cache = new Map<string, { claim: Claim | undefined; until: number }>();
  private heartbeat?: NodeJS.Timeout;
  private wasLost = false;
  readonly leaseMs: number;

  constructor(private readonly opts: RedisNodeOptions) {
    super();
    this.leaseMs = opts.leaseMs ?? LEASE_MS;
    const common = {
      lazyConnect: true,
      // Fail at once while Redis is away (binds get a coded error) instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 3000,
      retryStrategy: () => 500,
    };
    this.redis = new Redis(opts.url, { ...common, connectionName: `burrow-${opts.node}` }) as ClusterRedis;
    this.redis.defineCommand('claimName', { numberOfKeys: 1, lua: CLAIM_LUA });
    this.redis.defineCommand('renewNames', { lua: RENEW_LUA });
    this.redis.defineCommand('releaseName', { numberOfKeys: 1, lua: RELEASE_LUA });
    this.redis.defineCommand('claimPool', { numberOfKeys: 2, lua: POOL_CLAIM_LUA });
    this.redis.defineCommand('leaveGroup', { lua: LEAVE_LUA });
    this.sub = new Redis(opts.url, { ...common, enableOfflineQueue: true });
    for (const conn of [this.redis, this.sub]) conn.on('error', () => undefined); // 'close' tells us
    this.redis.on('close', () => {
      if (!this.wasLost && this.heartbeat) {
        this.wasLost = true;
        opts.log?.('warn', 'redis connection lost; serving held sessions, refusing new binds', { obj: 'cluster' });
        this.emit('down');
      }
    });
    this.redis.on('ready', () => {
      if (!this.wasLost) return;
      this.wasLost = false;
      void this.reassert().then(() => {
        opts.log?.('info', 'redis is back; claims re-asserted', { obj: 'cluster' });
        this.emit('resync');
      });
    });
    this.sub.on('message', (channel: string, message: string) => this.emit('message', channel, message));
  }

  get node(): string {
    return this.opts.node;
  }

  /** The node address peers dial. */
  get addr(): string {
    return this.opts.addr;
  }

  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Connects both connections; a clear error (and nothing left running) when Redis is not there. */
  async start(channels: string[]): Promise<void> {
    const where = redactUrl(this.opts.url);
    try {
      await withTimeout(Promise.all([this.redis.connect(), this.sub.connect()]), 5000);
      if (channels.length) await this.sub.subscribe(...channels);
    } catch (err) {
      this.redis.disconnect();
      this.sub.disconnect();
      throw new ClusterError(
        'ERR_BURROW_REDIS_UNREACHABLE',
        `cannot reach Redis at ${where}: ${(err as Error).message}`,
      );
    }
    this.heartbeat = setInterval(() => void this.renew(), Math.max(200, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await Promise.all([...this.held].map(([key, h]) => this.release(key, h)));
    this.redis.disconnect();
    this.sub.disconnect();
  }

  /**
   * Claims `key` for `holder` cluster-wide; ERR_NGROK_334 when another agent holds it, ERR_NGROK_6030
   * when pooled and unpooled endpoints would mix. A pool's claim comes with its `member`.
   */
  async claim(kind: string, name: string, holder: Holder, member?: Member): Promise<void> {
    const key = claimKey(kind, name);
    if (!this.available)
      throw new ClusterError(
        'ERR_BURROW_CLUSTER_UNAVAILABLE',
        'the cluster store (Redis) is unreachable: new endpoints cannot be bound until it is back',
      );
    let ok: number;
    try {
      ok = member
        ? await this.redis.claimPool(
            key,
            MEMBERS_KEY,
            this.value(key, holder),
            this.leaseMs,
            this.memberValue(member),
            Date.now() + this.leaseMs,
          )
        : await this.redis.claimName(key, this.value(key, holder), `${holder.owner}|`, this.leaseMs);
    } catch (err) {
      throw new ClusterError('ERR_BURROW_CLUSTER_UNAVAILABLE', `the cluster store failed: ${(err as Error).message}`);
    }
    if (ok === -1)
      throw new ClusterError(
        'ERR_NGROK_6030',
        `${name} is served by endpoints that ${member ? 'do not pool' : 'pool'}: every endpoint of one URL must set pooling_enabled alike`,
      );
    if (!ok) throw new ClusterError('ERR_NGROK_334', `${name} is already bound by another session`);
    this.held.set(key, holder);
    this.cache.delete(key);
    if (ok === 2) void this.redis.publish(MOVED_CHANNEL, key).catch(() => undefined);
  }

  /** Another node took `key` over: forget where it was, and if we held it, find out now. */
  moved(key: string): void {
    this.cache.delete(key);
    if (this.held.has(key)) void this.renew();
  }

  async release(key: string, holder: Holder): Promise<void> {
    // A pooled name is shared: it lapses with its lease once no node renews it.
    if (holder.owner === POOL_OWNER) return void this.held.delete(key);
    if (this.held.get(key) === holder) this.held.delete(key);
    this.cache.delete(key);
    await this.redis.releaseName(key, this.prefix(holder)).catch(() => undefined);
  }

  abandon(key: string, holder: Holder): void {
    if (this.held.get(key) === holder || holder.owner === POOL_OWNER) this.held.delete(key);
  }

  // ---- group members (pools, labeled tunnels) ----

  /** The signed value of a member of this node, renewed with the claims from now on. */
  private memberValue(member: Member): string {
    const json = JSON.stringify(member);
    const value = `${json}|${this.opts.secret.sign(`member|${json}`)}`;
    this.memberValues.set(member.binding, value);
    return value;
  }

  async join(member: Member): Promise<void> {
    const value = this.memberValue(member);
    if (!this.available) return; // put in at the next renewal after Redis is back
    await this.redis
      .multi()
      .zadd(MEMBERS_KEY, Date.now() + this.leaseMs, value)
      .publish(MEMBERS_CHANNEL, this.opts.node)
      .exec()
      .catch(() => undefined);
  }

  /**
   * A member leaves; with `poolKey` (the claim of the pool it served) the pool's name is released
   * when no live member is left on any node. Resolves true while members remain.
   */
  async leave(binding: string, poolKey?: string): Promise<boolean> {
    const value = this.memberValues.get(binding);
    if (!value) return true;
    this.memberValues.delete(binding);
    if (!this.available) return true;
    const group = value.slice(0, value.indexOf(',"binding":') + 1);
    const keys = poolKey ? [MEMBERS_KEY, poolKey] : [MEMBERS_KEY];
    const left = await this.redis.leaveGroup(keys.length, ...keys, value, Date.now(), group).catch(() => 1);
    void this.redis.publish(MEMBERS_CHANNEL, this.opts.node).catch(() => undefined);
    if (poolKey && !left) this.cache.delete(poolKey);
    return left === 1;
  }

  /** Every live member on every node (expired ones pruned), verified. */
  async members(): Promise<Member[]> {
    const now = Date.now();
    const result = await this.redis
      .multi()
      .zremrangebyscore(MEMBERS_KEY, '-inf', now)
      .zrangebyscore(MEMBERS_KEY, now, '+inf')
      .exec();
    const out: Member[] = [];
    for (const value of (result?.[1]?.[1] ?? []) as string[]) {
      const cut = value.lastIndexOf('|');
      const json = value.slice(0, cut);
      if (cut < 0 || !this.opts.secret.verify(`member|${json}`, value.slice(cut + 1))) continue;
      try {
        out.push(JSON.parse(json) as Member);
      } catch {
        /* not ours */
      }
    }
    return out;
  }

  /** Who holds the first of `names` that is claimed (exact name before wildcard); cached briefly. */
  async lookup(kind: string, names: string[]): Promise<Claim | undefined> {
    const keys = names.map((n) => claimKey(kind, n));
    const now = Date.now();
    const cached = keys.map((k) => this.cache.get(k));
    if (cached.every((c) => c && c.until > now)) return cached.find((c) => c!.claim)?.claim;
    // Redis away: route by what we last knew, so visitors keep reaching the sessions nodes hold.
    if (!this.available) return cached.find((c) => c?.claim)?.claim;
    const values = await this.redis.mget(...keys).catch(() => keys.map(() => null));
    let found: Claim | undefined;
    keys.forEach((key, i) => {
      const claim = this.parse(key, values[i]);
      // Short, so a name that moved after a failover is found again quickly.
      this.cache.set(key, { claim, until: now + (claim ? 1000 : 250) });
      found ??= claim;
    });
    return found;
  }

  forget(kind: string, name: string): void {
    this.cache.delete(claimKey(kind, name));
  }

  /** Drops what `lookup` cached for `names`: the next one asks Redis. */
  forgetAll(kind: string, names: string[]): void {
    for (const n of names) this.cache.delete(claimKey(kind, n));
  }

  private prefix(h: Holder): string {
    // Any node serving a pool keeps its name alive.
    if (h.owner === POOL_OWNER) return `${POOL_OWNER}|`;
    return `${h.owner}|${h.session}|${this.opts.node}|`;
  }

  private value(key: string, h: Holder): string {
    const body = `${this.prefix(h)}${this.opts.addr}`;
    return `${body}|${this.opts.secret.sign(`${key}|${body}`)}`;
  }

  private parse(key: string, value: string | null): Claim | undefined {
    if (!value) return undefined;
    const cut = value.lastIndexOf('|');
    const body = value.slice(0, cut);
    if (cut < 0 || !this.opts.secret.verify(`${key}|${body}`, value.slice(cut + 1))) {
      this.opts.log?.('warn', 'ignoring a claim that does not carry the cluster secret', { obj: 'cluster', key });
      return undefined;
    }
    const [owner, session, node, addr] = body.split('|');
    return { owner, session, node, addr };
  }

  private async renew(): Promise<void> {
    if (!this.available) return;
    if (this.memberValues.size) {
      // ZADD again, not only update: after a Redis restart this puts them back.
      const until = Date.now() + this.leaseMs;
      const args = [...this.memberValues.values()].flatMap((v) => [until, v]);
      await this.redis.zadd(MEMBERS_KEY, ...args).catch(() => undefined);
    }
    if (!this.held.size) return;
    const entries = [...this.held];
    try {
      const result = await this.redis.renewNames(
        entries.length,
        ...entries.map(([k]) => k),
        this.leaseMs,
        ...entries.map(([, h]) => this.prefix(h)),
      );
      result.forEach((ok, i) => {
        if (!ok) this.lose(...entries[i]);
      });
    } catch {
      /* Redis trouble: 'close' handles it; the next beat retries */
    }
  }

  /** After Redis came back (perhaps empty): put our claims back unless someone else took one. */
  private async reassert(): Promise<void> {
    for (const [key, holder] of [...this.held]) {
      // Only where free or still this very session: the agent may have moved to another node meanwhile.
      const ok = await this.redis
        .claimName(key, this.value(key, holder), this.prefix(holder), this.leaseMs)
        .catch(() => 1);
      if (!ok) this.lose(key, holder);
    }
  }

  private lose(key: string, holder: Holder): void {
    if (this.held.get(key) !== holder) return;
    this.held.delete(key);
    this.opts.log?.('warn', 'a name this node held is now held elsewhere', { obj: 'cluster', key });
    this.emit('lost', key, holder);
  }
}

export function claimKey(kind: string, name: string): string {
  return `${KEY_PREFIX}claim:${kind}:${name}`;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]);
}
