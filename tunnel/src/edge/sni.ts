/**
 * SNI peeking for TLS passthrough routing.
 *
 * The edge routes `tls://` endpoints by the server name a client puts in its ClientHello, without
 * terminating TLS: it reads the first bytes of the connection, finds the SNI, picks an endpoint, then
 * replays exactly those bytes to the upstream and pipes the rest.
 *
 * - `parseClientHelloSni(buf)` is a pure, total parser over "the bytes received so far". It
 *   reassembles a ClientHello fragmented over several handshake records (RFC 8446 §5.1), answers
 *   `incomplete` while more bytes are needed, and `invalid` (with a reason) for anything that is
 *   not a well-formed TLS ClientHello or that would need more than MAX_HELLO_BYTES of input.
 *   It never throws. Server names are returned lower-cased without a trailing dot (DNS names are
 *   case-insensitive; the bytes replayed upstream are untouched).
 * - `readClientHello(socket, timeoutMs)` drives the parser from a raw socket.
 *
 * Only the TLS ClientHello framing is parsed; nothing here validates cipher suites or versions.
 */
import type net from 'node:net';

export type SniResult =
  { kind: 'ok'; serverName: string | undefined } | { kind: 'incomplete' } | { kind: 'invalid'; reason: string };

/** Most input (record headers included) we are willing to buffer while looking for the SNI. */
export const MAX_HELLO_BYTES = 32 * 1024;

const RECORD_HEADER = 5;
const MAX_RECORD_PLAINTEXT = 16 * 1024; // 2^14, RFC 8446 §5.1
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;

class Invalid extends Error {}

/** Parse the SNI out of the (possibly partial) first bytes a TLS client sent. Never throws. */
export function parseClientHelloSni(buf: Buffer): SniResult {
  try {
    const hello = reassembleClientHello(buf);
    if (hello === undefined) return { kind: 'incomplete' };
    return { kind: 'ok', serverName: serverNameFromClientHello(hello) };
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: err.message };
    // Defensive: a bug in the parser must still not crash the edge.
    return { kind: 'invalid', reason: `unparseable ClientHello (${String(err)})` };
  }
}

/**
 * Collect handshake record payloads until the whole ClientHello handshake message is present.
 * Returns the message body (after its 4-byte header), or undefined when more bytes are needed.
 * Only the first MAX_HELLO_BYTES of input are considered: a hello not complete within them is invalid.
 */
function reassembleClientHello(input: Buffer): Buffer | undefined {
  const buf = input.subarray(0, MAX_HELLO_BYTES);
  const tooLarge = (): never => {
    throw new Invalid(`ClientHello larger than ${MAX_HELLO_BYTES} bytes`);
  };
  const fragments: Buffer[] = [];
  let gathered = 0;
  let messageLength: number | undefined; // body length from the handshake header, once known
  let offset = 0;
  for (;;) {
    if (buf.length - offset < RECORD_HEADER) {
      if (buf.length > offset) checkRecordStart(buf.subarray(offset)); // fail fast on non-TLS bytes
      return input.length > buf.length ? tooLarge() : undefined;
    }
    checkRecordStart(buf.subarray(offset));
    const recordLength = buf.readUInt16BE(offset + 3);
    if (recordLength === 0) throw new Invalid('empty handshake record');
    if (recordLength > MAX_RECORD_PLAINTEXT) throw new Invalid(`TLS record too long (${recordLength} bytes)`);
    const recordEnd = offset + RECORD_HEADER + recordLength;
    const fragment = buf.subarray(offset + RECORD_HEADER, recordEnd);
    fragments.push(fragment);
    gathered += fragment.length;
    if (messageLength === undefined && gathered >= 4) {
      const header = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (header[0] !== HANDSHAKE_CLIENT_HELLO)
        throw new Invalid(`first handshake message is type ${header[0]}, not ClientHello`);
      messageLength = header.readUIntBE(1, 3);
      if (RECORD_HEADER + 4 + messageLength > MAX_HELLO_BYTES) tooLarge();
    }
    if (messageLength !== undefined && gathered >= 4 + messageLength) {
      return Buffer.concat(fragments).subarray(4, 4 + messageLength);
    }
    if (recordEnd > buf.length) return input.length > buf.length ? tooLarge() : undefined;
    offset = recordEnd;
  }
}

