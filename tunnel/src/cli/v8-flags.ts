// V8 heap sizing for Burrow's own long-running process (the CLI: agents, edges, the extension's
// child). Node's defaults suit short bursts of throughput, not a proxy holding thousands of idle
// connections: during a burst of visitors V8 let its old generation grow to up to 4× its live size
// before collecting, most of the RSS per idle visitor (docs/benchmarks.md, "Issue 11 round 4").
// The flag below is read by V8 at each GC, so the process sets it for itself (heap-size flags such
// as --max-semi-space-size only work on node's command line).
import v8 from 'node:v8';

/**
 * `--heap-growing-percent=50`: the old generation's next GC limit is 1.5× its live size. Measured:
 * 8 MiB of RSS per 1,000 idle visitors instead of 14, with no more CPU per request (same
 * document). A young generation held at its start size (`--semi-space-growth-factor=1`) saved
 * 2 MiB more but cost up to 15 % more CPU per request at c=50, so it is not set.
 */
export const DEFAULT_V8_FLAGS = '--heap-growing-percent=50';

/** Applies BURROW_V8_FLAGS (V8 flags, space-separated; empty: none) or the default above. */
export function applyV8Flags(env: NodeJS.ProcessEnv = process.env): void {
  const flags = (env.BURROW_V8_FLAGS ?? DEFAULT_V8_FLAGS).trim();
  if (flags) v8.setFlagsFromString(flags);
}
