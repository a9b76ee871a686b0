// In-memory record of HTTP exchanges for the local inspector and API (ngrok's "inspect").
//
// The agent calls begin() when a request arrives and feeds the returned Recording as bytes flow.
// The data path pays one memcpy per kept chunk, into long-lived pages reused after eviction
// (./pages.ts says why: retaining the data path's Buffers made V8 run full GCs all the time), and a
// few counters; nothing is parsed or encoded for readers until someone asks (API, HAR, curl).
//
// Every exchange stays in memory until evicted, tens of thousands of them: what one costs the GC
// is the price of capture per request (issue 11, rounds 4 and 7, in docs/benchmarks.md). So a
// kept exchange is ONE small object of small integers (ExchangeRecord, ≈ 120 B), and the rest is
// bytes in the pages, out of the GC's sight: each head (remote address, method, URI, version and
// header list; status, reason, version and header list) as one UTF-8 text with its times in
// front, and a small body right behind its head when it arrives in one go. The API's
// request/response objects are decoded from those bytes when read (reads are rare, writes are per
// request). A response head the raw path parsed comes as its bytes (Recording.responseBytes) and is
// kept as they came, in one copy; its header list is cut out of them when read, by the parser's own
// code (http1/head headFields), so readers get what the list entry would have given. What does not
// fit that form (a head longer than a page, a line feed inside a header, a body in pieces, an
// error, policy logs) goes to an optional side object (Rare). Exchanges are
// kept in an array in arrival order (ids are a counter, so an id finds its slot without a Map),
// and eviction takes the oldest in O(1). An evicted exchange's bytes are gone: a reader still
// holding it reads empty heads and bodies.
//
// Bounds (documented in the API docs):
// - each body keeps at most `maxBodyBytes` (default 10 MiB); beyond that it counts bytes and is
//   marked truncated;
// - the whole store keeps at most `maxTotalBytes` (ngrok's `inspect_db_size`: 0 → 50 MB,
//   -1 → capture disabled) and evicts the oldest exchanges first. Each exchange counts its body
//   bytes, its head bytes and a fixed overhead for its object, so the byte cap bounds heap + pages.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { PagePool, type Segment } from './pages';
import { headFields, putLatin1 } from '../http1/head';

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
  /**
   * `response` for a head the raw path parsed (http1/head parseResponseHead): `head` is its bytes
   * as the upstream sent them (status line, fields, blank line), kept as one copy; the header list
   * is cut out of them when read, as the parser cuts it (names as sent, values trimmed).
   */
  responseBytes(statusCode: number, statusMessage: string, httpVersion: string, head: Buffer): void;
  responseData(chunk: Buffer): void;
  /** Traffic-policy `log` entries the edge recorded for this request (ngrok's `traffic_policy.logs`). */
  addPolicyLogs(logs: { metadata: unknown }[]): void;
  finish(error?: CaptureError): void;
}

/** A captured body as readers see it: its bytes up to the cap, and what the wire carried. */
export interface CapturedBody {
  /** Bytes kept (≤ cap; 0 once the exchange is evicted). */
  readonly stored: number;
  /** Bytes seen on the wire, kept or not. */
  readonly size: number;
  readonly truncated: boolean;
  readonly complete: boolean;
  /** The kept bytes as one new buffer (a copy: pages are reused after eviction). */
  bytes(): Buffer;
}

/** A body that does not sit right after its head in one page: a list of segments in the pages. */
class SegmentedBody {
  readonly segments: Segment[] = [];
  stored = 0;

  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.stored);
    let at = 0;
    for (const s of this.segments) at += s.page.bytes.copy(out, at, s.start, s.end);
    return out;
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
 * What one exchange costs beyond its bytes in the pages: its record in the heap and its slot
 * (≈ 130 B, measured in test/unit/capture-memory.test.ts), with room for the occasional side
 * object. Counted against the cap so that the cap bounds the heap too.
 */
