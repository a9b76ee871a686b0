// A strict HTTP/1.1 head parser (RFC 9110/9112) for the raw data path: only the request head and
// the response head are parsed; bodies move as raw bytes framed by what this returns. Strict
// where a lenient parser opens the door to request smuggling: anything ambiguous is refused, never
// guessed. Refused: obs-fold, bare LF or CR, whitespace before the colon, control characters,
// duplicate or malformed Content-Length, Content-Length with Transfer-Encoding in a request, any
// request transfer coding but a single `chunked`, a missing or repeated Host in HTTP/1.1.
// Node's own parser (llhttp) is not public API; test/unit/http1-head.test.ts checks this one
// against it (never accept what llhttp refuses, and agree on what both accept) and fuzzes it.
// Per head it makes one latin1 string of the head, a string per name and value (every consumer
// reads the list: a lazy list cost a second scan, docs/benchmarks.md round 8), and nothing per
// framing check (names compared by character, tokens read as flags).

import { METHODS as METHODS_LIST } from 'node:http';
import { rawHeaderValues } from '../net/raw-headers';

export class HeadParseError extends Error {
  constructor(
    readonly code: 'ERR_BURROW_BAD_REQUEST' | 'ERR_NGROK_3004',
    message: string,
  ) {
    super(message);
  }
}

/** How the message's body is delimited on the wire. */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Response only: the body runs until the upstream closes the connection. */
  | { kind: 'close' };

export interface RequestHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  /** Names and values alternating, names as sent, values without surrounding whitespace. */
  rawHeaders: string[];
  body: BodyFraming;
  /** The client wants the connection kept open after this exchange. */
  keepAlive: boolean;
  /** The Upgrade header when Connection names `upgrade` (websocket, h2c, …). */
  upgrade?: string;
}

export interface ResponseHead {
  status: number;
  reason: string;
  version: '1.0' | '1.1';
  rawHeaders: string[];
  body: BodyFraming;
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
}

export const MAX_HEAD_BYTES = 64 * 1024;
export const MAX_HEADERS = 256;

/** Shared framings without data (never mutated). */
const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const UNTIL_CLOSE: BodyFraming = Object.freeze({ kind: 'close' });

const CR = 13;
const LF = 10;

/**
 * Where the head in `buf` ends (the index just after its blank line), or -1 if it is not complete
 * yet. Throws on a bare LF (refused, not tolerated) or a head over `maxBytes`.
 */
export function findHeadEnd(
  buf: Buffer,
  maxBytes = MAX_HEAD_BYTES,
  badCode: HeadParseError['code'] = 'ERR_BURROW_BAD_REQUEST',
): number {
  let i = buf.indexOf(LF);
  while (i !== -1) {
    if (i === 0 || buf[i - 1] !== CR) throw new HeadParseError(badCode, 'bare LF in the message head');
    if (i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR) {
      if (i + 1 > maxBytes) throw new HeadParseError(badCode, `message head larger than ${maxBytes} bytes`);
      return i + 1;
    }
    i = buf.indexOf(LF, i + 1);
  }
  if (buf.length > maxBytes) throw new HeadParseError(badCode, `message head larger than ${maxBytes} bytes`);
  return -1;
}

// tchar (RFC 9110 §5.6.2)
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value: VCHAR / obs-text with SP or HTAB inside (no CTLs, no DEL)
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// request-target: origin-form, absolute-form or `*` (authority-form is CONNECT's, refused below).
const TARGET = /^(?:\/[\x21-\x7e]*|\*|[A-Za-z][A-Za-z0-9+.-]*:\/\/[\x21-\x7e]+)$/;
// The methods Node's parser knows (what the edge has always accepted); any other token is refused.
const METHODS = new Set(METHODS_LIST);

