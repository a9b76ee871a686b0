// In-memory record of HTTP exchanges for the local inspector and API (ngrok's "inspect").
//
// The agent calls begin() when a request arrives and feeds the returned Recording as bytes flow.
// The data path pays one memcpy per kept chunk, into long-lived pages reused after eviction
// (./pages.ts says why: retaining the data path's Buffers made V8 run full GCs all the time), and a
// few counters; nothing is concatenated, parsed or encoded until someone asks (API, HAR, curl).
//
// Bounds (documented in the API docs):
// - each body keeps at most `maxBodyBytes` (default 10 MiB); beyond that it counts bytes and is
//   marked truncated;
// - the whole store keeps at most `maxTotalBytes` (ngrok's `inspect_db_size`: 0 → 50 MB,
//   -1 → capture disabled) and evicts the oldest exchanges first.

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
  private segments: Segment[] = [];
  /** Bytes kept (≤ cap). */
  stored = 0;
  /** Bytes seen on the wire, kept or not. */
  size = 0;
  truncated = false;
  complete = false;

  constructor(
    private readonly cap: number,
    private readonly pages: PagePool,
  ) {}

  /**
   * Copies what fits under the cap; returns how many bytes were newly kept (for store
   * accounting). `reclaim` evicts an older exchange when the pages are all in use.
   */
  push(chunk: Buffer, reclaim: () => boolean = () => false): number {
    this.size += chunk.length;
    if (this.truncated) return 0;
    const room = this.cap - this.stored;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (kept.length < chunk.length) this.truncated = true;
    if (kept.length === 0) return 0;
    this.pages.write(kept, this.segments, reclaim);
    this.stored += kept.length;
    return kept.length;
  }

  /** The kept bytes as one new buffer (a copy: pages are reused after eviction). */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.stored);
    let at = 0;
    for (const s of this.segments) at += s.page.bytes.copy(out, at, s.start, s.end);
    return out;
  }

  /** Drops kept bytes (eviction, also while still streaming). */
  release(): void {
    this.pages.release(this.segments);
    this.segments = [];
    this.stored = 0;
  }
}

export interface CapturedRequest {
  method: string;
  uri: string;
  httpVersion: string;
  rawHeaders: string[];
  body: CapturedBody;
}

export interface CapturedResponse {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  rawHeaders: string[];
  body: CapturedBody;
}

export type ExchangeState = 'request' | 'response' | 'complete' | 'error';

export interface CapturedExchange {
  readonly id: string;
  readonly tunnelName: string;
  readonly remoteAddr: string;
  /** Wall-clock start, ms since the epoch. */
  readonly startedAt: number;
  /** Nanoseconds from start to finish; 0 until finished. */
  durationNs: number;
  /** Nanoseconds from start until the response head arrived; 0 until then. */
  waitNs: number;
  state: ExchangeState;
  readonly request: CapturedRequest;
  response: CapturedResponse | null;
  error: CaptureError | null;
  /** Set when this exchange was replayed from another capture. */
  replayOf?: string;
  /** Set when the edge answered it itself (the upstream never saw it): the module, e.g. `basic-auth`. */
  edgeModule?: string;
  /** Traffic-policy `log` action entries, in the order they ran. */
  policyLogs?: { metadata: unknown }[];
}

export interface CaptureStoreOptions {
  /** Per-body cap in bytes. */
  maxBodyBytes?: number;
  /** Whole-store cap in bytes; ≤ 0 disables the store (see fromInspectDbSize). */
  maxTotalBytes: number;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * What one exchange's JS objects cost beyond its header text (records, bodies' segment lists,
 * ids; measured ≈ 590 B on Node 20). Counted against the cap so that the cap bounds the heap too:
 * without it, 50 MB of tiny exchanges were ≈ 150,000 records and ≈ 140 MiB of heap.
 */
const EXCHANGE_OVERHEAD_BYTES = 640;
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

/** Exchange plus its bookkeeping, kept private to the store. */
interface Entry {
  exchange: CapturedExchange;
  bytes: number;
  startNs: bigint;
  evicted: boolean;
}

export interface CaptureStoreEvents {
  exchange: [CapturedExchange];
  'exchange-update': [CapturedExchange];
  deleted: [string];
  evicted: [string];
  cleared: [];
}

export class CaptureStore extends EventEmitter<CaptureStoreEvents> {
  readonly maxBodyBytes: number;
  readonly maxTotalBytes: number;
  /** False when inspect_db_size was -1: begin() then records nothing. */
  readonly enabled: boolean;
  private readonly entries = new Map<string, Entry>(); // insertion order = age
  /** Where body bytes live; pages are allocated on first use, at most about maxTotalBytes. */
  private readonly pages: PagePool;
  private totalBytes = 0;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private counter = 0;

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

