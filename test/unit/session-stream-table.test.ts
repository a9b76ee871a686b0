// The session's table of open streams (protocol/stream-table.ts: slots by id, a Map for
// the few whose slot is taken, doubling when half full) must behave exactly as a Map of id → stream
// for any order of opens and closes: long-lived streams that collide with new ids, thousands open
// at once, ids of both parities.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StreamEnd } from '../../tunnel/src/protocol/session';
import { StreamTable } from '../../tunnel/src/protocol/stream-table';

const stream = (id: number) => ({ id }) as unknown as StreamEnd;

describe('protocol session: the stream table', () => {
  it('agrees with a Map on random opens, lookups and closes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('open', 'open', 'close', 'closeOld', 'get'), fc.nat(5000), fc.boolean()), {
          maxLength: 3000,
        }),
        (ops) => {
          const table = new StreamTable();
          const ref = new Map<number, StreamEnd>();
          let next = 2;
          for (const [op, n, odd] of ops) {
            if (op === 'open') {
              // Ids only grow; the peer's have the other parity.
              const id = odd ? next + 1 : next;
              next += 2 + (n % 3) * 2;
              const s = stream(id);
              table.set(id, s);
              ref.set(id, s);
            } else if (op === 'close' || op === 'closeOld') {
              const ids = [...ref.keys()];
              if (!ids.length) continue;
              // closeOld: the oldest but one stays open for long (a websocket), others close young.
              const id = op === 'closeOld' ? ids[Math.min(1, ids.length - 1)] : ids[n % ids.length];
              table.delete(id);
              ref.delete(id);
            } else {
              const id = 2 + (n % Math.max(2, next));
              assert.equal(table.get(id), ref.get(id));
            }
            assert.equal(table.size, ref.size);
          }
          for (const [id, s] of ref) assert.equal(table.get(id), s);
          assert.deepEqual(
            table
              .values()
              .map((s) => s.id)
              .sort((a, b) => a - b),
            [...ref.keys()].sort((a, b) => a - b),
          );
          table.clear();
          assert.equal(table.size, 0);
          assert.equal(table.values().length, 0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps a long-lived stream through many wraps of its slot, and thousands open at once', () => {
    const table = new StreamTable();
    const old = stream(2);
    table.set(2, old);
    for (let id = 4; id < 200_000; id += 2) {
      table.set(id, stream(id));
      assert.equal(table.get(id)?.id, id);
      table.delete(id);
    }
    assert.equal(table.get(2), old);
    assert.equal(table.size, 1);
    for (let id = 200_000; id < 210_000; id += 2) table.set(id, stream(id));
    assert.equal(table.size, 5001);
    for (let id = 200_000; id < 210_000; id += 2) assert.equal(table.get(id)?.id, id);
    assert.equal(table.get(2), old);
    assert.equal(table.get(4), undefined);
  });
});