/** The start line, the header fields, and the values of the fields the framing depends on. */
interface SplitHead {
  start: string;
  rawHeaders: string[];
  /** Every value of each of these fields, in order (undefined: none). */
  host: string[] | undefined;
  contentLength: string[] | undefined;
  transferEncoding: string[] | undefined;
  connection: string[] | undefined;
  upgrade: string[] | undefined;
}

// The field lines, all of them in one test (no match objects): name, `:`, optional whitespace,
// value (no CR/LF/CTL), CRLF, each. Sticky: tested from the end of the start line. A head it does
// not match goes to `splitHeadStrict`, which says what is wrong with it; one it matches is then cut
// into names and values by position (a name holds no `:`, a value no CR).
const FIELD_LINES = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/y;
const CR_OR_LF = /[\r\n]/;
const SP = 0x20;
const HTAB = 0x09;

/** Buffer's own latin1 reader (what `toString('latin1', …)` calls, without its argument checks). */
type Latin1Reader = { latin1Slice(start: number, end: number): string };

/** `list` with `value` added (a one-element literal for the first: no growth room allocated). */
function add(list: string[] | undefined, value: string): string[] {
  if (list === undefined) return [value];
  list.push(value);
  return list;
}

/**
 * Whether `text` from `at` holds `lower` (a framing field's name, lower case) in any case, the
 * length already checked: no lower-cased copy. Only letters are folded (`| 0x20` maps no other
 * character a name may hold onto a letter), `-` is compared as is.
 */
function named(text: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const want = lower.charCodeAt(i);
    const c = text.charCodeAt(at + i);
    if (c !== want && (want < 0x61 || (c | 0x20) !== want)) return false;
  }
  return true;
}

/** The value of the field line whose colon is at `colon` and CR at `eol`, without surrounding SP/HTAB. */
function valueOf(text: string, colon: number, eol: number): string {
  let from = colon + 1;
  let c: number;
  while (from < eol && ((c = text.charCodeAt(from)) === SP || c === HTAB)) from++;
  let to = eol;
  while (to > from && ((c = text.charCodeAt(to - 1)) === SP || c === HTAB)) to--;
  return text.slice(from, to);
}

/**
 * The header fields of `count` well-formed field lines in `text` from `from` (as the fast reading
 * checked them): names as sent, values without surrounding SP/HTAB, alternating, as the parsers
 * give them (headFields, for a whole head).
 */
export function fieldsOf(text: string, from: number, count: number): string[] {
  const raw: string[] = new Array(2 * count);
  let at = from;
  for (let k = 0; k < 2 * count; k += 2) {
    const colon = text.indexOf(':', at);
    const eol = text.indexOf('\r', colon);
    raw[k] = text.slice(at, colon);
    raw[k + 1] = valueOf(text, colon, eol);
    at = eol + 2;
  }
  return raw;
}

/**
 * The header list of a whole head's text that the parser accepted (start line, fields, blank
 * line), as the parser gave it: what capture reads back from a head it kept as bytes.
 */
export function headFields(head: string): string[] {
  const from = head.indexOf('\r\n') + 2;
  let count = -1; // the blank line's CRLF is no field
  for (let i = head.indexOf('\r', from); i >= 0; i = head.indexOf('\r', i + 2)) count++;
  return count > 0 ? fieldsOf(head, from, count) : [];
}

/**
 * The fast reading's result: one object, reused by every parse (a parse is synchronous, and the
 * parsers copy what they keep out of it before returning), so a head costs no split object.
 */
const fastSplit: SplitHead = {
  start: '',
  rawHeaders: [],
  host: undefined,
  contentLength: undefined,
  transferEncoding: undefined,
  connection: undefined,
  upgrade: undefined,
};

/**
 * Splits a complete head (as found by findHeadEnd) into its start line and header fields: one
 * latin1 string for the head, one regex test for all its field lines, then names and values cut
 * out by position; names of a framing field's length are compared with it by character (no
 * copies) and its values noted (so the parsers need no further pass over the list). Refuses
 * exactly what `splitHeadStrict` does.
 */
