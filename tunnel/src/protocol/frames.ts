// Binary frame codec of the Burrow wire protocol (see tunnel/PROTOCOL.md).
// A transport message carries one or more frames back to back; each frame is
//   type:u8 flags:u8 stream:u32be length:u32be payload[length]

export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 10;
/** Largest payload a peer may send in one frame; bigger frames end the session. */
export const MAX_FRAME_PAYLOAD = 256 * 1024;
/**
 * DATA payloads are cut to this size so streams interleave fairly on the session. As large as a
 * peer accepts (MAX_FRAME_PAYLOAD): a 1 MiB window is 4 frames, not 16 (fewer headers, writes and
 * wake-ups per MiB; 64 KiB before).
 */
export const DATA_CHUNK_BYTES = MAX_FRAME_PAYLOAD;

export const enum FrameType {
  /** Session control, stream 0, JSON payload (hello, welcome, bind, bind-result, unbind, …). */
  Control = 0x01,
  /** Liveness probe, stream 0, 8-byte payload echoed by Pong. */
  Ping = 0x02,
  Pong = 0x03,
  /** Last frame before closing, stream 0, JSON `{code, message}`. */
  GoAway = 0x04,
  /** Opens a stream; JSON metadata (what the stream carries). May carry FIN. */
  Open = 0x10,
  /** Further JSON metadata on an open stream (e.g. an HTTP response head). */
  Meta = 0x11,
  /** Stream bytes; counts against the receiver's window. May carry FIN. */
  Data = 0x12,
  /** Grants the peer `u32be` more bytes of DATA credit on the stream. */
  Window = 0x13,
  /** Aborts a stream in both directions; JSON `{code, message}`. */
  Reset = 0x14,
}

export const FLAG_FIN = 0x01;
const EMPTY = Buffer.alloc(0);
/**
 * DATA only, and only to a peer that announced the `split-data` feature (Hello/Welcome): this
 * frame ends its message without its payload; the payload is the whole next transport message.
 * Bulk payloads then cross a WebSocket as they are, never joined with other frames into one buffer.
 */
export const FLAG_SPLIT = 0x02;
/** The feature name peers announce in Hello/Welcome to receive split DATA frames. */
export const FEATURE_SPLIT_DATA = 'split-data';
/**
 * OPEN and META only, and only to a peer that announced the `binary-meta` feature: the payload is
 * the binary form of an HTTP request open or response head (binary-meta.ts), not JSON.
 */
export const FLAG_BINARY = 0x04;
/** The feature name peers announce in Hello/Welcome to receive binary OPEN/META payloads. */
export const FEATURE_BINARY_META = 'binary-meta';
/** Every optional feature this version speaks (what Hello and Welcome announce by default). */
export const WIRE_FEATURES: readonly string[] = [FEATURE_SPLIT_DATA, FEATURE_BINARY_META];

export interface Frame {
  type: FrameType;
  flags: number;
  stream: number;
  payload: Buffer;
  /** Set on a split DATA frame (FLAG_SPLIT): the size of the payload, which is the next message. */
  splitLength?: number;
}

/** A coded protocol error; `code` is stable and documented in PROTOCOL.md. */
export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Known frame types: 0x01–0x04 (stream 0) and 0x10–0x14 (streams). */
function knownType(type: number): boolean {
  return (type >= FrameType.Control && type <= FrameType.GoAway) || (type >= FrameType.Open && type <= FrameType.Reset);
}

export function encodeFrame(type: FrameType, flags: number, stream: number, payload?: Buffer | Uint8Array): Buffer {
  const length = payload ? payload.length : 0;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  buf[0] = type;
  buf[1] = flags;
  buf.writeUInt32BE(stream, 2);
  buf.writeUInt32BE(length, 6);
  if (payload && length) buf.set(payload, FRAME_HEADER_BYTES);
  return buf;
}

/**
 * A frame whose payload is `value` as JSON, written straight into the frame's buffer (one
 * allocation and copy, not a Buffer of the JSON copied again into the frame: the Open and Meta
 * of every request go through here).
 */
export function encodeJsonFrame(type: FrameType, flags: number, stream: number, value: unknown): Buffer {
  const json = JSON.stringify(value);
  const length = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  buf[0] = type;
  buf[1] = flags;
  buf.writeUInt32BE(stream, 2);
  buf.writeUInt32BE(length, 6);
  buf.write(json, FRAME_HEADER_BYTES, 'utf8');
  return buf;
}

/** Checks the frame header at `offset` (the payload is not looked at) and returns the payload length. */
function checkHeader(message: Buffer, offset: number, maxPayload: number): number {
  if (message.length - offset < FRAME_HEADER_BYTES) {
    throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `truncated frame header at byte ${offset}`);
  }
  const type = message[offset];
  const length = message.readUInt32BE(offset + 6);
  if (!knownType(type)) {
    throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `unknown frame type 0x${type.toString(16)}`);
  }
  if (length > maxPayload) {
    throw new ProtocolError('ERR_BURROW_FRAME_TOO_LARGE', `frame payload of ${length} bytes exceeds ${maxPayload}`);
  }
  return length;
}

