// In-memory record of HTTP exchanges for the local inspector and API (ngrok's "inspect").
//
// The agent calls begin() when a request arrives and feeds the returned Recording as bytes flow.
// The data path pays one memcpy per kept chunk, into long-lived pages reused after eviction
// (./pages.ts says why: retaining the data path's Buffers made V8 run full GCs all the time), and a
// few counters; nothing is concatenated, parsed or encoded until someone asks (API, HAR, curl).
//
// Every exchange stays in memory until evicted, tens of thousands of them: what one costs the GC
// is the price of capture per request (issue 11, round 4, in docs/benchmarks.md). So a kept
// exchange is ONE compact object (ExchangeRecord): header lists joined into one string each, no
// closures, no id string, bodies created only when bytes arrive. The API's request/response
// objects are built when read (reads are rare, writes are per request). Exchanges are kept in an
// array in arrival order (ids are a counter, so an id finds its slot without a Map), and eviction
// takes the oldest in O(1).
//
// Bounds (documented in the API docs):
// - each body keeps at most `maxBodyBytes` (default 10 MiB); beyond that it counts bytes and is
//   marked truncated;
// - the whole store keeps at most `maxTotalBytes` (ngrok's `inspect_db_size`: 0 → 50 MB,
//   -1 → capture disabled) and evicts the oldest exchanges first. Each exchange counts its body
//   bytes, its header text and a fixed overhead for its objects, so the byte cap bounds the heap.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { PagePool, type Segment } from './pages';

export interface CaptureStart {
  tunnelName: string;
  remoteAddr: string;
  method: string;
  uri: string;
  httpVersion: string;
  rawHeaders: string[];
}

/** What the edge answered in place of the upstream (capture/store.ts recordAnswered). */
export interface AnsweredByEdge {
  module: string;
  statusCode: number;
  statusMessage: string;
  responseHeaders: string[];
  logs?: { metadata: unknown }[];
}

export interface CaptureError {
  /** Edge/agent error code, e.g. ERR_NGROK_8012. */
  code: string;
  message: string;
}

/**
 * One exchange being recorded. Body chunks are copied (up to the cap) before the call returns,
 * so the caller may reuse them. Every method is safe to call after eviction.
 */
export interface Recording {
  /** 16 lowercase hex chars, as ngrok's capture ids ("548fb5c700000002"). */
  readonly id: string;
  requestData(chunk: Buffer): void;
  requestEnd(): void;
  response(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[]): void;
  responseData(chunk: Buffer): void;
  /** Traffic-policy `log` entries the edge recorded for this request (ngrok's `traffic_policy.logs`). */
  addPolicyLogs(logs: { metadata: unknown }[]): void;
  finish(error?: CaptureError): void;
}

/** A captured body: its bytes up to the cap, copied into the store's pages. */
export class CapturedBody {
  private segments: Segment[] | null = null;
  /** Bytes kept (≤ cap). */
  stored = 0;
  /** Bytes seen on the wire, kept or not. */
  size = 0;
  truncated = false;
  complete = false;

  /**
   * Copies what fits under `cap`; returns how many bytes were newly kept (for store
   * accounting). `reclaim` evicts an older exchange when the pages are all in use.
   */
  push(chunk: Buffer, cap: number, pages: PagePool, reclaim: () => boolean): number {
    this.size += chunk.length;
    if (this.truncated) return 0;
    const room = cap - this.stored;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (kept.length < chunk.length) this.truncated = true;
    if (kept.length === 0) return 0;
    if (this.segments) pages.write(kept, this.segments, reclaim);
    else {
      // A body's first chunk: V8 would give the list room for 17 segments at its first push,
      // and most bodies (small ones) never have a second.
      const first: Segment[] = [];
      pages.write(kept, first, reclaim);
      this.segments = first.length === 1 ? [first[0]] : first;
    }
    this.stored += kept.length;
    return kept.length;
  }