function splitHead(head: Buffer, code: HeadParseError['code']): SplitHead {
  const n = head.length;
  // Up to and including the last field's CRLF (the blank line's CRLF is left out).
  const text = (head as unknown as Latin1Reader).latin1Slice(0, n < 2 ? 0 : n - 2);
  const lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0 || head[n - 4] !== CR || head[n - 3] !== LF || head[n - 2] !== CR || head[n - 1] !== LF)
    return splitHeadStrict(head, code);
  const start = text.slice(0, lineEnd);
  if (CR_OR_LF.test(start)) return splitHeadStrict(head, code);
  FIELD_LINES.lastIndex = lineEnd + 2;
  if (!FIELD_LINES.test(text)) return splitHeadStrict(head, code);
  const end = text.length;
  // The list at its exact length (a list grown by push keeps spare room: ≈ 130 B for a short head).
  let count = 0;
  for (let i = text.indexOf('\n', lineEnd + 2); i >= 0; i = text.indexOf('\n', i + 1)) count++;
  if (count > MAX_HEADERS) return splitHeadStrict(head, code);
  const out = fastSplit;
  const raw: string[] = new Array(2 * count);
  out.start = start;
  out.rawHeaders = raw;
  out.host = out.contentLength = out.transferEncoding = out.connection = out.upgrade = undefined;
  let at = lineEnd + 2;
  for (let k = 0; at < end; k += 2) {
    const colon = text.indexOf(':', at);
    const eol = text.indexOf('\r', colon);
    let from = colon + 1;
    let c: number;
    while (from < eol && ((c = text.charCodeAt(from)) === SP || c === HTAB)) from++;
    let to = eol;
    while (to > from && ((c = text.charCodeAt(to - 1)) === SP || c === HTAB)) to--;
    const value = text.slice(from, to);
    raw[k] = text.slice(at, colon);
    raw[k + 1] = value;
    // Only names as long as a framing field's are compared (by character: no lower-cased copy).
    switch (colon - at) {
      case 4:
        if (named(text, at, 'host')) out.host = add(out.host, value);
        break;
      case 7:
        if (named(text, at, 'upgrade')) out.upgrade = add(out.upgrade, value);
        break;
      case 10:
        if (named(text, at, 'connection')) out.connection = add(out.connection, value);
        break;
      case 14:
        if (named(text, at, 'content-length'))
          out.contentLength = add(out.contentLength, contentLengthText(text, from, eol));
        break;
      case 17:
        if (named(text, at, 'transfer-encoding')) out.transferEncoding = add(out.transferEncoding, value);
        break;
    }
    at = eol + 2;
  }
  return out;
}

