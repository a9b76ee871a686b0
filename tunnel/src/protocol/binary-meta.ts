// The binary form of the two metadata payloads every HTTP exchange carries (feature `binary-meta`,
// PROTOCOL.md "Binary metadata"): the edge's request Open and the agent's response-head Meta.
// The same fields as the JSON messages (messages.ts), without JSON and without a shape check on
// the receiving side: every field's type follows from the layout, and the decoder checks the rest
// (kind, bits, counts, lengths) as it reads. Anything the layout does not carry (policy logs, an
// agent error, a string over 65,535 UTF-16 units) goes as JSON, which a peer always accepts.
//
//   payload = kind:u8 bits:u8 count:u16be [status:u16be] length:u16be[count] text
//
// `text` is the UTF-8 of the `count` strings back to back; each length is in UTF-16 code units
// of the decoded text (so the whole text is decoded with one call and cut into strings).
import { FLAG_BINARY, FRAME_HEADER_BYTES, FrameType, MAX_FRAME_PAYLOAD, ProtocolError } from './frames';
import { MESSAGE_MALFORMED, type HttpOpen, type HttpResponseHead } from './messages';

/** `kind` byte: an HTTP request (Open, edge → agent). */
export const KIND_HTTP_OPEN = 0x01;
/** `kind` byte: an HTTP response head (Meta, agent → edge). */
export const KIND_HTTP_RESPONSE = 0x02;

/** Open bits. */
const OPEN_HTTPS = 0x01;
const OPEN_UPGRADE = 0x02;
const OPEN_LOGS_RESPONSE = 0x04;
/** Response bits. */
const RESPONSE_STATUS_MESSAGE = 0x01;

/** Strings of an Open before its headers: binding, remoteAddr, method, url, httpVersion. */
const OPEN_FIELDS = 5;
const U16 = 0xffff;

/**
 * The Open or Meta frame of `meta` in binary form, or undefined when it has no binary form (the
 * caller sends JSON). Only `kind: 'http'` Opens and `kind: 'http-response'` Metas without `error`.
 */
export function encodeBinaryMeta(type: FrameType, flags: number, stream: number, meta: unknown): Buffer | undefined {
  const kind = (meta as { kind?: unknown } | null)?.kind;
  if (type === FrameType.Open && kind === 'http') {
    const o = meta as HttpOpen;
    if (o.logs !== undefined) return undefined;
    const bits =
      (o.scheme === 'https' ? OPEN_HTTPS : o.scheme === 'http' ? 0 : -1) |
      (o.upgrade ? OPEN_UPGRADE : 0) |
      (o.logsResponse ? OPEN_LOGS_RESPONSE : 0);
    if (bits < 0) return undefined;
    const first = [o.binding, o.remoteAddr, o.method, o.url, o.httpVersion];
    return encode(type, flags, stream, KIND_HTTP_OPEN, bits, -1, first, o.rawHeaders);
  }
  if (type === FrameType.Meta && kind === 'http-response') {
    const r = meta as HttpResponseHead;
    if (r.error !== undefined || !Number.isInteger(r.statusCode) || r.statusCode < 0 || r.statusCode > U16)
      return undefined;
    const hasMessage = r.statusMessage !== undefined;
    const first = hasMessage ? [r.statusMessage!] : [];
    const bits = hasMessage ? RESPONSE_STATUS_MESSAGE : 0;
    return encode(type, flags, stream, KIND_HTTP_RESPONSE, bits, r.statusCode, first, r.rawHeaders);
  }
  return undefined;
}

/** The frame: header, fixed fields, lengths, text; undefined when a value does not fit the layout. */
function encode(
  type: FrameType,
  flags: number,
  stream: number,
  kind: number,
  bits: number,
  status: number,
  first: string[],
  headers: string[],
): Buffer | undefined {
  if (!Array.isArray(headers) || headers.length % 2 !== 0) return undefined;
  const count = first.length + headers.length;
  if (count > U16) return undefined;
  for (const s of first) if (typeof s !== 'string' || s.length > U16) return undefined;
  for (const s of headers) if (typeof s !== 'string' || s.length > U16) return undefined;
  const text = first.length ? first.join('') + headers.join('') : headers.join('');
  const textBytes = Buffer.byteLength(text);
  const fixed = status < 0 ? 4 : 6;
  const length = fixed + 2 * count + textBytes;
  if (length > MAX_FRAME_PAYLOAD) return undefined;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  buf[0] = type;
  buf[1] = flags | FLAG_BINARY;
  buf.writeUInt32BE(stream, 2);
  buf.writeUInt32BE(length, 6);
  let p = FRAME_HEADER_BYTES;
  buf[p] = kind;
  buf[p + 1] = bits;
  buf[p + 2] = count >> 8;
  buf[p + 3] = count & 0xff;
  if (status >= 0) {
    buf[p + 4] = status >> 8;
    buf[p + 5] = status & 0xff;
  }
  p += fixed;
  for (const s of first) {
    buf[p++] = s.length >> 8;
    buf[p++] = s.length & 0xff;
  }
  for (const s of headers) {
    buf[p++] = s.length >> 8;
    buf[p++] = s.length & 0xff;
  }
  // All ASCII (the usual head): latin1 writes the same bytes without UTF-8 encoding.
  buf.write(text, p, textBytes === text.length ? 'latin1' : 'utf8');
  return buf;
}

