// The admin state (EdgeStore) kept in Redis instead of the JSON file: one hash field per top-level
// collection of EdgeState (https_edges, backends, credentials, …, and whatever collections are
// added later: nothing here names them), each value signed with the cluster secret. A node that
// changes a collection writes the changed fields and publishes their names; every other node
// re-reads those fields at once. Concurrent writes to one collection: the last writer wins.
import { AdminApiError } from '../admin/errors';
import type { StateBacking } from '../admin/store';
import type { EdgeState } from '../admin/types';
import { KEY_PREFIX, type RedisNode } from './redis';
import type { ClusterSecret } from './secret';

export const STATE_KEY = `${KEY_PREFIX}state`;
export const STATE_CHANNEL = `${KEY_PREFIX}state-changed`;

type Fields = Record<string, unknown>;

export class RedisStateBacking implements StateBacking {
  /** What we last wrote or read per field, as JSON: only changed fields are written. */
  private readonly known = new Map<string, string>();
  private apply?: (fields: Fields) => void;

  constructor(
    private readonly node: RedisNode,
    private readonly secret: ClusterSecret,
    private readonly log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void,
  ) {
    node.on('message', (channel, message) => {
      if (channel !== STATE_CHANNEL) return;
      let note: { node?: string; fields?: string[] };
      try {
        note = JSON.parse(message) as typeof note;
      } catch {
        return;
      }
      // The note only says what to re-read; what is read is verified.
      if (note.node !== node.node && Array.isArray(note.fields)) void this.reload(note.fields.map(String));
    });
    node.on('resync', () => void this.resync());
  }

  /** The stored state, seeded from `initial` (first node of a fresh cluster: random cookie key…). */
  async load(initial: EdgeState): Promise<EdgeState> {
    await this.seed(initial);
    const stored = await this.readAll();
    return { ...initial, ...stored } as EdgeState;
  }

  /** Called by EdgeStore.commit(): synchronous check, asynchronous write. */
  save(state: EdgeState): void {
    if (!this.node.available)
      throw new AdminApiError(
        503,
        'ERR_BURROW_CLUSTER_UNAVAILABLE',
        'the cluster store (Redis) is unreachable: changes are refused until it is back',
      );
    const changed: [string, string][] = [];
    for (const [field, value] of Object.entries(state)) {
      if (field === 'version') continue;
      const json = JSON.stringify(value);
      if (this.known.get(field) !== json) changed.push([field, json]);
    }
    if (!changed.length) return;
    for (const [field, json] of changed) this.known.set(field, json);
    const multi = this.node.redis.multi();
    for (const [field, json] of changed) multi.hset(STATE_KEY, field, this.encode(field, json));
    multi.publish(STATE_CHANNEL, JSON.stringify({ node: this.node.node, fields: changed.map(([f]) => f) }));
    multi
      .exec()
      .catch((err: Error) =>
        this.log?.('warn', 'could not write admin state to redis', { obj: 'cluster', err: err.message }),
      );
  }

  onRemoteChange(apply: (fields: Fields) => void): void {
    this.apply = apply;
  }

  private encode(field: string, json: string): string {
    return `${this.secret.sign(`${field}|${json}`)}|${json}`;
  }

  private decode(field: string, value: string | null | undefined): string | undefined {
    if (!value) return undefined;
    const cut = value.indexOf('|');
    const json = value.slice(cut + 1);
    if (cut !== 64 || !this.secret.verify(`${field}|${json}`, value.slice(0, cut))) {
      this.log?.('warn', 'ignoring admin state that does not carry the cluster secret', { obj: 'cluster', field });
      return undefined;
    }
    return json;
  }

  /** Writes our fields where Redis has none (a fresh or restarted Redis); never overwrites. */
  private async seed(state: EdgeState): Promise<void> {
    const multi = this.node.redis.multi();
    for (const [field, value] of Object.entries(state)) {
      if (field !== 'version') multi.hsetnx(STATE_KEY, field, this.encode(field, JSON.stringify(value)));
    }
    await multi.exec();
  }

  private async readAll(): Promise<Fields> {
    const all = await this.node.redis.hgetall(STATE_KEY);
    const out: Fields = {};
    for (const [field, value] of Object.entries(all)) {
      const json = this.decode(field, value);
      if (json === undefined) continue;
      this.known.set(field, json);
      out[field] = JSON.parse(json);
    }
    return out;
  }

  private async reload(fields: string[]): Promise<void> {
    const values = await this.node.redis.hmget(STATE_KEY, ...fields).catch(() => undefined);
    if (!values) return;
    const out: Fields = {};
    fields.forEach((field, i) => {
      const json = this.decode(field, values[i]);
      if (json === undefined || this.known.get(field) === json) return;
      this.known.set(field, json);
      out[field] = JSON.parse(json);
    });
    if (Object.keys(out).length) this.apply?.(out);
  }

  /** Redis is back: put our view back where it lost everything, then adopt what it holds. */
  private async resync(): Promise<void> {
    try {
      const current = Object.fromEntries([...this.known].map(([f, json]) => [f, JSON.parse(json)]));
      await this.seed(current as EdgeState);
      const before = new Map(this.known);
      const stored = await this.readAll();
      const changed = Object.fromEntries(Object.entries(stored).filter(([f]) => before.get(f) !== this.known.get(f)));
      if (Object.keys(changed).length) this.apply?.(changed);
    } catch (err) {
      this.log?.('warn', 'admin state resync failed', { obj: 'cluster', err: (err as Error).message });
    }
  }
}
