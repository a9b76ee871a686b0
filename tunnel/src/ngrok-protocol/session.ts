// A muxado session over one byte stream (the agent's TLS socket): streams with fixed 256 KiB
// windows each way, SYN/FIN/RST, GOAWAY. Server role: the peer opens odd ids, we open even ids.
// See tunnel/NGROK-PROTOCOL.md §2.
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { StreamTable } from '../protocol/stream-table';
import {
  FLAG_FIN,
  FLAG_SYN,
  FrameDecoder,
  FrameType,
  MuxError,
  MuxadoError,
  encodeFrame,
  encodeGoAway,
  encodeU32Frame,
  type Frame,
} from './frames';

/** Fixed per-stream window in each direction; muxado has no negotiation. */
export const WINDOW = 256 * 1024;
/** We cut our DATA into frames of at most this size so streams interleave. */
export const MAX_SEND_FRAME = 64 * 1024;
/** Streams the peer may have open at once (ngrok-rust's own limit is 512). */
export const MAX_PEER_STREAMS = 512;
/** Grant window back once this much was consumed (or when the reader asks for more). */
const CREDIT_THRESHOLD = 32 * 1024;

export interface SessionError {
  code: string;
  message: string;
}

export interface MuxadoSessionEvents {
  stream: [stream: MuxadoStream];
  close: [error: SessionError | undefined];
}

export interface MuxadoSessionOptions {
  /** 'server' opens even ids and accepts odd ones (the edge); 'client' the other way (tests). */
  role?: 'server' | 'client';
  maxPeerStreams?: number;
}

export class MuxadoSession extends EventEmitter<MuxadoSessionEvents> {
  /** Not a Map: one stream per exchange (protocol/stream-table.ts says why). */
  private readonly streams = new StreamTable<MuxadoStream>();
  private readonly decoder = new FrameDecoder(WINDOW);
  private nextId: number;
  private lastPeerId = 0;
  private peerStreams = 0;
  private closed = false;
  private drainWaiters: (() => void)[] = [];
  private readonly maxPeerStreams: number;
  private readonly peerParity: number;
  /** Time of the last frame from the peer (heartbeat supervision). */
  lastFrameAt = Date.now();

