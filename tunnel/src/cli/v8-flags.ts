// V8 flags for Burrow's own process (the CLI: agents, edges, the extension's child), set by the
// process itself: flags V8 reads while it runs, which NODE_OPTIONS does not accept (it takes
// --max-semi-space-size and --max-old-space-size, not --heap-growing-percent).
import v8 from 'node:v8';

/**
 * Applies BURROW_V8_FLAGS (V8 flags, space-separated). None by default: the one that helps idle
 * memory most, `--heap-growing-percent=50` (the old generation collected at 1.5× its live size,
 * not up to 4×: 8 MiB of RSS per 1,000 idle visitors right after a burst instead of 14), cost
 * 2–3× the CPU per MiB of bulk body (docs/benchmarks.md, "Issue 11 round 4"). An edge short of
 * memory that serves small requests may want it.
 */
export function applyV8Flags(env: NodeJS.ProcessEnv = process.env): void {
  const flags = env.BURROW_V8_FLAGS?.trim();
  if (flags) v8.setFlagsFromString(flags);
}
