// What a child process's scavenges allocated and promoted, from --trace-gc-nvp: the promotion
// tests (session-promotion, connection-promotion) run a churn child from test/fixtures with it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** Runs `child` (a .ts fixture, given `count`) under --trace-gc-nvp: [bytes allocated, bytes promoted] by its scavenges. */
export function scavenges(child: string, count: number): [number, number] {
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