/** The frame at `offset` (header checked by checkHeader) with `payload`; one object, no spread copies. */
function frameAt(message: Buffer, offset: number, payload: Buffer): Frame {
  return {
    type: message[offset] as FrameType,
    flags: message[offset + 1],
    stream: message.readUInt32BE(offset + 2),
    payload,
  };
}

/**
 * Splits one transport message into frames. Payloads are views into `message` (no copy).
 * Throws ProtocolError on anything malformed; the session turns that into a GoAway. With
 * `allowSplit` (sessions) a DATA frame flagged FLAG_SPLIT may end the message without its payload.
 */
export function decodeFrames(message: Buffer, maxPayload = MAX_FRAME_PAYLOAD, allowSplit = false): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < message.length) {
    const length = checkHeader(message, offset, maxPayload);
    const start = offset + FRAME_HEADER_BYTES;
    if (allowSplit && message[offset + 1] & FLAG_SPLIT && message[offset] === FrameType.Data) {
      if (start !== message.length || length === 0)
        throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'a split DATA frame must end its message');
      const frame = frameAt(message, offset, message.subarray(start));
      frame.splitLength = length;
      frames.push(frame);
      break;
    }
    if (start + length > message.length) {
      throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `frame payload truncated (${length} bytes announced)`);
    }
    frames.push(frameAt(message, offset, message.subarray(start, start + length)));
    offset = start + length;
  }
  return frames;
}

/**
 * Splits one transport message given as parts, cut anywhere (a WebSocket message spanning socket
 * reads, or an in-process message: whole frames, a DATA header and its payload as the next part),
 * into the same frames as decodeFrames on the parts joined, without joining them. A payload inside
 * one part is a view of it; a DATA payload across parts comes as one frame per piece (each a view,
 * FIN on the last only: the stream gets the same bytes); any other payload across parts (a few
 * hundred bytes of metadata or control) is copied. A frame header across parts is copied (10 bytes).
 */
export function decodeParts(parts: Buffer[], maxPayload = MAX_FRAME_PAYLOAD, allowSplit = false): Frame[] {
  if (parts.length === 1) return decodeFrames(parts[0], maxPayload, allowSplit);
  const frames: Frame[] = [];
  let p = 0;
  let at = 0;
  for (;;) {
    while (p < parts.length && at === parts[p].length) {
      p++;
      at = 0;
    }
    if (p === parts.length) return frames;
    let head = parts[p];
    let ho = at;
    if (head.length - at >= FRAME_HEADER_BYTES) at += FRAME_HEADER_BYTES;
    else {
      head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      ho = 0;
      for (let n = 0; n < FRAME_HEADER_BYTES;) {
        if (at === parts[p].length) {
          p++;
          at = 0;
          if (p === parts.length) throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'truncated frame header');
          continue;
        }
        const take = Math.min(FRAME_HEADER_BYTES - n, parts[p].length - at);
        parts[p].copy(head, n, at, at + take);
        n += take;
        at += take;
      }
    }
    let need = checkHeader(head, ho, maxPayload);
    const type = head[ho];
    if (allowSplit && head[ho + 1] & FLAG_SPLIT && type === FrameType.Data) {
      let rest = parts[p].length - at;
      for (let q = p + 1; q < parts.length; q++) rest += parts[q].length;
      if (rest !== 0 || need === 0)
        throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', 'a split DATA frame must end its message');
      const frame = frameAt(head, ho, EMPTY);
      frame.splitLength = need;
      frames.push(frame);
      return frames;
    }
    if (need === 0) {
      frames.push(frameAt(head, ho, EMPTY));
      continue;
    }
    while (p < parts.length && at === parts[p].length) {
      p++;
      at = 0;
    }
    if (p < parts.length && parts[p].length - at >= need) {
      const part = parts[p];
      frames.push(frameAt(head, ho, at === 0 && need === part.length ? part : part.subarray(at, at + need)));
      at += need;
      continue;
    }
    // The payload spans parts.
    const copy = type === FrameType.Data ? undefined : Buffer.allocUnsafe(need);
    const flags = head[ho + 1];
    let filled = 0;
    while (need > 0) {
      if (p === parts.length)
        throw new ProtocolError(
          'ERR_BURROW_FRAME_MALFORMED',
          `frame payload truncated (${filled + need} bytes announced)`,
        );
      const part = parts[p];
      const take = Math.min(need, part.length - at);
      if (take > 0) {
        if (copy) part.copy(copy, filled, at, at + take);
        else {
          const piece = frameAt(head, ho, part.subarray(at, at + take));
          if (take < need) piece.flags = flags & ~FLAG_FIN;
          frames.push(piece);
        }
        filled += take;
        need -= take;
        at += take;
      }
      if (need > 0) {
        p++;
        at = 0;
      }
    }
    if (copy) frames.push(frameAt(head, ho, copy));
  }
}

export function parseJsonPayload<T>(frame: Frame): T {
  try {
    // toString() without arguments is Buffer's fast UTF-8 path.
    return JSON.parse(frame.payload.toString()) as T;
  } catch {
    throw new ProtocolError('ERR_BURROW_FRAME_MALFORMED', `frame 0x${frame.type.toString(16)} carries invalid JSON`);
  }
}
