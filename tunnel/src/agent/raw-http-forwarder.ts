// The agent's raw path to plain HTTP/1.1 upstreams: the request head is written as bytes, the
// body framed as its headers say (Content-Length as is, chunked encoded here), and only the
// response head is parsed (http1/head.ts); the body goes on as slices of the socket's reads
// (Content-Length, chunked decoded by http1/chunked.ts, or until the upstream closes). No
// http.ClientRequest / IncomingMessage per request: those were most of the agent's CPU per request.
//
// Pooled connections keep the rules of upstream-pool.ts: idle ones expire before the upstream's
// keep-alive, and a request that meets a reused connection the upstream closed (reset or EOF
// before any response byte) is sent again, once, on a fresh one while its body is small enough
// to keep. A connection is reused only when both messages ended exactly where their framing said.
import net from 'node:net';
import { Readable, Writable, type Duplex } from 'node:stream';
import { ChunkedDecoder, encodeChunk, lastChunk } from '../http1/chunked';
import {
  fieldsLength,
  findHeadEnd,
  HeadParseError,
  isField,
  MAX_HEAD_BYTES,
  parseResponseHead,
  putFields,
  putLatin1,
  type ResponseHead,
} from '../http1/head';
import { sweepFor, type DeadlineSweep, type Expiring } from '../net/deadlines';
import { DEFAULT_POOL_IDLE_MS, REPLAY_LIMIT } from './upstream-pool';

export interface RawUpstream {
  host: string;
  port: number;
  /** No response head within this many ms → ERR_BURROW_UPSTREAM_TIMEOUT (0 = wait forever). */
  responseTimeoutMs: number;
}

export interface RawRequestHead {
  method: string;
  url: string;
  /** As they go upstream; Content-Length or Transfer-Encoding: chunked say how the body is framed. */
  rawHeaders: string[];
}

/**
 * Where a response body goes when the caller takes it without a Readable (RawHandlers.sink). Its
 * methods are named apart from a stream's, so that one object can be a sink and an exchange's handler.
 */
export interface BodySink {
  /** A slice of the body; false = stop reading until the `resume` given to `sink` is called. */
  bodyData(chunk: Buffer): boolean;
  /** The body ended; `last` is its final slice when it came with the end (sent together). */
  bodyEnd(last?: Buffer): void;
}

export interface RawHandlers {
  response(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[], body: Readable): void;
  /**
   * Instead of `response`, when given: the body goes to the returned sink as slices of the
   * socket's reads, with no Readable, pipe or callbacks per response (the agent's data path).
   */
  sink?(
    statusCode: number,
    statusMessage: string,
    httpVersion: string,
    rawHeaders: string[],
    resume: () => void,
    /** The head's bytes as the upstream sent them (for capture); valid during the call only. */
    head: Buffer,
  ): BodySink;
  upgrade(
    statusCode: number,
    statusMessage: string,
    httpVersion: string,
    rawHeaders: string[],
    socket: Duplex,
    head: Buffer,
  ): void;
  /** `retried`: the request had been sent again on a fresh connection after a reused one failed. */
  error(err: NodeJS.ErrnoException, retried: boolean): void;
}

/** Idle connections kept per upstream at most (Node's http.Agent keeps 256 too). */
export const MAX_IDLE_PER_UPSTREAM = 256;
/** Socket errors that mean "the connection went away", as opposed to "could not connect". */
const GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
// Node's ClientRequest refuses the same in a path.
const BAD_TARGET = /[^\x21-\xff]/;
// Methods for which Node's client announces an empty body (Content-Length: 0) when none is framed.
const NO_BODY_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

