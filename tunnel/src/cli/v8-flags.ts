// V8 flags for Burrow's own process (the CLI: agents, edges, the extension's child), set by the
// process itself: flags V8 reads while it runs, which NODE_OPTIONS does not accept (it takes
// --max-semi-space-size and --max-old-space-size, not --heap-growing-percent).
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * V8's old-generation growing factor, in percent above the live size (`--heap-growing-percent`):
 * the next full GC comes when the old generation reaches 3× what the last one left.
 *
 * V8 (11.3, Node 20) counts every ArrayBuffer allocated since the last full GC against the old
 * generation's headroom, and frees young ones only at scavenges, which bulk bodies trigger every
 * 32 MiB of Buffers (64 KiB socket reads, WebSocket frames). Its own factor drops to 1.1 when the
 * old generation barely grows, as while bodies stream: the headroom is then 8 MiB above the live
 * size plus the new space (16 MiB in all), less than the Buffers in flight between scavenges, so
 * every ~10 MiB of body costs a full GC that frees nothing on the heap, and the factor stays at
 * 1.1 — a storm for the rest of the process's life: 2–3× the CPU per MiB (docs/benchmarks.md,
 * "Issue 11 round 6"). At 100 % (2×) the storms still came, at 150 and 200 % they did not.
 */
export const HEAP_GROWING_PERCENT = 200;

/**
 * Applies BURROW_V8_FLAGS (V8 flags, space-separated) after Burrow's own `--heap-growing-percent`
 * (above; a value in BURROW_V8_FLAGS, NODE_OPTIONS or node's command line stands instead, and
 * `--heap-growing-percent=0` is V8's own dynamic factor). A lower factor such as 50 holds less
 * garbage after a burst of idle visitors but brings the full-GC storms back on bulk bodies.
 */
export function applyV8Flags(env: NodeJS.ProcessEnv = process.env): void {
  const flags = env.BURROW_V8_FLAGS?.trim();
  const chosen = `${process.execArgv.join(' ')} ${env.NODE_OPTIONS ?? ''} ${flags ?? ''}`;
  if (!chosen.includes('--heap-growing-percent'))
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
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
