// A multiplexed session over one transport: control messages plus many byte streams with
// per-stream credit-based flow control and heartbeats (see tunnel/PROTOCOL.md).
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { encodeBinaryMeta } from './binary-meta';
import {
  DATA_CHUNK_BYTES,
  FLAG_BINARY,
  FLAG_FIN,
  FLAG_SPLIT,
  FrameType,
  MAX_FRAME_PAYLOAD,
  ProtocolError,
  decodeFrames,
  decodeParts,
  encodeFrame,
  encodeJsonFrame,
  parseJsonPayload,
  type Frame,
} from './frames';
import { controlMessage, MESSAGE_MALFORMED, wireError, type ControlMessage, type WireError } from './messages';
import { ShapeError, type Shape } from './shape';
import { StreamTable } from './stream-table';
import { CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, type Transport } from './transport';

export const DEFAULT_WINDOW = 1024 * 1024;
/** DATA payloads from this size on go split (FLAG_SPLIT) to a peer that takes them. */
export const SPLIT_MIN_BYTES = 16 * 1024;
/** A flush sends at most about this much in one transport message. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface SessionOptions {
  /** The edge opens streams with even ids, the agent with odd ids. */
  role: 'edge' | 'agent';
  /** Receive window granted to the peer for each new stream. */
  initialWindow?: number;
  heartbeatIntervalMs?: number;
  heartbeatToleranceMs?: number;
  /** Checks every `Meta` the peer sends (a malformed one ends the session); unchecked when omitted. */
  meta?: Shape<unknown>;
  /**
   * Which streams the peer opens arrive as light MuxExchange objects ('exchange' event) instead of
   * MuxStream Duplexes ('stream'): the agent takes its HTTP exchanges this way. The wire is the same.
   */
  exchange?: (meta: unknown) => boolean;
  /**
   * Decoders of the binary metadata (FLAG_BINARY, binary-meta.ts) this side takes on `Open` and
   * `Meta` frames; what they return is checked already. A binary frame without one ends the session.
   */
  decodeOpen?: (payload: Buffer) => unknown;
  decodeMeta?: (payload: Buffer) => unknown;
}

/** The session on each transport, so that an in-process pair can find its peer (Transport.directPeer). */
const sessionOf = new WeakMap<Transport, MuxSession>();

export interface SessionEvents {
  /** `decoded`: the metadata came in binary form, so it has its type's shape already. */
  stream: [stream: MuxStream, meta: unknown, decoded: boolean];
  exchange: [exchange: MuxExchange, meta: unknown, decoded: boolean];
  control: [message: ControlMessage];
  close: [error: WireError | undefined];
}

/**
 * One agent↔edge session. Emits 'stream' for streams the peer opens, 'control' for control
 * messages, and 'close' once (with the error that ended it, if any).
 */
export class MuxSession extends EventEmitter<SessionEvents> {
  private readonly streams = new StreamTable<StreamEnd>();
  private nextStreamId: number;
  /** Highest stream id the peer has opened: ids only grow, so anything above was never opened. */
  private lastPeerStreamId = 0;
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  /** Outbox indices of DATA headers whose payload (the next part) is big enough to go split. */
  private outboxSplits: number[] = [];
  /** A split DATA frame whose payload is the next message. */
  private splitPending: Frame | undefined;
  /**
   * The peer announced `split-data`: bulk DATA payloads go as transport messages of their own
   * (FLAG_SPLIT), not joined into one buffer with the frames around them (a copy of every byte).
   */
  splitData = false;
  /** The peer announced `binary-meta`: HTTP Opens and response heads go in binary form (binary-meta.ts). */
  binaryMeta = false;
  private flushScheduled = false;
  /** Calls on direct streams (in-process peer) waiting for runDirect. */
  private directCalls: (() => void)[] = [];
  private closed = false;
  private lastSeen = Date.now();
  private heartbeat?: NodeJS.Timeout;
  /** Round-trip time of the last answered ping, in ms. */
  latencyMs: number | undefined;
  readonly initialWindow: number;

