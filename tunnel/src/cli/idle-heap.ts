// Gives the heap a burst left behind back once Burrow's process is idle. V8 grows its heap during a
// burst (thousands of visitors connecting at once) to up to 4× what stays alive, and keeps it until
// its next full GC, which a process whose visitors then sit idle may not reach for minutes:
// `test/bench/memory-burst.mjs` measured 5,000 idle visitors holding 70 MiB for 30 s and more,
// of which 17 MiB was live (docs/benchmarks.md, "Issue 11 round 4"). One full GC when the event
// loop is idle and the heap has grown well past its size after the last one returns it; busy
// processes are left to V8's own schedule (a smaller heap limit cost 2–3× the CPU per MiB of bulk
// bodies).
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Heap growth since the last trim that is worth a GC (bytes of V8's committed heap). */
export const TRIM_GROWTH_BYTES = 24 * 1024 * 1024;
/** Event-loop utilization below which the process counts as idle over an interval. */
export const IDLE_UTILIZATION = 0.05;

/** Decides, once per interval, whether a full GC is due: idle, and the heap grew since the last one. */
export class IdleHeapTrim {
  private baseline: number;

  constructor(committedNow: number) {
    this.baseline = committedNow;
  }

  /** `committed`: V8's total heap size now; `utilization`: the event loop's over the last interval. */
  due(committed: number, utilization: number): boolean {
    // A heap that shrank by itself moves the baseline down; one that grew waits for an idle moment.
    if (committed < this.baseline) this.baseline = committed;
    return utilization < IDLE_UTILIZATION && committed - this.baseline >= TRIM_GROWTH_BYTES;
  }

  /** After the GC: the heap's size now is the new baseline. */
  trimmed(committed: number): void {
    this.baseline = committed;
  }
}

/**
 * Checks every BURROW_IDLE_GC_MS (default 10 s; 0: never) and runs a full GC when due. The check
 * is a heap statistics read; the GC runs at most once per burst, when idle.
 */
export function trimHeapWhenIdle(env: NodeJS.ProcessEnv = process.env): void {
  const intervalMs = Number(env.BURROW_IDLE_GC_MS ?? 10_000);
  if (!(intervalMs > 0)) return;
  const committed = () => v8.getHeapStatistics().total_heap_size;
  const trim = new IdleHeapTrim(committed());
  let gc: (() => void) | undefined;
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (!trim.due(committed(), utilization)) return;
    // gc() without starting node with --expose-gc: the flag applies to contexts created after it.
    // Set only when first needed: a process whose heap never grows never changes a V8 flag.
    if (!gc) {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    }
    gc();
    trim.trimmed(committed());
  }, intervalMs).unref();
}