function malformed(what: string, problem: string): never {
  throw new ProtocolError(MESSAGE_MALFORMED, `malformed binary ${what}: ${problem}`);
}

/**
 * The `count` strings at `offset` (lengths, then text) up to the end of `payload`: the first
 * `lead.length` into `lead`, the rest (the header names and values) returned. The lengths must cut
 * the decoded text exactly: a short or long payload, or bytes that are not UTF-8, are refused.
 */
function readStrings(payload: Buffer, offset: number, count: number, lead: string[], what: string): string[] {
  const textAt = offset + 2 * count;
  if (textAt > payload.length) malformed(what, `${count} string lengths announced, payload cut short`);
  const text = payload.toString('utf8', textAt);
  const headers = new Array<string>(count - lead.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const n = (payload[offset + 2 * i] << 8) | payload[offset + 2 * i + 1];
    if (at + n > text.length) malformed(what, `string ${i} runs past the text`);
    const value = text.slice(at, at + n);
    if (i < lead.length) lead[i] = value;
    else headers[i - lead.length] = value;
    at += n;
  }
  if (at !== text.length) malformed(what, `${text.length - at} characters of text after the last string`);
  // Bytes that are not UTF-8 (a payload cut inside a character among them) decode to U+FFFD,
  // whose length may still match: the text must re-encode to the bytes it came from.
  if (Buffer.byteLength(text) !== payload.length - textAt) malformed(what, 'the text is not UTF-8');
  return headers;
}

/** An HTTP Open in binary form (FLAG_BINARY), checked as it is read; a bad one is MESSAGE_MALFORMED. */
export function decodeHttpOpen(payload: Buffer): HttpOpen {
  if (payload.length < 4) malformed('open', `${payload.length} bytes, shorter than its fixed fields`);
  if (payload[0] !== KIND_HTTP_OPEN) malformed('open', `kind 0x${payload[0].toString(16)} is not an HTTP request`);
  const bits = payload[1];
  if (bits & ~(OPEN_HTTPS | OPEN_UPGRADE | OPEN_LOGS_RESPONSE))
    malformed('open', `unknown bits 0x${bits.toString(16)}`);
  const count = payload.readUInt16BE(2);
  if (count < OPEN_FIELDS || (count - OPEN_FIELDS) % 2 !== 0)
    malformed('open', `${count} strings (5 fields, then header name/value pairs)`);
  const s = new Array<string>(OPEN_FIELDS);
  const rawHeaders = readStrings(payload, 4, count, s, 'open');
  const open: HttpOpen = {
    kind: 'http',
    binding: s[0],
    remoteAddr: s[1],
    scheme: bits & OPEN_HTTPS ? 'https' : 'http',
    method: s[2],
    url: s[3],
    httpVersion: s[4],
    rawHeaders,
  };
  if (bits & OPEN_UPGRADE) open.upgrade = true;
  if (bits & OPEN_LOGS_RESPONSE) open.logsResponse = true;
  return open;
}

/** An HTTP response head in binary form (FLAG_BINARY), checked as it is read. */
export function decodeHttpResponseHead(payload: Buffer): HttpResponseHead {
  if (payload.length < 6) malformed('response head', `${payload.length} bytes, shorter than its fixed fields`);
  if (payload[0] !== KIND_HTTP_RESPONSE)
    malformed('response head', `kind 0x${payload[0].toString(16)} is not an HTTP response`);
  const bits = payload[1];
  if (bits & ~RESPONSE_STATUS_MESSAGE) malformed('response head', `unknown bits 0x${bits.toString(16)}`);
  const count = payload.readUInt16BE(2);
  const first = bits & RESPONSE_STATUS_MESSAGE ? 1 : 0;
  if (count < first || (count - first) % 2 !== 0)
    malformed('response head', `${count} strings (status message, then header name/value pairs)`);
  const lead = new Array<string>(first);
  const rawHeaders = readStrings(payload, 6, count, lead, 'response head');
  const head: HttpResponseHead = { kind: 'http-response', statusCode: payload.readUInt16BE(4), rawHeaders };
  if (first) head.statusMessage = lead[0];
  return head;
}
