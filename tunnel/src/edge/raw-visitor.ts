// The raw visitor path of the edge's plain-HTTP listener: request heads are read with the strict
// head parser (http1/head.ts), bodies move as raw bytes, and the response head is written here,
// byte for byte as Node's ServerResponse writes it (Date, Connection/Keep-Alive, chunked when the
// length is unknown), so visitors cannot tell the paths apart. No http.Server objects per
// connection or request: that was most of the edge's CPU per small request and of its memory per
// idle keep-alive visitor (docs/benchmarks.md, "Issue 11").
//
// Whatever this path does not handle is handed to the edge's http.Server unchanged, decided at a
// request boundary (the first request, or the next one on a keep-alive connection): the bytes read
// so far are unshifted and the socket is emitted as a new connection of that server, where it stays.
// Handed over: heads this parser refuses or that are too large (Node answers them with its 400/431,
// as before), upgrades (websocket, the agent session, h2c), `Expect` but 100-continue, and whatever the host's
// `route` declines (endpoints with modules, ACME, the OAuth callback, HTTPS edges, cluster).
// One exchange at a time: pipelined requests wait in the buffer until the response before them ends.
import http, { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Scheme } from '../model';
import type { HttpOpen, HttpResponseHead, WireError } from '../protocol/messages';
import type { ExchangeHandler, ExchangeSender } from '../protocol/session';
import {
  fieldsLength,
  findHeadEnd,
  isField,
  parseRequestHead,
  putFields,
  putLatin1,
  type RequestHead,
} from '../http1/head';
import { ChunkedDecoder, encodeChunk, lastChunk } from '../http1/chunked';
import { hasRawHeader, rawHeader, rawHeaderValues } from '../net/raw-headers';
import { edgeErrorPage, isEdgeErrorCode, type EdgeErrorCode } from '../edge-errors';
import { clientResponseHeaders, errorCodeOf, forwardingHeaders, markBodyFraming, type HttpTarget } from './http-proxy';
import { httpServerLimits, type ListenerLimits } from './listener-limits';
import { sweepFor, type DeadlineSweep, type Expiring } from '../net/deadlines';
import { SlotSet } from '../net/slot-set';

/**
 * What the raw path does with a request: proxy it, answer an edge error, give the connection to
 * `takeover` (paused, with the bytes read so far: this request and any after it), or (undefined)
 * hand it to the fallback server.
 */
export type RawRoute =
  | { target: HttpTarget }
  | { error: EdgeErrorCode; detail: string }
  | { takeover: (socket: net.Socket, bytes: Buffer) => void };

export interface RawVisitorHost {
  scheme: Scheme;
  limits?: ListenerLimits;
  /** Routes a parsed head; undefined: the connection goes to `fallback` with this request. */
  route(head: RequestHead, host: string, socket: net.Socket): RawRoute | undefined;
  /** Node's http.Server for this listener (`emit('connection', socket)`). */
  fallback: http.Server;
}

const TIMEOUT_REPLY =
  'HTTP/1.1 408 Request Timeout\r\nngrok-error-code: ERR_BURROW_HEADERS_TIMEOUT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
const BAD_REQUEST_REPLY =
  'HTTP/1.1 400 Bad Request\r\nngrok-error-code: ERR_BURROW_BAD_REQUEST\r\nconnection: close\r\n\r\n';
const EMPTY = Buffer.alloc(0);
// tchar (RFC 9110 §5.6.2) and field-value characters, as Node's ServerResponse checks them.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
const CONTINUE_REPLY = 'HTTP/1.1 100 Continue\r\n\r\n';
const CHUNKED_TE = /(?:^|\W)chunked(?:$|\W)/i;

let dateLineCache = '';
let dateSecond = -1;
/** The Date line, as Node caches its value (once per second). */
function dateLine(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLineCache = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLineCache;
}