export const EXCHANGE_OVERHEAD_BYTES = 200;
/** ngrok: `inspect_db_size: 0` means 50 MB (read as MiB, as the config loader does). */
export const DEFAULT_INSPECT_DB_SIZE = 50 * 1024 * 1024;

/** Maps ngrok's `inspect_db_size` to a store size: 0/undefined → 50 MB, negative → disabled (0). */
export function storeBytesFromInspectDbSize(inspectDbSize: number | undefined): number {
  if (inspectDbSize === undefined || inspectDbSize === 0) return DEFAULT_INSPECT_DB_SIZE;
  return inspectDbSize < 0 ? 0 : inspectDbSize;
}

// ExchangeRecord.flags
const STATE = 3;
const STATES: readonly ExchangeState[] = ['request', 'response', 'complete', 'error'];
const RESPONSE_STATE = 1;
const COMPLETE_STATE = 2;
const ERROR_STATE = 3;
const EVICTED = 4;
const REQUEST_COMPLETE = 8;
const RESPONSE_COMPLETE = 16;
const REQUEST_TRUNCATED = 32;
const RESPONSE_TRUNCATED = 64;
/** The response head arrived (interim 1xx heads do not count). */
const RESPONDED = 128;
/** A head text is UTF-8 (else Latin-1). */
const REQUEST_UTF8 = 256;
const RESPONSE_UTF8 = 512;
/** The response head's last line is the head's bytes as the upstream sent them (writeResponseBytes). */
const RESPONSE_RAW = 1024;

/**
 * A head's region in the pages (8-byte aligned): fixed fields (float64), then its lines (remote
 * address, method, URI, version, then the header list; or status code, reason, version, then
 * the header list) as a table of lengths (uint16: the number of lines, then each line's length
 * in UTF-16 units) and their text back to back. Fixed fields: the request's start (ms since the
 * epoch) and duration (ns, written at the finish); the response's wait (ns).
 */
const REQUEST_FIXED = 16;
const RESPONSE_FIXED = 8;

/** Buffer's own Latin-1 writer (what `write(…, 'latin1')` calls, without its argument parsing). */
interface Latin1Writer {
  latin1Write(text: string, offset: number, length: number): number;
}

/**
 * Parsers give heads as Latin-1 strings (a byte per character), which latin1 encoding copies
 * byte for byte (and V8 knows this class cannot match a one-byte string without reading it). A
 * head with any other character is stored as UTF-8 (flag *_UTF8), or kept as its lines when it
 * is not well-formed UTF-16 (UTF-8 could not give it back).
 */
const NOT_LATIN1 = /[\u0100-\uffff]/;

