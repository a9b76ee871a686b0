// The edge's HTTP data path: one client request → one stream on the agent's session → the
// response streamed back. Headers are rewritten here (forwarding headers, hop-by-hop); an
// endpoint's modules (modules/pipeline.ts) run around it, and not at all when it has none.
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { randomUUID } from 'node:crypto';
import { ServerResponse } from 'node:http';
import { pipeline as pipeStreams, type Duplex, type Transform } from 'node:stream';
import type { Scheme } from '../model';
import { normalizeHost } from '../net/host';
import { filterRawHeaders, hasRawHeader, rawHeadersObject, rawHeadersText, removeRawHeaders } from '../net/raw-headers';
import type { Pipeline } from '../modules/pipeline';
import { VAR } from '../modules/request-vars';
import { peerCertificateOf } from '../modules/mutual-tls';
import type { RequestContext, ResponseContext } from '../modules/types';
import type { HttpOpen, HttpResponseHead, PolicyLogEntry, PolicyLogs } from '../protocol/messages';
import { MuxStream } from '../protocol/session';
import type { AgentSession } from './agent-session';
import { ERROR_CODE_HEADER, isEdgeErrorCode, rawEdgeError, sendEdgeError, type EdgeErrorCode } from '../edge-errors';

/** What the proxy needs to know about the endpoint a request was routed to. */
export interface HttpTarget {
  id: string;
  session: AgentSession;
  /** The endpoint's modules (header rules included); undefined = none, the fast path. */
  pipeline?: Pipeline;
  /** The public host modules see, when a forwarder in front does not keep it (Codespaces). */
  publicHost?: string;
}

type ClientRequest = IncomingMessage | Http2ServerRequest;
type ClientResponse = ServerResponse | Http2ServerResponse;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

// Only names as long as one of these are lower-cased to be looked up (the hop-by-hop ones, the
// forwarding ones, Host, the error-code header): most fields of a head are never lower-cased.
const LOOKED_UP = new Set([
  ...HOP_BY_HOP,
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'host',
  ERROR_CODE_HEADER,
]);
const LOOKED_UP_LENGTH: boolean[] = [];
for (const name of LOOKED_UP) LOOKED_UP_LENGTH[name.length] = true;

/** Fields the `Connection:` headers name, other than the hop-by-hop ones (dropped anyway); undefined when none. */
function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = raw[i + 1];
    if (!value.includes(',')) {
      // One token (`keep-alive`, `close`): no list to split.
      const token = value.trim().toLowerCase();
      if (token && !HOP_BY_HOP.has(token)) (named ??= new Set()).add(token);
      continue;
    }
    for (const part of value.split(',')) {
      const token = part.trim().toLowerCase();
      if (token && !HOP_BY_HOP.has(token)) (named ??= new Set()).add(token);
    }
  }
  return named;
}

/**
 * One pass over a head: hop-by-hop fields, those named in `Connection:` and HTTP/2 pseudo-headers
 * are dropped; every other field goes to `keep` with its lower-case name when its length is one
 * LOOKED_UP has ('' otherwise), and is kept unless `keep` says false.
 */
function withoutHopByHop(
  raw: readonly string[],
  keep: (lower: string, name: string, value: string) => boolean,
): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58) continue; // `:path` and the other pseudo-headers
    const lower = named !== undefined || LOOKED_UP_LENGTH[name.length] ? name.toLowerCase() : '';
    if (lower !== '' && (HOP_BY_HOP.has(lower) || named?.has(lower))) continue;
    if (keep(lower, name, value)) out.push(name, value);
  }
  return out;
}

/** The request head as the agent receives it (before any module edits). */
export function upstreamRequestHeaders(
  req: ClientRequest,
  scheme: Scheme,
  clientIp: string,
  upgrade: boolean,
): string[] {
  return forwardingHeaders(
    req.rawHeaders,
    hostOf(req),
    scheme,
    clientIp,
    upgrade ? String(req.headers.upgrade ?? 'websocket') : undefined,
  );
}

/**
 * The forwarding rewrite of a request head, for both visitor paths (http.Server's and the raw one,
 * raw-visitor.ts): hop-by-hop headers out, X-Forwarded-For/Proto appended, X-Forwarded-Host and
 * Host added when missing; `upgrade`: the Upgrade value to keep.
 */
