import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PagePool, type Segment } from '../../tunnel/src/capture/pages';
import { CaptureStore, type CaptureStart } from '../../tunnel/src/capture/store';

const start = (): CaptureStart => ({
  tunnelName: 'web',
  remoteAddr: '127.0.0.1',
  method: 'GET',
  uri: '/',
  httpVersion: '1.1',
  rawHeaders: [],
});

const read = (segments: Segment[]): Buffer => Buffer.concat(segments.map((s) => s.page.bytes.subarray(s.start, s.end)));
const never = () => false;

describe('capture pages', () => {
  it('sizes pages from the store cap: 64 KiB for 50 MB, smaller for a tiny store', () => {
    const big = new PagePool(50 * 1024 * 1024);
    assert.equal(big.pageBytes, 64 * 1024);
    assert.equal(big.maxPages, 800 + 4);
    const tiny = new PagePool(10_000);
    assert.equal(tiny.pageBytes, 1024);
    assert.equal(tiny.pages, 0, 'nothing is allocated before the first write');
  });

  it('hands out 8-byte aligned regions, also when the current page has room for one only before its next boundary', () => {
    const pool = new PagePool(16 * 64 * 1024);
    const page = pool.pageBytes;
    for (let k = 1; k < 8; k++) {
      for (let length = 9; length <= 16 - k; length++) {
        // A full page, then a fresh one filled to `page - 16 + k` (not a multiple of 8): `length`
        // bytes fit from there, but not from its next 8-byte boundary.
        const full = pool.region(page, never);
        const fill: Segment[] = [];
        pool.write(Buffer.alloc(page - 16 + k, 1), fill, never);
        const at = pool.region(length, never);
        assert.ok(at >= 0, 'a region');
        assert.equal(at % 8, 0, `region at ${at} (page filled to ${page - 16 + k}, ${length} bytes asked)`);
        pool.releaseRegion(full);
        pool.releaseRegion(at);
        pool.release(fill);
      }
    }
  });

  it('keeps interleaved bodies byte-exact across page boundaries, one segment per page when contiguous', () => {
    const pool = new PagePool(16 * 64 * 1024);
    const bodies = Array.from({ length: 5 }, () => ({ segments: [] as Segment[], sent: [] as Buffer[] }));
    for (let i = 0; i < 200; i++) {
      const body = bodies[i % bodies.length];
      const chunk = randomBytes(1 + ((i * 7919) % 9000));
      pool.write(chunk, body.segments, never);
      body.sent.push(chunk);
    }
    for (const body of bodies) assert.ok(read(body.segments).equals(Buffer.concat(body.sent)));
    const solo: Segment[] = [];
    const big = randomBytes(200 * 1024);
    pool.write(big, solo, never);
    assert.ok(read(solo).equals(big));
    assert.ok(solo.length <= Math.ceil(big.length / pool.pageBytes) + 1, `${solo.length} segments`);
  });

  it('reuses released pages: first-in first-out traffic stops allocating once warm', () => {
    const pool = new PagePool(1024 * 1024);
    const live: Segment[][] = [];
    let warm = 0;
    for (let i = 0; i < 500; i++) {
      const segments: Segment[] = [];
      pool.write(Buffer.alloc(100 * 1024, i), segments, never);
      live.push(segments);
      if (live.length > 8) pool.release(live.shift()!);
      if (i === 50) warm = pool.pages;
    }
    assert.equal(pool.pages, warm, 'no page allocated after warm-up');
    assert.ok(pool.pages <= pool.maxPages);
    for (const [k, segments] of live.entries())
      assert.ok(read(segments).equals(Buffer.alloc(100 * 1024, 500 - live.length + k)));
  });

  it('asks to reclaim at the page cap, and gives back over-cap pages when nothing could be evicted', () => {
    const pool = new PagePool(16 * 1024); // 1 KiB pages, 20 at most
    let reclaims = 0;
    const a: Segment[] = [];
    const b: Segment[] = [];
    // 40 KiB in two bodies that reclaim cannot evict: the pool must go over its cap to keep them.
    for (let i = 0; i < 40; i++) pool.write(Buffer.alloc(1024, i), i % 2 ? a : b, () => (reclaims++, false));
    assert.ok(reclaims > 0, 'reclaim was asked once the cap was reached');
    assert.ok(pool.pages > pool.maxPages, 'fallback pages when nothing can be evicted');
    assert.equal(read(a)[0], 1);
    pool.release(a);
    pool.release(b);
    pool.write(Buffer.alloc(10), [], never);
    assert.ok(pool.pages <= pool.maxPages, `pool shrank back to its cap (${pool.pages} ≤ ${pool.maxPages})`);
  });
});

describe('capture store on pages', () => {
  it('returns every live body intact after many evictions reuse the pages', () => {
    const store = new CaptureStore({ maxTotalBytes: 512 * 1024 });
    const sent = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const rec = store.begin(start());
      rec.requestEnd();
      rec.response(200, 'OK', '1.1', []);
      const body = randomBytes(10_000 + ((i * 104729) % 60_000));
      // the data path's buffer is reused for every read: the capture must not depend on it
      const scratch = Buffer.alloc(16 * 1024);
      for (let at = 0; at < body.length; at += scratch.length) {
        const n = body.copy(scratch, 0, at, at + scratch.length);
        rec.responseData(scratch.subarray(0, n));
      }
      rec.finish();
      sent.set(rec.id, body);
      assert.ok(store.size <= 512 * 1024);
    }
    const live = store.list({ limit: 1000 });
    assert.ok(live.length > 3, `${live.length} live`);
    for (const ex of live) assert.ok(ex.response!.body.bytes().equals(sent.get(ex.id)!), `body of ${ex.id}`);
  });

  it('evicts oldest first (never the exchange being written) when interleaved streams pin every page', () => {
    const store = new CaptureStore({ maxTotalBytes: 64 * 1024, maxBodyBytes: 32 * 1024 }); // 4 KiB pages
    const recs = Array.from({ length: 20 }, () => store.begin(start()));
    let writer = '';
    let evictions = 0;
    store.on('evicted', (id) => {
      evictions++;
      const olderStillLive = store.list({ limit: 100 }).filter((ex) => ex.id !== writer && ex.id < id);
      assert.deepEqual(olderStillLive, [], `evicted ${id} while older exchanges were live`);
      assert.notEqual(id, writer);
    });
    // 20 streams interleaved 50 bytes at a time: every page holds bytes of many exchanges.
    for (let round = 0; round < 400; round++) {
      for (const rec of recs) {
        writer = rec.id;
        rec.requestData(Buffer.alloc(50, round));
      }
    }
    assert.ok(evictions > 0);
    assert.ok(store.size <= 64 * 1024);
    const kept = store.list({ limit: 100 });
    assert.ok(kept.length > 0);
    for (const ex of kept) {
      const bytes = ex.request.body.bytes();
      assert.equal(bytes.length, ex.request.body.stored);
      for (let round = 0; round < bytes.length / 50; round++)
        assert.equal(bytes[round * 50], round & 0xff, `byte of round ${round}`);
    }
  });
});
