// The byte-message transport under a session: one WebSocket carrying binary messages. The HTTP
// Upgrade handshake is ws-handshake.ts; after it, the frames are written and read here (ws-frames.ts).
import type { Duplex } from 'node:stream';
import {
  FrameReader,
  Opcode,
  WS_CLOSE_ABNORMAL,
  WS_CLOSE_NO_STATUS,
  WsProtocolError,
  closePayload,
  encodeFrame,
  type MaskMode,
} from './ws-frames';

export interface Transport {
  send(message: Buffer): void;
  /**
   * In-process transports only: one message given as its parts, delivered as the same array
   * without joining them (decodeParts in frames.ts reads it). Others get one joined Buffer.
   */
  sendParts?(parts: Buffer[]): void;
  /** Bytes handed to send() that the socket has not written yet (for back-pressure and stats). */
  readonly bufferedAmount: number;
  /**
   * `message` is a string only when a peer broke the protocol by sending a text message. An array
   * is one message in parts, cut anywhere (an in-process transport's sendParts, or a WebSocket
   * message that spanned socket reads): decodeParts in frames.ts reads it without joining.
   */
  onMessage(listener: (message: Buffer | Buffer[] | string) => void): void;
  onClose(listener: (reason: string) => void): void;
  close(code: number, reason: string): void;
  /**
   * In-process pairs made with `directStreams` only: the other end. The sessions on the two ends
   * then hand each other the streams they open as objects (session.ts MuxSession.openStream): no
   * frames, no JSON, no flush for a stream's open, metadata, data, credit, end or reset.
   */
  readonly directPeer?: Transport;
}

/** Close codes we use on the WebSocket (4000-4999 is the application range). */
export const CLOSE_PROTOCOL_ERROR = 4002;
export const CLOSE_NORMAL = 1000;

/** The largest WebSocket message either end accepts (1009 above it); a session message is ≤ 1 MiB. */
export const MAX_WS_MESSAGE = 4 * 1024 * 1024;
/** How long a close handshake may take before the socket is destroyed. */
const CLOSE_TIMEOUT_MS = 2000;
/**
 * Pong bytes the socket may hold unsent: a peer that pings without reading gets no more pongs
 * (RFC 6455 §5.5.3 lets an endpoint answer only the latest ping), so it cannot grow our buffer.
 */
const MAX_PENDING_PONG_BYTES = 64 * 1024;

export interface WebSocketTransportOptions {
  /** The server end reads masked frames and writes unmasked ones; the client end the reverse. */
  role: 'server' | 'client';
  /** Bytes read past the handshake's head (the first frames, when they came in the same read). */
  head?: Buffer;
  /** Messages above this many bytes close the link with 1009 (default MAX_WS_MESSAGE). */
  maxPayload?: number;
  /**
   * Client end only: mask frames with the zero key (payload sent as is) instead of a random key
   * per frame. For loopback and TLS links, where no proxy reads the plaintext (ws-frames.ts MaskMode).
   */
  zeroMask?: boolean;
}

/**
 * A WebSocket on a socket whose handshake is done (ws-handshake.ts): writes and reads RFC 6455
 * frames. Reading starts when onMessage() is called, so no frame can arrive before its listener.
 */
export class WebSocketTransport implements Transport {
  private readonly mask: MaskMode;
  private readonly reader: FrameReader;
  private messageListener?: (message: Buffer | Buffer[] | string) => void;
  private readonly closeListeners: ((reason: string) => void)[] = [];
  /** Our close frame is written: nothing else may follow it. */
  private closeSent = false;
  /** What the session hears at the end. */
  private closeReason: string | undefined;
  private ended = false;
  private pendingPongBytes = 0;
  private killTimer?: NodeJS.Timeout;
  private done = false;

  constructor(
    private readonly socket: Duplex & { setNoDelay?(on: boolean): unknown; setTimeout?(ms: number): unknown },
    options: WebSocketTransportOptions,
  ) {
    const server = options.role === 'server';
    this.mask = server ? 'none' : options.zeroMask ? 'zero' : 'random';
    this.reader = new FrameReader(
      { masked: server, maxPayload: options.maxPayload ?? MAX_WS_MESSAGE, parts: true },
      {
        // Text messages are not part of the protocol: hand them on so the session refuses them.
        message: (data, binary) => this.messageListener?.(binary ? data : (data as Buffer).toString('utf8')),
        ping: (payload) => this.pong(payload),
        pong: () => undefined,
        close: (code, reason) => this.peerClosed(code, reason),
      },
    );
    // A peer stream (cluster) is a Duplex without these.
    socket.setTimeout?.(0);
    socket.setNoDelay?.(true);
    socket.pause();
    if (options.head?.length) socket.unshift(options.head);
    socket.on('end', () => this.socket.end());
    socket.on('error', () => this.socket.destroy()); // 'close' follows
    socket.on('close', () => this.finished());
    if (socket.destroyed) setImmediate(() => this.finished());
  }

