// Test files that re-run themselves inside `unshare -rn` (a network namespace with only loopback),
// so a client that might dial out (ngrok's SDK) can reach nothing but the edge under test.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

/** This process is the re-run inside the namespace. */
export const INSIDE_NETNS = process.env.BURROW_TEST_NETNS === '1';

/** True when this machine lets an unprivileged user make the namespace (and we are not in it yet). */
export function netnsAvailable(): boolean {
  if (process.platform !== 'linux' || INSIDE_NETNS) return false;
  return spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { timeout: 10_000 }).status === 0;
}

/** Runs mocha on `testFile` inside the namespace (killed after `timeoutMs`); prints its output, returns its exit code. */
export async function runInsideNetns(testFile: string, timeoutMs: number): Promise<number | null> {
  const mocha = require.resolve('mocha/bin/mocha.js');
  const child = spawn(
    'unshare',
    ['-rn', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" "${mocha}" "${testFile}"`],
    {
      env: { ...process.env, BURROW_TEST_NETNS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: path.resolve(__dirname, '../..'),
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(timer);
  process.stdout.write(out.replace(/^/gm, '    │ '));
  return code;
}
