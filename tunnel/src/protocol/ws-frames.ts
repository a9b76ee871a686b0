/**
 * RFC 6455 WebSocket frames, written and read by hand for the agent↔edge link (transport.ts).
 * `ws` still does the HTTP Upgrade handshake; after it, this module moves every frame: the `ws`
 * library's per-message JavaScript was a third of the link's cost (docs/benchmarks.md "Issue 11
 * round 6: hand-framed WebSocket link").
 *
 * One frame (RFC 6455 §5.2), big-endian:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| length (7)  | extended length: 16 bits when |
 *   |I|S|S|S|  (4)  |A|  0-125, or  | length is 126, 64 bits when   |
 *   |N|V|V|V|       |S|  126 / 127  | it is 127 (top bit 0)         |
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   | masking key (4 bytes), present when MASK is set               |
 *   +---------------------------------------------------------------+
 *   | payload (length bytes, XOR-ed with the key when MASK is set)  |
 *   +---------------------------------------------------------------+
 *
 * Opcodes: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong. A message is one frame
 * with FIN, or a first frame without FIN followed by continuations, the last one with FIN; control
 * frames (8-10) are at most 125 bytes, never fragmented, and may come between fragments. Client
 * frames are masked, server frames are not. No extension is negotiated, so RSV1-3 are always 0.
 */
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

export const enum Opcode {
  Continuation = 0,
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10,
}

/** Close codes (RFC 6455 §7.4.1) the link sends or reports. */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_PROTOCOL_ERROR = 1002;
export const WS_CLOSE_NO_STATUS = 1005;
export const WS_CLOSE_ABNORMAL = 1006;
export const WS_CLOSE_INVALID_DATA = 1007;
export const WS_CLOSE_TOO_BIG = 1009;

/** A message may come in at most this many fragments (as `ws` limits them): each costs an object. */
export const MAX_FRAGMENTS = 16 * 1024;
/** A frame's payload arriving in more reads than this is copied into one growing buffer. */
const MAX_PARTS = 32;

/** Bad input from the peer: the link closes with `closeCode`. */
export class WsProtocolError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * How a client masks its frames. `random`: a fresh key from the CSPRNG per frame, as RFC 6455
 * §5.3 requires (it stops a browser-driven attacker from steering the bytes a plaintext proxy
 * sees). `zero`: MASK set with the key 0, so the payload goes unchanged and unread — what Burrow's
 * agent used with `ws` before on loopback and over TLS, where no proxy reads the bytes. `none`:
 * server frames.
 */
export type MaskMode = 'none' | 'zero' | 'random';

const EMPTY = Buffer.alloc(0);
let maskPool = EMPTY;
let maskAt = 0;

function randomKey(): Buffer {
  if (maskAt + 4 > maskPool.length) {
    maskPool = randomFillSync(Buffer.allocUnsafe(4096));
    maskAt = 0;
  }
  maskAt += 4;
  return maskPool.subarray(maskAt - 4, maskAt);
}

/** dst[at + i] = src[i] ^ key[i % 4]; src and dst may be the same bytes (at 0). */
export function applyMask(src: Buffer, key: Buffer, dst: Buffer, at: number): void {
  const n = src.length;
  const k0 = key[0];
  const k1 = key[1];
  const k2 = key[2];
  const k3 = key[3];
  let i = 0;
  for (; i + 3 < n; i += 4) {
    dst[at + i] = src[i] ^ k0;
    dst[at + i + 1] = src[i + 1] ^ k1;
    dst[at + i + 2] = src[i + 2] ^ k2;
    dst[at + i + 3] = src[i + 3] ^ k3;
  }
  for (; i < n; i++) dst[at + i] = src[i] ^ key[i & 3];
}

/**
 * Payloads up to this size go in one Buffer with their header (one copy, one write): a slice of
 * Buffer's shared pool, so no allocation of its own. Bigger ones go as header + payload (writev):
 * a fresh ArrayBuffer per frame cost more than the copy saved (test/bench/ws-link.ts).
 */
const JOIN_MAX = (Buffer.poolSize >>> 1) - 14;

/**
 * One frame as the Buffers to write, in order: a single Buffer (small or masked payloads, joined
 * with the header) or the header and the caller's payload unchanged (zero copy; write them
 * under cork for one writev).
 */