  constructor(
    readonly socket: Duplex,
    options: MuxadoSessionOptions = {},
  ) {
    super();
    const server = (options.role ?? 'server') === 'server';
    this.nextId = server ? 2 : 1;
    this.peerParity = server ? 1 : 0;
    this.maxPeerStreams = options.maxPeerStreams ?? MAX_PEER_STREAMS;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const fn of waiters) fn();
    });
    socket.on('error', (err) =>
      this.terminate({ code: 'ERR_BURROW_SESSION_CLOSED', message: `connection error: ${err.message}` }),
    );
    socket.on('close', () => this.terminate({ code: 'ERR_BURROW_SESSION_CLOSED', message: 'connection closed' }));
    socket.on('end', () =>
      this.terminate({ code: 'ERR_BURROW_SESSION_CLOSED', message: 'peer closed the connection' }),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Opens a stream; nothing goes on the wire until its first write or end (which carries SYN). */
  openStream(): MuxadoStream {
    if (this.closed) throw new MuxadoError('ERR_BURROW_SESSION_CLOSED', MuxError.SessionClosed, 'session is closed');
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > 0x7fffffff)
      throw new MuxadoError('ERR_BURROW_STREAMS_EXHAUSTED', MuxError.StreamsExhausted, 'stream ids exhausted');
    const stream = new MuxadoStream(this, id, true);
    this.streams.set(id, stream);
    return stream;
  }

  /** Ends the session: GOAWAY with `muxCode` when there is an error, then closes the socket. */
  close(error?: SessionError, muxCode: MuxError = error ? MuxError.Protocol : MuxError.None): void {
    if (this.closed) return;
    this.writeFrame(encodeGoAway(this.lastPeerId, muxCode, error ? `${error.code}: ${error.message}` : ''));
    this.terminate(error);
    this.socket.end();
    // A peer that never reads must not keep the socket: give the GOAWAY a moment, then drop it.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  // ---- used by MuxadoStream ----

  /** Writes a frame; false when the socket's buffer is full (wait for 'drain'). */
  writeFrame(frame: Buffer): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(frame);
  }

  /** Runs `fn` once the socket's write buffer has drained (write backpressure for streams). */
  whenDrained(fn: () => void): void {
    this.drainWaiters.push(fn);
  }

  forget(id: number): void {
    if (this.streams.delete(id) && (id & 1) === this.peerParity) this.peerStreams--;
  }

  // ---- receiving ----

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastFrameAt = Date.now();
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.dispatch(frame);
        if (this.closed) return;
      }
    } catch (err) {
      if (err instanceof MuxadoError) this.close({ code: err.code, message: err.message }, err.muxCode);
      else this.close({ code: 'ERR_BURROW_INTERNAL', message: (err as Error).message }, MuxError.Internal);
    }
  }

  private dispatch(frame: Frame): void {
    if (frame.type === FrameType.GoAway) {
      const code = frame.payload.readUInt32BE(4);
      const text = frame.payload.subarray(8).toString('utf8').slice(0, 200);
      this.terminate(
        code === MuxError.None
          ? undefined
          : { code: 'ERR_BURROW_PEER_GOAWAY', message: `peer went away (muxado code ${code}) ${text}`.trim() },
      );
      this.socket.end();
      return;
    }
    let stream = this.streams.get(frame.stream);
    if (!stream) {
      if (frame.type === FrameType.Data && frame.flags & FLAG_SYN) {
        stream = this.acceptStream(frame.stream);
        if (!stream) return;
      } else if (this.isStale(frame.stream)) {
        return; // late frame for a stream that already finished: harmless
      } else {
        throw new MuxadoError(
          'ERR_BURROW_MUXADO_MALFORMED',
          MuxError.Protocol,
          `frame type ${frame.type} for stream ${frame.stream}, which was never opened`,
        );
      }
    } else if (frame.flags & FLAG_SYN) {
      throw new MuxadoError('ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol, `SYN on open stream ${frame.stream}`);
    }
    switch (frame.type) {
      case FrameType.Data:
        stream.onData(frame.payload, (frame.flags & FLAG_FIN) !== 0);
        return;
      case FrameType.WndInc:
        stream.onWindow(frame.payload.readUInt32BE(0) & 0x7fffffff);
        return;
      case FrameType.Rst:
        stream.onReset(frame.payload.readUInt32BE(0));
        return;
    }
  }

  /** A stream id we opened or the peer opened earlier (and which has since finished). */
  private isStale(id: number): boolean {
    if ((id & 1) === this.peerParity) return id <= this.lastPeerId;
    return id < this.nextId;
  }

  private acceptStream(id: number): MuxadoStream | undefined {
    if ((id & 1) !== this.peerParity || id <= this.lastPeerId)
      throw new MuxadoError('ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol, `peer may not open stream ${id}`);
    this.lastPeerId = id;
    if (this.peerStreams >= this.maxPeerStreams) {
      this.writeFrame(encodeU32Frame(FrameType.Rst, id, MuxError.StreamsExhausted));
      return undefined;
    }
    const stream = new MuxadoStream(this, id, false);
    this.streams.set(id, stream);
    this.peerStreams++;
    this.emit('stream', stream);
    return stream;
  }

  private terminate(error: SessionError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values())
      stream.destroy(
        Object.assign(new Error(error?.message ?? 'session closed'), {
          code: error?.code ?? 'ERR_BURROW_SESSION_CLOSED',
        }),
      );
    this.streams.clear();
    this.emit('close', error);
  }
}

/**
 * One muxado stream as a Duplex. Writes wait for window (WNDINC from the peer); reads grant
 * window back as the consumer takes bytes, so a slow reader holds at most one window in memory.
 */
export class MuxadoStream extends Duplex {
  private sendWindow = WINDOW;
  private recvWindow = WINDOW;
  private unacked = 0;
  private synSent: boolean;
  private finSent = false;
  private finReceived = false;
  private pending?: { chunk: Buffer; callback: (err?: Error | null) => void };

  constructor(
    private readonly session: MuxadoSession,
    readonly id: number,
    local: boolean,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.synSent = !local;
  }

  // ---- frames from the session ----