const KEEP_ALIVE = 'Connection: keep-alive\r\n';
const CLOSE = 'Connection: close\r\n';
const CHUNKED = 'Transfer-Encoding: chunked\r\n';
let keepAliveCache = KEEP_ALIVE;
let keepAliveCacheMs = 0;
/** The Connection and Keep-Alive lines for a keep-alive timeout (the listener's: the same on every response). */
function keepAliveLines(ms: number): string {
  if (!ms) return KEEP_ALIVE;
  if (ms !== keepAliveCacheMs) {
    keepAliveCacheMs = ms;
    keepAliveCache = `${KEEP_ALIVE}Keep-Alive: timeout=${Math.floor(ms / 1000)}\r\n`;
  }
  return keepAliveCache;
}

/** How the response to one request is framed on the visitor's connection, and its head (writeResponseHead). */
export interface ResponseFraming {
  /** The head's size in bytes. */
  headLength: number;
  /** The body goes out chunked. */
  chunked: boolean;
  /** Bytes of body the head announced (Content-Length), when it did. */
  length?: number;
  /** The connection ends after this response. */
  last: boolean;
  /** Body bytes are not written (HEAD, 1xx, 204, 304). */
  bodiless: boolean;
  // What the head is made of (written by writeResponseHead, no text built in between).
  status: number;
  reason: string;
  rawHeaders: readonly string[];
  /** The Date line, when the upstream sent no Date. */
  date: string | undefined;
  /** Connection (and Keep-Alive) lines. */
  connection: string;
}

/**
 * The response head Node's ServerResponse writes for `writeHead(status, message, rawHeaders)` on
 * a server with `keepAliveTimeoutMs`, for a request `head` (without Connection, Transfer-Encoding
 * and Keep-Alive in `rawHeaders`: clientResponseHeaders strips them), as a framing whose head
 * writeResponseHead writes. Throws as Node does on an invalid status, reason, header name or value
 * (the caller answers ERR_NGROK_3004).
 */
export function responseHead(
  req: Pick<RequestHead, 'method' | 'version' | 'rawHeaders' | 'keepAlive'>,
  status: number,
  message: string | undefined,
  rawHeaders: readonly string[],
  keepAliveTimeoutMs: number,
  mayKeepAlive = true,
): ResponseFraming {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new Error(`Invalid status code: ${status}`);
  const reason = message || STATUS_CODES[status] || 'unknown';
  if (INVALID_VALUE.test(reason)) throw new Error('Invalid character in statusMessage');
  let length: number | undefined;
  let hasLength = false;
  let hasDate = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    if (!TOKEN.test(name)) throw new Error(`Header name must be a valid HTTP token ["${name}"]`);
    if (value === undefined || INVALID_VALUE.test(value))
      throw new Error(`Invalid character in header content ["${name}"]`);
    if (isField(name, 'content-length')) {
      hasLength = true;
      length = /^\d+$/.test(value) ? Number(value) : undefined;
    } else if (isField(name, 'date')) hasDate = true;
  }
  const date = hasDate ? undefined : dateLine();
  const bodiless = req.method === 'HEAD' || status < 200 || status === 204 || status === 304;
  const chunkedByDefault = req.version === '1.1' || CHUNKED_TE.test(rawHeaderValues(req.rawHeaders, 'te').join(', '));
  let last = false;
  let connection: string;
  if (req.keepAlive && mayKeepAlive && (hasLength || chunkedByDefault)) connection = keepAliveLines(keepAliveTimeoutMs);
  else {
    last = true;
    connection = CLOSE;
  }
  let chunked = false;
  if (!hasLength && !bodiless) {
    if (chunkedByDefault) chunked = true;
    else last = true;
  }
  // "HTTP/1.1 " 3DIGIT SP reason CRLF, the fields, Date, Connection, Transfer-Encoding, CRLF.
  const headLength =
    15 +
    reason.length +
    fieldsLength(rawHeaders) +
    (date ? date.length : 0) +
    connection.length +
    (chunked ? CHUNKED.length : 0) +
    2;
  const framing: ResponseFraming = {
    headLength,
    chunked,
    last,
    bodiless,
    status,
    reason,
    rawHeaders,
    date,
    connection,
  };
  if (hasLength) framing.length = length;
  return framing;
}