function coded(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

// ---- the pool ----
//
// A connection's listeners are installed once, when it is made, and dispatch on its state: in
// an exchange they feed that exchange; idle in the pool, any byte, EOF or error drops it (an idle
// connection has nothing to say). Idle expiry is a timestamp, checked when a connection is taken
// (so one past its time is never used) and by one sweep per second that closes the expired ones:
// no listener, timer or ref change per request. Upstream connections are unref'd for life: an
// exchange is always driven by a visitor's or the edge session's socket, which keeps the process alive.

/**
 * One connection to an upstream (see above). It also carries its exchange's response deadline:
 * the connection joins a deadline sweep once, and a request only writes the number.
 */
class UpstreamConn implements Expiring {
  /** The exchange using the connection; undefined while it waits in the pool. */
  exchange: RawExchange | undefined;
  /** In the pool: not to be used from this time on (Date.now ms). */
  idleUntil = 0;
  pooled = false;
  /** The exchange's response head is due by then (Infinity: nothing due). */
  deadline = Infinity;
  private sweep: DeadlineSweep | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
  ) {
    socket.on('data', this.onData).on('end', this.onEnd).on('error', this.onError).on('close', this.onClose);
    socket.unref();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.exchange) this.exchange.data(chunk);
    else this.drop();
  };
  private readonly onEnd = (): void => {
    if (this.exchange) this.exchange.ended();
    else this.drop();
  };
  private readonly onError = (err: Error): void => {
    if (this.exchange) this.exchange.gone(err);
    else this.drop();
  };
  private readonly onClose = (): void => {
    this.unwatch();
    if (this.exchange) this.exchange.gone(coded('ECONNRESET', 'socket hang up'));
    else this.drop();
  };

  /** The response is due by `deadline`, `timeoutMs` after the request (on the sweep for that length). */
  due(deadline: number, timeoutMs: number): void {
    const sweep = sweepFor(timeoutMs);
    if (this.sweep !== sweep) {
      this.sweep?.delete(this);
      this.sweep = sweep;
      sweep.add(this);
    }
    this.deadline = deadline;
  }

  expire(): void {
    this.sweep = undefined;
    this.deadline = Infinity;
    this.exchange?.expire();
  }

  private unwatch(): void {
    this.sweep?.delete(this);
    this.sweep = undefined;
  }

  /** Closes the connection, out of the pool if it was there. */
  drop(): void {
    if (this.pooled) removeIdle(this);
    this.socket.destroy();
  }

  /** The connection leaves the pool's care for good (an upgrade): the caller owns the socket. */
  release(): net.Socket {
    this.unwatch();
    const socket = this.socket;
    socket.off('data', this.onData).off('end', this.onEnd).off('error', this.onError).off('close', this.onClose);
    socket.ref();
    return socket;
  }
}

/** Idle connections per upstream, most recently used last (taken first). Empty lists stay until the sweep. */
const idle = new Map<string, UpstreamConn[]>();
let idleSweep: NodeJS.Timeout | undefined;
const IDLE_SWEEP_MS = 1_000;

function takeIdle(key: string, now: number): UpstreamConn | undefined {
  const list = idle.get(key);
  if (!list) return undefined;
  while (list.length) {
    const conn = list.pop()!;
    conn.pooled = false;
    const socket = conn.socket;
    if (conn.idleUntil > now && !socket.destroyed && socket.readable && socket.writable) return conn;
    socket.destroy();
  }
  return undefined;
}

/** Keeps `conn` for the next request to its upstream, until `now + idleMs` (or the upstream closes or talks). */
function giveIdle(conn: UpstreamConn, idleMs: number, now: number): void {
  let list = idle.get(conn.key);
  if (!list) idle.set(conn.key, (list = []));
  if (list.length >= MAX_IDLE_PER_UPSTREAM) {
    conn.socket.destroy();
    return;
  }
  conn.exchange = undefined;
  conn.idleUntil = now + idleMs;
  conn.pooled = true;
  // Reading on, so that the upstream's EOF or a stray byte drops it at once.
  conn.socket.resume();
  list.push(conn);
  if (!idleSweep) {
    idleSweep = setInterval(sweepIdle, IDLE_SWEEP_MS);
    idleSweep.unref();
  }
}

function removeIdle(conn: UpstreamConn): void {
  conn.pooled = false;
  const list = idle.get(conn.key);
  const at = list ? list.indexOf(conn) : -1;
  if (at >= 0) list!.splice(at, 1);
}

/** Closes the pool's expired connections; stops when the pool is empty. */
function sweepIdle(): void {
  const now = Date.now();
  for (const [key, list] of idle) {
    let kept = 0;
    for (const conn of list) {
      if (conn.idleUntil > now && !conn.socket.destroyed) list[kept++] = conn;
      else {
        conn.pooled = false;
        conn.socket.destroy();
      }
    }
    list.length = kept;
    if (kept === 0) idle.delete(key);
  }
  if (idle.size === 0) {
    clearInterval(idleSweep);
    idleSweep = undefined;
  }
}

