// Preloaded by memory-burst.mjs into the process it measures: on SIGUSR2, a full GC (the process
// runs with --expose-gc), then one `MEM {json}` line of process.memoryUsage() on stdout; on SIGURG
// the same line without the GC (what the process holds by itself, e.g. at the peak of a burst).
// Each line also has V8's heap spaces (committed `size` and `used`, MiB). With
// BURROW_HEAP_SNAPSHOTS=DIR it also writes a heap snapshot there on each SIGUSR2
// (heap-snapshot-diff.mjs compares two of them). BURROW_V8_RUNTIME_FLAGS: V8 flags set at start
// with v8.setFlagsFromString (what the CLI could set for itself), to compare with flags given to node.
const v8 = require('node:v8');
if (process.env.BURROW_V8_RUNTIME_FLAGS) v8.setFlagsFromString(process.env.BURROW_V8_RUNTIME_FLAGS);
let snapshots = 0;
const MiB = 1024 * 1024;
function report(gc) {
  if (gc) globalThis.gc?.();
  const dir = process.env.BURROW_HEAP_SNAPSHOTS;
  if (gc && dir) v8.writeHeapSnapshot(require('node:path').join(dir, `${++snapshots}.heapsnapshot`));
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics())
    spaces[s.space_name.replace(/_space$/, '')] = {
      size: +(s.space_size / MiB).toFixed(2),
      used: +(s.space_used_size / MiB).toFixed(2),
    };
  const newSpace = spaces.new?.size * MiB;
  process.stdout.write(`MEM ${JSON.stringify({ ...process.memoryUsage(), newSpace, gc, spaces })}\n`);
}
// BURROW_HEAP_SAMPLING=DIR: V8's sampling heap profiler runs from the first report on, and each
// later report writes DIR/N.heapprofile first (allocation stacks of what is still on the heap;
// heap-sampling-diff.mjs compares two: e.g. the peak without GC against the same after a GC
// shows what the burst left as garbage).
let sampling;
function profile(then) {
  const dir = process.env.BURROW_HEAP_SAMPLING;
  if (!dir) return then();
  if (!sampling) {
    sampling = new (require('node:inspector').Session)();
    sampling.connect();
    sampling.post('HeapProfiler.enable', () =>
      sampling.post(
        'HeapProfiler.startSampling',
        // BURROW_HEAP_SAMPLING_MAJOR=1: also keep what a full GC collected (what was promoted, then died).
        { samplingInterval: 512, includeObjectsCollectedByMajorGC: process.env.BURROW_HEAP_SAMPLING_MAJOR === '1' },
        () => then(),
      ),
    );
    return;
  }
  sampling.post('HeapProfiler.getSamplingProfile', (err, r) => {
    if (!err)
      require('node:fs').writeFileSync(
        require('node:path').join(dir, `${++snapshots}.heapprofile`),
        JSON.stringify(r.profile),
      );
    then();
  });
}
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  profile(() => report(true));
});
process.on('SIGURG', () => profile(() => report(false)));