/** Writes the head of `f` into `buf` at `at` (room for `f.headLength` bytes); returns the offset after it. */
export function writeResponseHead(f: ResponseFraming, buf: Buffer, at: number): number {
  at = putLatin1(buf, 'HTTP/1.1 ', at);
  const status = f.status;
  buf[at++] = 0x30 + Math.floor(status / 100);
  buf[at++] = 0x30 + (Math.floor(status / 10) % 10);
  buf[at++] = 0x30 + (status % 10);
  buf[at++] = 0x20;
  at = putLatin1(buf, f.reason, at);
  buf[at++] = 0x0d;
  buf[at++] = 0x0a;
  at = putFields(buf, f.rawHeaders, at);
  if (f.date) at = putLatin1(buf, f.date, at);
  at = putLatin1(buf, f.connection, at);
  if (f.chunked) at = putLatin1(buf, CHUNKED, at);
  buf[at++] = 0x0d;
  buf[at++] = 0x0a;
  return at;
}

/** The head of `f` in a Buffer of its own. */
export function responseHeadBytes(f: ResponseFraming): Buffer {
  const out = Buffer.allocUnsafe(f.headLength);
  writeResponseHead(f, out, 0);
  return out;
}

/** The raw connections of one listener (for drain and close). */
export class RawVisitors {
  /** Not a Set: one comes and goes per connection (net/slot-set.ts says why that matters). */
  private readonly connections = new SlotSet<RawConnection>();
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** The connections' head and keep-alive deadlines. */
  readonly sweep: DeadlineSweep;
  /** The listener is closing: each connection ends after its current exchange. */
  closing = false;

  constructor(readonly host: RawVisitorHost) {
    const limits = httpServerLimits(host.limits);
    this.headersTimeoutMs = limits.headersTimeout;
    this.keepAliveTimeoutMs = limits.keepAliveTimeout;
    this.sweep = sweepFor(Math.min(this.headersTimeoutMs, this.keepAliveTimeoutMs));
  }

  accept(socket: net.Socket): void {
    // (RawConnection's close listener takes it out: no closure per connection here.)
    this.connections.add(new RawConnection(socket, this));
  }

  /** A carried connection whose first node drains: it ends after its current exchange (now if idle); false if not here. */
  drain(socket: unknown): boolean {
    for (const c of this.connections.values()) {
      if (c.socket !== socket) continue;
      c.drain();
      return true;
    }
    return false;
  }

  /** Ends the connections waiting for a request (http.Server's closeIdleConnections). */
  closeIdle(): void {
    this.connections.forEach((c) => {
      if (c.idle) c.socket.destroy();
    });
  }

  get size(): number {
    return this.connections.size;
  }

  forget(conn: RawConnection): void {
    this.connections.delete(conn);
  }
}

/**
 * The connection a socket carries while the raw path serves it. The socket's listeners are the
 * four functions below, shared by every connection (the emitter is `this` in a listener): bound
 * arrow functions per connection were four closures on each idle visitor's heap.
 */
const CONN = Symbol('burrow.rawConnection');
type Carrier = net.Socket & { [CONN]?: RawConnection };

function onSocketData(this: Carrier, chunk: Buffer): void {
  this[CONN]?.onData(chunk);
}
function onSocketEnd(this: Carrier): void {
  this[CONN]?.onEnd();
}
function onSocketError(this: Carrier): void {
  this.destroy();
}
function onSocketClose(this: Carrier): void {
  this[CONN]?.onClose();
}