export function forwardingHeaders(
  rawHeaders: readonly string[],
  host: string,
  scheme: Scheme,
  clientIp: string,
  upgrade?: string,
): string[] {
  let xff: string | undefined;
  let xfp: string | undefined;
  let hasXfh = false;
  let hasHost = false;
  const out = withoutHopByHop(rawHeaders, (lower, _name, value) => {
    if (lower === '') return true;
    if (lower === 'x-forwarded-for') {
      xff = xff ? `${xff}, ${value}` : value;
      return false;
    }
    if (lower === 'x-forwarded-proto') {
      xfp = xfp ? `${xfp}, ${value}` : value;
      return false;
    }
    if (lower === 'x-forwarded-host') hasXfh = true;
    else if (lower === 'host') hasHost = true;
    return true;
  });
  if (!hasHost && host) out.unshift('Host', host); // HTTP/2 clients send :authority instead
  out.push('X-Forwarded-For', xff ? `${xff}, ${clientIp}` : clientIp);
  out.push('X-Forwarded-Proto', xfp ? `${xfp}, ${scheme}` : scheme);
  if (!hasXfh && host) out.push('X-Forwarded-Host', host);
  if (upgrade !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);
  return out;
}

const keepUnlessErrorCode = (lower: string): boolean => lower !== ERROR_CODE_HEADER;

/** The response head as the client receives it: an upstream can never forge the error header. */
export function clientResponseHeaders(raw: string[]): string[] {
  return withoutHopByHop(raw, keepUnlessErrorCode);
}

export function hostOf(req: ClientRequest): string {
  return String(req.headers.host ?? req.headers[':authority'] ?? '');
}