  /** The kept bytes as one new buffer (a copy: pages are reused after eviction). */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.stored);
    let at = 0;
    for (const s of this.segments ?? []) at += s.page.bytes.copy(out, at, s.start, s.end);
    return out;
  }

  /** Drops kept bytes (eviction, also while still streaming). */
  release(pages: PagePool): void {
    if (this.segments) pages.release(this.segments);
    this.segments = null;
    this.stored = 0;
  }
}

export interface CapturedRequest {
  readonly method: string;
  readonly uri: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly body: CapturedBody;
}

export interface CapturedResponse {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly body: CapturedBody;
}

export type ExchangeState = 'request' | 'response' | 'complete' | 'error';

/** A recorded exchange as readers see it (the API, HAR, curl, replay). Only the store changes it. */
export interface CapturedExchange {
  readonly id: string;
  readonly tunnelName: string;
  readonly remoteAddr: string;
  /** Wall-clock start, ms since the epoch. */
  readonly startedAt: number;
  /** Nanoseconds from start to finish; 0 until finished. */
  readonly durationNs: number;
  /** Nanoseconds from start until the response head arrived; 0 until then. */
  readonly waitNs: number;
  readonly state: ExchangeState;
  /** Built when read: read it once per use. */
  readonly request: CapturedRequest;
  /** Built when read; null until the response head arrived. */
  readonly response: CapturedResponse | null;
  readonly error: CaptureError | null;
  /** Set when this exchange was replayed from another capture. */
  readonly replayOf?: string;
  /** Set when the edge answered it itself (the upstream never saw it): the module, e.g. `basic-auth`. */
  readonly edgeModule?: string;
  /** Traffic-policy `log` action entries, in the order they ran. */
  readonly policyLogs?: { metadata: unknown }[];
}

export interface CaptureStoreOptions {
  /** Per-body cap in bytes. */
  maxBodyBytes?: number;
  /** Whole-store cap in bytes; ≤ 0 disables the store (see fromInspectDbSize). */
  maxTotalBytes: number;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * What one exchange's JS objects cost beyond its header text (the record, its boxed numbers,
 * a body and its segment list; measured in test/unit/capture-memory.test.ts). Counted against
 * the cap so that the cap bounds the heap too.
 */
export const EXCHANGE_OVERHEAD_BYTES = 560;
/** ngrok: `inspect_db_size: 0` means 50 MB (read as MiB, as the config loader does). */
export const DEFAULT_INSPECT_DB_SIZE = 50 * 1024 * 1024;

/** Maps ngrok's `inspect_db_size` to a store size: 0/undefined → 50 MB, negative → disabled (0). */
export function storeBytesFromInspectDbSize(inspectDbSize: number | undefined): number {
  if (inspectDbSize === undefined || inspectDbSize === 0) return DEFAULT_INSPECT_DB_SIZE;
  return inspectDbSize < 0 ? 0 : inspectDbSize;
}

function headerBytes(rawHeaders: string[]): number {
  let n = 0;
  for (const h of rawHeaders) n += h.length + 2;
  return n;
}

/**
 * A header list as one string (one heap object instead of an array and a string per name and
 * value; it also lets the data path's strings die young). Names and values cannot hold a line
 * feed on the wire; a list that does anyway is kept as it is.
 */
type PackedHeaders = string | string[];

function packHeaders(rawHeaders: string[]): PackedHeaders {
  if (rawHeaders.length < 2) return rawHeaders.slice();
  for (const h of rawHeaders) if (h.includes('\n')) return rawHeaders.slice();
  return rawHeaders.join('\n');
}

function unpackHeaders(packed: PackedHeaders): string[] {
  return typeof packed === 'string' ? packed.split('\n') : packed.slice();
}

/** The parser's per-request copies of common strings, swapped for constants (kept exchanges share them). */
function shared(s: string): string {
  switch (s) {
    case '1.1':
      return '1.1';
    case '1.0':
      return '1.0';
    case '2.0':
      return '2.0';
    case 'GET':
      return 'GET';
    case 'POST':
      return 'POST';
    case 'OK':
      return 'OK';
    default:
      return s;
  }
}

/** What ExchangeRecord's start times count from. */
const EPOCH_MS = Date.now();