/** One visitor connection while the raw path serves it. */
class RawConnection implements Expiring {
  /** Bytes read and not consumed yet (the next head, or pipelined requests). */
  private pending: Buffer = EMPTY;
  /** A head is due, or the keep-alive idle time ends, by then (Date.now ms; on the listener's sweep). */
  deadline = Infinity;
  /** The deadline is a head deadline (not the keep-alive idle time). */
  private headDue = false;
  /** On the listener's sweep (until the deadline fires, the connection closes or is handed over). */
  private swept = false;
  /** The current exchange; undefined between requests. */
  private ex?: Exchange;
  private handedOver = false;
  /** The visitor shut down its sending side. */
  private ended = false;
  /** End after the current exchange (drain() of a carried connection). */
  private draining = false;

  constructor(
    readonly socket: net.Socket,
    private readonly owner: RawVisitors,
  ) {
    (socket as Carrier)[CONN] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    // The first request's head is due within headersTimeout of the connection (as Node counts it).
    this.arm(owner.headersTimeoutMs, true);
  }

  get idle(): boolean {
    return !this.ex && this.pending.length === 0 && !this.handedOver;
  }

  drain(): void {
    this.draining = true;
    if (this.idle) this.socket.destroy();
  }

  onData(chunk: Buffer): void {
    if (this.ex && !this.ex.bodyDone) {
      const used = this.ex.feed(chunk);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.ex) this.next();
    else this.flow();
  }

  onEnd(): void {
    this.ended = true;
    if (this.ex) {
      if (!this.ex.bodyDone) this.ex.cutShort();
      return;
    }
    this.socket.end();
  }

  onClose(): void {
    this.unwatch();
    this.owner.forget(this);
    this.ex?.abort();
  }

  /** `head`: a request head is due (408 when late); else the keep-alive idle time (silent close). */
  // A coarse deadline (net/deadlines.ts) rather than a timer cleared and set per request.
  private arm(ms: number, head: boolean): void {
    this.headDue = head;
    this.deadline = Date.now() + ms;
    if (!this.swept) {
      this.swept = true;
      this.owner.sweep.add(this);
    }
  }

  /** No deadline while an exchange runs (bodies, SSE and websockets take their time). */
  private disarm(): void {
    this.deadline = Infinity;
    this.headDue = false;
  }

  private unwatch(): void {
    if (this.swept) this.owner.sweep.delete(this);
    this.swept = false;
  }

  /** The deadline passed (the listener's sweep). */
  expire(): void {
    this.swept = false;
    if (!this.headDue) this.socket.destroy();
    else {
      this.socket.end(TIMEOUT_REPLY);
      // (A connection carried from another cluster node is a stream without setTimeout.)
      this.socket.setTimeout?.(5_000, () => this.socket.destroy());
    }
  }

  /**
   * Pauses reading while an exchange's body is held up, or bytes came after a request whose
   * response is still going out (pipelining); resumes when the connection may read again. A
   * request read in full with nothing after it leaves the socket reading: a pause and resume per
   * request cost a tick (and a read(0)) each time, and the next bytes, if any come early, pause it
   * then (onData).
   */
  flow(): void {
    const ex = this.ex;
    if (this.handedOver || (ex && (ex.waitingDrain || (ex.bodyDone && this.pending.length > 0)))) this.socket.pause();
    else if (!ex || !ex.bodyDone) this.socket.resume();
  }

