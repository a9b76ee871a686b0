// muxado frame codec, the multiplexing layer under ngrok's agent protocol (tunnel/NGROK-PROTOCOL.md).
// Every frame is an 8-byte header, big-endian:
//   length:u24 | type:u4 flags:u4 | stream:u32 (top bit reserved)
// followed by `length` payload bytes.

export const HEADER_BYTES = 8;

export const enum FrameType {
  /** Aborts a stream; payload u32 error code. */
  Rst = 0,
  /** Stream bytes; SYN opens the stream, FIN half-closes it. */
  Data = 1,
  /** Grants the peer u32 more bytes of window on the stream. */
  WndInc = 2,
  /** Ends the session; payload u32 last stream id, u32 error code, message bytes. */
  GoAway = 3,
}

export const FLAG_FIN = 0x1;
export const FLAG_SYN = 0x2;

/** muxado error codes (RST and GOAWAY payloads). */
export const enum MuxError {
  None = 0,
  Protocol = 1,
  Internal = 2,
  FlowControl = 3,
  StreamClosed = 4,
  StreamRefused = 5,
  StreamCancelled = 6,
  StreamReset = 7,
  FrameSize = 8,
  AcceptQueueFull = 9,
  EnhanceYourCalm = 0xa,
  RemoteGoneAway = 0xb,
  StreamsExhausted = 0xc,
  WriteTimeout = 0xd,
  SessionClosed = 0xe,
  PeerEOF = 0xf,
}

export interface Frame {
  type: FrameType;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A violation of the framing: the session ends with GOAWAY(code) and this coded error. */
export class MuxadoError extends Error {
  constructor(
    readonly code: string,
    readonly muxCode: MuxError,
    message: string,
  ) {
    super(message);
    this.name = 'MuxadoError';
  }
}

export function encodeFrame(type: FrameType, flags: number, stream: number, payload?: Buffer): Buffer {
  const len = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(HEADER_BYTES + len);
  out.writeUIntBE(len, 0, 3);
  out[3] = (type << 4) | (flags & 0xf);
  out.writeUInt32BE(stream & 0x7fffffff, 4);
  if (payload) payload.copy(out, HEADER_BYTES);
  return out;
}

export function encodeU32Frame(type: FrameType.Rst | FrameType.WndInc, stream: number, value: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(value >>> 0);
  return encodeFrame(type, 0, stream, payload);
}

export function encodeGoAway(lastStreamId: number, code: MuxError, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 1024));
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return encodeFrame(FrameType.GoAway, 0, 0, payload);
}

/**
 * Incremental decoder: feed it socket chunks, get whole frames. It buffers at most one frame
 * (header + `maxPayload`); a header announcing more is refused before its payload is read.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxPayload: number) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= HEADER_BYTES) {
      const head = this.peek(HEADER_BYTES);
      const length = head.readUIntBE(0, 3);
      const type = head[3] >> 4;
      const flags = head[3] & 0xf;
      const stream = head.readUInt32BE(4) & 0x7fffffff;
      validateHeader(type, length, stream, this.maxPayload);
      if (this.buffered < HEADER_BYTES + length) break;
      this.take(HEADER_BYTES);
      frames.push({ type, flags, stream, payload: this.take(length) });
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function validateHeader(type: number, length: number, stream: number, maxPayload: number): void {
  const bad = (message: string, code = MuxError.Protocol, burrow = 'ERR_BURROW_MUXADO_MALFORMED') => {
    throw new MuxadoError(burrow, code, message);
  };
  switch (type) {
    case FrameType.Rst:
    case FrameType.WndInc:
      if (length !== 4) bad(`frame type ${type} must carry 4 bytes, not ${length}`, MuxError.FrameSize);
      if (stream === 0) bad(`frame type ${type} on stream 0`);
      return;
    case FrameType.Data:
      if (stream === 0) bad('DATA on stream 0');
      if (length > maxPayload)
        bad(
          `DATA frame of ${length} bytes (most: ${maxPayload})`,
          MuxError.FrameSize,
          'ERR_BURROW_MUXADO_FRAME_TOO_LARGE',
        );
      return;
    case FrameType.GoAway:
      if (stream !== 0) bad('GOAWAY on a stream');
      if (length < 8) bad('GOAWAY shorter than 8 bytes', MuxError.FrameSize);
      if (length > 8 + 64 * 1024)
        bad('GOAWAY message too long', MuxError.FrameSize, 'ERR_BURROW_MUXADO_FRAME_TOO_LARGE');
      return;
    default:
      bad(`invalid frame type ${type}`);
  }
}