const EVICTED = 1;
const REQUEST_COMPLETE = 2;
const RESPONSE_COMPLETE = 4;

/**
 * One kept exchange, compact: what the API shows is built from it when read. Its fields are the
 * store's (the Recorder writes them); readers use the CapturedExchange view.
 */
class ExchangeRecord implements CapturedExchange {
  /**
   * The start in ms after the module loaded: a small integer (for 12 days), where the epoch time
   * would be a heap number of its own in every kept record (and the start's performance.now() is
   * the Recorder's, which dies with the exchange).
   */
  private readonly startMs = Date.now() - EPOCH_MS;
  durationNs = 0;
  waitNs = 0;
  state: ExchangeState = 'request';
  /** Accounted bytes (store cap). */
  bytes = 0;
  flags = 0;
  reqBody: CapturedBody | null = null;
  statusCode = 0;
  statusMessage = '';
  resVersion = '';
  resHeaders: PackedHeaders | null = null;
  resBody: CapturedBody | null = null;
  error: CaptureError | null = null;
  policyLogs: { metadata: unknown }[] | undefined = undefined;

  constructor(
    private readonly idPrefix: string,
    /** Sequence number: the id's last 8 hex digits, and the slot in the store. */
    readonly n: number,
    readonly tunnelName: string,
    readonly remoteAddr: string,
    readonly method: string,
    readonly uri: string,
    readonly httpVersion: string,
    readonly reqHeaders: PackedHeaders,
    readonly replayOf: string | undefined,
    readonly edgeModule: string | undefined,
  ) {}

  get id(): string {
    return this.idPrefix + this.n.toString(16).padStart(8, '0');
  }

  get startedAt(): number {
    return EPOCH_MS + this.startMs;
  }

  get request(): CapturedRequest {
    return {
      method: this.method,
      uri: this.uri,
      httpVersion: this.httpVersion,
      rawHeaders: unpackHeaders(this.reqHeaders),
      body: this.reqBody ?? emptyBody((this.flags & REQUEST_COMPLETE) !== 0),
    };
  }

  get response(): CapturedResponse | null {
    if (this.resHeaders === null) return null;
    return {
      statusCode: this.statusCode,
      statusMessage: this.statusMessage,
      httpVersion: this.resVersion,
      rawHeaders: unpackHeaders(this.resHeaders),
      body: this.resBody ?? emptyBody((this.flags & RESPONSE_COMPLETE) !== 0),
    };
  }

  get done(): boolean {
    return this.state === 'complete' || this.state === 'error';
  }
}

function emptyBody(complete: boolean): CapturedBody {
  const body = new CapturedBody();
  body.complete = complete;
  return body;
}

/** The data path's handle on one exchange (short-lived: dropped when the exchange ends). */
class Recorder implements Recording {
  /** performance.now() at the start (for the wait and the duration). */
  private readonly t0 = performance.now();

  constructor(
    private readonly store: CaptureStore,
    private readonly rec: ExchangeRecord,
  ) {}

  get id(): string {
    return this.rec.id;
  }

  requestData(chunk: Buffer): void {
    const rec = this.rec;
    if (rec.flags & EVICTED) return;
    this.store.keep(rec, (rec.reqBody ??= new CapturedBody()), chunk);
  }

  requestEnd(): void {
    this.rec.flags |= REQUEST_COMPLETE;
    if (this.rec.reqBody) this.rec.reqBody.complete = true;
  }

  addPolicyLogs(logs: { metadata: unknown }[]): void {
    if (!logs.length) return;
    const rec = this.rec;
    (rec.policyLogs ??= []).push(...logs);
    this.store.account(rec, JSON.stringify(logs).length);
  }

  response(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[]): void {
    // Interim 1xx answers (100 Continue, 103 Early Hints) are not the response; 101 is.
    if (statusCode < 200 && statusCode !== 101) return;
    const rec = this.rec;
    if (rec.resHeaders !== null || rec.done) return;
    rec.waitNs = Math.round((performance.now() - this.t0) * 1e6);
    rec.statusCode = statusCode;
    rec.statusMessage = shared(statusMessage);
    rec.resVersion = shared(httpVersion);
    rec.resHeaders = packHeaders(rawHeaders);
    rec.state = 'response';
    this.store.account(rec, headerBytes(rawHeaders) + statusMessage.length + 16);
    this.store.updated(rec);
  }

