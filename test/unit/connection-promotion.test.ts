// The data path's per-connection bookkeeping (the deadline sweep of visitor and upstream
// connections, the edge's open sockets, a listener's raw visitors) must not keep closed
// connections alive through scavenges. They were Sets: with one add and one delete per
// connection V8 rehashes a Set into a new table every few dozen connections and links each old
// table to the new one; once an old table was promoted, the chain promoted every later connection
// with all it held (net/slot-set.ts; docs/benchmarks.md, "Issue 11 round 7"). A child runs 40,000
// short connections, 50 at a time, through a DeadlineSweep and a SlotSet under --trace-gc-nvp, and
// the scavenges' promoted bytes are summed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { scavenges } from '../support/scavenges';

const CHILD = path.join(__dirname, '..', 'fixtures', 'connection-churn.ts');
const MUXADO_CHILD = path.join(__dirname, '..', 'fixtures', 'muxado-churn.ts');

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
