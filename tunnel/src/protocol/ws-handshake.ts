/**
 * The WebSocket opening handshake (RFC 6455 §4) of the agent↔edge link and the cluster's peer
 * links, both ends: the client's GET with `Upgrade: websocket` and a random 16-byte key, the
 * server's `101` with `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)). After it the socket is a
 * WebSocketTransport (frames: ws-frames.ts). No extension is ever negotiated.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { WebSocketTransport } from './transport';

/** RFC 6455 §1.3: appended to the key before hashing. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 16 bytes in base64: 22 characters and the padding. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** An HTTP token (RFC 9110 §5.6.2): what a subprotocol name is. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The `Sec-WebSocket-Accept` value that answers `key`. */
export function acceptValue(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** Why an upgrade request is refused: 400 for a malformed handshake, 426 for another version. */
export interface UpgradeRefusal {
  status: 400 | 426;
  reason: string;
}

/** True when the comma-separated header `value` lists `token` (case-insensitive). */
function lists(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.split(',').some((part) => part.trim().toLowerCase() === token);
}

/** Checks a client's opening handshake (RFC 6455 §4.2.1): its key and first subprotocol, or why not. */
export function checkUpgradeRequest(req: http.IncomingMessage): { key: string; protocol?: string } | UpgradeRefusal {
  const h = req.headers;
  if (req.method !== 'GET') return { status: 400, reason: `a websocket is opened with GET, not ${req.method}` };
  if (!lists(h.upgrade, 'websocket')) return { status: 400, reason: 'missing `Upgrade: websocket`' };
  if (!lists(h.connection, 'upgrade')) return { status: 400, reason: 'missing `Connection: Upgrade`' };
  // 426 with the version we speak (§4.4), also when the header is missing.
  if (h['sec-websocket-version'] !== '13') return { status: 426, reason: 'Sec-WebSocket-Version must be 13' };
  const key = h['sec-websocket-key'];
  if (key === undefined || !KEY.test(key))
    return { status: 400, reason: 'Sec-WebSocket-Key must be 16 bytes in base64' };
  const offered = h['sec-websocket-protocol'];
  if (offered === undefined) return { key };
  const protocols = offered.split(',').map((p) => p.trim());
  if (!protocols.every((p) => TOKEN.test(p))) return { status: 400, reason: 'invalid Sec-WebSocket-Protocol' };
  // Burrow's links use no subprotocol; a client that asks for some gets its first one (as `ws` did).
  return { key, protocol: protocols[0] };
}

/**
 * Server end: checks `req` and, when it is a valid handshake, writes the 101 and returns the
 * link's transport (`head`: bytes read past the request head). A refusal is returned unwritten:
 * the caller answers it in its own error format. A socket already ended by the client is destroyed.
 */
export function acceptUpgrade(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  maxPayload?: number,
): WebSocketTransport | UpgradeRefusal | undefined {
  const checked = checkUpgradeRequest(req);
  if ('status' in checked) return checked;
  if (!socket.readable || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptValue(checked.key)}\r\n` +
      (checked.protocol ? `Sec-WebSocket-Protocol: ${checked.protocol}\r\n` : '') +
      '\r\n',
  );
  return new WebSocketTransport(socket, { role: 'server', head, maxPayload });
}

/**
 * Why the client end could not open a link. `unreachable`: no connection, TLS failed or the
 * handshake timed out; `handshake`: the server answered, but not with a valid 101 (`status` and
 * `errorCode`, its `ngrok-error-code` header, are set when it answered another status).
 */
export class WebSocketOpenError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'handshake',
    message: string,
    readonly status?: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

export interface OpenOptions {
  /** The whole handshake, connection included, must be done within this (ms). */
  timeoutMs: number;
  /** Extra request headers (the cluster's peer token). */
  headers?: Record<string, string>;
  /** Mask with the zero key (loopback and TLS: see WebSocketTransportOptions.zeroMask). */
  zeroMask?: boolean;
  maxPayload?: number;
  /** wss: CA, servername, rejectUnauthorized… (default: Node's, which checks the certificate). */
  tls?: tls.ConnectionOptions;
}

/**
 * Client end: opens a WebSocket to `url` (ws:, wss:, http: or https:) and resolves with its
 * transport once the server's 101 and its Sec-WebSocket-Accept are checked (RFC 6455 §4.1).
 */
export function openWebSocket(url: string | URL, options: OpenOptions): Promise<WebSocketTransport> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new WebSocketOpenError('unreachable', `not a URL: ${String(url)}`));
  }
  const secure = target.protocol === 'wss:' || target.protocol === 'https:';
  if (!secure && target.protocol !== 'ws:' && target.protocol !== 'http:')
    return Promise.reject(new WebSocketOpenError('unreachable', `not a ws(s) URL: ${target.protocol}`));
  const key = randomBytes(16).toString('base64');
  const request: http.RequestOptions & tls.ConnectionOptions = {
    ...(secure ? options.tls : {}),
    host: target.hostname.replace(/^\[|\]$/g, ''),
    port: Number(target.port) || (secure ? 443 : 80),
    path: target.pathname + target.search,
    auth: target.username ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}` : undefined,
    // Its own connection, never a pooled one: it becomes the link.
    agent: false,
    headers: {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
    },
  };
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(request);
    let settled = false;
    const fail = (error: WebSocketOpenError, socket?: Duplex) => {
      clearTimeout(timer);
      socket?.destroy();
      req.destroy();
      if (settled) return;
      settled = true;
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new WebSocketOpenError('unreachable', 'Opening handshake has timed out')),
      options.timeoutMs,
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      // llhttp's HPE_* codes: the server answered something that is not HTTP.
      fail(new WebSocketOpenError(err.code?.startsWith('HPE_') ? 'handshake' : 'unreachable', err.message)),
    );
    req.on('response', (res) => {
      res.resume();
      // A 101 comes here when Node saw no upgrade in it (no `Upgrade`/`Connection: Upgrade`).
      if (res.statusCode === 101)
        return fail(new WebSocketOpenError('handshake', checkUpgradeResponse(res, key) ?? 'a 101 that is no upgrade'));
      const code = res.headers['ngrok-error-code'];
      fail(new WebSocketOpenError('handshake', `HTTP ${res.statusCode}`, res.statusCode, code?.toString()));
    });
    req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const wrong = checkUpgradeResponse(res, key);
      if (wrong) return fail(new WebSocketOpenError('handshake', wrong), socket);
      clearTimeout(timer);
      settled = true;
      resolve(
        new WebSocketTransport(socket, {
          role: 'client',
          head,
          zeroMask: options.zeroMask,
          maxPayload: options.maxPayload,
        }),
      );
    });
    req.end();
  });
}

/** What is wrong with a server's 101 (RFC 6455 §4.1, the client's checks), or undefined. */
function checkUpgradeResponse(res: http.IncomingMessage, key: string): string | undefined {
  const h = res.headers;
  if (res.statusCode !== 101) return `HTTP ${res.statusCode} instead of 101`;
  if (!lists(h.upgrade, 'websocket')) return 'the 101 has no `Upgrade: websocket`';
  if (!lists(h.connection, 'upgrade')) return 'the 101 has no `Connection: Upgrade`';
  if (h['sec-websocket-accept'] !== acceptValue(key)) return 'wrong Sec-WebSocket-Accept';
  if (h['sec-websocket-extensions'] !== undefined) return 'an extension was not asked for';
  if (h['sec-websocket-protocol'] !== undefined) return 'a subprotocol was not asked for';
  return undefined;
}