  onData(payload: Buffer, fin: boolean): void {
    if (this.finReceived) {
      this.resetWith(MuxError.StreamClosed);
      return;
    }
    if (payload.length > this.recvWindow) {
      this.resetWith(MuxError.FlowControl, 'ERR_BURROW_MUXADO_FLOW_CONTROL', 'peer sent beyond the window');
      return;
    }
    this.recvWindow -= payload.length;
    if (payload.length) {
      this.unacked += payload.length;
      if (this.push(payload) && this.unacked >= CREDIT_THRESHOLD) this.grant();
    }
    if (fin) {
      this.finReceived = true;
      this.push(null);
      this.maybeDone();
    }
  }

  onWindow(increment: number): void {
    this.sendWindow += increment;
    if (this.sendWindow > 0x7fffffff) {
      this.resetWith(MuxError.FlowControl, 'ERR_BURROW_MUXADO_FLOW_CONTROL', 'window overflow');
      return;
    }
    if (this.flushPending()) return;
    // ngrok-rust answers each DATA frame with a WNDINC and does not disable Nagle: its next
    // (response) segment waits for our ACK of that WNDINC, which Linux delays up to 40 ms when we
    // have nothing to send. An empty DATA frame makes the ACK go at once (c=1 latency 48 → 8 ms,
    // see docs/benchmarks.md). Empty DATA is valid muxado and carries no bytes.
    if (!this.finSent && this.synSent) this.session.writeFrame(encodeFrame(FrameType.Data, 0, this.id));
  }

  onReset(code: number): void {
    this.finSent = this.finReceived = true;
    this.session.forget(this.id);
    this.destroy(
      Object.assign(new Error(`stream reset by peer (muxado code ${code})`), {
        code: 'ERR_BURROW_STREAM_RESET',
        muxCode: code,
      }),
    );
  }

  // ---- Duplex ----

  override _read(): void {
    if (this.unacked > 0) this.grant();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.pending = { chunk, callback };
    this.flushPending();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finSent = true;
    this.send(FLAG_FIN, undefined);
    this.maybeDone();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!(this.finSent && this.finReceived)) {
      // Aborted locally (or by the session): tell the peer, if it ever saw the stream.
      this.finSent = this.finReceived = true;
      if (this.synSent) this.session.writeFrame(encodeU32Frame(FrameType.Rst, this.id, MuxError.StreamCancelled));
    }
    this.session.forget(this.id);
    const pending = this.pending;
    this.pending = undefined;
    pending?.callback(err ?? new Error('stream destroyed'));
    callback(err);
  }

  // ---- internals ----

  private grant(): void {
    const n = this.unacked;
    this.unacked = 0;
    this.recvWindow += n;
    this.session.writeFrame(encodeU32Frame(FrameType.WndInc, this.id, n));
  }

  /** Sends what the window allows of the pending write; true when something was sent. */
  private flushPending(): boolean {
    const p = this.pending;
    if (!p || this.destroyed) return false;
    let chunk = p.chunk;
    let ok = true;
    while (chunk.length && this.sendWindow > 0) {
      const n = Math.min(chunk.length, this.sendWindow, MAX_SEND_FRAME);
      ok = this.send(0, chunk.subarray(0, n)) && ok;
      this.sendWindow -= n;
      chunk = chunk.subarray(n);
    }
    const sent = chunk.length < p.chunk.length;
    if (chunk.length) {
      p.chunk = chunk; // wait for WNDINC
      return sent;
    }
    this.pending = undefined;
    if (ok) p.callback();
    else this.session.whenDrained(() => p.callback());
    return sent;
  }

  private send(flags: number, payload: Buffer | undefined): boolean {
    if (!this.synSent) {
      flags |= FLAG_SYN;
      this.synSent = true;
    }
    return this.session.writeFrame(encodeFrame(FrameType.Data, flags, this.id, payload));
  }

  private resetWith(muxCode: MuxError, code = 'ERR_BURROW_STREAM_RESET', message = 'stream reset'): void {
    this.finSent = this.finReceived = true;
    this.session.writeFrame(encodeU32Frame(FrameType.Rst, this.id, muxCode));
    this.session.forget(this.id);
    this.destroy(Object.assign(new Error(message), { code }));
  }

  private maybeDone(): void {
    if (this.finSent && this.finReceived) this.session.forget(this.id);
  }
}