  /** Reads the next request head from `pending` and starts its exchange (or hands over). */
  private next(): void {
    if (this.handedOver || this.socket.destroyed) return;
    if (this.pending.length === 0) {
      if (this.ended) this.socket.end();
      this.flow();
      return;
    }
    let end: number;
    try {
      end = findHeadEnd(this.pending, http.maxHeaderSize);
    } catch {
      return this.handOver();
    }
    if (end === -1) {
      // The first bytes of a request start its head deadline.
      if (!this.headDue) this.arm(this.owner.headersTimeoutMs, true);
      this.flow();
      return;
    }
    let head: RequestHead;
    try {
      head = parseRequestHead(this.pending.subarray(0, end));
    } catch {
      return this.handOver();
    }
    const raw = head.rawHeaders;
    if (head.upgrade || hasRawHeader(raw, 'upgrade')) return this.handOver();
    // Expect on HTTP/1.1: 100-continue is answered at once, as Node's server does without a
    // checkContinue listener; any other expectation gets Node's 417 there.
    const expect = head.version === '1.1' && hasRawHeader(raw, 'expect');
    if (expect && !CONTINUE.test(rawHeaderValues(raw, 'expect').join(', '))) return this.handOver();
    const host = rawHeader(raw, 'host') ?? '';
    const route = this.owner.host.route(head, host, this.socket);
    if (!route) return this.handOver();
    if ('takeover' in route) return this.handOver(route.takeover);
    this.disarm();
    const rest = this.pending.subarray(end);
    this.pending = EMPTY;
    if (expect) this.socket.write(CONTINUE_REPLY);
    const ex = new Exchange(this, head, this.owner);
    this.ex = ex;
    ex.start(host, route);
    if (rest.length) this.onData(rest);
    else this.flow();
  }

  /** The exchange ended (response written, request body read): the next request, or the end. */
  done(last: boolean): void {
    this.ex = undefined;
    if (last || this.owner.closing || this.draining) {
      this.socket.end();
      this.pending = EMPTY;
      this.socket.pause();
      return;
    }
    if (this.pending.length) this.arm(this.owner.headersTimeoutMs, true);
    else this.arm(this.owner.keepAliveTimeoutMs, false);
    this.next();
  }

  /**
   * Gives the connection away, with the bytes read so far (from the start of the current head):
   * to `takeover`, or to the fallback server. It stays there.
   */
  private handOver(takeover?: (socket: net.Socket, bytes: Buffer) => void): void {
    this.unwatch();
    this.handedOver = true;
    this.owner.forget(this);
    const s = this.socket as Carrier;
    s[CONN] = undefined;
    s.removeListener('data', onSocketData);
    s.removeListener('end', onSocketEnd);
    s.removeListener('close', onSocketClose);
    s.pause();
    const bytes = this.pending;
    this.pending = EMPTY;
    // A takeover may wait (a cluster lookup): the socket keeps an error handler meanwhile.
    if (takeover) return takeover(s, bytes);
    s.removeListener('error', onSocketError);
    if (bytes.length) s.unshift(bytes);
    this.owner.host.fallback.emit('connection', s);
    s.resume();
  }
}

/** Response bytes up to this size leave with their head in one Buffer (one write, no writev). */
const JOIN_MAX = 16 * 1024;
/** A response waiting for its write holds at most this much before it is written at once. */
const PENDING_MAX = 256 * 1024;

/**
 * Exchanges whose response bytes (head, body, end) wait for the end of this event-loop turn: the
 * turn's writes leave in one burst, as the session's frames are flushed. Writes spread over the
 * turn, one per upstream read, cost ~50 % more syscall time per small request at c=50 and ~4× the
 * CPU per MiB of a 1 MiB download (each one wakes the reader anew).
 */
let writeBatch: Exchange[] = [];
function writeLater(ex: Exchange): void {
  if (writeBatch.push(ex) === 1) setImmediate(writeBatched);
}
function writeBatched(): void {
  const batch = writeBatch;
  writeBatch = [];
  for (const ex of batch) ex.flush();
}

/**
 * One request and its response on a raw connection. It speaks to the agent through a light
 * exchange (protocol/session.ts MuxExchange; a Duplex adapted for ngrok agents and cluster
 * peers): it is itself the exchange's handler.
 */
