// Long-lived fixed-size pages that hold captured body bytes, reused after eviction.
//
// Why: the capture store used to keep the data path's own Buffers. Up to inspect_db_size (50 MB)
// of them stayed alive, so every socket buffer survived into V8's old generation as external
// memory. V8 counts external memory allocated since the last full GC against the old generation's
// limit, so it ran a full mark-compact every few requests: with capture on, GET 1 MiB through
// `burrow http` cost about 2x the CPU of `--inspect false` (numbers in docs/benchmarks.md,
// "Capture on vs off"). Copying each chunk into pages reused after eviction costs a memcpy, far
// less than those GCs: the data path's Buffers die young (cheap scavenges) as with capture off.
//
// The pages are carved out of ONE buffer the size of the store, allocated at the first write
// (allocUnsafeSlow: address space only; memory becomes resident as pages are first written).
// Growing the pool page by page while the store fills was measured worse (6.7 ms CPU/MiB and 26
// full GCs per 300 MiB against 4.5 and 0): the growth itself drove V8's heap limit down to where
// full GCs ran back to back, long after the pool had stopped growing.
//
// Layout: one bump pointer fills the current page for every body, so small bodies share a page
// and a body written in one go is one contiguous segment per page. Each page counts the segments
// that live in it and goes back to the free list when the last one is released. The store evicts
// oldest first, so pages empty roughly in the order they were filled.
//
// Bound: `maxPages` pages (the store's byte cap plus a little slack for partly used pages). When
// none is free, the caller's `reclaim` evicts the oldest exchange first; only if nothing is left
// to evict is an extra page allocated on its own, and dropped again when it empties.

/** One page: `used` bytes filled so far, `segments` live segments pointing into it. */
export interface Page {
  readonly bytes: Buffer;
  used: number;
  segments: number;
  /** Allocated on its own beyond `maxPages`; dropped when it empties. */
  readonly extra: boolean;
}

/** A run of bytes `[start, end)` of one page. */
export interface Segment {
  readonly page: Page;
  readonly start: number;
  end: number;
}

const MAX_PAGE_BYTES = 64 * 1024;
const MIN_PAGE_BYTES = 1024;
/** Partly used pages at the edges of the live bytes (the current page, the oldest one, …). */
const SLACK_PAGES = 4;

export class PagePool {
  readonly pageBytes: number;
  readonly maxPages: number;
  private readonly free: Page[] = [];
  private current: Page | undefined;
  private slab: Buffer | undefined;
  private extraPages = 0;

  /** A pool for a store of `maxTotalBytes`: 64 KiB pages (smaller for a tiny store), none allocated yet. */
  constructor(maxTotalBytes: number) {
    this.pageBytes = Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, Math.floor(maxTotalBytes / 16)));
    this.maxPages = Math.ceil(Math.max(0, maxTotalBytes) / this.pageBytes) + SLACK_PAGES;
  }

  /** Pages allocated and not dropped (in use, current or free). */
  get pages(): number {
    return (this.slab ? this.maxPages : 0) + this.extraPages;
  }

  /**
   * Copies `src` into pages and records where it went in `into`, extending the last segment when
   * the bytes follow on. `reclaim` frees pages by evicting an older exchange (never the owner of
   * `into`); it returns false when there is nothing left to evict.
   */
  write(src: Buffer, into: Segment[], reclaim: () => boolean): void {
    let offset = 0;
    while (offset < src.length) {
      const page = this.writablePage(reclaim);
      const n = Math.min(src.length - offset, this.pageBytes - page.used);
      // TypedArray#set, not Buffer#copy: copy's argument checks cost more than a small body's memcpy.
      page.bytes.set(n === src.length ? src : src.subarray(offset, offset + n), page.used);
      const last = into.length > 0 ? into[into.length - 1] : undefined;
      if (last && last.page === page && last.end === page.used) last.end += n;
      else {
        into.push({ page, start: page.used, end: page.used + n });
        page.segments++;
      }
      page.used += n;
      offset += n;
    }
  }

  /** Gives the segments' space back (each segment once: the caller forgets them). */
  release(segments: readonly Segment[]): void {
    for (const { page } of segments) {
      if (--page.segments === 0 && page !== this.current) this.recycle(page);
    }
  }

  private writablePage(reclaim: () => boolean): Page {
    const current = this.current;
    if (current && current.used < this.pageBytes) return current;
    if (current) {
      this.current = undefined;
      if (current.segments === 0) this.recycle(current);
    }
    if (!this.slab) this.allocateSlab();
    while (this.free.length === 0 && reclaim()) {
      // each eviction may empty pages onto the free list
    }
    let page = this.free.pop();
    if (!page) {
      this.extraPages++;
      page = { bytes: Buffer.allocUnsafeSlow(this.pageBytes), used: 0, segments: 0, extra: true };
    }
    this.current = page;
    return page;
  }

  private allocateSlab(): void {
    const slab = Buffer.allocUnsafeSlow(this.maxPages * this.pageBytes);
    // Reversed, so pop() hands out the slab from its start (resident memory grows in order).
    for (let i = this.maxPages - 1; i >= 0; i--) {
      this.free.push({
        bytes: slab.subarray(i * this.pageBytes, (i + 1) * this.pageBytes),
        used: 0,
        segments: 0,
        extra: false,
      });
    }
    this.slab = slab;
  }

  private recycle(page: Page): void {
    if (page.extra) {
      this.extraPages--; // let the GC have it
      return;
    }
    page.used = 0;
    this.free.push(page);
  }
}
