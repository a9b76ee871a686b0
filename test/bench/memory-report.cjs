// Preloaded by memory-burst.mjs into the process it measures: on SIGUSR2, a full GC (the process
// runs with --expose-gc), then one `MEM {json}` line of process.memoryUsage() on stdout.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write(`MEM ${JSON.stringify(process.memoryUsage())}\n`);
});
