// The data path's per-connection bookkeeping (the deadline sweep of visitor and upstream
// connections, the edge's open sockets, a listener's raw visitors) must not keep closed
// connections alive through scavenges. They were Sets: with one add and one delete per
// connection V8 rehashes a Set into a new table every few dozen connections and links each old
// table to the new one; once an old table was promoted, the chain promoted every later connection
// with all it held (net/slot-set.ts; docs/benchmarks.md, "Issue 11 round 7"). A child runs 40,000
// short connections, 50 at a time, through a DeadlineSweep and a SlotSet under --trace-gc-nvp, and
// the scavenges' promoted bytes are summed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const CHILD = path.join(__dirname, '..', 'fixtures', 'connection-churn.ts');

describe('per-connection bookkeeping: closed connections die young', function () {
  this.timeout(90_000);

  it('scavenges promote a small share of what 40,000 short connections allocate', () => {
    const out = execFileSync(process.execPath, ['--trace-gc-nvp', '--import', 'tsx', CHILD, '40000'], {
      encoding: 'utf8',
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.match(out, /DONE/);
    let allocated = 0;
    let promoted = 0;
    for (const line of out.split('\n')) {
      if (!line.includes('gc=s ')) continue;
      allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
      promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
    }
    assert.ok(allocated > 50 * 1024 * 1024, `allocated only ${allocated} bytes: the child did not run`);
    assert.ok(promoted / allocated < 0.1, `promoted ${promoted} of ${allocated} bytes allocated`);
  });
});