  constructor(
    private readonly transport: Transport,
    private readonly options: SessionOptions,
  ) {
    super();
    this.nextStreamId = options.role === 'edge' ? 2 : 1;
    this.initialWindow = options.initialWindow ?? DEFAULT_WINDOW;
    sessionOf.set(transport, this);
    transport.onMessage((message) => this.receive(message));
    transport.onClose((reason) => this.terminate({ code: 'ERR_BURROW_SESSION_CLOSED', message: reason }, false));
    this.startHeartbeat(options.heartbeatIntervalMs ?? 2000, options.heartbeatToleranceMs ?? 6000);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Changes heartbeat timing (the agent adopts the edge's values from Welcome). */
  startHeartbeat(intervalMs: number, toleranceMs: number): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastSeen > toleranceMs) {
        this.close({ code: 'ERR_BURROW_HEARTBEAT_TIMEOUT', message: `no frame from peer for ${toleranceMs} ms` });
        return;
      }
      const ping = Buffer.allocUnsafe(8);
      ping.writeDoubleBE(performance.now());
      this.enqueue(encodeFrame(FrameType.Ping, 0, 0, ping));
    }, intervalMs);
    this.heartbeat.unref();
  }

  sendControl(message: ControlMessage): void {
    this.enqueue(encodeJsonFrame(FrameType.Control, 0, 0, message));
  }

  /** Opens a stream carrying `meta`; with `fin` the opener sends no body. */
  openStream(meta: unknown, fin = false): MuxStream {
    const stream = new MuxStream(this, this.nextId(), this.initialWindow);
    this.opened(stream, meta, fin);
    if (fin) stream.markLocalFinSent();
    return stream;
  }

  /**
   * Opens a stream carrying `meta` as a light exchange (no Duplex, no stream events): `handler`
   * hears the peer's metadata, bytes, end and reset. With `fin` the opener sends no body.
   */
  openExchange(meta: unknown, fin: boolean, handler: ExchangeHandler): MuxExchange {
    const ex = new MuxExchange(this, this.nextId(), this.initialWindow);
    ex.attach(handler);
    this.opened(ex, meta, fin);
    if (fin) ex.markLocalFin();
    return ex;
  }

  private nextId(): number {
    if (this.closed) throw new ProtocolError('ERR_BURROW_SESSION_CLOSED', 'session is closed');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    return id;
  }

  /** A stream we opened: its twin in the in-process peer, or an Open frame. */
  private opened(stream: MuxStream | MuxExchange, meta: unknown, fin: boolean): void {
    this.streams.set(stream.id, stream);
    const peer = this.transport.directPeer && sessionOf.get(this.transport.directPeer);
    if (peer && !peer.closed) stream.peer = peer.acceptDirect(stream.id, meta, fin, stream);
    else this.enqueue(this.metaFrame(FrameType.Open, fin ? FLAG_FIN : 0, stream.id, meta));
  }

  /** An Open or Meta frame: in binary form when the peer takes it and `meta` has one, else JSON. */
  metaFrame(type: FrameType.Open | FrameType.Meta, flags: number, stream: number, meta: unknown): Buffer {
    return (
      (this.binaryMeta && encodeBinaryMeta(type, flags, stream, meta)) || encodeJsonFrame(type, flags, stream, meta)
    );
  }

  /** The stream object for a stream the peer opened: a light exchange when `options.exchange` says so. */
  private accepted(id: number, meta: unknown): MuxStream | MuxExchange {
    const stream = this.options.exchange?.(meta)
      ? new MuxExchange(this, id, this.initialWindow)
      : new MuxStream(this, id, this.initialWindow);
    this.streams.set(id, stream);
    return stream;
  }

  private announce(stream: MuxStream | MuxExchange, meta: unknown, decoded = false): void {
    if (stream instanceof MuxExchange) this.emit('exchange', stream, meta, decoded);
    else this.emit('stream', stream, meta, decoded);
  }

  /**
   * The in-process peer opened a stream (Transport.directPeer): its twin here, linked to it. The
   * 'stream'/'exchange' event comes in runDirect, as a frame would, and before anything sent on it
   * (two light exchanges' calls wait behind it on their relay). The opens of one event-loop turn
   * are taken together there, so the agent's upstream writes leave in one burst: writes spread
   * over the turn cost ~50 % more syscall time per request at c=50 (each one wakes the upstream).
   */
  private acceptDirect(id: number, meta: unknown, fin: boolean, opener: MuxStream | MuxExchange): StreamEnd {
    this.lastPeerStreamId = id;
    const stream = this.accepted(id, meta);
    stream.peer = opener;
    const announce = () => {
      if (this.closed || stream.destroyed) return;
      if (fin) stream.receiveFin();
      this.announce(stream, meta);
    };
    if (stream instanceof MuxExchange && opener instanceof MuxExchange) {
      const relay = new Relay();
      stream.relay = opener.relay = relay;
      relay.busy = true;
      this.queueDirect(() => relay.run(announce));
    } else this.queueDirect(announce);
    return stream;
  }

  /**
   * Queues a call on a direct stream of this session (the in-process peer sent it). The calls of
   * one event-loop turn run together, in order, in setImmediate, as a frame flush would deliver
   * them: a response's chunks then reach the visitor socket together, not one write per 64 KiB
   * upstream read as with one microtask per call.
   */
  queueDirect(call: () => void): void {
    if (this.closed) return;
    this.directCalls.push(call);
    if (this.directCalls.length === 1) setImmediate(this.runDirect);
  }

  private readonly runDirect = (): void => {
    const calls = this.directCalls;
    this.directCalls = [];
    for (const call of calls) call();
  };

  /** Ends the session: GoAway to the peer (when there is an error), then close the transport. */
  close(error?: WireError): void {
    if (this.closed) return;
    if (error) this.enqueue(encodeJsonFrame(FrameType.GoAway, 0, 0, wireErrorOf(error)));
    this.flush();
    this.terminate(error, true);
  }

  // ---- internals used by MuxStream ----

  /**
   * Queues a frame. Frames queued in one event-loop turn go out as one transport message: the
   * flush runs in setImmediate (after all I/O callbacks of this turn), so requests arriving on many
   * sockets at once, or a response head and its body, share one WebSocket message and one write.
   * (A nextTick flush sent one message per I/O callback: ~30 % more CPU per request at c=50.)
   */
  enqueue(frame: Buffer): void {
    if (this.closed) return;
    this.outbox.push(frame);
    this.outboxBytes += frame.length;
    // Keep transport messages bounded: a busy tick is sent in several messages.
    if (this.outboxBytes >= MAX_MESSAGE_BYTES) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  /**
   * Queues a DATA frame without copying its payload: the header and a view of `payload` wait in
   * the outbox and are copied once, together, into the transport message at flush (encoding the
   * frame first and concatenating at flush copied every body byte twice).
   */
  enqueueData(stream: number, payload: Buffer, fin = false): void {
    if (this.closed) return;
    const header = encodeFrame(FrameType.Data, fin ? FLAG_FIN : 0, stream);
    header.writeUInt32BE(payload.length, 6);
    if (this.splitData && payload.length >= SPLIT_MIN_BYTES) this.outboxSplits.push(this.outbox.length);
    this.outbox.push(header, payload);
    this.outboxBytes += header.length + payload.length;
    if (this.outboxBytes >= MAX_MESSAGE_BYTES) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  private readonly flushSoon = (): void => this.flush();

  forget(id: number): void {
    this.streams.delete(id);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const parts = this.outbox;
    const bytes = this.outboxBytes;
    const splits = this.outboxSplits;
    this.outbox = [];
    this.outboxBytes = 0;
    this.outboxSplits = [];
    if (parts.length === 1) this.transport.send(parts[0]);
    // In process (the embedded edge) the parts go as they are: no copy of the body bytes at all.
    else if (this.transport.sendParts) this.transport.sendParts(parts);
    else if (splits.length === 0) this.transport.send(Buffer.concat(parts, bytes));
    else {
      // Each big payload goes alone, right after the message that ends with its header.
      let from = 0;
      for (const at of splits) {
        parts[at][1] |= FLAG_SPLIT;
        this.transport.send(at === from ? parts[at] : Buffer.concat(parts.slice(from, at + 1)));
        this.transport.send(parts[at + 1]);
        from = at + 2;
      }
      if (from < parts.length)
        this.transport.send(from === parts.length - 1 ? parts[from] : Buffer.concat(parts.slice(from)));
    }
  }

  private terminate(error: WireError | undefined, closeTransport: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.outbox = [];
    this.outboxSplits = [];
    const streamError = error ?? { code: 'ERR_BURROW_SESSION_CLOSED', message: 'session closed' };
    for (const stream of this.streams.values()) stream.abort(streamError);
    this.streams.clear();
    if (closeTransport) {
      this.transport.close(
        error ? CLOSE_PROTOCOL_ERROR : CLOSE_NORMAL,
        error ? `${error.code}: ${error.message}` : 'bye',
      );
    }
    this.emit('close', error);
  }

  private receive(message: Buffer | Buffer[] | string): void {
    if (this.closed) return;
    this.lastSeen = Date.now();
    if (typeof message === 'string') {
      this.close({
        code: 'ERR_BURROW_FRAME_MALFORMED',
        message: 'text messages are not part of the protocol: frames travel in binary messages',
      });
      return;
    }
    try {
      const split = this.splitPending;
      if (split) {
        this.splitPending = undefined;
        this.splitPayload(split, message);
        return;
      }
      const frames = Array.isArray(message)
        ? decodeParts(message, MAX_FRAME_PAYLOAD, true)
        : decodeFrames(message, MAX_FRAME_PAYLOAD, true);
      for (const frame of frames) {
        if (frame.splitLength !== undefined)
          this.splitPending = frame; // always the message's last frame
        else this.dispatch(frame);
      }
    } catch (err) {
      const error =
        err instanceof ProtocolError
          ? { code: err.code, message: err.message }
          : { code: 'ERR_BURROW_INTERNAL', message: (err as Error).message };
      this.close(error);
    }
  }

  /**
   * The message after a split DATA frame: its payload, whole or in the parts it was read in (each
   * part goes to the stream as it is, FIN after the last: no copy of a bulk payload that spanned
   * socket reads).
   */
  private splitPayload(split: Frame, message: Buffer | Buffer[]): void {
    const parts = Array.isArray(message) ? message : [message];
    let length = 0;
    for (const part of parts) length += part.length;
    if (length !== split.splitLength)
      throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'the message after a split DATA frame is not its payload');
    const last = parts.length - 1;
    for (let i = 0; i <= last; i++) {
      if (parts[i].length === 0 && i < last) continue;
      this.dispatch({
        type: FrameType.Data,
        flags: i < last ? split.flags & ~FLAG_FIN : split.flags,
        stream: split.stream,
        payload: parts[i],
      });
      if (this.closed) return;
    }
  }

  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Control:
        this.emit('control', checked(controlMessage, frame, 'control'));
        return;
      case FrameType.Ping:
        this.enqueue(encodeFrame(FrameType.Pong, 0, 0, frame.payload));
        return;
      case FrameType.Pong:
        if (frame.payload.length === 8) this.latencyMs = performance.now() - frame.payload.readDoubleBE(0);
        return;
      case FrameType.GoAway: {
        this.terminate(checked(wireError, frame, 'goaway'), true);
        return;
      }
      case FrameType.Open:
        return this.acceptStream(frame);
      default:
        return this.streamFrame(frame);
    }
  }

  private acceptStream(frame: Frame): void {
    const id = frame.stream;
    const peerParity = this.options.role === 'edge' ? 1 : 0;
    if (id === 0 || id % 2 !== peerParity || id <= this.lastPeerStreamId) {
      throw new ProtocolError('ERR_BURROW_STREAM_ID', `peer opened invalid stream id ${id}`);
    }
    this.lastPeerStreamId = id;
    const binary = (frame.flags & FLAG_BINARY) !== 0;
    const meta = binary ? binaryPayload(this.options.decodeOpen, frame) : parseJsonPayload<unknown>(frame);
    const stream = this.accepted(id, meta);
    if (frame.flags & FLAG_FIN) stream.receiveFin();
    this.announce(stream, meta, binary);
  }

  private wasOpened(id: number): boolean {
    const ours = id % 2 === (this.options.role === 'edge' ? 0 : 1);
    return ours ? id < this.nextStreamId : id <= this.lastPeerStreamId;
  }

  private streamFrame(frame: Frame): void {
    const stream = this.streams.get(frame.stream);
    // Frames for a stream we already closed can still be in flight: drop them quietly. Frames for
    // a stream that was never opened mean the peer is confused (or hostile): end the session.
    if (!stream) {
      if (frame.stream === 0) throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'stream frame on stream 0');
      if (!this.wasOpened(frame.stream))
        throw new ProtocolError('ERR_BURROW_STREAM_ID', `frame for stream ${frame.stream}, which was never opened`);
      return;
    }
    switch (frame.type) {
      case FrameType.Meta:
        stream.receiveMeta(
          frame.flags & FLAG_BINARY
            ? binaryPayload(this.options.decodeMeta, frame)
            : this.options.meta
              ? checked(this.options.meta, frame, 'meta')
              : parseJsonPayload(frame),
        );
        return;
      case FrameType.Data:
        stream.receiveData(frame.payload);
        if (frame.flags & FLAG_FIN) stream.receiveFin();
        return;
      case FrameType.Window:
        if (frame.payload.length !== 4)
          throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'window frame must carry 4 bytes');
        stream.receiveWindowUpdate(frame.payload.readUInt32BE(0));
        return;
      case FrameType.Reset:
        stream.abort(checked(wireError, frame, 'reset'));
        return;
      default:
        throw new ProtocolError(
          'ERR_BURROW_FRAME_MALFORMED',
          `unexpected frame type 0x${frame.type.toString(16)} on a stream`,
        );
    }
  }
}