class Exchange implements ExchangeHandler {
  bodyDone: boolean;
  waitingDrain = false;
  private ex?: ExchangeSender;
  private left = 0;
  private decoder?: ChunkedDecoder;
  private framing?: ResponseFraming;
  private sent = 0;
  private responseDone = false;
  private headSent = false;
  private bodyEnded = false;
  private last = false;
  /** The response head (`framing`) waits to be written together with the body bytes that follow it this turn. */
  private pendingHead = false;
  /** Body bytes (and the last chunk) waiting with the head; made when the first comes (most responses: one turn). */
  private pendingParts: Buffer[] | undefined;
  private pendingBytes = 0;
  /** Waiting for the visitor socket's 'drain' before the agent gets credit again. */
  private holding = false;
  /** The agent's end came: the response ends with the batched write. */
  private ending = false;
  /** In this turn's write batch. */
  private queued = false;

  constructor(
    private readonly conn: RawConnection,
    private readonly head: RequestHead,
    private readonly owner: RawVisitors,
  ) {
    const body = head.body;
    this.bodyDone = body.kind === 'none';
    if (body.kind === 'length') this.left = body.length;
    else if (body.kind === 'chunked') this.decoder = new ChunkedDecoder();
  }

  /** Opens the exchange with the agent (or answers the edge error); may end the exchange at once. */
  start(host: string, route: Exclude<RawRoute, { takeover: unknown }>): void {
    const head = this.head;
    const owner = this.owner;
    if ('error' in route) {
      this.error(route.error, route.detail);
      return;
    }
    const ip = this.conn.socket.remoteAddress ?? '';
    const clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    const rawHeaders = forwardingHeaders(head.rawHeaders, host, owner.host.scheme, clientIp);
    markBodyFraming(rawHeaders, !this.bodyDone);
    const open: HttpOpen = {
      kind: 'http',
      binding: route.target.id,
      remoteAddr: clientIp,
      scheme: owner.host.scheme,
      method: head.method,
      url: head.target,
      httpVersion: head.version,
      rawHeaders,
    };
    const session = route.target.session;
    try {
      this.ex = session.openExchange
        ? session.openExchange(open, this.bodyDone, this)
        : new DuplexExchange(session.openStream(open, this.bodyDone), this);
    } catch {
      this.error('ERR_NGROK_3210');
    }
  }

  /** Request body bytes from the visitor; returns how many of `chunk` belong to this request. */
  feed(chunk: Buffer): number {
    let used: number;
    if (this.decoder) {
      try {
        used = this.decoder.write(chunk, (piece) => this.toUpstream(piece));
      } catch {
        this.cutShort();
        return chunk.length;
      }
      if (this.decoder.done) this.bodyEnd();
    } else {
      used = Math.min(this.left, chunk.length);
      this.left -= used;
      this.toUpstream(used === chunk.length ? chunk : chunk.subarray(0, used));
      if (this.left === 0) this.bodyEnd();
    }
    return used;
  }

  private toUpstream(piece: Buffer): void {
    // After the response (an early answer, an error page) the rest of the body is read and dropped.
    if (!this.ex || this.responseDone) return;
    if (!this.ex.send(piece, (this.onAgentCredit ??= () => this.agentCredit())) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.conn.flow();
    }
  }

  /** agentCredit, bound: made for the first request body byte (a GET needs none). */
  private onAgentCredit: (() => void) | undefined;

  /** The agent granted credit for the body bytes that waited: read the visitor again. */
  private agentCredit(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.conn.flow();
  }

  private bodyEnd(): void {
    this.bodyDone = true;
    this.waitingDrain = false;
    if (!this.responseDone) this.ex?.end();
    if (this.responseDone) this.finish();
    else this.conn.flow();
  }

  /**
   * A malformed chunked body, or the visitor ended its side before the body did: as Node's server
   * (its parser's error → onClientError), a coded 400 and a close when nothing was answered yet.
   */
  cutShort(): void {
    this.abort();
    const s = this.conn.socket;
    if (this.headSent) s.destroy();
    else s.end(BAD_REQUEST_REPLY);
  }

