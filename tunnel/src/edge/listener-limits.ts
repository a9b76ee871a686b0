// Time limits of the edge's public HTTP/1.1 listeners (plain and TLS).
//
// Bodies, SSE and websockets may take as long as they like, so Node's `requestTimeout` (time to a
// whole request, body included) stays off. But `requestTimeout: 0` also makes Node default
// `headersTimeout` to 0, which let a client trickle a header byte every few seconds and hold a
// connection forever. These options bound, per connection:
// - the time from the first byte of a request (or from accepting the connection) to the end of
//   its head: `headersTimeoutMs`, answered with 408 ERR_BURROW_HEADERS_TIMEOUT and a close;
// - the idle time between keep-alive requests: `keepAliveTimeoutMs`, then a silent close.
// Node checks head deadlines on a timer (`connectionsCheckingInterval`), so a head is cut within
// headersTimeout + interval.
import type http from 'node:http';
import type net from 'node:net';

export interface ListenerLimits {
  /** Time to a complete request head (default 30 s). */
  headersTimeoutMs?: number;
  /** Idle time of a keep-alive connection between requests (default 75 s, nginx's). */
  keepAliveTimeoutMs?: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** Options for `http.createServer` (or to assign to an HTTP/1-capable server). */
export function httpServerLimits(limits: ListenerLimits = {}): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  const headersTimeout = positive(limits.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS);
  return {
    headersTimeout,
    requestTimeout: 0,
    keepAliveTimeout: positive(limits.keepAliveTimeoutMs, DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
    connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(headersTimeout / 4))),
  };
}

/**
 * Applies the limits to the HTTP/1 side of an `http2.createSecureServer({allowHTTP1})` that is fed
 * sockets by hand (`emit('connection')`, never `listen()`): Node starts its head-deadline checker
 * on 'listening', so that is emitted here. Without this the HTTP/1-over-TLS side had no head
 * deadline at all, and a 5-minute `requestTimeout` that cut long uploads.
 */
export function applyHttpServerLimits(server: import('node:events').EventEmitter, limits: ListenerLimits = {}): void {
  Object.assign(server, httpServerLimits(limits));
  server.emit('listening');
}

const TIMEOUT_REPLY =
  'HTTP/1.1 408 Request Timeout\r\nngrok-error-code: ERR_BURROW_HEADERS_TIMEOUT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
const BAD_REQUEST_REPLY =
  'HTTP/1.1 400 Bad Request\r\nngrok-error-code: ERR_BURROW_BAD_REQUEST\r\nconnection: close\r\n\r\n';

/** The listeners' `clientError` handler: a coded 408 for a slow head, a coded 400 for a bad one. */
export function onClientError(err: NodeJS.ErrnoException, socket: net.Socket | import('node:stream').Duplex): void {
  const s = socket as net.Socket;
  if (!s.writable || (s as unknown as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent) {
    s.destroy();
    return;
  }
  s.end(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? TIMEOUT_REPLY : BAD_REQUEST_REPLY);
  // A client that never reads must not hold the socket open either.
  s.setTimeout(5_000, () => s.destroy());
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
