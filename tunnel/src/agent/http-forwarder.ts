// The agent's HTTP data path: a stream from the edge becomes one request to the upstream
// (HTTP/1.1 keep-alive pool, HTTPS without verification, or h2c), and its response streams back.
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Recording } from '../capture/store';
import type { HttpOpen, HttpResponseHead, WireError } from '../protocol/messages';
import type { MuxStream } from '../protocol/session';

export interface HttpUpstream {
  protocol: 'http:' | 'https:';
  host: string;
  port: number;
  hostPort: string;
  /** h2c with prior knowledge (or h2 over TLS for https upstreams). */
  http2: boolean;
  /** `rewrite`, `preserve`/undefined, or a literal Host value. */
  hostHeader?: string;
  /** No response head within this many ms → ERR_NGROK_3007 (0 = wait forever). */
  responseTimeoutMs: number;
}

// One pool per agent process; upstream certificates are not verified (local dev servers).
const httpPool = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
const httpsPool = new https.Agent({ keepAlive: true, scheduling: 'lifo', rejectUnauthorized: false });

/** Maps a socket/parser error of the upstream request to the edge error the client sees. */
export function upstreamErrorCode(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_BURROW_UPSTREAM_TIMEOUT') return 'ERR_NGROK_3007';
  if (code.startsWith('HPE_') || code === 'ERR_HTTP2_PROTOCOL_ERROR' || code === 'ERR_HTTP2_ERROR') return 'ERR_NGROK_3004';
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) return 'ERR_NGROK_3002';
  return 'ERR_NGROK_8012';
}

function requestHeaders(open: HttpOpen, upstream: HttpUpstream): string[] {
  const mode = upstream.hostHeader;
  if (!mode || mode === 'preserve') return open.rawHeaders;
  const host = mode === 'rewrite' ? (upstream.port === (upstream.protocol === 'https:' ? 443 : 80) ? upstream.host : upstream.hostPort) : mode;
  const out: string[] = [];
  for (let i = 0; i < open.rawHeaders.length; i += 2) {
    if (open.rawHeaders[i].toLowerCase() !== 'host') out.push(open.rawHeaders[i], open.rawHeaders[i + 1]);
  }
  out.unshift('Host', host);
  return out;
}

/** How an exchange ended, filled in as it happens (for logs and metrics). */
export interface HttpOutcome {
  statusCode?: number;
  errorCode?: string;
}

/** Forwards one HTTP stream. `recording` (when capture is on) sees every byte both ways. */
export function forwardHttp(stream: MuxStream, open: HttpOpen, upstream: HttpUpstream, recording?: Recording): HttpOutcome {
  const outcome: HttpOutcome = {};
  let answered = false;
  const fail = (error: WireError): void => {
    outcome.errorCode = error.code;
    outcome.statusCode ??= 502;
    recording?.finish(error);
    if (!answered) {
      answered = true;
      const head: HttpResponseHead = { kind: 'http-response', statusCode: 502, rawHeaders: [], error };
      stream.sendMeta(head);
      stream.resume();
      stream.end();
    } else {
      stream.reset(error);
    }
  };
  const respond = (statusCode: number, statusMessage: string | undefined, httpVersion: string, rawHeaders: string[]): void => {
    answered = true;
    outcome.statusCode = statusCode;
    const head: HttpResponseHead = { kind: 'http-response', statusCode, statusMessage, rawHeaders };
    stream.sendMeta(head);
    recording?.response(statusCode, statusMessage ?? '', httpVersion, rawHeaders);
  };
  if (recording) {
    stream.on('data', (chunk: Buffer) => recording.requestData(chunk));
    stream.on('end', () => recording.requestEnd());
  }
  if (upstream.http2) {
    forwardHttp2(stream, open, upstream, respond, fail, recording);
    return outcome;
  }

  const headers = requestHeaders(open, upstream);
  const req = (upstream.protocol === 'https:' ? https : http).request({
    protocol: upstream.protocol, host: upstream.host, port: upstream.port,
    method: open.method, path: open.url, headers: headers as unknown as http.OutgoingHttpHeaders, setHost: false,
    agent: upstream.protocol === 'https:' ? httpsPool : httpPool,
  });
  const timer = upstream.responseTimeoutMs > 0 ? setTimeout(() => {
    req.destroy(Object.assign(new Error(`upstream did not answer within ${upstream.responseTimeoutMs} ms`), { code: 'ERR_BURROW_UPSTREAM_TIMEOUT' }));
  }, upstream.responseTimeoutMs) : undefined;

  req.on('response', (res) => {
    clearTimeout(timer);
    respond(res.statusCode ?? 502, res.statusMessage, res.httpVersion, res.rawHeaders);
    if (recording) res.on('data', (chunk: Buffer) => recording.responseData(chunk));
    res.pipe(stream);
    res.on('end', () => recording?.finish());
    res.on('error', (err) => fail({ code: 'ERR_NGROK_3004', message: err.message }));
  });
  req.on('upgrade', (res, socket, head) => {
    clearTimeout(timer);
    respond(res.statusCode ?? 101, res.statusMessage, res.httpVersion, res.rawHeaders);
    recording?.finish();
    bridge(stream, socket, head);
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    fail({ code: upstreamErrorCode(err), message: `${upstream.hostPort}: ${err.message}` });
  });
  // The edge cancelled (client went away): abort the upstream request.
  stream.on('error', () => {
    clearTimeout(timer);
    req.destroy();
  });
  if (open.upgrade) {
    // The body of an upgrade request is the raw protocol: only sent after a 101.
    req.end();
  } else {
    stream.pipe(req);
  }
  return outcome;
}