/** The pool's state, for tests: idle connections per upstream `host:port`. */
export function idleConnections(key: string): number {
  return idle.get(key)?.length ?? 0;
}

// The last Keep-Alive value read, and what it gave: an upstream sends the same one every time.
let lastKeepAlive: string | undefined;
let lastIdleMs = DEFAULT_POOL_IDLE_MS;

/** How long an idle connection may be kept after `res` (the upstream's Keep-Alive hint minus 1 s). */
function idleMsAfter(res: ResponseHead): number {
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (!isField(name, 'keep-alive')) continue;
    const value = raw[i + 1];
    if (value === lastKeepAlive) return lastIdleMs;
    const hint = /(?:^|[\s,])timeout=(\d+)/i.exec(value)?.[1];
    if (hint === undefined) continue;
    lastKeepAlive = value;
    lastIdleMs = Math.min(DEFAULT_POOL_IDLE_MS, Number(hint) * 1000 - 1000);
    return lastIdleMs;
  }
  return DEFAULT_POOL_IDLE_MS;
}

// The pool key of the last upstream (most agents forward to one): no new string per request.
let lastHost = '';
let lastPort = -1;
let lastKey = '';

function poolKey(upstream: RawUpstream): string {
  if (upstream.port !== lastPort || upstream.host !== lastHost) {
    lastHost = upstream.host;
    lastPort = upstream.port;
    lastKey = `${upstream.host}:${upstream.port}`;
  }
  return lastKey;
}

// ---- one request ----

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' };
/** No body (shared: never mutated, only `length` framings count down). */
const NO_FRAMING: Framing = Object.freeze({ kind: 'none' });

const CONTENT_LENGTH_0 = 'Content-Length: 0\r\n';
const KEEP_ALIVE_END = 'Connection: keep-alive\r\n\r\n';

/** The request head as it goes upstream, its body's framing, and whether the connection closes after it. */
export interface SerializedHead {
  bytes: Buffer;
  framing: Framing;
  close: boolean;
}

/**
 * The request head as bytes (written straight into one Buffer: http1/head.ts putFields), and how
 * its body is framed; throws a coded error on a head Node would refuse. The bytes: the request
 * line, the fields as given, `Content-Length: 0` when a method with a body has no framing (as
 * Node's client adds it), `Connection: keep-alive` when the request names no Connection.
 */
export function serializeHead(head: RawRequestHead): SerializedHead {
  const { method, url } = head;
  if (!TOKEN.test(method)) throw coded('ERR_INVALID_HTTP_TOKEN', `invalid method ${JSON.stringify(method)}`);
  if (BAD_TARGET.test(url)) throw coded('ERR_UNESCAPED_CHARACTERS', 'request path contains unescaped characters');
  const raw = head.rawHeaders;
  let length: string | undefined;
  let te: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (!TOKEN.test(name)) throw coded('ERR_INVALID_HTTP_TOKEN', `invalid header name ${JSON.stringify(name)}`);
    if (BAD_VALUE.test(value)) throw coded('ERR_INVALID_CHAR', `invalid character in header ${name}`);
    if (isField(name, 'content-length')) {
      if (length !== undefined && length !== value) throw coded('ERR_INVALID_CHAR', 'more than one Content-Length');
      length = value;
    } else if (isField(name, 'transfer-encoding')) te = te === undefined ? value : `${te}, ${value}`;
    else if (isField(name, 'connection')) connection = connection === undefined ? value : `${connection}, ${value}`;
  }
  let framing: Framing;
  let addLength = false;
  if (te !== undefined) {
    // The body arrives decoded; it goes upstream chunked, the only coding a request may end with.
    if (length !== undefined || te.split(',').at(-1)?.trim().toLowerCase() !== 'chunked')
      throw coded('ERR_INVALID_CHAR', `request framing the upstream could misread: Transfer-Encoding ${te}`);
    framing = { kind: 'chunked' };
  } else if (length !== undefined) {
    if (!/^\d{1,15}$/.test(length)) throw coded('ERR_INVALID_CHAR', `invalid Content-Length ${length}`);
    framing = Number(length) > 0 ? { kind: 'length', left: Number(length) } : NO_FRAMING;
  } else {
    framing = NO_FRAMING;
    addLength = !NO_BODY_BY_DEFAULT.has(method);
  }
  let close = false;
  if (connection !== undefined)
    for (const t of connection.toLowerCase().split(','))
      if (t.trim() === 'close' || t.trim() === 'upgrade') close = true;
  // METHOD SP url SP HTTP/1.1 CRLF, the fields, the added ones, the blank line.
  const size =
    method.length +
    url.length +
    12 +
    fieldsLength(raw) +
    (addLength ? CONTENT_LENGTH_0.length : 0) +
    (connection === undefined ? KEEP_ALIVE_END.length : 2);
  const bytes = Buffer.allocUnsafe(size);
  let at = putLatin1(bytes, method, 0);
  bytes[at++] = 0x20;
  at = putLatin1(bytes, url, at);
  at = putLatin1(bytes, ' HTTP/1.1\r\n', at);
  at = putFields(bytes, raw, at);
  if (addLength) at = putLatin1(bytes, CONTENT_LENGTH_0, at);
  if (connection === undefined) putLatin1(bytes, KEEP_ALIVE_END, at);
  else {
    bytes[at] = 0x0d;
    bytes[at + 1] = 0x0a;
  }
  return { bytes, framing, close };
}