  responseData(chunk: Buffer): void {
    const rec = this.rec;
    if (rec.flags & EVICTED || rec.resHeaders === null) return;
    this.store.keep(rec, (rec.resBody ??= new CapturedBody()), chunk);
  }

  finish(error?: CaptureError): void {
    const rec = this.rec;
    if (rec.done) return;
    rec.durationNs = Math.round((performance.now() - this.t0) * 1e6);
    rec.flags |= REQUEST_COMPLETE | RESPONSE_COMPLETE;
    if (rec.reqBody) rec.reqBody.complete = true;
    if (rec.resBody) rec.resBody.complete = true;
    if (error) {
      rec.error = { code: error.code, message: error.message };
      rec.state = 'error';
    } else rec.state = 'complete';
    this.store.updated(rec);
  }
}

export interface CaptureStoreEvents {
  exchange: [CapturedExchange];
  'exchange-update': [CapturedExchange];
  deleted: [string];
  evicted: [string];
  cleared: [];
}

/** Slots freed at the front before the array is compacted. */
const COMPACT_AFTER = 1024;

export class CaptureStore extends EventEmitter<CaptureStoreEvents> {
  readonly maxBodyBytes: number;
  readonly maxTotalBytes: number;
  /** False when inspect_db_size was -1: begin() then records nothing. */
  readonly enabled: boolean;
  /**
   * Kept exchanges in arrival order; a deleted one leaves `undefined`. `slots[i].n === base + i`
   * (mod 2^32): every recorded exchange takes the next slot. `head` is the oldest live slot.
   */
  private slots: (ExchangeRecord | undefined)[] = [];
  private base = 0;
  private head = 0;
  private live = 0;
  /** Where body bytes live; pages are allocated on first use, at most about maxTotalBytes. */
  private readonly pages: PagePool;
  private totalBytes = 0;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private counter = 0;
  /** The exchange whose body is being written (never evicted to make room for itself). */
  private growing: ExchangeRecord | undefined;
  private readonly reclaim = (): boolean => this.evictOldest(this.growing);

  constructor(opts: CaptureStoreOptions) {
    super();
    this.maxTotalBytes = Math.max(0, opts.maxTotalBytes);
    this.enabled = this.maxTotalBytes > 0;
    // One body may never take more than half the store, so a new exchange cannot crowd out
    // everything (and the store's real bound stays maxTotalBytes plus one exchange's headers).
    const bodyCap = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxBodyBytes = Math.max(0, Math.min(bodyCap, Math.floor(this.maxTotalBytes / 2)));
    this.pages = new PagePool(this.maxTotalBytes);
  }

  static fromInspectDbSize(inspectDbSize: number | undefined, maxBodyBytes?: number): CaptureStore {
    return new CaptureStore({ maxTotalBytes: storeBytesFromInspectDbSize(inspectDbSize), maxBodyBytes });
  }

  /** Bytes currently held (bodies + header text + per-exchange overhead). */
  get size(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.live;
  }

  /**
   * A request an edge module answered itself (a basic-auth 401, an IP denial): request and response
   * heads in one go, no bodies, marked with the module that answered.
   */
  recordAnswered(s: CaptureStart, answer: AnsweredByEdge): void {
    const rec = this.begin(s, { edgeModule: answer.module });
    rec.requestEnd();
    rec.addPolicyLogs(answer.logs ?? []);
    rec.response(answer.statusCode, answer.statusMessage, s.httpVersion, answer.responseHeaders);
    rec.finish();
  }

