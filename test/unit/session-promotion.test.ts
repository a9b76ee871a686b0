// A session's bookkeeping must not keep finished exchanges alive through scavenges: the open
// streams were a Map, which V8 rehashes into a new table every few dozen opens and links each old
// table to the new one; once an old table had been promoted, that chain promoted about a third
// of every exchange's objects (each full GC then freed them: CPU, not a leak; docs/benchmarks.md,
// "Issue 11 round 6"). A child runs 40,000 in-process exchanges, 50 at a time, under
// --trace-gc-nvp; the scavenges' promoted bytes are summed. Measured: with the Map 24-53 % of the
// bytes allocated were promoted (six runs), without it 0.7 %.
import assert from 'node:assert/strict';
import path from 'node:path';
import { scavenges } from '../support/scavenges';

const CHILD = path.join(__dirname, '..', 'fixtures', 'session-churn.ts');

describe('protocol session: finished exchanges die young', function () {
  this.timeout(90_000);

  it('scavenges promote a small share of what 40,000 in-process exchanges allocate', () => {
    const [allocated, promoted] = scavenges(CHILD, 40_000);
    assert.ok(promoted / allocated < 0.1, `promoted ${promoted} of ${allocated} bytes allocated`);
  });
});