/** Exactly `{code, message}` (peers refuse other fields), whatever object the error came in. */
function wireErrorOf(error: WireError): WireError {
  return { code: String(error.code), message: String(error.message) };
}

/** A frame's JSON, checked against its message type: a wrong shape is a ProtocolError (ends the session). */
function checked<T>(shape: Shape<T>, frame: Frame, what: string): T {
  const value = parseJsonPayload<unknown>(frame);
  try {
    return shape(value, what);
  } catch (err) {
    if (err instanceof ShapeError) throw new ProtocolError(MESSAGE_MALFORMED, `malformed ${err.message}`);
    throw err;
  }
}

/** A binary Open/Meta payload, decoded (and checked) by the session's decoder for its frame type. */
function binaryPayload(decode: ((payload: Buffer) => unknown) | undefined, frame: Frame): unknown {
  if (!decode)
    throw new ProtocolError(
      'ERR_BURROW_FRAME_MALFORMED',
      `binary metadata on frame 0x${frame.type.toString(16)}, which this side takes only as JSON`,
    );
  return decode(frame.payload);
}

/** Error a stream is destroyed with when it is reset (by the peer, the session, or locally). */
export class StreamResetError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StreamResetError';
  }
}

/**
 * One multiplexed byte stream (a Node Duplex). Writes are limited by the peer's credit; reads
 * return credit once the data is consumed (or buffered below the high-water mark), so a slow
 * reader holds at most window + highWaterMark bytes in memory.
 */