  /** Bytes currently held (bodies + header text). */
  get size(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  private nextId(): string {
    this.counter = (this.counter + 1) >>> 0;
    return this.idPrefix + this.counter.toString(16).padStart(8, '0');
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
    const id = this.nextId();
    const exchange: CapturedExchange = {
      id,
      tunnelName: s.tunnelName,
      remoteAddr: s.remoteAddr,
      startedAt: Date.now(),
      durationNs: 0,
      waitNs: 0,
      state: 'request',
      request: {
        method: s.method,
        uri: s.uri,
        httpVersion: s.httpVersion,
        rawHeaders: s.rawHeaders,
        body: new CapturedBody(this.maxBodyBytes, this.pages),
      },
      response: null,
      error: null,
      ...(meta?.replayOf ? { replayOf: meta.replayOf } : {}),
      ...(meta?.edgeModule ? { edgeModule: meta.edgeModule } : {}),
    };
    const entry: Entry = { exchange, bytes: 0, startNs: process.hrtime.bigint(), evicted: !this.enabled };
    if (this.enabled) {
      this.entries.set(id, entry);
      this.account(entry, EXCHANGE_OVERHEAD_BYTES + headerBytes(s.rawHeaders) + s.uri.length + 16);
      this.emit('exchange', exchange);
    }
    const elapsedNs = () => Number(process.hrtime.bigint() - entry.startNs);
    const done = () => exchange.state === 'complete' || exchange.state === 'error';
    const reclaim = () => this.evictOldest(entry);
    return {
      id,
      requestData: (chunk) => {
        if (!entry.evicted) this.account(entry, exchange.request.body.push(chunk, reclaim));
      },
      requestEnd: () => {
        exchange.request.body.complete = true;
      },
      addPolicyLogs: (logs) => {
        if (!logs.length) return;
        (exchange.policyLogs ??= []).push(...logs);
        if (!entry.evicted) this.account(entry, JSON.stringify(logs).length);
      },
      response: (statusCode, statusMessage, httpVersion, rawHeaders) => {
        // Interim 1xx answers (100 Continue, 103 Early Hints) are not the response; 101 is.
        if (statusCode < 200 && statusCode !== 101) return;
        if (exchange.response || done()) return;
        exchange.waitNs = elapsedNs();
        exchange.response = {
          statusCode,
          statusMessage,
          httpVersion,
          rawHeaders,
          body: new CapturedBody(this.maxBodyBytes, this.pages),
        };
        exchange.state = 'response';
        this.account(entry, headerBytes(rawHeaders) + statusMessage.length + 16);
        if (!entry.evicted) this.emit('exchange-update', exchange);
      },
      responseData: (chunk) => {
        if (!entry.evicted && exchange.response) this.account(entry, exchange.response.body.push(chunk, reclaim));
      },
      finish: (error) => {
        if (done()) return;
        exchange.durationNs = elapsedNs();
        exchange.request.body.complete = true;
        if (exchange.response) exchange.response.body.complete = true;
        if (error) {
          exchange.error = { code: error.code, message: error.message };
          exchange.state = 'error';
        } else exchange.state = 'complete';
        if (!entry.evicted) this.emit('exchange-update', exchange);
      },
    };
  }

  /** Adds bytes to an entry and evicts the oldest exchanges while over the cap. */
  private account(entry: Entry, bytes: number): void {
    if (entry.evicted || bytes === 0) return;
    entry.bytes += bytes;
    this.totalBytes += bytes;
    while (this.totalBytes > this.maxTotalBytes && this.evictOldest(entry)) {
      // oldest first, until under the cap
    }
  }

  /** Evicts the oldest exchange other than `growing` (never the one being written); false if none. */
  private evictOldest(growing: Entry): boolean {
    for (const [id, old] of this.entries) {
      if (old === growing) continue;
      this.drop(id, old);
      this.emit('evicted', id);
      return true;
    }
    return false;
  }

  private drop(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.totalBytes -= entry.bytes;
    entry.bytes = 0;
    entry.evicted = true;
    entry.exchange.request.body.release();
    entry.exchange.response?.body.release();
  }

  /** Newest first, as ngrok lists them. `limit` defaults to 50 (ngrok's default). */
  list(q: { limit?: number; tunnelName?: string } = {}): CapturedExchange[] {
    const limit = q.limit ?? 50;
    const out: CapturedExchange[] = [];
    const all = [...this.entries.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const ex = all[i].exchange;
      if (q.tunnelName === undefined || ex.tunnelName === q.tunnelName) out.push(ex);
    }
    return out;
  }

  get(id: string): CapturedExchange | undefined {
    return this.entries.get(id)?.exchange;
  }

  delete(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.drop(id, entry);
    this.emit('deleted', id);
    return true;
  }

  clear(): void {
    for (const [id, entry] of this.entries) this.drop(id, entry);
    this.emit('cleared');
  }
}
