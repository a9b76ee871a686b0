// Preloaded by memory-burst.mjs into the process it measures: on SIGUSR2, a full GC (the process
// runs with --expose-gc), then one `MEM {json}` line of process.memoryUsage() on stdout. With
// BURROW_HEAP_SNAPSHOTS=DIR it also writes a heap snapshot there each time (heap-snapshot-diff.mjs
// compares two of them). BURROW_V8_RUNTIME_FLAGS: V8 flags set at start with v8.setFlagsFromString
// (what the CLI could set for itself), to compare with flags given to node.
if (process.env.BURROW_V8_RUNTIME_FLAGS) require('node:v8').setFlagsFromString(process.env.BURROW_V8_RUNTIME_FLAGS);
let snapshots = 0;
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const dir = process.env.BURROW_HEAP_SNAPSHOTS;
  if (dir) require('node:v8').writeHeapSnapshot(require('node:path').join(dir, `${++snapshots}.heapsnapshot`));
  const newSpace = require('node:v8')
    .getHeapSpaceStatistics()
    .find((s) => s.space_name === 'new_space')?.space_size;
  process.stdout.write(`MEM ${JSON.stringify({ ...process.memoryUsage(), newSpace })}\n`);
});