export class MuxStream extends Duplex {
  private sendWindow: number;
  private receiveWindow: number;
  private creditOwed = 0;
  private readerBlocked = false;
  private pendingWrite?: { chunk: Buffer; callback: (error?: Error | null) => void };
  private localFinSent = false;
  private remoteFinReceived = false;
  private resetSent = false;
  /**
   * The twin of this stream in the in-process peer session (Transport.directPeer): what would be
   * frames are calls on it, queued in order on its session (queueDirect), never re-entering the sender.
   */
  peer?: StreamEnd;
  /** sendData() chunks waiting for credit behind pendingWrite (and a FIN to follow them). */
  private backlog?: { chunks: Buffer[]; fin: boolean; resume: () => void };

  constructor(
    readonly session: MuxSession,
    readonly id: number,
    window: number,
  ) {
    // The writable buffer stays at 64 KiB (memory per stream); a larger chunk still goes out whole.
    super({ allowHalfOpen: true, readableHighWaterMark: window, writableHighWaterMark: 64 * 1024 });
    this.sendWindow = window;
    this.receiveWindow = window;
  }

  /** Sends JSON metadata on this stream (e.g. the HTTP response head). */
  sendMeta(meta: unknown): void {
    sendMeta(this, meta);
  }

  /** The peer sent its FIN (e.g. an HTTP request without a body: FIN on the Open frame). */
  get remoteEnded(): boolean {
    return this.remoteFinReceived;
  }

