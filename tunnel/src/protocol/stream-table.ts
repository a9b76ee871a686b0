// The open streams of a session by id, for both wire protocols (protocol/session.ts MuxSession and
// ngrok-protocol/session.ts, whose muxado ids also grow by 2).

/**
 * The open streams of a session, by id. Not a Map: ids are always new, so a Map rehashes into a new
 * table every few dozen opens, and V8 links each old table to the one that replaced it (for live
 * iterators). Once one table is in the old generation, that chain keeps every later table, and every
 * exchange in it with all its objects, alive through scavenges until the next full GC: with a Map,
 * ~30 % of each small request's objects were promoted (docs/benchmarks.md, "Issue 11 round 6").
 * Ids are handed out in order, so a slot array indexed by id (mod its length) finds nearly every
 * stream at once; a stream whose slot a long-lived one holds waits in a small Map, and the array
 * doubles when half full. (ngrok-protocol's muxado sessions use it too: their ids also grow by 2.)
 */
export class StreamTable<T extends { readonly id: number } = { readonly id: number }> {
  private slots: (T | undefined)[] = new Array<T | undefined>(256).fill(undefined);
  private mask = 255;
  private overflow = new Map<number, T>();
  size = 0;

  get(id: number): T | undefined {
    const s = this.slots[(id >>> 1) & this.mask];
    if (s !== undefined && s.id === id) return s;
    return this.overflow.size ? this.overflow.get(id) : undefined;
  }

  /** Adds a stream (`stream.id === id`; each id once). */
  set(id: number, stream: T): void {
    if (this.size >= this.slots.length >> 1) this.grow();
    const i = (id >>> 1) & this.mask;
    if (this.slots[i] === undefined) this.slots[i] = stream;
    else this.overflow.set(id, stream);
    this.size++;
  }

  /** False when no stream had `id`. */
  delete(id: number): boolean {
    const i = (id >>> 1) & this.mask;
    const s = this.slots[i];
    if (s !== undefined && s.id === id) {
      this.slots[i] = undefined;
      this.size--;
      return true;
    }
    if (!this.overflow.delete(id)) return false;
    this.size--;
    return true;
  }

  values(): T[] {
    const out: T[] = [];
    for (const s of this.slots) if (s !== undefined) out.push(s);
    for (const s of this.overflow.values()) out.push(s);
    return out;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.overflow.clear();
    this.size = 0;
  }

  private grow(): void {
    const all = this.values();
    this.slots = new Array<T | undefined>(this.slots.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    this.overflow = new Map();
    this.size = 0;
    for (const s of all) this.set(s.id, s);
  }
}
