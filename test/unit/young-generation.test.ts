// The CLI's cap on V8's young generation (tunnel/src/cli/v8-flags.ts, capYoungGeneration): in a
// plain node process, a burst of objects that survive scavenges (as thousands of connecting
// visitors are) grows the new space to V8's maximum (2 × 16 MiB) without the cap and stops at
// 2 × 8 MiB with it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { SEMI_SPACE_CAP_MIB } from '../../tunnel/src/cli/v8-flags';

const MiB = 1024 * 1024;

/** The new space's committed size after a survivor-heavy burst in a child with `env`. */
function newSpaceAfterBurst(env: Record<string, string | undefined>): number {
  const script = `
    const v8 = require('node:v8');
    const { capYoungGeneration } = require(${JSON.stringify(require.resolve('../../tunnel/src/cli/v8-flags'))});
    capYoungGeneration(process.env);
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    // Rounds of survivor-heavy allocation (≈ 1.6 MiB each), each its own task as a visitor's
    // events are: the cap acts after each GC, so a task that runs many scavenges can step past it.
    let keep = [];
    let rounds = 0;
    const round = () => {
      for (let i = 0; i < 20000; i++) { keep.push({ i, a: [i] }); if (keep.length > 300000) keep = []; }
      if (++rounds < 300) setImmediate(round);
      else console.log(JSON.stringify({ newSpace: newSpace() }));
    };
    round();
  `;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: undefined, BURROW_V8_FLAGS: undefined, ...env },
  });
  return (JSON.parse(out.trim().split('\n').at(-1)!) as { newSpace: number }).newSpace;
}

describe('young generation cap', function () {
  this.timeout(60_000);

  it(`stops the new space at 2 × ${SEMI_SPACE_CAP_MIB} MiB (V8 alone grows it to 2 × 16)`, () => {
    const capped = newSpaceAfterBurst({});
    const uncapped = newSpaceAfterBurst({ BURROW_SEMI_SPACE_MIB: '0' });
    assert.ok(capped <= 2 * SEMI_SPACE_CAP_MIB * MiB, `capped: ${capped / MiB} MiB`);
    // The same burst does grow it past the cap without it: the cap is what held it.
    assert.ok(uncapped > 2 * SEMI_SPACE_CAP_MIB * MiB, `uncapped: ${uncapped / MiB} MiB`);
  });

  it('follows BURROW_SEMI_SPACE_MIB and leaves a semi-space size chosen on the command line alone', () => {
    // The cap acts in a gc observer, which runs a task after the GC: on a loaded machine one more
    // scavenge can double the space first (README: it can overshoot by one doubling), so 2 × 4 MiB
    // or one doubling past it, still half of what V8 alone grows to.
    const four = newSpaceAfterBurst({ BURROW_SEMI_SPACE_MIB: '4' });
    assert.ok(four <= 2 * 2 * 4 * MiB, `BURROW_SEMI_SPACE_MIB=4: ${four / MiB} MiB`);
    // NODE_OPTIONS=--max-semi-space-size=16: V8's own maximum applies, the cap (4) does not hold it.
    const chosen = newSpaceAfterBurst({ NODE_OPTIONS: '--max-semi-space-size=16', BURROW_SEMI_SPACE_MIB: '4' });
    assert.equal(chosen, 32 * MiB);
  });
});