/**
 * Sends one request to a plain HTTP/1.1 upstream on a pooled (or new) raw connection. Write the
 * request body to `body` (already decoded; framed here); `cancel` aborts the exchange.
 */
export function rawRequest(
  upstream: RawUpstream,
  head: RawRequestHead,
  handlers: RawHandlers,
  upgrade = false,
): { readonly body: Writable; endBody(): void; cancel(): void } {
  let serialized;
  try {
    serialized = serializeHead(head);
  } catch (err) {
    handlers.error(err as NodeJS.ErrnoException, false);
    return { body: new Writable({ write: (_c, _e, cb) => cb() }), endBody: () => undefined, cancel: () => undefined };
  }
  // The exchange itself is the handle (its `body` is made on first use: most GETs need no Writable).
  return new RawExchange(upstream, head.method, serialized, handlers, upgrade);
}

class RawExchange {
  private requestBody: RequestBody | undefined;
  private readonly key: string;
  private conn!: UpstreamConn;
  private socket!: net.Socket;
  private reused = false;
  private retried = false;
  /** The request can still be sent again (its bytes so far are kept: the head, and `keptBody`). */
  private replayable = true;
  /** Wire bytes of the request body so far (framed), kept for one retry while small. */
  private keptBody: Buffer[] | undefined;
  private keptBytes = 0;
  private framing: Framing;
  /** The request's last byte has been written. */
  private requestDone: boolean;
  private phase: 'head' | 'body' | 'done' = 'head';
  private partial: Buffer | undefined;
  private gotResponseBytes = false;
  private res: ResponseHead | undefined;
  private readable: Readable | undefined;
  private sink: BodySink | undefined;
  private decoder: ChunkedDecoder | undefined;
  private left = 0;
  /** The response head is due by then (Date.now ms), when the upstream has a response timeout (on the connection). */
  private deadline = Infinity;
  private drainWaiter: (() => void) | undefined;

  constructor(
    private readonly upstream: RawUpstream,
    private readonly method: string,
    private readonly request: SerializedHead,
    private readonly handlers: RawHandlers,
    private readonly upgrade: boolean,
  ) {
    this.key = poolKey(upstream);
    this.framing = request.framing;
    this.requestDone = request.framing.kind === 'none';
    const now = Date.now();
    if (upstream.responseTimeoutMs > 0) this.deadline = now + upstream.responseTimeoutMs;
    const pooled = takeIdle(this.key, now);
    this.attach(pooled ?? this.connect(), pooled !== undefined);
    const socket = this.socket;
    if (!this.requestDone) {
      // The head waits for the body's first bytes (they usually arrive in the same turn: the
      // same message from the edge), so head + small body leave in one write.
      socket.cork();
      setImmediate(() => socket.uncork());
    }
    socket.write(request.bytes);
  }

  /** The response timeout passed (the connection's deadline sweep). */
  expire(): void {
    if (this.phase !== 'head') return;
    this.fail(
      coded('ERR_BURROW_UPSTREAM_TIMEOUT', `upstream did not answer within ${this.upstream.responseTimeoutMs} ms`),
    );
  }

  private stopTimer(): void {
    this.deadline = Infinity;
    this.conn.deadline = Infinity;
  }

