// V8 heap sizing for Burrow's own long-running process (the CLI: agents, edges, the extension's
// child). Node's defaults suit short bursts of throughput, not a proxy holding thousands of idle
// connections: after a burst of visitors V8's young generation had grown to 2 × 16 MiB and the old
// generation up to 4× its live size, ≈ 60 % of the RSS per idle visitor (docs/benchmarks.md,
// "Issue 11 round 4"). Both flags below are read by V8 while it runs, so the process sets them for
// itself (flags such as --max-semi-space-size only work on node's command line).
import v8 from 'node:v8';

/**
 * - `--semi-space-growth-factor=1`: the young generation stays at its initial size (V8 only
 *   enforces a minimum of 2 when the heap is configured, at start-up).
 * - `--heap-growing-percent=50`: the old generation's next GC limit is 1.5× its live size, not up
 *   to 4×.
 * Measured: no worse CPU per request at c=1 and c=50 nor per MiB of bulk body (same document).
 */
export const DEFAULT_V8_FLAGS = '--semi-space-growth-factor=1 --heap-growing-percent=50';

/** Applies BURROW_V8_FLAGS (V8 flags, space-separated; empty: none) or the defaults above. */
export function applyV8Flags(env: NodeJS.ProcessEnv = process.env): void {
  const flags = (env.BURROW_V8_FLAGS ?? DEFAULT_V8_FLAGS).trim();
  if (flags) v8.setFlagsFromString(flags);
}