  /** The visitor went away (or cut its body short): the agent's side is cancelled. */
  abort(): void {
    this.responseDone = true;
    this.cancel('the visitor went away');
  }

  private cancel(why: string): void {
    this.ex?.reset({ code: 'ERR_BURROW_STREAM_CANCELLED', message: why });
  }

  // ---- ExchangeHandler: the agent's side ----

  /** The response head (or the agent's error): written with the body bytes that come with it. */
  meta(meta: unknown): void {
    if (this.responseDone || this.headSent) return;
    const res = meta as HttpResponseHead;
    if (res.error) {
      this.error(isEdgeErrorCode(res.error.code) ? res.error.code : 'ERR_NGROK_3004', res.error.message);
      return;
    }
    let framing: ResponseFraming;
    try {
      framing = responseHead(
        this.head,
        res.statusCode,
        res.statusMessage,
        clientResponseHeaders(res.rawHeaders),
        this.owner.keepAliveTimeoutMs,
      );
    } catch (err) {
      this.cancel('the response head could not be relayed');
      this.error('ERR_NGROK_3004', (err as Error).message);
      return;
    }
    this.framing = framing;
    this.headSent = true;
    // Written at the end of the turn, with the body bytes (and the end) that come by then: a
    // small response is one write of one Buffer.
    this.pendingHead = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    writeLater(this);
  }

  data(chunk: Buffer): boolean {
    const f = this.framing;
    if (!f || this.responseDone || f.bodiless || chunk.length === 0) return true;
    if (!f.chunked) {
      this.sent += chunk.length;
      // More than the upstream announced would be read as the next response: never send it.
      if (f.length !== undefined && this.sent > f.length) {
        this.responseDone = true;
        this.cancel('the response is longer than its Content-Length');
        this.conn.socket.destroy();
        return true;
      }
    }
    // Written at the end of the turn with whatever else comes by then (flush).
    const parts = (this.pendingParts ??= []);
    if (f.chunked) parts.push(...encodeChunk(chunk));
    else parts.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= PENDING_MAX) this.flush();
    else this.schedule();
    return !this.holding;
  }

  /** The visitor's socket is full: the agent's credit waits for its 'drain'. */
  private holdForDrain(): void {
    if (this.holding) return;
    this.holding = true;
    this.conn.socket.once('drain', (this.onSocketDrain ??= () => this.socketDrained()));
  }

  end(): void {
    this.bodyEnded = true;
    const f = this.framing;
    if (this.responseDone) return;
    if (!f) {
      // The agent ended its side without a response head.
      this.error('ERR_NGROK_3210');
      return;
    }
    // Ends with the batched write (flush).
    if (f.chunked) (this.pendingParts ??= []).push(lastChunk());
    this.ending = true;
    this.schedule();
  }

  /** The response's last byte is written (or queued on the socket). */
  private ended(): void {
    const f = this.framing!;
    // A body shorter than its Content-Length: the visitor must see a cut, not wait for the rest.
    if (!f.bodiless && f.length !== undefined && this.sent < f.length) {
      this.responseDone = true;
      this.conn.socket.destroy();
      return;
    }
    this.responseEnded(f.last);
  }

  close(error?: WireError): void {
    if (this.responseDone || this.bodyEnded) return;
    if (this.pendingHead) {
      // The head never left: the visitor gets the error page instead of a cut response.
      this.pendingHead = false;
      this.pendingParts = undefined;
      this.headSent = false;
    }
    if (!this.headSent) this.error(error ? errorCodeOf(error) : 'ERR_NGROK_3210', error?.message);
    else this.conn.socket.destroy();
  }

  /** Writes what waited (the head, body bytes, the end): one Buffer when small. */
  flush(): void {
    this.queued = false;
    if (this.responseDone) return;
    const head = this.pendingHead ? this.framing! : undefined;
    const parts = this.pendingParts;
    const bytes = this.pendingBytes;
    this.pendingHead = false;
    this.pendingParts = undefined;
    this.pendingBytes = 0;
    const socket = this.conn.socket;
    let ok = true;
    if (head && bytes <= JOIN_MAX) {
      let size = head.headLength;
      if (parts) for (const p of parts) size += p.length;
      const out = Buffer.allocUnsafe(size);
      // Header bytes as Node writes them: latin1 (obs-text values pass as the upstream sent them).
      let at = writeResponseHead(head, out, 0);
      if (parts) for (const p of parts) at += p.copy(out, at);
      ok = socket.write(out);
    } else if (head || parts) {
      socket.cork();
      if (head) ok = socket.write(responseHeadBytes(head));
      if (parts) for (const p of parts) ok = socket.write(p);
      socket.uncork();
    }
    if (!ok) this.holdForDrain();
    if (this.ending) {
      this.ending = false;
      this.ended();
    }
  }

  /** socketDrained, bound: made the first time the visitor's socket is full. */
  private onSocketDrain: (() => void) | undefined;

  private socketDrained(): void {
    this.holding = false;
    this.ex?.release();
  }

  private responseEnded(last: boolean): void {
    this.responseDone = true;
    this.last = last;
    if (!this.bodyDone) {
      // The response ended before the request body did: cancel the exchange and drop the rest.
      this.cancel('the response ended before the request body');
      this.waitingDrain = false;
      this.conn.flow();
      return;
    }
    this.finish();
  }

  private finish(): void {
    if (this.onSocketDrain) this.conn.socket.removeListener('drain', this.onSocketDrain);
    this.conn.done(this.last || !this.head.keepAlive);
  }

  /** Answers with the edge's error page, as sendEdgeError would on a ServerResponse. */
  private error(code: EdgeErrorCode, detail?: string): void {
    if (this.headSent) {
      this.responseDone = true;
      this.conn.socket.destroy();
      return;
    }
    const page = edgeErrorPage(rawHeaderValues(this.head.rawHeaders, 'accept').join(', ') || undefined, code, detail);
    const raw: string[] = [];
    for (const [name, value] of Object.entries(page.headers)) raw.push(name, String(value));
    const framing = responseHead(this.head, page.status, undefined, raw, this.owner.keepAliveTimeoutMs);
    this.headSent = true;
    const head = responseHeadBytes(framing);
    this.conn.socket.write(framing.bodiless ? head : Buffer.concat([head, Buffer.from(page.body)]));
    this.responseEnded(framing.last);
  }
}