  private connect(): UpstreamConn {
    const socket = net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
    socket.setKeepAlive(true, 1000);
    return new UpstreamConn(socket, this.key);
  }

  // Called by the connection's listeners (UpstreamConn) while this exchange uses it.

  data(chunk: Buffer): void {
    try {
      if (this.phase === 'head') this.headBytes(chunk);
      else if (this.phase === 'body') this.bodyBytes(chunk);
    } catch (err) {
      this.fail(err instanceof HeadParseError ? coded(err.code, err.message) : (err as Error));
    }
  }

  ended(): void {
    if (this.phase === 'body' && this.res?.body.kind === 'close') this.finish(false);
    else this.gone(coded('ECONNRESET', 'socket hang up'));
  }

  private attach(conn: UpstreamConn, reused: boolean): void {
    this.conn = conn;
    this.socket = conn.socket;
    this.reused = reused;
    conn.exchange = this;
    if (this.deadline !== Infinity) conn.due(this.deadline, this.upstream.responseTimeoutMs);
    conn.socket.resume();
  }

  private detach(): UpstreamConn {
    const conn = this.conn;
    if (conn.exchange === this) conn.exchange = undefined;
    conn.deadline = Infinity;
    return conn;
  }

  get body(): RequestBody {
    return (this.requestBody ??= new RequestBody(this));
  }

  // ---- request body ----

  writeBody(chunk: Buffer, cb: () => void): void {
    if (this.phase === 'done' || this.requestDone) {
      cb(); // drained: the exchange is over, or the body is longer than its Content-Length said
      return;
    }
    let pieces: Buffer[];
    if (this.framing.kind === 'chunked') pieces = encodeChunk(chunk);
    else if (this.framing.kind === 'length') {
      const piece = chunk.length > this.framing.left ? chunk.subarray(0, this.framing.left) : chunk;
      this.framing.left -= piece.length;
      if (this.framing.left === 0) this.requestDone = true;
      pieces = [piece];
    } else pieces = [];
    if (this.send(pieces)) cb();
    else this.drainWaiter = cb;
  }

  endBody(): void {
    if (this.phase === 'done' || this.requestDone) return;
    if (this.framing.kind === 'chunked') {
      this.requestDone = true;
      this.send([lastChunk()]);
    }
    // A Content-Length body that ended short: the upstream waits for the rest, as it would from
    // the client; the visitor's own connection closing cancels the exchange.
  }

  private send(pieces: Buffer[]): boolean {
    if (this.replayable) {
      for (const p of pieces) this.keptBytes += p.length;
      if (this.keptBytes <= REPLAY_LIMIT) (this.keptBody ??= []).push(...pieces);
      else this.forget();
    }
    const socket = this.socket;
    let ok = true;
    if (pieces.length > 1) socket.cork();
    for (const p of pieces) ok = socket.write(p);
    if (pieces.length > 1) socket.uncork();
    if (!ok) socket.once('drain', (this.onDrain ??= () => this.releaseWriter()));
    return ok;
  }

  private onDrain: (() => void) | undefined;

  private releaseWriter(): void {
    const cb = this.drainWaiter;
    this.drainWaiter = undefined;
    cb?.();
  }

  // ---- response ----

  private headBytes(chunk: Buffer): void {
    this.gotResponseBytes = true;
    let buf = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = undefined;
    for (;;) {
      const end = findHeadEnd(buf, MAX_HEAD_BYTES, 'ERR_NGROK_3004');
      if (end < 0) {
        this.partial = buf;
        return;
      }
      const head = buf.subarray(0, end);
      const res = parseResponseHead(head, this.method);
      const rest = buf.subarray(end);
      if (res.status < 200 && res.status !== 101) {
        // 1xx (100 Continue, 103 Early Hints): informational, not passed on (as before).
        if (rest.length === 0) return;
        buf = rest;
        continue;
      }
      this.stopTimer();
      this.forget();
      if (res.status === 101) {
        if (!this.upgrade) throw new HeadParseError('ERR_NGROK_3004', 'the app switched protocols unasked');
        this.switchProtocols(res, rest);
        return;
      }
      this.startBody(res, rest, head);
      return;
    }
  }

  private switchProtocols(res: ResponseHead, rest: Buffer): void {
    this.phase = 'done';
    this.detach();
    const socket = this.conn.release();
    socket.pause();
    this.releaseWriter();
    this.handlers.upgrade(res.status, res.reason, res.version, res.rawHeaders, socket, rest);
  }

