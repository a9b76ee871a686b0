// V8 flags for Burrow's own process (the CLI: agents, edges, the extension's child), set by the
// process itself: flags V8 reads while it runs, which NODE_OPTIONS does not accept (it takes
// --max-semi-space-size and --max-old-space-size, not --heap-growing-percent).
import { PerformanceObserver } from 'node:perf_hooks';
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

/** The young generation's semi-space size (MiB) at which Burrow stops V8 from growing it further. */
export const SEMI_SPACE_CAP_MIB = 8;

/**
 * Stops V8's young generation from growing past BURROW_SEMI_SPACE_MIB (default 8; 0: V8's own
 * maximum, 16 on 64-bit) per semi-space. V8 doubles the semi-space whenever many objects survive
 * a scavenge, as they do while thousands of visitors connect, and keeps both semi-spaces (2 × 16
 * MiB) resident; at 8 the peak of a burst of 5,000 idle visitors was ≈ 16 MiB lower, with no
 * measurable CPU cost per request or per MiB (docs/benchmarks.md, "Issue 11 round 5"). Node takes
 * the maximum only on its command line (--max-semi-space-size, read once at start); the growth
 * factor is read at each growth, so it is set to 1 once the new space reaches the cap and back to
 * V8's 2 when V8 shrank it below. A node started with --max-semi-space-size is left as it is.
 */
export function capYoungGeneration(env: NodeJS.ProcessEnv = process.env): void {
  const capMiB = Number(env.BURROW_SEMI_SPACE_MIB ?? SEMI_SPACE_CAP_MIB);
  if (!(capMiB > 0)) return;
  // The user's own choice (node's flag, or a growth factor in BURROW_V8_FLAGS) stands.
  const chosen = `${process.execArgv.join(' ')} ${env.NODE_OPTIONS ?? ''} ${env.BURROW_V8_FLAGS ?? ''}`;
  if (/--max-semi-space-size|--semi-space-growth-factor/.test(chosen)) return;
  // new_space's size is both semi-spaces: the cap is reached at twice the semi-space size.
  const capBytes = 2 * capMiB * 1024 * 1024;
  let growing = true;
  const check = () => {
    const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    if (size >= capBytes === !growing) return;
    growing = !growing;
    v8.setFlagsFromString(`--semi-space-growth-factor=${growing ? 2 : 1}`);
  };
  check();
  // After each GC (scavenges grow the new space; full GCs may shrink it).
  new PerformanceObserver(check).observe({ entryTypes: ['gc'] });
}
