// Errors the edge answers itself. Every one carries the `ngrok-error-code` header (ngrok's name,
// so existing monitors keep working) and a small HTML or JSON page. Upstreams can never set the
// header: the proxy strips it from every upstream response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export const ERROR_CODE_HEADER = 'ngrok-error-code';

interface EdgeErrorInfo {
  status: number;
  title: string;
  hint: string;
}

/** The edge-generated errors, keyed by ngrok's code where ngrok has one. */
export const EDGE_ERRORS = {
  ERR_NGROK_3200: {
    status: 404,
    title: 'Endpoint offline',
    hint: 'No agent is serving this URL. Start the tunnel (burrow http PORT) or check the URL.',
  },
  ERR_NGROK_3004: {
    status: 502,
    title: 'Invalid or incomplete response from upstream',
    hint: 'The agent reached your app, but the app closed the connection before a complete response, or its response was not valid HTTP.',
  },
  ERR_NGROK_3210: {
    status: 502,
    title: 'Agent unreachable',
    hint: 'The agent session dropped before it answered. It reconnects on its own; retry in a moment.',
  },
  ERR_NGROK_3007: { status: 504, title: 'Upstream timeout', hint: 'The app behind the tunnel did not answer in time.' },
  ERR_NGROK_8012: {
    status: 502,
    title: 'Could not connect to the upstream',
    hint: 'The agent could not connect to your app. Is it running, and on that port?',
  },
  ERR_NGROK_3002: {
    status: 502,
    title: 'Upstream TLS handshake failed',
    hint: 'The agent could not complete TLS with your https upstream.',
  },
  ERR_BURROW_BAD_REQUEST: { status: 400, title: 'Bad request', hint: 'The request could not be parsed.' },
  // The WebSocket handshake of an agent's (or a cluster peer's) link (edge/ws-upgrade.ts).
  ERR_BURROW_WS_HANDSHAKE: {
    status: 400,
    title: 'Bad WebSocket handshake',
    hint: 'Agents open their session with an RFC 6455 WebSocket handshake (GET, Upgrade: websocket, a 16-byte Sec-WebSocket-Key).',
  },
  ERR_BURROW_WS_VERSION: {
    status: 426,
    title: 'WebSocket version not supported',
    hint: 'This edge speaks WebSocket version 13 (RFC 6455) only.',
  },
  // Answered by edge modules (tunnel/src/modules).
  ERR_NGROK_3202: {
    status: 503,
    title: 'Circuit breaker open',
    hint: 'Too many recent requests to this endpoint failed; the edge is holding requests back for a moment.',
  },
  ERR_NGROK_3203: {
    status: 403,
    title: 'Blocked by IP policy',
    hint: 'Your IP address is not allowed by the IP policies of this endpoint.',
  },
  ERR_NGROK_3204: {
    status: 403,
    title: 'Webhook verification failed',
    hint: 'The request does not carry a valid signature from the webhook provider.',
  },
  ERR_NGROK_3205: {
    status: 403,
    title: 'Blocked by IP restriction',
    hint: 'Your IP address is not allowed to reach this endpoint.',
  },
  ERR_NGROK_3211: {
    status: 403,
    title: 'User agent blocked',
    hint: 'Requests with this User-Agent are not allowed by this endpoint.',
  },
  // Answered by HTTPS edges (tunnel/src/edge/edges).
  ERR_NGROK_6528: {
    status: 503,
    title: 'No endpoint online',
    hint: 'This edge route has no backend able to serve: start a labeled tunnel whose labels match its tunnel group.',
  },
  ERR_BURROW_CLIENT_CERT: {
    status: 403,
    title: 'Client certificate required',
    hint: 'This endpoint needs a TLS client certificate signed by a CA it trusts.',
  },
  ERR_BURROW_BODY_TOO_LARGE: {
    status: 413,
    title: 'Request body too large',
    hint: 'The request body is larger than this endpoint can hold for verification.',
  },
  ERR_BURROW_RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    hint: 'This endpoint limits how often it may be called; retry later.',
  },
} satisfies Record<string, EdgeErrorInfo>;

export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

export function isEdgeErrorCode(code: string): code is EdgeErrorCode {
  return Object.hasOwn(EDGE_ERRORS, code);
}

type AnyResponse = ServerResponse | Http2ServerResponse;
type AnyRequest = IncomingMessage | Http2ServerRequest;

/** Answers `req` with the edge's own error page; HTML for browsers, JSON for everything else. */
export function sendEdgeError(req: AnyRequest, res: AnyResponse, code: EdgeErrorCode, detail?: string): void {
  if (res.headersSent) {
    // Too late for a page: cut the response so the client sees a failure, not a short body.
    res.destroy();
    return;
  }
  const page = edgeErrorPage(req.headers.accept, code, detail);
  res.writeHead(page.status, page.headers);
  res.end(page.body);
}

/**
 * The status, headers and body of an edge error page (`accept`: the request's Accept header);
 * sendEdgeError and the raw visitor path (edge/raw-visitor.ts) both write this.
 */
export function edgeErrorPage(
  accept: string | undefined,
  code: EdgeErrorCode,
  detail?: string,
): { status: number; headers: Record<string, string | number>; body: string } {
  const info: EdgeErrorInfo = EDGE_ERRORS[code];
  const wantsHtml = /text\/html/.test(accept ?? '');
  const body = wantsHtml ? renderHtml(code, info, detail) : errorJson(code, detail);
  return {
    status: info.status,
    headers: {
      'content-type': wantsHtml ? 'text/html; charset=utf-8' : 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      [ERROR_CODE_HEADER]: code,
    },
    body,
  };
}

/** The same error written on a raw socket (upgrade requests have no ServerResponse). */
export function rawEdgeError(code: EdgeErrorCode, detail?: string, headers: Record<string, string> = {}): string {
  const info: EdgeErrorInfo = EDGE_ERRORS[code];
  const body = errorJson(code, detail);
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${info.status} ${info.title}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ERROR_CODE_HEADER}: ${code}\r\n${extra.join('')}connection: close\r\n\r\n${body}`;
}

/** ngrok's error body shape: `{error_code, status_code, msg, details}`. */
function errorJson(code: EdgeErrorCode, detail?: string): string {
  const info: EdgeErrorInfo = EDGE_ERRORS[code];
  return JSON.stringify({
    error_code: code,
    status_code: info.status,
    msg: info.title,
    details: { hint: info.hint, ...(detail ? { err: detail } : {}) },
  });
}

function renderHtml(code: string, info: EdgeErrorInfo, detail?: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(info.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
code{background:#eee;padding:.1em .3em;border-radius:3px}@media(prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}code{background:#333}}</style>
</head><body><h1>${esc(info.title)}</h1><p>${esc(info.hint)}</p>${detail ? `<p><small>${esc(detail)}</small></p>` : ''}
<p><code>${esc(code)}</code> · Burrow edge</p></body></html>`;
}
