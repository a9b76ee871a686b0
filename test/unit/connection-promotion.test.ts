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
const MUXADO_CHILD = path.join(__dirname, '..', 'fixtures', 'muxado-churn.ts');

/** Runs a churn child under --trace-gc-nvp: [bytes allocated, bytes promoted] by its scavenges. */
function scavenges(child: string, count: number): [number, number] {
  const out = execFileSync(process.execPath, ['--trace-gc-nvp', '--import', 'tsx', child, String(count)], {
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
  return [allocated, promoted];
}

describe('per-connection and per-stream bookkeeping: closed connections and streams die young', function () {
  this.timeout(90_000);

  it('scavenges promote a small share of what 40,000 short connections allocate', () => {
    const [allocated, promoted] = scavenges(CHILD, 40_000);
    assert.ok(promoted / allocated < 0.1, `promoted ${promoted} of ${allocated} bytes allocated`);
  });

  // ngrok-protocol's muxado sessions kept their streams in a Map (one per visitor exchange of an
  // ngrok agent): 27-48 % promoted in three runs of this child, 0.5-0.6 % with the StreamTable.
  it('a muxado session: scavenges promote a small share of what 40,000 exchanges allocate', () => {
    const [allocated, promoted] = scavenges(MUXADO_CHILD, 40_000);
    assert.ok(promoted / allocated < 0.1, `promoted ${promoted} of ${allocated} bytes allocated`);
  });
});
