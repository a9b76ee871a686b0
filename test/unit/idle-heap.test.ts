// When the CLI gives a burst's heap back (tunnel/src/cli/idle-heap.ts): only when the event loop
// is idle and the heap grew well past its size after the last trim; once per burst. And the real
// thing: the gc() it gets without --expose-gc on node's command line returns a grown heap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { IdleHeapTrim, IDLE_UTILIZATION, TRIM_GROWTH_BYTES } from '../../tunnel/src/cli/idle-heap';

const MiB = 1024 * 1024;

describe('idle heap trim', () => {
  it('runs a GC only when idle and the heap grew by the threshold, then waits for the next burst', () => {
    const trim = new IdleHeapTrim(50 * MiB);
    assert.equal(trim.due(50 * MiB + TRIM_GROWTH_BYTES - 1, 0), false, 'not grown enough');
    assert.equal(trim.due(50 * MiB + TRIM_GROWTH_BYTES, 0.5), false, 'busy');
    assert.equal(trim.due(50 * MiB + TRIM_GROWTH_BYTES, IDLE_UTILIZATION / 2), true);
    trim.trimmed(60 * MiB);
    // The young generation and live data left after the GC are the new baseline: no GC every interval.
    assert.equal(trim.due(61 * MiB, 0), false);
    assert.equal(trim.due(60 * MiB + TRIM_GROWTH_BYTES, 0), true);
  });

  it('follows a heap that shrank by itself down', () => {
    const trim = new IdleHeapTrim(100 * MiB);
    assert.equal(trim.due(40 * MiB, 0), false);
    assert.equal(trim.due(40 * MiB + TRIM_GROWTH_BYTES, 0), true);
  });

  it('trimHeapWhenIdle gives a grown heap back in a plain node process', function () {
    this.timeout(30_000);
    // A child: a garbage-heavy burst, then idle; the committed heap is read before and after.
    const script = `
      const v8 = require('node:v8');
      const { trimHeapWhenIdle } = require(${JSON.stringify(require.resolve('../../tunnel/src/cli/idle-heap'))});
      trimHeapWhenIdle({ BURROW_IDLE_GC_MS: '200' });
      let keep = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 1e6) keep = []; }
      keep = null;
      const grown = v8.getHeapStatistics().total_heap_size;
      setTimeout(() => {
        console.log(JSON.stringify({ grown, idle: v8.getHeapStatistics().total_heap_size }));
      }, 1500);
    `;
    const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8' });
    const { grown, idle } = JSON.parse(out.trim().split('\n').at(-1)!) as { grown: number; idle: number };
    assert.ok(grown - idle >= TRIM_GROWTH_BYTES, `heap ${(grown / MiB).toFixed(0)} → ${(idle / MiB).toFixed(0)} MiB`);
  });
});