export function clientIpOf(req: ClientRequest): string {
  const ip = req.socket?.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function requestHasBody(req: ClientRequest): boolean {
  if ('stream' in req && req.stream) return !req.stream.endAfterHeaders;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/**
 * Framing is re-serialized, never copied: a body without Content-Length (chunked, or HTTP/2) goes
 * upstream chunked whatever the method, or a GET/DELETE body would be read as a new request.
 */
export function markBodyFraming(rawHeaders: string[], hasBody: boolean): void {
  if (hasBody && !hasRawHeader(rawHeaders, 'content-length')) rawHeaders.push('Transfer-Encoding', 'chunked');
}

export function errorCodeOf(err: unknown): EdgeErrorCode {
  const code = (err as { code?: string })?.code;
  return code && isEdgeErrorCode(code) ? code : 'ERR_NGROK_3210';
}

function newContext(
  req: ClientRequest,
  res: ClientResponse,
  target: HttpTarget,
  scheme: Scheme,
  clientIp: string,
  upstreamHeaders: string[],
  pipeline: Pipeline,
): RequestContext {
  return {
    req,
    res,
    clientIp,
    scheme,
    host: target.publicHost ?? normalizeHost(hostOf(req)),
    requestId: randomUUID(),
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    upstreamHeaders,
    vars: new Map(),
    peerCertificate: pipeline.wantsPeerCertificate ? peerCertificateOf(req.socket) : undefined,
  };
}

/** Proxies one HTTP request through the agent session, through the endpoint's modules if any. */
export function proxyHttp(req: ClientRequest, res: ClientResponse, target: HttpTarget, scheme: Scheme): void {
  const clientIp = clientIpOf(req);
  const rawHeaders = upstreamRequestHeaders(req, scheme, clientIp, false);
  const pipeline = target.pipeline;
  if (!pipeline) {
    forward(req, res, target, scheme, clientIp, rawHeaders, undefined, undefined);
    return;
  }
  const ctx = newContext(req, res, target, scheme, clientIp, rawHeaders, pipeline);
  let completed = false;
  res.once('close', () => {
    if (completed) return;
    completed = true;
    const code = res.getHeader(ERROR_CODE_HEADER);
    pipeline.complete(ctx, {
      statusCode: res.headersSent || res.writableFinished ? res.statusCode : 0,
      ...(code ? { errorCode: String(code) } : {}),
    });
  });
  let outcome;
  try {
    outcome = pipeline.runRequest(ctx);
  } catch (err) {
    moduleFailed(req, res, err);
    return;
  }
  // `forward-internal` (traffic policy) may have picked an internal endpoint instead.
  const to = () => (ctx.vars.get(VAR.forwardTarget) as HttpTarget | undefined) ?? target;
  if (outcome instanceof Promise) {
    outcome.then(
      (o) => {
        if (o !== 'handled') forward(req, res, to(), scheme, clientIp, ctx.upstreamHeaders, ctx, pipeline);
      },
      (err) => moduleFailed(req, res, err),
    );
  } else if (outcome !== 'handled') {
    forward(req, res, to(), scheme, clientIp, ctx.upstreamHeaders, ctx, pipeline);
  }
}

function moduleFailed(req: ClientRequest, res: ClientResponse, err: unknown): void {
  if (res.headersSent) res.destroy();
  else sendEdgeError(req, res, 'ERR_NGROK_3210', `edge module failed: ${(err as Error)?.message ?? String(err)}`);
}

function forward(
  req: ClientRequest,
  res: ClientResponse,
  target: HttpTarget,
  scheme: Scheme,
  clientIp: string,
  rawHeaders: string[],
  ctx: RequestContext | undefined,
  pipeline: Pipeline | undefined,
): void {
  if (res.writableEnded || res.destroyed) return; // the client left while a module was working
  const body = ctx?.requestBody;
  const hasBody = body ? body.length > 0 : requestHasBody(req);
  if (body) {
    // A module read the body (bounded): send exactly those bytes with a fresh length.
    removeRawHeaders(rawHeaders, (name) => name === 'content-length' || name === 'transfer-encoding');
    if (body.length > 0) rawHeaders.push('Content-Length', String(body.length));
  } else markBodyFraming(rawHeaders, hasBody);
  const open: HttpOpen = {
    kind: 'http',
    binding: target.id,
    remoteAddr: clientIp,
    scheme,
    method: ctx?.method ?? req.method ?? 'GET',
    url: ctx?.url ?? req.url ?? '/',
    httpVersion: req.httpVersion,
    rawHeaders,
  };
  const logs = ctx?.vars.get(VAR.policyLogs) as PolicyLogEntry[] | undefined;
  if (logs?.length) open.logs = [...logs];
  if (pipeline?.logsResponse) open.logsResponse = true;
  let stream: Duplex;
  try {
    stream = target.session.openStream(open, !hasBody);
  } catch {
    sendEdgeError(req, res, 'ERR_NGROK_3210');
    return;
  }
  if (body) {
    if (body.length) stream.end(body);
  } else if (hasBody) {
    req.pipe(stream);
  }

  stream.once('meta', (head: HttpResponseHead) => {
    if (head.error) {
      sendEdgeError(
        req,
        res,
        isEdgeErrorCode(head.error.code) ? head.error.code : 'ERR_NGROK_3004',
        head.error.message,
      );
      stream.resume();
      return;
    }
    let status = head.statusCode;
    let message = head.statusMessage;
    let headers = clientResponseHeaders(head.rawHeaders);
    let transforms: Transform[] = [];
    if (ctx && pipeline?.hasResponsePhase) {
      const rctx = ctx as ResponseContext;
      rctx.statusCode = status;
      rctx.responseHeaders = headers;
      try {
        pipeline.runResponse(rctx);
        transforms = pipeline.bodyTransforms(rctx);
      } catch (err) {
        stream.destroy();
        moduleFailed(req, res, err);
        return;
      }
      if (open.logsResponse) {
        const all = (ctx.vars.get(VAR.policyLogs) as PolicyLogEntry[] | undefined) ?? [];
        const meta: PolicyLogs = { kind: 'policy-logs', logs: all.slice(open.logs?.length ?? 0) };
        (stream as Partial<MuxStream>).sendMeta?.(meta);
      }
      if (rctx.statusCode !== status) message = undefined;
      status = rctx.statusCode;
      headers = rctx.responseHeaders;
    }
    try {
      writeHead(res, status, message, headers);
    } catch (err) {
      stream.destroy();
      sendEdgeError(req, res, 'ERR_NGROK_3004', (err as Error).message);
      return;
    }
    if (transforms.length === 0) {
      stream.pipe(res as NodeJS.WritableStream);
      return;
    }
    pipeStreams([stream, ...transforms, res as NodeJS.WritableStream], (err) => {
      if (err && !res.writableFinished) res.destroy();
    });
  });
  stream.on('error', (err) => {
    if (!res.headersSent) sendEdgeError(req, res, errorCodeOf(err), (err as Error).message);
    else res.destroy();
  });
  // Client went away before the response finished, or the response ended (an error page, an
  // early answer) before the request body did: cancel the stream, or it would wait forever for
  // the rest of the body; what the client still sends is drained.
  res.on('close', () => {
    if (!res.writableFinished) stream.destroy();
    else if (hasBody && !body && !req.complete) {
      stream.destroy();
      req.resume();
    }
  });
}

function writeHead(res: ClientResponse, status: number, message: string | undefined, raw: string[]): void {
  if ('stream' in res) {
    // HTTP/2 responses take an object and no status message.
    res.writeHead(status, rawHeadersObject(raw));
  } else {
    res.writeHead(status, message, raw as unknown as Record<string, string>);
  }
}

/** Proxies an upgrade (websocket) request; raw bytes flow both ways only after a real 101. */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: HttpTarget,
  scheme: Scheme,
): void {
  // Only websockets become raw byte streams. Any other Upgrade (curl --http2 sends `Upgrade: h2c`
  // on plain http) is served as the ordinary request it also is, the upgrade ignored: an h2c
  // connection would slip past the edge's per-request handling.
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    if (requestHasBody(req) || head.length) {
      socket.end(
        rawEdgeError(
          'ERR_BURROW_BAD_REQUEST',
          `upgrade to "${req.headers.upgrade}" is not supported; send the request without Upgrade`,
        ),
      );
      return;
    }
    const res = new ServerResponse(req);
    res.assignSocket(socket as net.Socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => socket.end());
    proxyHttp(req, res, target, scheme);
    return;
  }
  const clientIp = clientIpOf(req);
  const rawHeaders = upstreamRequestHeaders(req, scheme, clientIp, true);
  const pipeline = target.pipeline;
  if (!pipeline) {
    forwardUpgrade(req, socket, head, target, scheme, clientIp, rawHeaders, undefined);
    return;
  }
  // The request phase (auth, IP rules, headers…) runs for upgrades too. Modules answer through a
  // ServerResponse on the raw socket; the response phase does not apply to a 101 byte stream.
  const res = new ServerResponse(req);
  res.assignSocket(socket as net.Socket);
  res.shouldKeepAlive = false;
  const ctx = newContext(req, res, target, scheme, clientIp, rawHeaders, pipeline);
  const proceed = (o: unknown) => {
    if (o === 'handled' || res.headersSent) {
      res.once('finish', () => {
        socket.end();
        // A module answered the upgrade itself (a 401, a denial): reported like a plain request's.
        pipeline.complete(ctx, { statusCode: res.statusCode });
      });
      return;
    }
    res.detachSocket(socket as net.Socket);
    forwardUpgrade(req, socket, head, target, scheme, clientIp, ctx.upstreamHeaders, ctx);
  };
  let outcome;
  try {
    outcome = pipeline.runRequest(ctx);
  } catch (err) {
    socket.end(rawEdgeError('ERR_NGROK_3210', (err as Error).message));
    return;
  }
  if (outcome instanceof Promise)
    outcome.then(proceed, (err: Error) => socket.end(rawEdgeError('ERR_NGROK_3210', err.message)));
  else proceed(outcome);
}

