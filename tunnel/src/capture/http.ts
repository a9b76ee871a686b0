// Small HTTP helpers shared by the capture serialisers (ngrok JSON, HAR, curl).

import { STATUS_CODES } from 'node:http';
import zlib from 'node:zlib';
import { rawHeader } from '../net/raw-headers';
import type { CapturedBody, CapturedExchange, CapturedRequest, CapturedResponse } from './store';

export interface HeaderPair {
  name: string;
  value: string;
}

/** Node's rawHeaders ([name, value, name, value, …]) as pairs, without HTTP/2 pseudo-headers. */
export function headerPairs(rawHeaders: string[]): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].startsWith(':')) continue;
    out.push({ name: rawHeaders[i], value: rawHeaders[i + 1] });
  }
  return out;
}

/** Go's textproto.CanonicalMIMEHeaderKey, which is how ngrok spells header names in its JSON. */
export function canonicalHeaderName(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** ngrok's `headers` object: canonical name → every value, in arrival order. */
export function ngrokHeaders(rawHeaders: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { name, value } of headerPairs(rawHeaders)) (out[canonicalHeaderName(name)] ??= []).push(value);
  return out;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus whatever the Connection header names. */
export function hopByHopNames(rawHeaders: string[]): Set<string> {
  const names = new Set([
    'connection',
    'keep-alive',
    'proxy-connection',
    'proxy-authenticate',
    'proxy-authorization',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
  ]);
  for (const { name, value } of headerPairs(rawHeaders)) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const token of value.split(',')) if (token.trim()) names.add(token.trim().toLowerCase());
  }
  return names;
}

export function isChunked(rawHeaders: string[]): boolean {
  for (const { name, value } of headerPairs(rawHeaders))
    if (name.toLowerCase() === 'transfer-encoding' && /(^|,)\s*chunked\s*$/i.test(value)) return true;
  return false;
}

function headBlock(startLine: string, rawHeaders: string[]): string {
  let head = startLine + '\r\n';
  let hasHost = false;
  for (const { name, value } of headerPairs(rawHeaders)) {
    if (name.toLowerCase() === 'host') hasHost = true;
    head += `${name}: ${value}\r\n`;
  }
  // HTTP/2 carries the host in :authority; an HTTP/1.1 rendering needs a Host header.
  const authority = hasHost ? undefined : rawHeader(rawHeaders, ':authority');
  if (authority) head = head.replace('\r\n', `\r\nHost: ${authority}\r\n`);
  return head + '\r\n';
}

/** HTTP/2 exchanges are rendered as HTTP/1.1 in `raw`; `proto` still says HTTP/2.0. */
function wireVersion(httpVersion: string): string {
  return httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
}

export function requestHead(req: CapturedRequest): string {
  return headBlock(`${req.method} ${req.uri} ${wireVersion(req.httpVersion)}`, req.rawHeaders);
}

/** The reason phrase, filled in from the status code when the upstream sent none (HTTP/2). */
export function statusText(res: CapturedResponse): string {
  return res.statusMessage || STATUS_CODES[res.statusCode] || '';
}

export function responseHead(res: CapturedResponse): string {
  return headBlock(`${wireVersion(res.httpVersion)} ${res.statusCode} ${statusText(res)}`, res.rawHeaders);
}

/** The body as it travelled: re-framed as one chunk when the message used chunked encoding. */
function wireBody(body: CapturedBody, rawHeaders: string[]): Buffer[] {
  const bytes = body.bytes();
  if (!isChunked(rawHeaders)) return [bytes];
  const parts: Buffer[] = [];
  if (bytes.length > 0) parts.push(Buffer.from(bytes.length.toString(16) + '\r\n'), bytes, Buffer.from('\r\n'));
  if (body.complete && !body.truncated) parts.push(Buffer.from('0\r\n\r\n'));
  return parts;
}

/** The HTTP/1.1 bytes of a captured message (head + kept body), as ngrok's `raw` field holds them. */
export function rawMessage(msg: CapturedRequest | CapturedResponse): Buffer {
  const head = 'method' in msg ? requestHead(msg) : responseHead(msg);
  return Buffer.concat([Buffer.from(head, 'latin1'), ...wireBody(msg.body, msg.rawHeaders)]);
}

export function protoString(httpVersion: string): string {
  return `HTTP/${httpVersion}`;
}

/** Scheme + authority the client used, from the forwarding headers the edge adds. */
export function requestOrigin(ex: CapturedExchange): string {
  const raw = ex.request.rawHeaders;
  const host =
    rawHeader(raw, 'x-forwarded-host') ?? rawHeader(raw, 'host') ?? rawHeader(raw, ':authority') ?? 'localhost';
  const proto = (rawHeader(raw, 'x-forwarded-proto') ?? rawHeader(raw, ':scheme') ?? 'http').split(',').pop()!.trim();
  return `${proto === 'https' ? 'https' : 'http'}://${host.split(',')[0].trim()}`;
}

/** Absolute URL of the captured request, against `base` (a tunnel's public URL) or its own Host. */
export function requestUrl(ex: CapturedExchange, base?: string): string {
  const uri = ex.request.uri;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return uri; // absolute-form (proxy requests)
  const origin = (base ?? requestOrigin(ex)).replace(/\/+$/, '');
  return origin + (uri.startsWith('/') ? uri : '/' + uri);
}

export const MAX_DECODED_BYTES = 64 * 1024 * 1024;

/**
 * Removes Content-Encoding (gzip, deflate, br) for display and HAR. Returns undefined when the
 * encoding is unknown or the bytes do not decode (e.g. a truncated body).
 */
export function decodeContent(bytes: Buffer, contentEncoding: string | undefined): Buffer | undefined {
  if (!contentEncoding) return bytes;
  let out = bytes;
  const opts = { maxOutputLength: MAX_DECODED_BYTES };
  try {
    // Encodings are listed in the order applied; undo them last to first.
    for (const enc of contentEncoding
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean)
      .reverse()) {
      if (enc === 'identity') continue;
      else if (enc === 'gzip' || enc === 'x-gzip') out = zlib.gunzipSync(out, opts);
      else if (enc === 'deflate') out = inflateEither(out, opts);
      else if (enc === 'br') out = zlib.brotliDecompressSync(out, opts);
      else return undefined;
    }
  } catch {
    return undefined;
  }
  return out;
}

/** "deflate" is zlib-wrapped per the RFC, but some servers send raw deflate. */
function inflateEither(bytes: Buffer, opts: zlib.ZlibOptions): Buffer {
  try {
    return zlib.inflateSync(bytes, opts);
  } catch {
    return zlib.inflateRawSync(bytes, opts);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as a string if they are valid UTF-8 (so encoding the string gives the same bytes). */
export function utf8OrUndefined(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