/** The line-by-line reading of a head, with a precise reason for what it refuses (and the same result for what it accepts). */
function splitHeadStrict(head: Buffer, code: HeadParseError['code']): SplitHead {
  const text = head.toString('latin1', 0, head.length - 4);
  const lines = text.split('\r\n');
  const start = lines[0];
  if (/[\r\n]/.test(text.replace(/\r\n/g, ''))) throw new HeadParseError(code, 'bare CR or LF in the message head');
  const rawHeaders: string[] = [];
  let contentLength: string[] | undefined;
  if (lines.length - 1 > MAX_HEADERS) throw new HeadParseError(code, `more than ${MAX_HEADERS} header fields`);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line[0] === ' ' || line[0] === '\t') throw new HeadParseError(code, 'obsolete line folding in a header field');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HeadParseError(code, 'header field without a name and colon');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadParseError(code, `invalid header field name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw new HeadParseError(code, `invalid character in header field ${name}`);
    rawHeaders.push(name, value);
    if (name.toLowerCase() === 'content-length') {
      let from = colon + 1;
      while (line[from] === ' ' || line[from] === '\t') from++;
      (contentLength ??= []).push(contentLengthText(line, from, line.length));
    }
  }
  const values = (name: string) => {
    const v = rawHeaderValues(rawHeaders, name);
    return v.length ? v : undefined;
  };
  return {
    start,
    rawHeaders,
    host: values('host'),
    contentLength,
    transferEncoding: values('transfer-encoding'),
    connection: values('connection'),
    upgrade: values('upgrade'),
  };
}

/**
 * A Content-Length value as llhttp reads it: `text` from `from` (after the leading whitespace) to
 * `end`, with only trailing spaces dropped. llhttp refuses a tab after the digits, so a trailing
 * tab stays in and makes the value invalid (the raw path and Node's must agree on framing).
 */
function contentLengthText(text: string, from: number, end: number): string {
  while (end > from && text.charCodeAt(end - 1) === SP) end--;
  return text.slice(from, end);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** What `String.prototype.trim` drops from a field value (values hold no other whitespace). */
function isTrimmed(c: number): boolean {
  return c === SP || c === HTAB || c === 0xa0;
}

/** Connection tokens (tokenFlags). */
export const TOKEN_CLOSE = 1;
export const TOKEN_KEEP_ALIVE = 2;
export const TOKEN_UPGRADE = 4;
/** Transfer codings (tokenFlags): the last one is `chunked`; the count of codings is `flags >> 3`. */
export const TOKEN_LAST_CHUNKED = 8;
const TOKEN_COUNT = 16;

/**
 * The comma-separated tokens of `values` (each trimmed as `trim()` does, compared without case,
 * empty ones left out) as flags: which of close / keep-alive / upgrade appear, whether the last
 * one is `chunked`, and how many there are (`flags / TOKEN_COUNT`). No token strings are made.
 */
export function tokenFlags(values: string[] | undefined): number {
  let flags = 0;
  if (values === undefined) return 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    let at = 0;
    while (at <= v.length) {
      let end = v.indexOf(',', at);
      if (end < 0) end = v.length;
      let from = at;
      let to = end;
      while (from < to && isTrimmed(v.charCodeAt(from))) from++;
      while (to > from && isTrimmed(v.charCodeAt(to - 1))) to--;
      if (to > from) {
        flags = (flags & ~TOKEN_LAST_CHUNKED) + TOKEN_COUNT;
        const len = to - from;
        if (len === 5 && named(v, from, 'close')) flags |= TOKEN_CLOSE;
        else if (len === 10 && named(v, from, 'keep-alive')) flags |= TOKEN_KEEP_ALIVE;
        else if (len === 7 && named(v, from, 'upgrade')) flags |= TOKEN_UPGRADE;
        else if (len === 7 && named(v, from, 'chunked')) flags |= TOKEN_LAST_CHUNKED;
      }
      at = end + 1;
    }
  }
  return flags;
}

/** One Content-Length, as llhttp reads it: a repeated one (even the same value, or `3, 3`) is refused both ways. */
function contentLength(values: string[] | undefined, code: HeadParseError['code']): number | undefined {
  if (values === undefined) return undefined;
  if (values.length > 1 || values[0].includes(',')) throw new HeadParseError(code, 'more than one Content-Length');
  const value = values[0];
  if (!/^\d{1,15}$/.test(value)) throw new HeadParseError(code, `invalid Content-Length ${JSON.stringify(value)}`);
  return Number(value);
}

const CHUNKED_BODY: BodyFraming = Object.freeze({ kind: 'chunked' });

/** Parses a complete request head (the bytes up to and including its blank line). */
export function parseRequestHead(head: Buffer): RequestHead {
  const code = 'ERR_BURROW_BAD_REQUEST';
  const split = splitHead(head, code);
  const start = split.start;
  // METHOD SP target SP HTTP/1.x, cut by position (no match object per request).
  const sp1 = start.indexOf(' ');
  const sp2 = sp1 > 0 ? start.indexOf(' ', sp1 + 1) : -1;
  const minor = start.charCodeAt(start.length - 1);
  if (
    sp2 <= sp1 + 1 ||
    start.length - sp2 !== 9 ||
    !start.startsWith(' HTTP/1.', sp2) ||
    (minor !== 0x30 && minor !== 0x31)
  )
    throw new HeadParseError(code, 'invalid request line');
  const method = start.slice(0, sp1);
  const target = start.slice(sp1 + 1, sp2);
  if (!METHODS.has(method) || !TARGET.test(target)) throw new HeadParseError(code, 'invalid request line');
  // A reverse proxy serves no CONNECT tunnels (Node's server closes them unanswered as well).
  if (method === 'CONNECT') throw new HeadParseError(code, 'CONNECT is not served here');
  const version = minor === 0x31 ? '1.1' : '1.0';
  const hosts = split.host;
  if (hosts && hosts.length > 1) throw new HeadParseError(code, 'more than one Host header');
  if (version === '1.1' && !hosts) throw new HeadParseError(code, 'HTTP/1.1 request without Host');
  const te = split.transferEncoding;
  const cl = contentLength(split.contentLength, code);
  let body: BodyFraming = NO_BODY;
  if (te) {
    if (cl !== undefined) throw new HeadParseError(code, 'both Content-Length and Transfer-Encoding');
    if (version === '1.0') throw new HeadParseError(code, 'Transfer-Encoding in an HTTP/1.0 request');
    // Exactly one coding, and it is chunked.
    if (tokenFlags(te) !== TOKEN_COUNT + TOKEN_LAST_CHUNKED)
      throw new HeadParseError(code, `unsupported Transfer-Encoding ${JSON.stringify(te.join(', '))}`);
    body = CHUNKED_BODY;
  } else if (cl !== undefined && cl > 0) body = { kind: 'length', length: cl };
  const connection = tokenFlags(split.connection);
  const keepAlive = version === '1.1' ? !(connection & TOKEN_CLOSE) : (connection & TOKEN_KEEP_ALIVE) !== 0;
  const upgradeValues = split.upgrade;
  const upgrade = connection & TOKEN_UPGRADE && upgradeValues?.length === 1 ? upgradeValues[0] : undefined;
  const parsed: RequestHead = { method, target, version, rawHeaders: split.rawHeaders, body, keepAlive };
  if (upgrade) parsed.upgrade = upgrade;
  return parsed;
}

// A reason phrase: what follows the status code's SP (sticky, tested from offset 13 of the status line).
const REASON = /[\t\x20-\x7e\x80-\xff]*$/y;

/** Whether the status line's reason (from offset 13) holds only what a field value may (no slice made). */
function validReason(start: string): boolean {
  REASON.lastIndex = 13;
  return REASON.test(start);
}

/**
 * Parses a complete response head. `requestMethod` decides the framing of bodiless responses
 * (HEAD); errors carry ERR_NGROK_3004 (invalid response from the upstream).
 */
export function parseResponseHead(head: Buffer, requestMethod: string): ResponseHead {
  const code = 'ERR_NGROK_3004';
  const split = splitHead(head, code);
  const start = split.start;
  // HTTP/1.x SP 3DIGIT [SP reason], by position (no match object per response).
  const minor = start.charCodeAt(7);
  if (
    !start.startsWith('HTTP/1.') ||
    (minor !== 0x30 && minor !== 0x31) ||
    start.charCodeAt(8) !== SP ||
    !isDigit(start.charCodeAt(9)) ||
    !isDigit(start.charCodeAt(10)) ||
    !isDigit(start.charCodeAt(11)) ||
    (start.length > 12 && (start.charCodeAt(12) !== SP || !validReason(start)))
  )
    throw new HeadParseError(code, 'invalid status line');
  const version = minor === 0x31 ? '1.1' : '1.0';
  const status =
    (start.charCodeAt(9) - 0x30) * 100 + (start.charCodeAt(10) - 0x30) * 10 + (start.charCodeAt(11) - 0x30);
  if (status < 100) throw new HeadParseError(code, `invalid status ${status}`);
  const te = split.transferEncoding;
  const cl = contentLength(split.contentLength, code);
  const connection = tokenFlags(split.connection);
  let keepAlive = version === '1.1' ? !(connection & TOKEN_CLOSE) : (connection & TOKEN_KEEP_ALIVE) !== 0;
  let body: BodyFraming;
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) body = NO_BODY;
  else if (te) {
    // RFC 9112 §6.3: chunked last → chunked; otherwise read until close. With a Content-Length
    // too, Transfer-Encoding wins and the connection must not be reused.
    body = tokenFlags(te) & TOKEN_LAST_CHUNKED ? CHUNKED_BODY : UNTIL_CLOSE;
    if (cl !== undefined || body.kind === 'close') keepAlive = false;
  } else if (cl !== undefined) body = cl > 0 ? { kind: 'length', length: cl } : NO_BODY;
  else {
    body = UNTIL_CLOSE;
    keepAlive = false;
  }
  const reason = start.length > 13 ? start.slice(13) : '';
  return { status, reason, version, rawHeaders: split.rawHeaders, body, keepAlive };
}

/** A split head as the tests compare it: the fields as a list, the framing values that were seen. */
function splitView(split: SplitHead): Record<string, unknown> {
  const out: Record<string, unknown> = {
    start: split.start,
    rawHeaders: split.rawHeaders,
  };
  for (const key of ['host', 'contentLength', 'transferEncoding', 'connection', 'upgrade'] as const)
    if (split[key] !== undefined) out[key] = split[key];
  return out;
}

/** For tests: the fast reading of a head must agree with the line-by-line one on every input. */
export const headSplitters = {
  fast: (head: Buffer, code: HeadParseError['code']) => splitView(splitHead(head, code)),
  strict: (head: Buffer, code: HeadParseError['code']) => splitView(splitHeadStrict(head, code)),
};

// ---- writing heads ----
//
// Heads are written piece by piece into one Buffer of their exact length: no string per line and
// no concatenated head text to flatten (each was a string or two per header and request). Every
// piece is latin1 (callers refuse characters above 0xFF first, as Node does), so its byte length
// is its string length.

/** Strings up to this long are copied by a loop (≈ 2 ns a character); longer ones by one native call (≈ 45 ns). */
const SHORT_PIECE = 24;
type Latin1Writer = { latin1Write(text: string, offset: number, length: number): number };

/** Writes `text` (latin1) into `buf` at `at`; returns the offset after it. `buf` has room for it. */
export function putLatin1(buf: Buffer, text: string, at: number): number {
  const n = text.length;
  if (n > SHORT_PIECE) return at + (buf as unknown as Latin1Writer).latin1Write(text, at, n);
  for (let i = 0; i < n; i++) buf[at + i] = text.charCodeAt(i);
  return at + n;
}

/** Writes `name: value\r\n` for each field of `rawHeaders` at `at`; returns the offset after them. */
export function putFields(buf: Buffer, rawHeaders: readonly string[], at: number): number {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    at = putLatin1(buf, rawHeaders[i], at);
    buf[at++] = 0x3a; // :
    buf[at++] = SP;
    at = putLatin1(buf, rawHeaders[i + 1], at);
    buf[at++] = CR;
    buf[at++] = LF;
  }
  return at;
}

/**
 * Whether `name` is the field `lower` (given in lower case) in any case: a lower-cased copy is made
 * only when the length and the first letter already agree (most names differ there).
 */
export function isField(name: string, lower: string): boolean {
  return (
    name.length === lower.length &&
    (name.charCodeAt(0) | 0x20) === lower.charCodeAt(0) &&
    (name === lower || name.toLowerCase() === lower)
  );
}

/** The bytes `putFields` writes for `rawHeaders`. */
export function fieldsLength(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i++) n += rawHeaders[i].length;
  return n + rawHeaders.length * 2; // ": " and CRLF per field
}