/** True unless the string holds a lone surrogate (UTF-8 could not give it back). */
function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** What few exchanges need (an ExchangeRecord's optional side object, created on first use). */
class Rare {
  /** A head kept as its lines where it cannot be in a region (see writeHead). */
  requestLines: string[] | undefined = undefined;
  responseLines: string[] | undefined = undefined;
  /** The times, when the head that holds them is not in a region. */
  startedAt = 0;
  durationNs = 0;
  waitNs = 0;
  /** A body that did not grow in place behind its head. */
  requestBody: SegmentedBody | undefined = undefined;
  responseBody: SegmentedBody | undefined = undefined;
  /** Bytes seen past the body cap. */
  requestDropped = 0;
  responseDropped = 0;
  error: CaptureError | null = null;
  policyLogs: { metadata: unknown }[] | undefined = undefined;
  replayOf: string | undefined = undefined;
  edgeModule: string | undefined = undefined;
}

/** What an evicted exchange's heads read as. */
const NO_REQUEST: readonly string[] = ['', '', '', ''];
const NO_RESPONSE: readonly string[] = ['0', '', ''];
const EMPTY = Buffer.alloc(0);

/**
 * One kept exchange: small integers and the offsets of its heads in the store's pages, so the GC
 * has one small object to move per exchange. Its fields are the store's (the Recorder writes
 * them); readers use the CapturedExchange view, decoded from the pages when read.
 */
class ExchangeRecord implements CapturedExchange {
  flags = 0;
  /** Accounted bytes (store cap). */
  bytes = 0;
  /** Slab offset of the request region, -1 when there is none (Rare holds the head). */
  reqAt = -1;
  /** Bytes of the request head's lines in its region (table and text). */
  reqLen = 0;
  /** Request body bytes kept right after the head text; -1: the body is a SegmentedBody (Rare). */
  reqBody = 0;
  resAt = -1;
  resLen = 0;
  resBody = 0;
  rare: Rare | undefined = undefined;

  constructor(
    private readonly store: CaptureStore,
    /** Sequence number (int32): the id's last 8 hex digits, and the slot in the store. */
    readonly n: number,
    readonly tunnelName: string,
  ) {}

  get id(): string {
    return this.store.idPrefix + (this.n >>> 0).toString(16).padStart(8, '0');
  }

  get state(): ExchangeState {
    return STATES[this.flags & STATE];
  }

  get done(): boolean {
    return (this.flags & STATE) >= COMPLETE_STATE;
  }

  get live(): boolean {
    return (this.flags & EVICTED) === 0;
  }

  get startedAt(): number {
    if (!this.live) return 0;
    return this.reqAt >= 0 ? this.store.pages.times[this.reqAt / 8] : (this.rare?.startedAt ?? 0);
  }

  get durationNs(): number {
    if (!this.live) return 0;
    return this.reqAt >= 0 ? this.store.pages.times[this.reqAt / 8 + 1] : (this.rare?.durationNs ?? 0);
  }

  get waitNs(): number {
    if (!this.live || !(this.flags & RESPONDED)) return 0;
    return this.resAt >= 0 ? this.store.pages.times[this.resAt / 8] : (this.rare?.waitNs ?? 0);
  }

  get remoteAddr(): string {
    return this.lines(false)[0];
  }

  get error(): CaptureError | null {
    return this.rare?.error ?? null;
  }

  get replayOf(): string | undefined {
    return this.rare?.replayOf;
  }

  get edgeModule(): string | undefined {
    return this.rare?.edgeModule;
  }

  get policyLogs(): { metadata: unknown }[] | undefined {
    return this.rare?.policyLogs;
  }

  get request(): CapturedRequest {
    const l = this.lines(false);
    return { method: l[1], uri: l[2], httpVersion: l[3], rawHeaders: l.slice(4), body: new BodyView(this, false) };
  }

  get response(): CapturedResponse | null {
    if (!(this.flags & RESPONDED)) return null;
    const l = this.lines(true);
    return {
      statusCode: Number(l[0]),
      statusMessage: l[1],
      httpVersion: l[2],
      rawHeaders: l.slice(3),
      body: new BodyView(this, true),
    };
  }

  /** A head's lines (see REQUEST_FIXED), decoded from its region or copied from Rare. */
  private lines(response: boolean): readonly string[] {
    const none = response ? NO_RESPONSE : NO_REQUEST;
    if (!this.live) return none;
    const at = response ? this.resAt : this.reqAt;
    if (at < 0) return (response ? this.rare?.responseLines : this.rare?.requestLines) ?? none;
    const from = at + (response ? RESPONSE_FIXED : REQUEST_FIXED);
    const u16 = this.store.pages.u16;
    const count = u16[from / 2];
    const textFrom = from + 2 + 2 * count;
    const utf8 = this.flags & (response ? RESPONSE_UTF8 : REQUEST_UTF8);
    const text = this.store.pages.bytes.toString(
      utf8 ? 'utf8' : 'latin1',
      textFrom,
      from + (response ? this.resLen : this.reqLen),
    );
    const lines: string[] = [];
    for (let k = 0, p = 0; k < count; k++) {
      const n = u16[from / 2 + 1 + k];
      lines.push(text.slice(p, p + n));
      p += n;
    }
    if (response && this.flags & RESPONSE_RAW) lines.push(...headFields(lines.pop()!));
    return lines;
  }

  /** The region offset where a body growing in place would continue; -1 when it cannot. */
  bodyEnd(response: boolean): number {
    if (response)
      return this.resAt >= 0 && this.resBody >= 0 ? this.resAt + RESPONSE_FIXED + this.resLen + this.resBody : -1;
    return this.reqAt >= 0 && this.reqBody >= 0 ? this.reqAt + REQUEST_FIXED + this.reqLen + this.reqBody : -1;
  }

  stored(response: boolean): number {
    if (!this.live) return 0;
    const inline = response ? this.resBody : this.reqBody;
    if (inline >= 0) return inline;
    return (response ? this.rare?.responseBody : this.rare?.requestBody)?.stored ?? 0;
  }

  size(response: boolean): number {
    const inline = response ? this.resBody : this.reqBody;
    const body = response ? this.rare?.responseBody : this.rare?.requestBody;
    const kept = inline >= 0 ? inline : (body?.stored ?? 0);
    return kept + ((response ? this.rare?.responseDropped : this.rare?.requestDropped) ?? 0);
  }

  bodyBytes(response: boolean): Buffer {
    if (!this.live) return Buffer.allocUnsafe(0);
    const inline = response ? this.resBody : this.reqBody;
    if (inline < 0) return (response ? this.rare!.responseBody! : this.rare!.requestBody!).bytes();
    const end = this.bodyEnd(response);
    const out = Buffer.allocUnsafe(inline);
    if (inline > 0) this.store.pages.bytes.copy(out, 0, end - inline, end);
    return out;
  }
}

/** A body as readers see it, read through its record (so it empties when the record is evicted). */
class BodyView implements CapturedBody {
  constructor(
    private readonly rec: ExchangeRecord,
    private readonly response: boolean,
  ) {}

  get stored(): number {
    return this.rec.stored(this.response);
  }

  get size(): number {
    return this.rec.size(this.response);
  }

  get truncated(): boolean {
    return (this.rec.flags & (this.response ? RESPONSE_TRUNCATED : REQUEST_TRUNCATED)) !== 0;
  }

  get complete(): boolean {
    return (this.rec.flags & (this.response ? RESPONSE_COMPLETE : REQUEST_COMPLETE)) !== 0;
  }

  bytes(): Buffer {
    return this.rec.bodyBytes(this.response);
  }
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
    if (this.rec.live) this.store.keep(this.rec, false, chunk);
  }

  requestEnd(): void {
    this.rec.flags |= REQUEST_COMPLETE;
  }

  addPolicyLogs(logs: { metadata: unknown }[]): void {
    if (!logs.length) return;
    const rec = this.rec;
    const rare = (rec.rare ??= new Rare());
    (rare.policyLogs ??= []).push(...logs);
    this.store.account(rec, JSON.stringify(logs).length);
  }

  response(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[]): void {
    const waitNs = this.responding(statusCode);
    if (waitNs === undefined) return;
    this.store.writeResponseHead(this.rec, waitNs, String(statusCode), statusMessage, httpVersion, rawHeaders);
    this.store.updated(this.rec);
  }

  responseBytes(statusCode: number, statusMessage: string, httpVersion: string, head: Buffer): void {
    const waitNs = this.responding(statusCode);
    if (waitNs === undefined) return;
    this.store.writeResponseBytes(this.rec, waitNs, String(statusCode), statusMessage, httpVersion, head);
    this.store.updated(this.rec);
  }

  /**
   * Marks the exchange answered by its first response (not an interim 1xx; 101 is one) and gives
   * the wait in ns when that head is to be written (a live exchange); undefined otherwise.
   */
  private responding(statusCode: number): number | undefined {
    // Interim 1xx answers (100 Continue, 103 Early Hints) are not the response; 101 is.
    if (statusCode < 200 && statusCode !== 101) return undefined;
    const rec = this.rec;
    if (rec.flags & RESPONDED || rec.done) return undefined;
    rec.flags = (rec.flags & ~STATE) | RESPONSE_STATE | RESPONDED;
    if (!rec.live) return undefined;
    return Math.round((performance.now() - this.t0) * 1e6);
  }

  responseData(chunk: Buffer): void {
    const rec = this.rec;
    if (rec.live && rec.flags & RESPONDED) this.store.keep(rec, true, chunk);
  }

  finish(error?: CaptureError): void {
    const rec = this.rec;
    if (rec.done) return;
    rec.flags = (rec.flags & ~STATE) | (error ? ERROR_STATE : COMPLETE_STATE) | REQUEST_COMPLETE | RESPONSE_COMPLETE;
    if (!rec.live) return;
    const durationNs = Math.round((performance.now() - this.t0) * 1e6);
    if (rec.reqAt >= 0) this.store.pages.times[rec.reqAt / 8 + 1] = durationNs;
    else (rec.rare ??= new Rare()).durationNs = durationNs;
    if (error) (rec.rare ??= new Rare()).error = { code: error.code, message: error.message };
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
  /** The first 8 hex digits of every id of this store. */
  readonly idPrefix = randomBytes(4).toString('hex');
  /** Where heads and body bytes live; pages are allocated on first use, at most about maxTotalBytes. */
  readonly pages: PagePool;
  /**
   * Kept exchanges in arrival order; a deleted one leaves `undefined`. `slots[i].n === base + i`
   * (mod 2^32): every recorded exchange takes the next slot. `head` is the oldest live slot.
   */
  private slots: (ExchangeRecord | undefined)[] = [];
  private base = 0;
  private head = 0;
  private live = 0;
  private totalBytes = 0;
  private counter = 0;
  /** The exchange whose bytes are being written (never evicted to make room for itself). */
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

  /** Bytes currently held (bodies + heads + per-exchange overhead). */
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
    const rec = new ExchangeRecord(this, this.counter | 0, s.tunnelName);
    if (meta?.replayOf || meta?.edgeModule) {
      const rare = (rec.rare = new Rare());
      rare.replayOf = meta.replayOf || undefined;
      rare.edgeModule = meta.edgeModule || undefined;
    }
    if (!this.enabled) {
      rec.flags = EVICTED;
      return new Recorder(this, rec);
    }
    if (this.slots.length === 0) this.base = rec.n;
    this.slots.push(rec);
    this.live++;
    const startedAt = Date.now();
    const at = this.writeHead(
      rec,
      REQUEST_FIXED,
      REQUEST_UTF8,
      s.remoteAddr,
      s.method,
      s.uri,
      s.httpVersion,
      s.rawHeaders,
    );
    if (at >= 0) {
      const times = this.pages.times;
      times[at / 8] = startedAt;
      times[at / 8 + 1] = 0;
      rec.reqAt = at;
      this.account(rec, EXCHANGE_OVERHEAD_BYTES + REQUEST_FIXED + rec.reqLen);
    } else {
      const rare = (rec.rare ??= new Rare());
      rare.requestLines = [s.remoteAddr, s.method, s.uri, s.httpVersion, ...s.rawHeaders];
      rare.startedAt = startedAt;
      this.account(rec, EXCHANGE_OVERHEAD_BYTES + REQUEST_FIXED + linesBytes(rare.requestLines));
    }
    this.emit('exchange', rec);
    return new Recorder(this, rec);
  }

  /** Records a response head (Recorder.response, for a live exchange). */
  writeResponseHead(
    rec: ExchangeRecord,
    waitNs: number,
    status: string,
    statusMessage: string,
    httpVersion: string,
    rawHeaders: string[],
  ): void {
    const at = this.writeHead(
      rec,
      RESPONSE_FIXED,
      RESPONSE_UTF8,
      status,
      statusMessage,
      httpVersion,
      undefined,
      rawHeaders,
    );
    if (at >= 0) {
      this.pages.times[at / 8] = waitNs;
      rec.resAt = at;
      this.account(rec, RESPONSE_FIXED + rec.resLen);
    } else {
      const rare = (rec.rare ??= new Rare());
      rare.responseLines = [status, statusMessage, httpVersion, ...rawHeaders];
      rare.waitNs = waitNs;
      this.account(rec, RESPONSE_FIXED + linesBytes(rare.responseLines));
    }
  }

  /**
   * Records a response head given as its bytes (Recorder.responseBytes, for a live exchange): the
   * status, reason and version as lines, then the head's bytes as they came, in one copy; no
   * header list is joined or checked (the parser's text is Latin-1 by construction).
   */
  writeResponseBytes(
    rec: ExchangeRecord,
    waitNs: number,
    status: string,
    statusMessage: string,
    httpVersion: string,
    head: Buffer,
  ): void {
    const length = 2 + 2 * 4 + status.length + statusMessage.length + httpVersion.length + head.length;
    this.growing = rec;
    const at = length <= 0xffff ? this.pages.region(RESPONSE_FIXED + length, this.reclaim) : -1;
    this.growing = undefined;
    if (at >= 0) {
      const u16 = this.pages.u16;
      let i = (at + RESPONSE_FIXED) / 2;
      u16[i++] = 4;
      u16[i++] = status.length;
      u16[i++] = statusMessage.length;
      u16[i++] = httpVersion.length;
      u16[i++] = head.length;
      const bytes = this.pages.bytes;
      let p = putLatin1(bytes, status, 2 * i);
      p = putLatin1(bytes, statusMessage, p);
      p = putLatin1(bytes, httpVersion, p);
      head.copy(bytes, p);
      rec.flags |= RESPONSE_RAW;
      rec.resLen = length;
      this.pages.times[at / 8] = waitNs;
      rec.resAt = at;
      this.account(rec, RESPONSE_FIXED + length);
    } else {
      const rare = (rec.rare ??= new Rare());
      rare.responseLines = [status, statusMessage, httpVersion, ...headFields(head.toString('latin1'))];
      rare.waitNs = waitNs;
      this.account(rec, RESPONSE_FIXED + linesBytes(rare.responseLines));
    }
  }

  /**
   * Copies a head's lines (`a`, `b`, `c`, `d` unless undefined, then the header list) into a new
   * region of the pages behind `fixed` bytes for its times (see REQUEST_FIXED), sets the record's
   * head length and encoding, and returns the region's offset; -1 when the head must be kept as
   * lines instead (not well-formed UTF-16, longer than a page, or no region could be had).
   */
  private writeHead(
    rec: ExchangeRecord,
    fixed: number,
    utf8Flag: number,
    a: string,
    b: string,
    c: string,
    d: string | undefined,
    rawHeaders: string[],
  ): number {
    const count = (d === undefined ? 3 : 4) + rawHeaders.length;
    // Two flat strings written one after the other (one string would be a concatenation that
    // the write first copies flat: a second copy of the whole head).
    const start = d === undefined ? `${a}${b}${c}` : `${a}${b}${c}${d}`;
    const rest = rawHeaders.join('');
    const utf8 = NOT_LATIN1.test(start) || NOT_LATIN1.test(rest) ? utf8Flag : 0;
    if (utf8 && !(wellFormed(start) && wellFormed(rest))) return -1;
    const startBytes = utf8 ? Buffer.byteLength(start) : start.length;
    const restBytes = utf8 ? Buffer.byteLength(rest) : rest.length;
    const length = 2 + 2 * count + startBytes + restBytes;
    // A region is at most a page (≤ 64 KiB), so every length in its table fits in a uint16.
    this.growing = rec;
    const at = this.pages.region(fixed + length, this.reclaim);
    this.growing = undefined;
    if (at < 0) return -1;
    const u16 = this.pages.u16;
    let i = (at + fixed) / 2;
    u16[i++] = count;
    u16[i++] = a.length;
    u16[i++] = b.length;
    u16[i++] = c.length;
    if (d !== undefined) u16[i++] = d.length;
    for (let k = 0; k < rawHeaders.length; k++) u16[i++] = rawHeaders[k].length;
    const textAt = 2 * i;
    const bytes = this.pages.bytes;
    if (utf8) {
      bytes.write(start, textAt, startBytes);
      bytes.write(rest, textAt + startBytes, restBytes);
    } else {
      (bytes as unknown as Latin1Writer).latin1Write(start, textAt, startBytes);
      (bytes as unknown as Latin1Writer).latin1Write(rest, textAt + startBytes, restBytes);
    }
    rec.flags |= utf8;
    if (fixed === REQUEST_FIXED) rec.reqLen = length;
    else rec.resLen = length;
    return at;
  }

  /** Copies a body chunk (Recorder, for a live exchange), evicting older exchanges when the pages are full. */
  keep(rec: ExchangeRecord, response: boolean, chunk: Buffer): void {
    const truncated = response ? RESPONSE_TRUNCATED : REQUEST_TRUNCATED;
    let kept = chunk;
    if (rec.flags & truncated) kept = EMPTY;
    else {
      const room = this.maxBodyBytes - rec.stored(response);
      if (chunk.length > room) {
        rec.flags |= truncated;
        kept = chunk.subarray(0, room);
      }
    }
    if (kept.length < chunk.length) {
      const rare = (rec.rare ??= new Rare());
      if (response) rare.responseDropped += chunk.length - kept.length;
      else rare.requestDropped += chunk.length - kept.length;
    }
    if (kept.length === 0) return;
    // In place behind its head (most bodies: one chunk, written right after the head), else in segments.
    const end = rec.bodyEnd(response);
    if (end >= 0 && this.pages.extend(end, kept)) {
      if (response) rec.resBody += kept.length;
      else rec.reqBody += kept.length;
    } else {
      const rare = (rec.rare ??= new Rare());
      let body = response ? rare.responseBody : rare.requestBody;
      if (!body) {
        body = new SegmentedBody();
        const inline = response ? rec.resBody : rec.reqBody;
        if (inline > 0) {
          body.segments.push(this.pages.segmentOf(end - inline, end));
          body.stored = inline;
        }
        if (response) {
          rare.responseBody = body;
          rec.resBody = -1;
        } else {
          rare.requestBody = body;
          rec.reqBody = -1;
        }
      }
      this.growing = rec;
      this.pages.write(kept, body.segments, this.reclaim);
      this.growing = undefined;
      body.stored += kept.length;
    }
    this.account(rec, kept.length);
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
    if (rec.live) this.emit('exchange-update', rec);
  }

  /** Evicts the oldest exchange other than `growing` (never the one being written); false if none. */
  private evictOldest(growing: ExchangeRecord | undefined): boolean {
    for (let i = this.head; i < this.slots.length; i++) {
      const old = this.slots[i];
      if (old === undefined || old === growing) continue;
      // The id string only when someone listens (an eviction per request once the store is full).
      const id = this.listenerCount('evicted') > 0 ? old.id : undefined;
      this.drop(i, old);
      if (id !== undefined) this.emit('evicted', id);
      return true;
    }
    return false;
  }

  private slotOf(id: string): number {
    if (id.length !== 16 || !id.startsWith(this.idPrefix)) return -1;
    if (!/^[0-9a-f]{8}$/.test(id.slice(8))) return -1;
    const n = Number.parseInt(id.slice(8), 16) | 0;
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
      this.base = (this.base + this.head) | 0;
      this.head = 0;
    }
  }

  private release(rec: ExchangeRecord): void {
    this.totalBytes -= rec.bytes;
    rec.bytes = 0;
    rec.flags |= EVICTED;
    if (rec.reqAt >= 0) this.pages.releaseRegion(rec.reqAt);
    if (rec.resAt >= 0) this.pages.releaseRegion(rec.resAt);
    const rare = rec.rare;
    if (rare?.requestBody) this.pages.release(rare.requestBody.segments);
    if (rare?.responseBody) this.pages.release(rare.responseBody.segments);
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

/** What a head kept as lines counts against the cap: the strings and their slots in the heap. */
function linesBytes(lines: string[]): number {
  let n = 0;
  for (const l of lines) n += 2 * l.length + 32;
  return n;
}
