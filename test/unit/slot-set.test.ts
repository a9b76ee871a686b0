// net/slot-set.ts against a Set: random adds, deletes and lookups agree, and forEach visits every
// item that stays (never one after its delete) while the callback deletes and adds.
import assert from 'node:assert/strict';
import { SlotSet } from '../../tunnel/src/net/slot-set';
import { rng } from '../support/rng';

describe('SlotSet (per-connection bookkeeping without a Set)', () => {
  it('agrees with a Set over 100,000 random adds, deletes and lookups', () => {
    const random = rng(7);
    const pool = Array.from({ length: 300 }, (_, i) => ({ i }));
    const set = new SlotSet<{ i: number }>();
    const model = new Set<{ i: number }>();
    for (let n = 0; n < 100_000; n++) {
      const item = pool[Math.floor(random() * pool.length)];
      const op = random();
      if (op < 0.45) {
        set.add(item);
        model.add(item);
      } else if (op < 0.9) assert.equal(set.delete(item), model.delete(item));
      else assert.equal(set.has(item), model.has(item));
      assert.equal(set.size, model.size);
    }
    assert.deepEqual(new Set(set.values()), model);
    set.clear();
    assert.equal(set.size, 0);
    assert.ok(pool.every((item) => !set.has(item)));
  });

  it('an item can be in two sets at once (each keeps its own slot)', () => {
    const a = new SlotSet<object>();
    const b = new SlotSet<object>();
    const items = Array.from({ length: 10 }, () => ({}));
    for (const item of items) {
      a.add(item);
      b.add(item);
    }
    a.delete(items[0]);
    b.delete(items[9]);
    assert.equal(a.has(items[0]), false);
    assert.equal(b.has(items[0]), true);
    assert.equal(a.has(items[9]), true);
    assert.equal(b.has(items[9]), false);
  });

  it('forEach: deletes and adds from the callback skip nothing that stays', () => {
    const random = rng(11);
    for (let round = 0; round < 200; round++) {
      const set = new SlotSet<{ i: number }>();
      const items = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => ({ i }));
      for (const item of items) set.add(item);
      const deleted = new Set<{ i: number }>();
      const visited = new Set<{ i: number }>();
      set.forEach((item) => {
        assert.ok(!deleted.has(item), 'visited after its delete');
        visited.add(item);
        // Delete this one, or another one, or add a new one, at random.
        const r = random();
        if (r < 0.3) {
          set.delete(item);
          deleted.add(item);
        } else if (r < 0.6) {
          const other = items[Math.floor(random() * items.length)];
          if (set.delete(other)) deleted.add(other);
        } else if (r < 0.7) set.add({ i: -1 });
      });
      for (const item of items) if (!deleted.has(item)) assert.ok(visited.has(item), `item ${item.i} skipped`);
    }
  });
});