  begin(s: CaptureStart, meta?: { replayOf?: string; edgeModule?: string }): Recording {
    this.counter = (this.counter + 1) >>> 0;
    const rec = new ExchangeRecord(
      this.idPrefix,
      this.counter,
      s.tunnelName,
      s.remoteAddr,
      shared(s.method),
      s.uri,
      shared(s.httpVersion),
      packHeaders(s.rawHeaders),
      meta?.replayOf || undefined,
      meta?.edgeModule || undefined,
    );
    if (this.enabled) {
      if (this.slots.length === 0) this.base = rec.n;
      this.slots.push(rec);
      this.live++;
      this.account(rec, EXCHANGE_OVERHEAD_BYTES + headerBytes(s.rawHeaders) + s.uri.length + 16);
      this.emit('exchange', rec);
    } else rec.flags = EVICTED;
    return new Recorder(this, rec);
  }

  /** Copies a body chunk (Recorder), evicting older exchanges when the pages are full. */
  keep(rec: ExchangeRecord, body: CapturedBody, chunk: Buffer): void {
    this.growing = rec;
    const kept = body.push(chunk, this.maxBodyBytes, this.pages, this.reclaim);
    this.growing = undefined;
    this.account(rec, kept);
  }

  /** Adds bytes to an exchange and evicts the oldest exchanges while over the cap. */
  account(rec: ExchangeRecord, bytes: number): void {
    if (rec.flags & EVICTED || bytes === 0) return;
    rec.bytes += bytes;
    this.totalBytes += bytes;
    while (this.totalBytes > this.maxTotalBytes && this.evictOldest(rec)) {
      // oldest first, until under the cap
    }
  }

  updated(rec: ExchangeRecord): void {
    if (!(rec.flags & EVICTED)) this.emit('exchange-update', rec);
  }

  /** Evicts the oldest exchange other than `growing` (never the one being written); false if none. */
  private evictOldest(growing: ExchangeRecord | undefined): boolean {
    for (let i = this.head; i < this.slots.length; i++) {
      const old = this.slots[i];
      if (old === undefined || old === growing) continue;
      const id = old.id;
      this.drop(i, old);
      this.emit('evicted', id);
      return true;
    }
    return false;
  }

  private slotOf(id: string): number {
    if (id.length !== 16 || !id.startsWith(this.idPrefix)) return -1;
    if (!/^[0-9a-f]{8}$/.test(id.slice(8))) return -1;
    const n = Number.parseInt(id.slice(8), 16);
    const i = (n - this.base) >>> 0;
    return i < this.slots.length && this.slots[i]?.n === n ? i : -1;
  }

  private drop(i: number, rec: ExchangeRecord): void {
    this.slots[i] = undefined;
    this.live--;
    this.release(rec);
    // Move the front past freed slots; compact the array once enough of its front is free.
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.head++;
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.base = (this.base + this.head) >>> 0;
      this.head = 0;
    }
  }

  private release(rec: ExchangeRecord): void {
    this.totalBytes -= rec.bytes;
    rec.bytes = 0;
    rec.flags |= EVICTED;
    rec.reqBody?.release(this.pages);
    rec.resBody?.release(this.pages);
  }

  /** Newest first, as ngrok lists them. `limit` defaults to 50 (ngrok's default). */
  list(q: { limit?: number; tunnelName?: string } = {}): CapturedExchange[] {
    const limit = q.limit ?? 50;
    const out: CapturedExchange[] = [];
    for (let i = this.slots.length - 1; i >= this.head && out.length < limit; i--) {
      const ex = this.slots[i];
      if (ex && (q.tunnelName === undefined || ex.tunnelName === q.tunnelName)) out.push(ex);
    }
    return out;
  }

  get(id: string): CapturedExchange | undefined {
    const i = this.slotOf(id);
    return i < 0 ? undefined : this.slots[i];
  }

  delete(id: string): boolean {
    const i = this.slotOf(id);
    if (i < 0) return false;
    this.drop(i, this.slots[i]!);
    this.emit('deleted', id);
    return true;
  }

  clear(): void {
    for (let i = this.head; i < this.slots.length; i++) {
      const rec = this.slots[i];
      if (rec) this.release(rec);
    }
    this.slots = [];
    this.head = 0;
    this.live = 0;
    this.emit('cleared');
  }
}
