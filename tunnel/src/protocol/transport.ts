// The byte-message transport under a session: one WebSocket (`ws`) carrying binary messages.
import type WebSocket from 'ws';

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
   * `message` is a string only when a peer broke the protocol by sending a text message, and an
   * array only from an in-process transport's sendParts.
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

export class WebSocketTransport implements Transport {
  constructor(private readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
  }

  send(message: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(message, { binary: true });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  onMessage(listener: (message: Buffer | string) => void): void {
    this.ws.on('message', (data, isBinary) => {
      // Text messages are not part of the protocol: hand them on so the session refuses them.
      listener(isBinary ? toBuffer(data) : toBuffer(data).toString('utf8'));
    });
  }

  onClose(listener: (reason: string) => void): void {
    this.ws.on('close', (code, reason) => listener(reason.toString() || `websocket closed (${code})`));
    this.ws.on('error', () => {
      /* 'close' follows every 'error' in ws */
    });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, reason.slice(0, 120));
      // A peer that never answers the close handshake must not keep the socket alive.
      setTimeout(() => this.ws.terminate(), 2000).unref();
    }
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

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