/**
 * An agent session without light exchanges (ngrok's agents, a cluster peer): its Duplex stream,
 * spoken to as an exchange.
 */
class DuplexExchange implements ExchangeSender {
  private failure?: WireError;
  /** A 'drain' listener is set for the sender's resume. */
  private waiting = false;

  constructor(
    private readonly stream: Duplex,
    handler: ExchangeHandler,
  ) {
    // The body is read once the head came (some streams have it buffered before they emit 'meta').
    stream.once('meta', (meta: unknown) => {
      handler.meta(meta);
      stream.on('data', (chunk: Buffer) => {
        if (!handler.data(chunk)) stream.pause();
      });
      stream.once('end', () => handler.end());
    });
    stream.on('error', (err: Error & { code?: string }) => {
      this.failure = { code: errorCodeOf(err), message: err.message };
    });
    stream.once('close', () => handler.close(this.failure));
  }

  sendMeta(): void {
    // The edge sends no metadata on the raw path.
  }

  send(chunk: Buffer, resume: () => void): boolean {
    if (this.stream.destroyed || this.stream.write(chunk)) return true;
    if (!this.waiting) {
      this.waiting = true;
      this.stream.once('drain', () => {
        this.waiting = false;
        resume();
      });
    }
    return false;
  }

  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }

  reset(): void {
    this.stream.destroy();
  }

  release(): void {
    this.stream.resume();
  }
}