  /**
   * Queues `chunk` straight into the session's outbox, past the Writable machinery (no buffering,
   * callbacks or pipe per chunk: the agent's response bodies). Returns false when the peer's
   * credit ran out: what does not fit waits (with anything sent after it) for Window frames, and
   * `resume` is called once all of it is queued. The caller should stop reading until then, which
   * keeps the wait bounded. Do not mix with write()/end() on the same stream.
   */
  sendData(chunk: Buffer, resume: () => void): boolean {
    if (this.destroyed || this.localFinSent) return true;
    if (this.backlog) {
      this.backlog.chunks.push(chunk);
      this.backlog.resume = resume;
      return false;
    }
    if (this.queueChunk(chunk)) return true;
    this.backlog = { chunks: [], fin: false, resume };
    return false;
  }

  /**
   * Ends the sending side after sendData(): `last` (if any) and the FIN go in one DATA frame when
   * the peer's credit allows, so a small response is Meta + one DATA frame in one message.
   */
  endData(last?: Buffer): void {
    if (this.destroyed || this.localFinSent) return;
    if (this.backlog) {
      if (last?.length) this.backlog.chunks.push(last);
      this.backlog.fin = true;
      return;
    }
    if (last?.length) {
      if (last.length > this.sendWindow || last.length > DATA_CHUNK_BYTES) {
        if (this.sendData(last, () => undefined)) this.endData();
        else this.backlog!.fin = true;
        return;
      }
      this.sendWindow -= last.length;
      sendData(this, last, true);
    } else sendData(this, EMPTY, true);
    this.markLocalFinSent();
  }

  /** True when all of `chunk` went into the outbox; else the rest waits for credit (pendingWrite). */
  private queueChunk(chunk: Buffer): boolean {
    let queued = false;
    let sync = true;
    this.writeChunk(chunk, (err) => {
      queued = true;
      if (!sync && !err) this.drainBacklog();
    });
    sync = false;
    return queued;
  }

  private drainBacklog(): void {
    const backlog = this.backlog!;
    while (backlog.chunks.length) if (!this.queueChunk(backlog.chunks.shift()!)) return;
    this.backlog = undefined;
    if (backlog.fin) this.endData();
    else backlog.resume();
  }

  /**
   * Resets the stream in both directions with a coded reason. The local side is destroyed without
   * an 'error' event: the caller chose this, and a stream nobody listens to yet (one refused as
   * soon as it opened) must not turn into an uncaught exception.
   */
  reset(error: WireError): void {
    if (!this.destroyed) {
      sendReset(this, wireErrorOf(error));
      this.resetSent = true;
      this.destroy();
    }
  }

  // ---- called by the session ----

  receiveMeta(meta: unknown): void {
    this.emit('meta', meta);
  }

  markLocalFinSent(): void {
    this.localFinSent = true;
    this.end();
  }

