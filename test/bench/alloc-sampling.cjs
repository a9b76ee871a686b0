// Preload for a Burrow process (NODE_ARGS="--require ./test/bench/alloc-sampling.cjs"): SIGUSR2 starts
// V8's sampling heap profiler, the next SIGUSR2 stops it and writes ALLOC_FILE (a .heapprofile).
// ALLOC_KEEP=collected (default) samples every allocation, objects already collected included
// (bytes allocated per request); ALLOC_KEEP=scavenged leaves out what scavenges freed, so what
// remains is what survived them (promoted, or young and live at the end). phase-faults.mjs sends
// the signals around one phase (ALLOC_PHASE=N); alloc-report.mjs prints bytes per request by function.
const inspector = require('node:inspector');
const fs = require('node:fs');

const session = new inspector.Session();
session.connect();
const file = process.env.ALLOC_FILE ?? 'alloc.heapprofile';
const minor = process.env.ALLOC_KEEP !== 'scavenged';
let sampling = false;
process.on('SIGUSR2', () => {
  sampling = !sampling;
  if (sampling) {
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: minor,
    });
    return;
  }
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) console.error(`alloc-sampling: ${err.message}`);
    else fs.writeFileSync(file, JSON.stringify(result.profile));
  });
});