export function encodeFrame(opcode: Opcode, payload: Buffer, mask: MaskMode, fin = true): Buffer[] {
  const length = payload.length;
  const extra = length > 0xffff ? 8 : length > 125 ? 2 : 0;
  const headerLength = 2 + extra + (mask === 'none' ? 0 : 4);
  const join = mask === 'random' || length <= JOIN_MAX;
  const out = Buffer.allocUnsafe(join ? headerLength + length : headerLength);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (mask === 'none' ? 0 : 0x80) | (extra === 8 ? 127 : extra === 2 ? 126 : length);
  if (extra === 2) out.writeUInt16BE(length, 2);
  else if (extra === 8) {
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
  if (mask === 'random') {
    const key = randomKey();
    key.copy(out, 2 + extra);
    applyMask(payload, key, out, headerLength);
    return [out];
  }
  if (mask === 'zero') out.writeUInt32BE(0, 2 + extra);
  if (!join) return [out, payload];
  payload.copy(out, headerLength);
  return [out];
}

/** A close frame's payload: the code and a reason cut to fit 125 bytes on a character boundary. */
export function closePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return EMPTY;
  let text = Buffer.from(reason, 'utf8');
  while (text.length > 123) text = Buffer.from((reason = reason.slice(0, -1)), 'utf8');
  const out = Buffer.allocUnsafe(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

/** Codes a peer may send in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are never sent). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

export interface FrameHandlers {
  /**
   * A whole message (fragments joined). Text messages are checked to be UTF-8. An array (only with
   * the reader's `parts` option): a binary message of one unmasked frame that spanned chunks, as
   * the views of the chunks it came in, not joined (the session decodes them as they are).
   */
  message(data: Buffer | Buffer[], binary: boolean): void;
  ping(payload: Buffer): void;
  pong(payload: Buffer): void;
  /** 1005 when the close frame carried no code. */
  close(code: number, reason: string): void;
}

/**
 * Reads frames from a byte stream in any split: push() each chunk as it arrives. A frame inside
 * one chunk reaches the handler as a view of that chunk (no copy); a frame across chunks is joined
 * once. Memory is bounded by maxPayload: a data frame or message above it, like every other
 * violation, throws a WsProtocolError with the close code to send.
 */
export class FrameReader {
  /** Header bytes of a header split across chunks (at most 14). */
  private readonly head = Buffer.allocUnsafe(14);
  private headLength = 0;
  /** Payload bytes the current frame still needs; -1 while reading a header. */
  private left = -1;
  private length = 0;
  private fin = false;
  private opcode = 0;
  private readonly key = Buffer.alloc(4);
  private unmask = false;
  /** The current frame's payload so far, when it spans chunks. */
  private parts: Buffer[] = [];
  private received = 0;
  private grown: Buffer | undefined;
  /** The fragmented message in progress: its opcode (-1: none), its fragments. */
  private messageOpcode = -1;
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentCount = 0;
  private stopped = false;

  constructor(
    private readonly options: { masked: boolean; maxPayload: number; parts?: boolean },
    private readonly on: FrameHandlers,
  ) {}

  /** Drops everything buffered and ignores further input (after a close or a violation). */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.fragments = [];
    this.grown = undefined;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (this.left < 0) {
        if (this.headLength === 0) {
          const size = this.header(chunk, at, chunk.length - at);
          if (size === 0) {
            this.headLength = chunk.copy(this.head, 0, at);
            return;
          }
          at += size;
        } else {
          const take = Math.min(14 - this.headLength, chunk.length - at);
          chunk.copy(this.head, this.headLength, at, at + take);
          const size = this.header(this.head, 0, this.headLength + take);
          if (size === 0) {
            this.headLength += take;
            return;
          }
          at += size - this.headLength;
          this.headLength = 0;
        }
        if (this.left === 0) {
          this.frame(EMPTY);
          continue;
        }
      }
      const available = chunk.length - at;
      if (this.received === 0 && available >= this.left) {
        const payload = chunk.subarray(at, at + this.left);
        at += this.left;
        this.frame(payload);
        continue;
      }
      const take = Math.min(available, this.left);
      this.append(chunk.subarray(at, at + take));
      at += take;
      this.left -= take;
      if (this.left === 0) {
        if (this.options.parts && this.parts.length > 1 && this.opcode === Opcode.Binary && this.fin && !this.unmask)
          this.partsMessage();
        else this.frame(this.collect());
      }
    }
  }

  /** Parses and checks a frame header at buf[at…]; its size, or 0 when more bytes are needed. */
  private header(buf: Buffer, at: number, available: number): number {
    if (available < 2) return 0;
    const b0 = buf[at];
    const b1 = buf[at + 1];
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (b0 & 0x70)
      throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'reserved bits set (no extension was negotiated)');
    if (opcode >= Opcode.Close) {
      if (opcode > Opcode.Pong) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, `unknown opcode ${opcode}`);
      if (!fin) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'fragmented control frame');
      if ((b1 & 0x7f) > 125) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'control frame longer than 125 bytes');
    } else if (opcode > Opcode.Binary) {
      throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, `unknown opcode ${opcode}`);
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode < 0)
        throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'continuation frame without a message');
    } else if (this.messageOpcode >= 0) {
      throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'new message before the last fragment of the previous one');
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.options.masked)
      throw new WsProtocolError(
        WS_CLOSE_PROTOCOL_ERROR,
        masked ? 'masked frame from the server' : 'unmasked frame from a client',
      );
    let length = b1 & 0x7f;
    let size = 2;
    if (length === 126) {
      if (available < 4) return 0;
      length = buf.readUInt16BE(at + 2);
      size = 4;
    } else if (length === 127) {
      if (available < 10) return 0;
      const high = buf.readUInt32BE(at + 2);
      if (high & 0x80000000) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, '64-bit length with its top bit set');
      length = high * 2 ** 32 + buf.readUInt32BE(at + 6);
      size = 10;
    }
    if (opcode < Opcode.Close && length + this.fragmentBytes > this.options.maxPayload)
      throw new WsProtocolError(WS_CLOSE_TOO_BIG, `message larger than ${this.options.maxPayload} bytes`);
    if (masked) {
      if (available < size + 4) return 0;
      buf.copy(this.key, 0, at + size, at + size + 4);
      this.unmask = this.key.readUInt32BE(0) !== 0;
      size += 4;
    }
    this.fin = fin;
    this.opcode = opcode;
    this.length = length;
    this.left = length;
    return size;
  }

  private append(part: Buffer): void {
    const grown = this.grown;
    if (grown) {
      if (this.received + part.length > grown.length) {
        const bigger = Buffer.allocUnsafe(
          Math.min(this.length, Math.max(2 * grown.length, this.received + part.length)),
        );
        grown.copy(bigger, 0, 0, this.received);
        this.grown = bigger;
      }
      this.received += part.copy(this.grown!, this.received);
      return;
    }
    this.parts.push(part);
    this.received += part.length;
    if (this.parts.length > MAX_PARTS) {
      // A payload trickling in many small reads: one buffer growing by doubling (linear copying,
      // at most twice the bytes received), not thousands of chunk views.
      const into = Buffer.allocUnsafe(Math.min(this.length, Math.max(2 * this.received, 64 * 1024)));
      let offset = 0;
      for (const p of this.parts) offset += p.copy(into, offset);
      this.parts = [];
      this.grown = into;
    }
  }

  private collect(): Buffer {
    const payload = this.grown
      ? this.grown.subarray(0, this.received)
      : this.parts.length === 1
        ? this.parts[0]
        : Buffer.concat(this.parts, this.received);
    this.parts = [];
    this.grown = undefined;
    this.received = 0;
    return payload;
  }

  /** A binary message of one frame, unmasked, in the chunks it spanned: handed on as they are. */
  private partsMessage(): void {
    const parts = this.parts;
    this.parts = [];
    this.received = 0;
    this.left = -1;
    this.on.message(parts, true);
  }

  /** A whole frame's payload (a view we may unmask in place: socket chunks are ours). */
  private frame(payload: Buffer): void {
    this.left = -1;
    if (this.unmask) applyMask(payload, this.key, payload, 0);
    const opcode = this.opcode;
    if (opcode === Opcode.Close) return this.closeFrame(payload);
    if (opcode === Opcode.Ping) return this.on.ping(payload);
    if (opcode === Opcode.Pong) return this.on.pong(payload);
    if (opcode !== Opcode.Continuation) {
      if (this.fin) return this.deliver(payload, opcode);
      this.messageOpcode = opcode;
    }
    if (++this.fragmentCount > MAX_FRAGMENTS)
      throw new WsProtocolError(WS_CLOSE_TOO_BIG, `message in more than ${MAX_FRAGMENTS} fragments`);
    if (payload.length) this.fragments.push(payload);
    this.fragmentBytes += payload.length;
    if (!this.fin) return;
    const whole = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments, this.fragmentBytes);
    const messageOpcode = this.messageOpcode;
    this.messageOpcode = -1;
    this.fragments = [];
    this.fragmentBytes = 0;
    this.fragmentCount = 0;
    this.deliver(whole, messageOpcode);
  }

  private deliver(data: Buffer, opcode: number): void {
    if (opcode === Opcode.Text && !isUtf8(data))
      throw new WsProtocolError(WS_CLOSE_INVALID_DATA, 'text message is not valid UTF-8');
    this.on.message(data, opcode === Opcode.Binary);
  }

  private closeFrame(payload: Buffer): void {
    if (payload.length === 0) return this.on.close(WS_CLOSE_NO_STATUS, '');
    if (payload.length === 1) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, 'close frame with a 1-byte payload');
    const code = payload.readUInt16BE(0);
    if (!isValidCloseCode(code)) throw new WsProtocolError(WS_CLOSE_PROTOCOL_ERROR, `invalid close code ${code}`);
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) throw new WsProtocolError(WS_CLOSE_INVALID_DATA, 'close reason is not valid UTF-8');
    this.on.close(code, reason.toString('utf8'));
  }
}
