// Keeps the bytes of socket reads on resident memory (Linux, glibc).
//
// Node allocates a new 64 KiB buffer (malloc) for every socket read, and the GC frees them in
// batches of megabytes. glibc gives the free top of its heap back to the OS as soon as it exceeds
// M_TRIM_THRESHOLD (128 KiB by default), so after a batch is freed at the top of the heap the
// next reads land on pages the kernel must fault in and zero again: 256 minor faults per MiB,
// 2-4x the CPU per MiB of a bulk body, depending on where earlier requests left live
// allocations (docs/benchmarks.md, "Issue 11 round 5": GET 1 MiB after a burst of small requests).
//
// Node cannot call mallopt(). glibc raises the threshold itself when it frees a chunk it had to
// mmap (its "dynamic mmap threshold": M_MMAP_THRESHOLD becomes that chunk's size and
// M_TRIM_THRESHOLD twice it, up to 32 MiB): one 16 MiB buffer, never touched (no resident
// memory) and left to the next GC, does that. The cost: up to 32 MiB of freed heap may stay
// resident instead of going back at once (GLIBC_TUNABLES set by the user still wins, as glibc
// then turns the dynamic threshold off).
// Set by the CLI at start (run(), beside its V8 settings), not by the agent or edge classes: a program
// embedding Burrow's SDK keeps its own malloc behaviour.
const PIN_BYTES = 16 * 1024 * 1024;

let raised = false;

/** Once per process, on Linux: lets glibc keep its heap top resident (see above). */
export function keepMallocTopResident(): void {
  if (raised || process.platform !== 'linux') return;
  raised = true;
  Buffer.allocUnsafeSlow(PIN_BYTES);
}