/** After a 101 the stream and the upstream socket are one raw byte pipe. */
function bridge(stream: MuxStream, socket: Duplex, head: Buffer): void {
  if (head.length) stream.write(head);
  stream.pipe(socket).pipe(stream);
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
}

// ---- h2c / h2 upstreams ----

const h2Sessions = new Map<string, http2.ClientHttp2Session>();

function h2Session(upstream: HttpUpstream): http2.ClientHttp2Session {
  const origin = `${upstream.protocol === 'https:' ? 'https' : 'http'}://${upstream.hostPort}`;
  let session = h2Sessions.get(origin);
  if (!session || session.closed || session.destroyed) {
    session = http2.connect(origin, { rejectUnauthorized: false });
    const created = session;
    created.on('error', () => { /* surfaces on each request */ });
    created.on('close', () => { if (h2Sessions.get(origin) === created) h2Sessions.delete(origin); });
    created.unref();
    h2Sessions.set(origin, created);
  }
  return session;
}

const H2_FORBIDDEN = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

function forwardHttp2(
  stream: MuxStream, open: HttpOpen, upstream: HttpUpstream,
  respond: (status: number, message: string | undefined, version: string, raw: string[]) => void,
  fail: (error: WireError) => void, recording?: Recording,
): void {
  const raw = requestHeaders(open, upstream);
  const headers: http2.OutgoingHttpHeaders = { ':method': open.method, ':path': open.url };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'host') headers[':authority'] = raw[i + 1];
    else if (!H2_FORBIDDEN.has(name)) {
      const prev = headers[name];
      headers[name] = prev === undefined ? raw[i + 1] : ([] as string[]).concat(prev as string | string[], raw[i + 1]);
    }
  }
  let req: http2.ClientHttp2Stream;
  try {
    req = h2Session(upstream).request(headers, { endStream: false });
  } catch (err) {
    fail({ code: 'ERR_NGROK_8012', message: (err as Error).message });
    return;
  }
  const timer = upstream.responseTimeoutMs > 0 ? setTimeout(() => {
    req.close(http2.constants.NGHTTP2_CANCEL);
    fail({ code: 'ERR_NGROK_3007', message: `upstream did not answer within ${upstream.responseTimeoutMs} ms` });
  }, upstream.responseTimeoutMs) : undefined;
  req.on('response', (h) => {
    clearTimeout(timer);
    const rawOut: string[] = [];
    for (const [name, value] of Object.entries(h)) {
      if (name.startsWith(':') || value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) rawOut.push(name, String(v));
    }
    respond(Number(h[':status'] ?? 502), undefined, '2.0', rawOut);
    if (recording) req.on('data', (chunk: Buffer) => recording.responseData(chunk));
    req.pipe(stream);
    req.on('end', () => recording?.finish());
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    fail({ code: upstreamErrorCode(err), message: `${upstream.hostPort}: ${err.message}` });
  });
  stream.on('error', () => {
    clearTimeout(timer);
    req.close(http2.constants.NGHTTP2_CANCEL);
  });
  stream.pipe(req);
}