  receiveData(payload: Buffer): void {
    if (payload.length > this.receiveWindow) {
      throw new ProtocolError(
        'ERR_BURROW_FLOW_CONTROL',
        `stream ${this.id} sent ${payload.length} bytes with ${this.receiveWindow} credit`,
      );
    }
    if (this.remoteFinReceived)
      throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `data after end on stream ${this.id}`);
    if (payload.length === 0) return;
    this.receiveWindow -= payload.length;
    this.creditOwed += payload.length;
    if (!this.push(payload)) this.readerBlocked = true;
    else this.maybeGrantCredit();
  }

  receiveFin(): void {
    if (this.remoteFinReceived) return;
    this.remoteFinReceived = true;
    this.push(null);
    this.maybeForget();
  }

  receiveWindowUpdate(increment: number): void {
    this.sendWindow += increment;
    const pending = this.pendingWrite;
    if (pending && this.sendWindow > 0) {
      this.pendingWrite = undefined;
      this.writeChunk(pending.chunk, pending.callback);
    }
  }

  abort(error: WireError): void {
    if (this.destroyed) return;
    this.destroy(new StreamResetError(error.code, error.message));
  }

  // ---- Duplex implementation ----

  override _read(): void {
    if (this.readerBlocked) {
      this.readerBlocked = false;
      this.maybeGrantCredit(true);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeChunk(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.localFinSent) {
      this.localFinSent = true;
      sendData(this, EMPTY, true);
    }
    callback();
    this.maybeForget();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    // A local destroy (not a reset from the peer) tells the peer to stop too.
    const finished = this.localFinSent && this.remoteFinReceived;
    if (!finished && !this.resetSent && !(error instanceof StreamResetError) && !this.session.isClosed) {
      sendReset(this, {
        code: 'ERR_BURROW_STREAM_CANCELLED',
        message: error?.message ?? 'stream closed before it ended',
      });
    }
    if (this.pendingWrite) {
      this.pendingWrite.callback(error ?? new StreamResetError('ERR_BURROW_STREAM_CANCELLED', 'stream destroyed'));
      this.pendingWrite = undefined;
    }
    this.session.forget(this.id);
    callback(error);
  }

  private writeChunk(chunk: Buffer, callback: (error?: Error | null) => void): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.sendWindow <= 0) {
        this.pendingWrite = { chunk: rest, callback };
        return;
      }
      const n = Math.min(rest.length, this.sendWindow, DATA_CHUNK_BYTES);
      sendData(this, rest.subarray(0, n), false);
      this.sendWindow -= n;
      rest = rest.subarray(n);
    }
    callback();
  }

  /** Returns credit in batches (a quarter window) so small exchanges cost no Window frames. */
  private maybeGrantCredit(force = false): void {
    if (this.creditOwed === 0 || this.remoteFinReceived) return;
    if (force || this.creditOwed >= this.session.initialWindow / 4) {
      sendWindowUpdate(this, this.creditOwed);
      this.receiveWindow += this.creditOwed;
      this.creditOwed = 0;
    }
  }

  /** A call from the in-process twin threw: the stream ends (a CANCELLED reset to the twin). */
  fail(err: Error): void {
    this.destroy(err);
  }

  private maybeForget(): void {
    if (this.localFinSent && this.remoteFinReceived) this.session.forget(this.id);
  }
}

/**
 * What the session (a decoded frame) or an in-process twin calls on one end of a stream: MuxStream
 * or MuxExchange, so either kind can be the twin of the other.
 */
export interface StreamEnd {
  readonly session: MuxSession;
  readonly id: number;
  readonly destroyed: boolean;
  peer?: StreamEnd;
  receiveMeta(meta: unknown): void;
  receiveData(payload: Buffer): void;
  receiveFin(): void;
  receiveWindowUpdate(increment: number): void;
  abort(error: WireError): void;
  fail(err: Error): void;
}

/** What the owner of a MuxExchange hears from the other side. */
export interface ExchangeHandler {
  /** Metadata from the peer (the agent's response head; the edge's response-phase policy logs). */
  meta(meta: unknown): void;
  /**
   * Bytes from the peer. Return false while they are not consumed (a full socket): no credit is
   * returned until `release()`, so the peer stops after its window. Bytes keep coming until then.
   */
  data(chunk: Buffer): boolean;
  /** The peer sends no more bytes (FIN). */
  end(): void;
  /**
   * The exchange is over, once, last: `error` when the peer reset it or the session ended before
   * it finished; none when both sides ended, or it was reset here.
   */
  close(error?: WireError): void;
}

/** What one side of an exchange sends (MuxExchange; raw-visitor.ts adapts a Duplex to it). */
export interface ExchangeSender {
  sendMeta(meta: unknown): void;
  /**
   * Sends `chunk` within the peer's credit. False: what did not fit waits (with whatever is sent
   * after it) until the peer grants more, and `resume` is called once all of it went; stop reading
   * until then.
   */
  send(chunk: Buffer, resume: () => void): boolean;
  /** Ends the sending side; `last` (if any) goes with the FIN (one DATA frame when it fits). */
  end(last?: Buffer): void;
  /** Aborts both directions with a coded reason (the peer's `close` gets it). */
  reset(error: WireError): void;
  /** The handler consumed what it held after returning false from `data`: credit flows again. */
  release(): void;
}

/**
 * The in-process calls between two twin MuxExchanges, run synchronously and in order: a call made
 * while another one runs (a handler answering from inside a call) waits until it returns, so a
 * handler is never re-entered and each side's state is settled before the next call.
 */
