// The coarse deadlines of the data path (tunnel/src/net/deadlines.ts): an entry expires once its
// deadline has passed — never before, late by about one tick at most — and not at all when it was
// removed or its deadline moved on; the sweep's interval stops when nothing is left to watch.
import assert from 'node:assert/strict';
import { DeadlineSweep, deadlineIn, sweepFor, type Expiring } from '../../tunnel/src/net/deadlines';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function entry(deadline: number): Expiring & { firedAt?: number } {
  const e: Expiring & { firedAt?: number } = {
    deadline,
    expire: () => {
      e.firedAt = Date.now();
    },
  };
  return e;
}

describe('coarse deadlines (DeadlineSweep)', function () {
  this.timeout(10_000);

  it('expires an entry after its deadline, never before', async () => {
    const sweep = new DeadlineSweep(50);
    const start = Date.now();
    const e = entry(start + 200);
    sweep.add(e);
    await delay(150);
    assert.equal(e.firedAt, undefined, 'not before its deadline');
    const deadline = Date.now() + 5_000;
    while (e.firedAt === undefined && Date.now() < deadline) await delay(10);
    assert.ok(e.firedAt !== undefined && e.firedAt >= start + 200, 'fired, at or after the deadline');
    assert.equal(sweep.size, 0, 'an expired entry leaves the sweep');
  });

  it('a removed entry or one whose deadline moved on does not fire', async () => {
    const sweep = new DeadlineSweep(50);
    const removed = entry(Date.now() + 100);
    const moved = entry(Date.now() + 100);
    sweep.add(removed);
    sweep.add(moved);
    sweep.delete(removed);
    moved.deadline = Infinity; // as a connection in an exchange: no deadline now
    await delay(300);
    assert.equal(removed.firedAt, undefined);
    assert.equal(moved.firedAt, undefined);
    moved.deadline = Date.now() + 50; // re-armed: fires again
    await delay(300);
    assert.ok(moved.firedAt !== undefined);
  });

  it('stops its interval when empty and starts again on the next entry', async () => {
    const sweep = new DeadlineSweep(20);
    const a = entry(Date.now() + 20);
    sweep.add(a);
    await delay(150);
    assert.ok(a.firedAt !== undefined);
    assert.equal((sweep as unknown as { timer?: unknown }).timer, undefined, 'no interval left running');
    const b = entry(Date.now() + 20);
    sweep.add(b);
    await delay(150);
    assert.ok(b.firedAt !== undefined);
  });

  it('sweepFor ticks a quarter of the duration, between 50 ms and 1 s, one sweep per tick', () => {
    assert.equal(sweepFor(400).tickMs, 100);
    assert.equal(sweepFor(100).tickMs, 50);
    assert.equal(sweepFor(5 * 60_000).tickMs, 1_000);
    assert.equal(sweepFor(30_000), sweepFor(75_000));
  });

  it('deadlineIn fires once unless cancelled', async () => {
    let fired = 0;
    let cancelledFired = 0;
    deadlineIn(60, () => fired++);
    deadlineIn(60, () => cancelledFired++).cancel();
    await delay(400);
    assert.equal(fired, 1);
    assert.equal(cancelledFired, 0);
  });
});
