// A set of objects for the data path's per-connection bookkeeping (open sockets, deadlines): an
// array in which each item knows its slot, kept under a symbol of the set's own on the item.
//
// Not a Set: with one add and one delete per connection, a Set rehashes into a new table every few
// dozen connections, and V8 links each obsolete table to its successor (for live iterators). Once
// one table is in the old generation, that chain keeps every later table, and every connection in
// it with all it holds, alive through scavenges: 8-10 % of all that a Connection: close visitor
// allocates was promoted (docs/benchmarks.md, "Issue 11 round 7"; protocol/session.ts's
// StreamTable is the same fix for streams).

export class SlotSet<T extends object> {
  private readonly items: T[] = [];
  /** The item's slot in `items`, on the item itself; -1 once deleted. */
  private readonly slot = Symbol('slot');

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    const at = (item as Record<symbol, number | undefined>)[this.slot];
    return at !== undefined && at >= 0 && this.items[at] === item;
  }

  add(item: T): void {
    if (this.has(item)) return;
    (item as Record<symbol, number>)[this.slot] = this.items.length;
    this.items.push(item);
  }

  /** Removes `item` (if here); the last item moves into its slot. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const items = this.items;
    const at = (item as Record<symbol, number>)[this.slot];
    const last = items.pop()!;
    if (last !== item) {
      items[at] = last;
      (last as Record<symbol, number>)[this.slot] = at;
    }
    (item as Record<symbol, number>)[this.slot] = -1;
    return true;
  }

  /**
   * Calls `fn` on each item. `fn` may delete items and add new ones: each item that stays is
   * visited at least once (maybe twice), none after it was deleted; items added meanwhile may be.
   */
  forEach(fn: (item: T) => void): void {
    // From the end: a delete moves the last item (already visited) into the hole.
    const items = this.items;
    for (let i = items.length - 1; i >= 0; i--) {
      if (i >= items.length) {
        i = items.length;
        continue;
      }
      fn(items[i]);
    }
  }

  /** The items now, in no particular order (a copy). */
  values(): T[] {
    return this.items.slice();
  }

  clear(): void {
    for (const item of this.items) (item as Record<symbol, number>)[this.slot] = -1;
    this.items.length = 0;
  }
}