class Relay {
  busy = false;
  private queue: (() => void)[] = [];

  call(fn: () => void): void {
    if (this.busy) {
      this.queue.push(fn);
      return;
    }
    this.run(fn);
  }

  run(fn: () => void): void {
    this.busy = true;
    try {
      fn();
      while (this.queue.length) this.queue.shift()!();
    } finally {
      this.busy = false;
    }
  }
}

const NO_HANDLER: ExchangeHandler = { meta() {}, data: () => true, end() {}, close() {} };

/**
 * One stream as a light object (the HTTP exchanges of the agent and the edge's raw visitor path):
 * the same frames, credit windows and resets as a MuxStream, with callbacks (ExchangeHandler)
 * instead of a Duplex, its buffers and events. Between two in-process twins the calls are direct
 * (Relay); to a MuxStream twin they go through the session's runDirect, as that twin's own do.
 */
export class MuxExchange implements StreamEnd, ExchangeSender {
  peer?: StreamEnd;
  /** Set between two twin MuxExchanges in process. */
  relay?: Relay;
  destroyed = false;
  private handler = NO_HANDLER;
  /** Calls that came before `attach` (the agent may look its tunnel up a tick later). */
  private early?: (() => void)[];
  private sendWindow: number;
  private receiveWindow: number;
  private creditOwed = 0;
  /** The handler returned false from `data`: credit waits for release(). */
  private held = false;
  private localFin = false;
  private remoteFin = false;
  private backlog?: { chunks: Buffer[]; fin: boolean; resume: () => void };
  private draining = false;

  constructor(
    readonly session: MuxSession,
    readonly id: number,
    window: number,
  ) {
    this.sendWindow = window;
    this.receiveWindow = window;
    this.early = [];
  }

  /** The peer sent its FIN already (an HTTP request without a body). */
  get remoteEnded(): boolean {
    return this.remoteFin;
  }

  /** Sets the handler; calls that came before it are replayed to it now, in order. */
  attach(handler: ExchangeHandler): void {
    this.handler = handler;
    const early = this.early;
    this.early = undefined;
    if (!early?.length) return;
    this.held = false;
    for (const call of early) call();
    if (!this.held) this.maybeGrantCredit(true);
  }

  sendMeta(meta: unknown): void {
    if (!this.destroyed) sendMeta(this, meta);
  }

  send(chunk: Buffer, resume: () => void): boolean {
    if (this.destroyed || this.localFin) return true;
    const backlog = this.backlog;
    if (backlog) {
      backlog.chunks.push(chunk);
      backlog.resume = resume;
      return false;
    }
    const rest = this.sendSome(chunk);
    if (!rest) return true;
    this.backlog = { chunks: [rest], fin: false, resume };
    return false;
  }

  end(last?: Buffer): void {
    if (this.destroyed || this.localFin) return;
    if (this.backlog) {
      if (last?.length) this.backlog.chunks.push(last);
      this.backlog.fin = true;
      return;
    }
    if (last?.length) {
      if (last.length > this.sendWindow || last.length > DATA_CHUNK_BYTES) {
        const rest = this.sendSome(last);
        if (rest) {
          this.backlog = { chunks: [rest], fin: true, resume: () => undefined };
          return;
        }
        last = EMPTY;
      } else this.sendWindow -= last.length;
    }
    this.localFin = true;
    sendData(this, last ?? EMPTY, true);
    this.maybeFinish();
  }

  reset(error: WireError): void {
    if (this.destroyed) return;
    if (!this.session.isClosed) sendReset(this, wireErrorOf(error));
    this.closeWith(undefined);
  }

  release(): void {
    if (!this.held || this.destroyed) return;
    this.held = false;
    this.maybeGrantCredit(true);
  }

  // ---- called by the session (frames) or the in-process twin ----

  markLocalFin(): void {
    this.localFin = true;
  }

  receiveMeta(meta: unknown): void {
    if (this.early) this.early.push(() => this.handler.meta(meta));
    else this.handler.meta(meta);
  }