  send(message: Buffer): void {
    if (this.closeSent || this.socket.destroyed) return;
    this.write(encodeFrame(Opcode.Binary, message, this.mask));
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  onMessage(listener: (message: Buffer | Buffer[] | string) => void): void {
    const first = !this.messageListener;
    this.messageListener = listener;
    if (!first) return;
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.resume();
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  close(code: number, reason: string): void {
    if (this.closeSent || this.socket.destroyed) return;
    this.sendClose(code, reason);
    // A peer that never answers the close handshake must not keep the socket alive.
    this.armKill();
  }

  private write(parts: Buffer[]): boolean {
    if (parts.length === 1) return this.socket.write(parts[0]);
    // Header and a big payload under cork: one writev, no copy of the payload.
    this.socket.cork();
    this.socket.write(parts[0]);
    const ok = this.socket.write(parts[1]);
    this.socket.uncork();
    return ok;
  }

  private read(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof WsProtocolError)) throw err;
      this.fail(err.closeCode, err.message);
    }
  }

  private pong(payload: Buffer): void {
    if (this.closeSent || this.pendingPongBytes > MAX_PENDING_PONG_BYTES) return;
    const frame = encodeFrame(Opcode.Pong, payload, this.mask);
    const bytes = frame[0].length;
    this.pendingPongBytes += bytes;
    this.socket.write(frame[0], () => (this.pendingPongBytes -= bytes));
  }

  private sendClose(code: number | undefined, reason: string): void {
    this.closeSent = true;
    this.write(encodeFrame(Opcode.Close, closePayload(code, reason), this.mask));
  }

  /** The peer's close frame: answer with its code (unless we closed first), then end the TCP connection. */
  private peerClosed(code: number, reason: string): void {
    this.reader.stop();
    this.closeReason = reason || `websocket closed (${code})`;
    if (!this.closeSent) this.sendClose(code === WS_CLOSE_NO_STATUS ? undefined : code, '');
    this.endSocket();
  }

  /** Bad input: close with its code and stop reading (RFC 6455 §7.1.7, fail the connection). */
  private fail(code: number, message: string): void {
    this.reader.stop();
    this.closeReason = `websocket protocol error (${code}): ${message}`;
    if (!this.closeSent && !this.socket.destroyed) this.sendClose(code, message);
    this.endSocket();
  }

  private endSocket(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end();
    this.armKill();
  }

  private armKill(): void {
    if (this.killTimer) return;
    this.killTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
    this.killTimer.unref();
  }

  private finished(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.killTimer);
    this.reader.stop();
    const reason = this.closeReason ?? `websocket closed (${WS_CLOSE_ABNORMAL})`;
    for (const listener of this.closeListeners) listener(reason);
  }
}

/**
 * Two connected in-process transports: what one side sends, the other receives, with no socket,
 * no WebSocket framing and no copy. The agent uses it to reach its own embedded edge, which saves
 * a loopback TCP hop and the WebSocket encode/decode on every byte (see docs/benchmarks.md).
 */
export function createTransportPair(options: { directStreams?: boolean } = {}): [Transport, Transport] {
  const a = new MemoryTransport(!!options.directStreams);
  const b = new MemoryTransport(!!options.directStreams);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryTransport implements Transport {
  peer?: MemoryTransport;
  constructor(private readonly directStreams: boolean) {}

  get directPeer(): Transport | undefined {
    return this.directStreams ? this.peer : undefined;
  }
  private messageListener?: (message: Buffer | Buffer[]) => void;
  private readonly closeListeners: ((reason: string) => void)[] = [];
  private closed = false;
  readonly bufferedAmount = 0;

  send(message: Buffer | Buffer[]): void {
    // Delivered in a microtask: in order, and never re-entering the peer while it dispatches.
    const peer = this.peer;
    if (!this.closed && peer) queueMicrotask(() => peer.deliver(message));
  }

  /** No copy at all: body bytes reach the other session as the very buffers that were written. */
  sendParts(parts: Buffer[]): void {
    this.send(parts);
  }

  private deliver(message: Buffer | Buffer[]): void {
    if (!this.closed) this.messageListener?.(message);
  }

  onMessage(listener: (message: Buffer | Buffer[]) => void): void {
    this.messageListener = listener;
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  close(code: number, reason: string): void {
    // Like a WebSocket close: both ends see it, asynchronously.
    setImmediate(() => {
      this.closedWith(`${reason} (${code})`);
      this.peer?.closedWith(`${reason} (${code})`);
    });
  }

  private closedWith(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.closeListeners) listener(reason);
  }
}
