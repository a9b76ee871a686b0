// keepMallocTopResident (cli/malloc-top.ts): after it, 64 KiB buffers freed by the GC in batches
// (what socket reads of a bulk body are) are reused on resident pages, not given back to the OS
// and faulted in again. Without it glibc trims its heap top after such a batch whenever nothing
// live sits above the freed buffers (a matter of layout: about half the runs here, 60-70 minor
// faults per MiB, up to 256 in Burrow's bench), so the check runs the child a few times.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const CHILD = path.join(__dirname, '..', 'fixtures', 'malloc-churn.ts');

function faultsPerMiB(mode: 'raise' | 'plain'): number {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, mode], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return (JSON.parse(out) as { faultsPerMiB: number }).faultsPerMiB;
}

describe('net: the malloc heap top stays resident (glibc)', function () {
  this.timeout(90_000);

  it('buffers freed in 16 MiB batches are reused without page faults, run after run', function () {
    if (process.platform !== 'linux') {
      // The function does nothing elsewhere; nothing to measure (no /proc/self/stat).
      return;
    }
    const runs = [faultsPerMiB('raise'), faultsPerMiB('raise'), faultsPerMiB('raise')];
    // A trimmed heap costs 64-256 faults per MiB; a resident one a few (the child's own start-up).
    for (const f of runs) assert.ok(f < 24, `minor faults per MiB churned: ${runs.join(', ')}`);
  });
});