  receiveData(payload: Buffer): void {
    if (payload.length > this.receiveWindow) {
      throw new ProtocolError(
        'ERR_BURROW_FLOW_CONTROL',
        `stream ${this.id} sent ${payload.length} bytes with ${this.receiveWindow} credit`,
      );
    }
    if (this.remoteFin) throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `data after end on stream ${this.id}`);
    if (payload.length === 0 || this.destroyed) return;
    this.receiveWindow -= payload.length;
    this.creditOwed += payload.length;
    if (this.early) {
      this.held = true;
      this.early.push(() => {
        if (!this.destroyed && this.handler.data(payload)) return;
        this.held = true;
      });
      return;
    }
    if (!this.handler.data(payload)) this.held = true;
    else if (!this.held) this.maybeGrantCredit();
  }

  receiveFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    if (this.early) this.early.push(() => this.finished());
    else this.finished();
  }

  receiveWindowUpdate(increment: number): void {
    this.sendWindow += increment;
    if (this.backlog && !this.draining) this.drainBacklog();
  }

  /** Reset by the peer, or the session ended. */
  abort(error: WireError): void {
    if (this.destroyed) return;
    this.closeWith(error);
  }

  fail(err: Error): void {
    this.reset({ code: 'ERR_BURROW_INTERNAL', message: err.message });
  }

  // ---- internals ----

  private finished(): void {
    if (this.destroyed) return;
    this.handler.end();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.localFin && this.remoteFin && !this.destroyed) this.closeWith(undefined);
  }

  private closeWith(error: WireError | undefined): void {
    this.destroyed = true;
    this.backlog = undefined;
    this.session.forget(this.id);
    if (this.early) this.early.push(() => this.handler.close(error));
    else this.handler.close(error);
  }

  /** Sends what the peer's credit allows of `chunk`; returns the rest. */
  private sendSome(chunk: Buffer): Buffer | undefined {
    let rest = chunk;
    while (rest.length > 0) {
      // (Credit may arrive while a piece is delivered in process: the loop sees it.)
      if (this.sendWindow <= 0 || this.destroyed) return this.destroyed ? undefined : rest;
      const n = Math.min(rest.length, this.sendWindow, DATA_CHUNK_BYTES);
      const piece = n === rest.length ? rest : rest.subarray(0, n);
      rest = n === rest.length ? EMPTY : rest.subarray(n);
      this.sendWindow -= n;
      sendData(this, piece, false);
    }
    return undefined;
  }

  private drainBacklog(): void {
    const backlog = this.backlog!;
    this.draining = true;
    try {
      while (backlog.chunks.length) {
        const rest = this.sendSome(backlog.chunks[0]);
        if (rest) {
          backlog.chunks[0] = rest;
          return;
        }
        backlog.chunks.shift();
      }
    } finally {
      this.draining = false;
    }
    if (this.backlog !== backlog) return;
    this.backlog = undefined;
    if (backlog.fin) this.end();
    else backlog.resume();
  }

  /** Returns credit in batches (a quarter window) so small exchanges cost no Window frames. */
  private maybeGrantCredit(force = false): void {
    if (this.creditOwed === 0 || this.remoteFin || this.destroyed) return;
    if (force || this.creditOwed >= this.session.initialWindow / 4) {
      const credit = this.creditOwed;
      this.receiveWindow += credit;
      this.creditOwed = 0;
      // After the window is counted: through a Relay the twin may send into it at once.
      sendWindowUpdate(this, credit);
    }
  }
}

// ---- what one end of a stream sends: frames, or calls on its in-process twin ----

/** A stream end that sends: its twin (`peer`) in process, with a Relay between two MuxExchanges. */
type Sender = StreamEnd & { relay?: Relay };

/**
 * Runs `fn` on the in-process twin: at once through the Relay of two MuxExchanges, else in the
 * twin's session's next runDirect (never re-entering the sender); not once either session or the
 * twin is gone.
 */
function deliver(from: Sender, fn: (peer: StreamEnd) => void): void {
  const peer = from.peer!;
  if (from.session.isClosed) return;
  const call = () => {
    if (peer.destroyed || peer.session.isClosed) return;
    try {
      fn(peer);
    } catch (err) {
      peer.fail(err as Error);
    }
  };
  if (from.relay) from.relay.call(call);
  else peer.session.queueDirect(call);
}

/** DATA (and/or FIN) to the peer. */
function sendData(from: Sender, payload: Buffer, fin: boolean): void {
  if (from.peer)
    deliver(from, (peer) => {
      if (payload.length) peer.receiveData(payload);
      if (fin) peer.receiveFin();
    });
  else if (payload.length) from.session.enqueueData(from.id, payload, fin);
  else from.session.enqueue(encodeFrame(FrameType.Data, fin ? FLAG_FIN : 0, from.id));
}

/** `credit` more bytes the peer may send. */
function sendWindowUpdate(from: Sender, credit: number): void {
  if (from.peer) deliver(from, (peer) => peer.receiveWindowUpdate(credit));
  else {
    const grant = Buffer.allocUnsafe(4);
    grant.writeUInt32BE(credit);
    from.session.enqueue(encodeFrame(FrameType.Window, 0, from.id, grant));
  }
}

/** JSON metadata on the stream (e.g. the HTTP response head). */
function sendMeta(from: Sender, meta: unknown): void {
  if (from.peer) deliver(from, (peer) => peer.receiveMeta(meta));
  else from.session.enqueue(from.session.metaFrame(FrameType.Meta, 0, from.id, meta));
}

/** Resets the stream at the peer. */
function sendReset(from: Sender, wire: WireError): void {
  if (from.peer) deliver(from, (peer) => peer.abort(wire));
  else from.session.enqueue(encodeJsonFrame(FrameType.Reset, 0, from.id, wire));
}
