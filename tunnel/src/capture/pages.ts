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
//
// Besides segments (bodies of any length, as lists), a page holds regions: runs of bytes that an
// owner addresses by their offset in the slab alone (the capture store's heads, and a small body
// that follows its head), so a kept exchange needs no object per run.

/** One page: `used` bytes filled so far, `segments` live segments and regions in it. */
export interface Page {
  readonly bytes: Buffer;
  /** Where the page starts in the slab; -1 for a page allocated on its own. */
  readonly at: number;
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

const EMPTY = Buffer.alloc(0);
const NO_TIMES = new Float64Array(0);
const NO_U16 = new Uint16Array(0);
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
  private float64: Float64Array | undefined;
  private uint16: Uint16Array | undefined;
  /** The slab's pages by index (offset / pageBytes). */
  private readonly slabPages: Page[] = [];
  private extraPages = 0;

  /** A pool for a store of `maxTotalBytes`: 64 KiB pages (smaller for a tiny store), none allocated yet. */
  constructor(maxTotalBytes: number) {
    // A multiple of 8, so that regions can start 8-byte aligned (they hold float64s: `times`).
    this.pageBytes = Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, Math.floor(maxTotalBytes / 128) * 8));
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
    for (const { page } of segments) this.unref(page);
  }

  /** The slab (regions are read from it by offset); empty before the first write. */
  get bytes(): Buffer {
    return this.slab ?? EMPTY;
  }

  /** The slab as float64s: a region's first 8-byte words are `times[at / 8]`, `times[at / 8 + 1]`, … */
  get times(): Float64Array {
    return this.float64 ?? NO_TIMES;
  }

  /** The slab as uint16s (for small tables inside regions). */
  get u16(): Uint16Array {
    return this.uint16 ?? NO_U16;
  }

  /**
   * Reserves `length` contiguous bytes in one slab page, starting 8-byte aligned, and returns
   * their offset in the slab, or -1 when they cannot be had (longer than a page, or only an extra
   * page is left). The region counts as one segment of its page until releaseRegion.
   */
  region(length: number, reclaim: () => boolean): number {
    if (length > this.pageBytes) return -1;
    const current = this.current;
    // Aligned even when the region then goes to a fresh page: left unaligned, a current page with
    // room for `length` only before its next 8-byte boundary would hand out an unaligned region,
    // whose `times[at / 8]` is no element (a start time read back as undefined).
    if (current) current.used = Math.min((current.used + 7) & ~7, this.pageBytes);
    const page = this.writablePage(reclaim, length);
    if (page.at < 0) return -1;
    const at = page.at + page.used;
    page.used += length;
    page.segments++;
    return at;
  }

  /**
   * Appends `src` at slab offset `end` when that is where the current page's free space starts
   * and all of `src` fits there (a region growing in place); false otherwise, nothing written.
   */
  extend(end: number, src: Buffer): boolean {
    const page = this.current;
    if (!page || page.at < 0 || page.at + page.used !== end || src.length > this.pageBytes - page.used) return false;
    page.bytes.set(src, page.used);
    page.used += src.length;
    return true;
  }

  /** A segment for slab bytes `[start, end)` inside a live region (counted as one more segment of its page). */
  segmentOf(start: number, end: number): Segment {
    const page = this.slabPages[Math.floor(start / this.pageBytes)];
    page.segments++;
    return { page, start: start - page.at, end: end - page.at };
  }

  /** Gives a region's space back (once). */
  releaseRegion(at: number): void {
    this.unref(this.slabPages[Math.floor(at / this.pageBytes)]);
  }

  private unref(page: Page): void {
    if (--page.segments === 0 && page !== this.current) this.recycle(page);
  }

  /** The current page if it has `room` bytes free, else a fresh one (the current one's rest stays unused). */
  private writablePage(reclaim: () => boolean, room = 1): Page {
    const current = this.current;
    if (current && this.pageBytes - current.used >= room) return current;
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
      page = { bytes: Buffer.allocUnsafeSlow(this.pageBytes), at: -1, used: 0, segments: 0, extra: true };
    }
    this.current = page;
    return page;
  }

  private allocateSlab(): void {
    const slab = Buffer.allocUnsafeSlow(this.maxPages * this.pageBytes);
    for (let i = 0; i < this.maxPages; i++) {
      const at = i * this.pageBytes;
      this.slabPages.push({ bytes: slab.subarray(at, at + this.pageBytes), at, used: 0, segments: 0, extra: false });
    }
    // Reversed, so pop() hands out the slab from its start (resident memory grows in order).
    for (let i = this.maxPages - 1; i >= 0; i--) this.free.push(this.slabPages[i]);
    this.slab = slab;
    this.float64 = new Float64Array(slab.buffer, slab.byteOffset, slab.length >> 3);
    this.uint16 = new Uint16Array(slab.buffer, slab.byteOffset, slab.length >> 1);
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