  private startBody(res: ResponseHead, rest: Buffer, head: Buffer): void {
    this.res = res;
    this.phase = 'body';
    if (res.body.kind === 'length') this.left = res.body.length;
    else if (res.body.kind === 'chunked') this.decoder = new ChunkedDecoder();
    if (this.handlers.sink) {
      this.sink = this.handlers.sink(res.status, res.reason, res.version, res.rawHeaders, this.resumeReading, head);
    } else {
      this.readable = new Readable({ read: this.resumeReading });
      this.handlers.response(res.status, res.reason, res.version, res.rawHeaders, this.readable);
    }
    if (res.body.kind === 'none') this.finish(rest.length > 0);
    else if (rest.length) this.bodyBytes(rest);
  }

  private bodyBytes(chunk: Buffer): void {
    const kind = this.res!.body.kind;
    if (kind === 'length') {
      const n = Math.min(this.left, chunk.length);
      const piece = n === chunk.length ? chunk : chunk.subarray(0, n);
      this.left -= n;
      // A sink gets the last slice with the end (one DATA frame with FIN for a small response).
      if (this.left === 0 && this.sink) this.finish(n < chunk.length, piece);
      else {
        this.push(piece);
        if (this.left === 0) this.finish(n < chunk.length);
      }
    } else if (kind === 'chunked') {
      const used = this.decoder!.write(chunk, (this.pushBound ??= (piece) => this.push(piece)));
      if (this.decoder!.done) this.finish(used < chunk.length);
    } else this.push(chunk);
  }

  private pushBound: ((piece: Buffer) => void) | undefined;

  private push(piece: Buffer): void {
    if (!(this.sink ? this.sink.bodyData(piece) : this.readable!.push(piece))) this.socket.pause();
  }

  private readonly resumeReading = (): void => {
    if (this.phase === 'body') this.socket.resume();
  };

  /** The response ended where its framing said; `extra`: bytes followed it (never reuse then). */
  private finish(extra: boolean, last?: Buffer): void {
    this.phase = 'done';
    if (this.sink) this.sink.bodyEnd(last);
    else this.readable!.push(null);
    const conn = this.detach();
    this.releaseWriter();
    const res = this.res!;
    const idleMs = idleMsAfter(res);
    if (res.keepAlive && !extra && this.requestDone && !this.request.close && !this.upgrade && idleMs > 0)
      giveIdle(conn, idleMs, Date.now());
    else conn.socket.destroy();
  }

  /** The connection failed or closed: a retry if nothing came back on a reused one, else an error. */
  gone(err: NodeJS.ErrnoException): void {
    if (this.phase === 'done') return;
    if (
      this.phase === 'head' &&
      this.reused &&
      !this.retried &&
      !this.gotResponseBytes &&
      this.replayable &&
      GONE.has(err.code ?? '')
    ) {
      this.retried = true;
      this.detach().socket.destroy();
      this.attach(this.connect(), false);
      const socket = this.socket;
      socket.cork();
      socket.write(this.request.bytes);
      if (this.keptBody) for (const p of this.keptBody) socket.write(p);
      socket.uncork();
      this.releaseWriter();
      return;
    }
    this.fail(err);
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.phase === 'done') return;
    const wasBody = this.phase === 'body';
    this.phase = 'done';
    this.stopTimer();
    this.detach().socket.destroy();
    this.releaseWriter();
    this.handlers.error(wasBody && GONE.has(err.code ?? '') ? coded('ECONNRESET', err.message) : err, this.retried);
    this.readable?.destroy();
    this.requestBody?.destroy();
  }

  /** The upstream answered (or the body outgrew REPLAY_LIMIT): no retry any more, so the kept bytes can go. */
  private forget(): void {
    this.replayable = false;
    this.keptBody = undefined;
  }

  /** Aborts the exchange. */
  cancel(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.stopTimer();
    this.detach().socket.destroy();
    this.releaseWriter();
    this.readable?.destroy();
  }
}

/** The request body the caller writes into (decoded bytes; framed by the exchange). */
class RequestBody extends Writable {
  constructor(private readonly exchange: RawExchange) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.exchange.writeBody(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.exchange.endBody();
    cb();
  }
}