function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: HttpTarget,
  scheme: Scheme,
  clientIp: string,
  rawHeaders: string[],
  ctx: RequestContext | undefined,
): void {
  const open: HttpOpen = {
    kind: 'http',
    binding: target.id,
    remoteAddr: clientIp,
    scheme,
    upgrade: true,
    method: ctx?.method ?? req.method ?? 'GET',
    url: ctx?.url ?? req.url ?? '/',
    httpVersion: req.httpVersion,
    rawHeaders,
  };
  let stream: Duplex;
  try {
    stream = target.session.openStream(open);
  } catch {
    socket.end(rawEdgeError('ERR_NGROK_3210'));
    return;
  }
  if (head.length) {
    if (stream instanceof MuxStream) stream.sendData(head, () => undefined);
    else stream.write(head);
  }
  socket.on('error', () => stream.destroy());
  stream.once('meta', (resHead: HttpResponseHead) => {
    if (resHead.error) {
      socket.end(
        rawEdgeError(
          isEdgeErrorCode(resHead.error.code) ? resHead.error.code : 'ERR_NGROK_3004',
          resHead.error.message,
        ),
      );
      stream.destroy();
      return;
    }
    const switching = resHead.statusCode === 101;
    const headers = switching
      ? filterRawHeaders(resHead.rawHeaders, (name) => name !== ERROR_CODE_HEADER)
      : clientResponseHeaders(resHead.rawHeaders);
    let text = `HTTP/1.1 ${resHead.statusCode} ${resHead.statusMessage ?? ''}\r\n`;
    text += rawHeadersText(headers);
    if (!switching) text += 'Connection: close\r\n';
    socket.write(`${text}\r\n`);
    if (switching) feedStream(socket, stream);
    stream.pipe(socket);
  });
  stream.on('error', (err) => {
    if (socket.writable && !(socket as { bytesWritten?: number }).bytesWritten)
      socket.end(rawEdgeError(errorCodeOf(err), err.message));
    else socket.destroy();
  });
}

/**
 * A websocket's visitor bytes into the agent's stream: straight into the session's outbox where it
 * is Burrow's own (MuxStream.sendData: no Writable per message), else a pipe (ngrok agents' muxado
 * streams). The socket pauses while the agent has no credit for more.
 */
function feedStream(socket: Duplex, stream: Duplex): void {
  if (!(stream instanceof MuxStream)) {
    socket.pipe(stream);
    return;
  }
  const resume = () => socket.resume();
  socket.on('data', (chunk: Buffer) => {
    if (!stream.sendData(chunk, resume)) socket.pause();
  });
  socket.on('end', () => stream.endData());
}