function checkRecordStart(record: Buffer): void {
  if (record[0] !== CONTENT_HANDSHAKE) {
    if (record[0] & 0x80) throw new Invalid('SSLv2-style ClientHello is not supported');
    throw new Invalid(`not a TLS handshake record (content type ${record[0]})`);
  }
  if (record.length >= 2 && record[1] !== 0x03)
    throw new Invalid(`unknown TLS record version ${record[1]}.${record[2] ?? '?'}`);
}

/** A bounds-checked reader: any read past the end means the message is malformed. */
class Reader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  bytes(n: number): Buffer {
    if (n > this.remaining) throw new Invalid(`${this.what} truncated`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number {
    return this.bytes(1)[0];
  }
  u16(): number {
    return this.bytes(2).readUInt16BE(0);
  }
  /** A length-prefixed vector (prefix of 1 or 2 bytes) as its own Reader. */
  vector(prefixBytes: 1 | 2, what: string): Reader {
    const length = prefixBytes === 1 ? this.u8() : this.u16();
    return new Reader(this.bytes(length), what);
  }
}

/** RFC 8446 §4.1.2 ClientHello body → host_name from server_name (RFC 6066 §3), if any. */
function serverNameFromClientHello(body: Buffer): string | undefined {
  const hello = new Reader(body, 'ClientHello');
  hello.bytes(2 + 32); // legacy_version, random
  const sessionId = hello.vector(1, 'session id');
  if (sessionId.remaining > 32) throw new Invalid('session id longer than 32 bytes');
  const suites = hello.vector(2, 'cipher suites');
  if (suites.remaining < 2 || suites.remaining % 2 !== 0) throw new Invalid('bad cipher suite list');
  if (hello.vector(1, 'compression methods').remaining < 1) throw new Invalid('empty compression method list');
  if (hello.remaining === 0) return undefined; // no extensions at all (pre-TLS 1.2 clients)
  const extensions = hello.vector(2, 'extensions');
  if (hello.remaining !== 0) throw new Invalid('trailing bytes after extensions');
  const seen = new Set<number>();
  let serverName: string | undefined;
  while (extensions.remaining > 0) {
    const type = extensions.u16();
    const data = extensions.vector(2, `extension ${type}`);
    if (seen.has(type)) throw new Invalid(`duplicate extension ${type}`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) serverName = parseServerNameExtension(data);
  }
  return serverName;
}

function parseServerNameExtension(data: Reader): string | undefined {
  if (data.remaining === 0) return undefined; // empty extension: no name offered
  const list = data.vector(2, 'server name list');
  if (data.remaining !== 0) throw new Invalid('trailing bytes in server_name extension');
  let hostName: string | undefined;
  while (list.remaining > 0) {
    const nameType = list.u8();
    const name = list.vector(2, 'server name');
    const raw = name.bytes(name.remaining);
    if (nameType !== NAME_TYPE_HOST || hostName !== undefined) continue; // first host_name wins
    hostName = decodeHostName(raw);
  }
  return hostName;
}

/** host_name is ASCII (A-labels for IDNs); anything else cannot be routed. */
function decodeHostName(raw: Buffer): string {
  if (raw.length === 0) throw new Invalid('empty server name');
  if (raw.length > 255) throw new Invalid('server name longer than 255 bytes');
  for (const byte of raw) {
    if (byte <= 0x20 || byte >= 0x7f) throw new Invalid('server name is not printable ASCII');
  }
  const name = raw.toString('latin1').toLowerCase().replace(/\.$/, '');
  if (name === '') throw new Invalid('empty server name');
  return name;
}

export type HelloErrorCode = 'ERR_TLS_NO_SNI' | 'ERR_TLS_BAD_HELLO' | 'ERR_TLS_HELLO_TIMEOUT';

/** Raised by readClientHello. `head` holds every byte consumed, so a caller can still fall back. */
export class ClientHelloError extends Error {
  constructor(
    readonly code: HelloErrorCode,
    message: string,
    readonly head: Buffer,
  ) {
    super(message);
    this.name = 'ClientHelloError';
  }
}

/**
 * Read from a raw (not yet TLS-wrapped) socket until its ClientHello's SNI is known.
 *
 * Resolves with the server name and `head`, every byte consumed so far, in order: write `head` to
 * the upstream first, then pipe the socket. Rejects with a ClientHelloError: ERR_TLS_NO_SNI (a
 * valid hello without a server name, e.g. a client connecting by IP), ERR_TLS_BAD_HELLO (not TLS,
 * malformed, too large, or the peer closed first), ERR_TLS_HELLO_TIMEOUT. A socket 'error' before
 * the hello is complete rejects with that error as is.
 *
 * Either way the socket is left paused, open, and without any listener of ours: the caller decides
 * whether to destroy it, and must attach its own 'error' listener.
 */
export function readClientHello(socket: net.Socket, timeoutMs: number): Promise<{ serverName: string; head: Buffer }> {
  return new Promise((resolve, reject) => {
    // One growing buffer (capacity doubles) keeps a byte-at-a-time sender linear, not quadratic.
    let store = Buffer.alloc(0);
    let received = 0;
    const head = (): Buffer => store.subarray(0, received);
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
      outcome();
    };
    const fail = (code: HelloErrorCode, message: string): void =>
      finish(() => reject(new ClientHelloError(code, message, head())));

    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > store.length) {
        const grown = Buffer.allocUnsafe(Math.max(512, 2 * store.length, received + chunk.length));
        store.copy(grown, 0, 0, received);
        store = grown;
      }
      chunk.copy(store, received);
      received += chunk.length;
      const result = parseClientHelloSni(head());
      if (result.kind === 'incomplete') return;
      if (result.kind === 'invalid') return fail('ERR_TLS_BAD_HELLO', `invalid TLS ClientHello: ${result.reason}`);
      const serverName = result.serverName;
      if (serverName === undefined) return fail('ERR_TLS_NO_SNI', 'TLS ClientHello carries no server name (SNI)');
      finish(() => resolve({ serverName, head: head() }));
    };
    const onEnd = (): void => fail('ERR_TLS_BAD_HELLO', 'connection closed before the TLS ClientHello was complete');
    const onError = (err: Error): void => finish(() => reject(err));
    const timer = setTimeout(
      () => fail('ERR_TLS_HELLO_TIMEOUT', `no complete TLS ClientHello within ${timeoutMs} ms`),
      timeoutMs,
    );

    if (socket.destroyed || socket.readableEnded) return onEnd();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.resume();
  });
}

const EXT_ALPN = 0x0010;

/**
 * The ALPN protocols (RFC 7301) a complete ClientHello offers; undefined when it offers none or
 * does not parse. The edge uses it to hand ACME's `acme-tls/1` validations to their own server.
 */
export function alpnProtocols(head: Buffer): string[] | undefined {
  try {
    const body = reassembleClientHello(head);
    if (!body) return undefined;
    const hello = new Reader(body, 'ClientHello');
    hello.bytes(2 + 32);
    hello.vector(1, 'session id');
    hello.vector(2, 'cipher suites');
    hello.vector(1, 'compression methods');
    if (hello.remaining === 0) return undefined;
    const extensions = hello.vector(2, 'extensions');
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = extensions.vector(2, `extension ${type}`);
      if (type !== EXT_ALPN) continue;
      const list = data.vector(2, 'ALPN list');
      const out: string[] = [];
      while (list.remaining > 0) {
        const name = list.vector(1, 'protocol name');
        out.push(name.bytes(name.remaining).toString('latin1'));
      }
      return out;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
