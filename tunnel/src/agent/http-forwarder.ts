// The agent's HTTP data path: a stream from the edge becomes one request to the upstream
// (HTTP/1.1 on pooled raw sockets, HTTPS without verification, or h2c), and its response streams back.
import type http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import type { Recording } from '../capture/store';
import { filterRawHeaders } from '../net/raw-headers';
import { deadlineIn } from '../net/deadlines';
import type { HttpOpen, HttpResponseHead, PolicyLogEntry, PolicyLogs, WireError } from '../protocol/messages';
import type { ExchangeHandler, MuxExchange } from '../protocol/session';
import { rawRequest, type BodySink, type RawHandlers } from './raw-http-forwarder';
import { expireIdle, RetryableBody, retryable } from './upstream-pool';

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

// One pool per agent process for https upstreams (plain http ones have raw-http-forwarder.ts's);
// certificates are not verified (local dev servers). Idle connections expire before the
// upstream's keep-alive does (upstream-pool.ts).
const httpsPool = expireIdle(new https.Agent({ keepAlive: true, scheduling: 'lifo', rejectUnauthorized: false }));

/** Maps a socket/parser error of the upstream request to the edge error the client sees. */
export function upstreamErrorCode(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_BURROW_UPSTREAM_TIMEOUT') return 'ERR_NGROK_3007';
  if (code === 'ERR_NGROK_3004') return code; // the raw path's parsers: an invalid response
  if (code.startsWith('HPE_') || code === 'ERR_HTTP2_PROTOCOL_ERROR' || code === 'ERR_HTTP2_ERROR')
    return 'ERR_NGROK_3004';
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) return 'ERR_NGROK_3002';
  // Connected, then the connection went away before a complete response.
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') return 'ERR_NGROK_3004';
  return 'ERR_NGROK_8012';
}

/** The error the visitor sees, worded after what happened (refused, not found, closed, timed out). */
export function upstreamError(err: NodeJS.ErrnoException, hostPort: string, retried = false): WireError {
  const code = upstreamErrorCode(err);
  const what: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens on that port',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'the app closed the connection before it sent a complete response',
    EPIPE: 'the app closed the connection while the request was being sent',
    ECONNABORTED: 'the connection was aborted before a complete response',
  };
  const detail = what[err.code ?? ''] ?? err.message;
  const again = retried ? ' (sent again on a fresh connection after a reused one failed: same result)' : '';
  return { code, message: `${hostPort}: ${detail}${again}` };
}

/** Applies the tunnel's host_header rule (`rewrite`, a literal, or `preserve`/unset). */
export function withHostHeader(rawHeaders: string[], upstream: HttpUpstream): string[] {
  const mode = upstream.hostHeader;
  if (!mode || mode === 'preserve') return rawHeaders;
  const host =
    mode === 'rewrite'
      ? upstream.port === (upstream.protocol === 'https:' ? 443 : 80)
        ? upstream.host
        : upstream.hostPort
      : mode;
  return ['Host', host, ...filterRawHeaders(rawHeaders, (name) => name !== 'host')];
}

export interface UpstreamRequestHead {
  method: string;
  url: string;
  /** As they go upstream (host_header already applied). */
  rawHeaders: string[];
  /** The request asks for a protocol switch (its body is the raw protocol, sent after a 101). */
  upgrade?: boolean;
}

export interface UpstreamHandlers {
  response(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    body: Readable,
  ): void;
  /**
   * Optional: plain HTTP/1.1 upstreams (the raw path) deliver the body to this sink instead of
   * calling `response` with a Readable (raw-http-forwarder.ts RawHandlers.sink).
   */
  sink?(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    resume: () => void,
    /** The head's bytes as the upstream sent them (capture keeps them as they are); valid during the call. */
    head?: Buffer,
  ): BodySink;
  /** The upstream switched protocols (HTTP/1.1 only): bytes flow raw on `socket` from here. */
  upgrade(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    socket: Duplex,
    head: Buffer,
  ): void;
  error(error: WireError): void;
}

/** The raw path's handlers for an UpstreamHandlers: its errors worded for the visitor (one object, no closure). */
class RawUpstreamHandlers implements RawHandlers {
  /** The caller's sink, when it has one (RawExchange takes a sink only when there is one). */
  readonly sink: RawHandlers['sink'];

  constructor(
    private readonly to: UpstreamHandlers,
    private readonly hostPort: string,
  ) {
    this.sink = to.sink ? RawUpstreamHandlers.prototype.toSink : undefined;
  }

  private toSink(
    statusCode: number,
    statusMessage: string,
    httpVersion: string,
    rawHeaders: string[],
    resume: () => void,
    head: Buffer,
  ): BodySink {
    return this.to.sink!(statusCode, statusMessage, httpVersion, rawHeaders, resume, head);
  }

  response(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[], body: Readable) {
    this.to.response(statusCode, statusMessage, httpVersion, rawHeaders, body);
  }

  upgrade(
    statusCode: number,
    statusMessage: string,
    httpVersion: string,
    rawHeaders: string[],
    socket: Duplex,
    head: Buffer,
  ): void {
    this.to.upgrade(statusCode, statusMessage, httpVersion, rawHeaders, socket, head);
  }

  error(err: NodeJS.ErrnoException, retried: boolean): void {
    this.to.error(upstreamError(err, this.hostPort, retried));
  }
}

/**
 * Sends one request to the upstream: HTTP/1.1 through the keep-alive pool, HTTPS without
 * verification, or HTTP/2 (h2c prior knowledge). The one place the agent talks HTTP to an upstream:
 * live traffic and replays both go through here. Write the request body to `body` (or call
 * `endBody` when there is none: no Writable is made for it then); `cancel` aborts the request.
 */
export function requestUpstream(
  upstream: HttpUpstream,
  head: UpstreamRequestHead,
  handlers: UpstreamHandlers,
): { readonly body: Writable; endBody(): void; cancel(): void } {
  // Plain HTTP/1.1 first: the raw path keeps its own response deadline on the connection, and
  // none of the closures below are made for it (most requests are these).
  if (upstream.protocol === 'http:' && !upstream.http2) {
    return rawRequest(upstream, head, new RawUpstreamHandlers(handlers, upstream.hostPort), head.upgrade);
  }
  // On the shared coarse sweep (net/deadlines.ts): no timer set and cleared per request.
  let timer: { cancel(): void } | undefined;
  const armTimeout = (onTimeout: () => void) => {
    if (upstream.responseTimeoutMs > 0) timer = deadlineIn(upstream.responseTimeoutMs, onTimeout);
  };
  const failed = (err: NodeJS.ErrnoException, retried = false) => {
    timer?.cancel();
    handlers.error(upstreamError(err, upstream.hostPort, retried));
  };
  const timeoutError = () =>
    Object.assign(new Error(`upstream did not answer within ${upstream.responseTimeoutMs} ms`), {
      code: 'ERR_BURROW_UPSTREAM_TIMEOUT',
    });

  if (upstream.http2) {
    let req: http2.ClientHttp2Stream;
    try {
      req = h2Session(upstream).request(h2Headers(head), { endStream: false });
    } catch (err) {
      failed(err as NodeJS.ErrnoException);
      return { body: new PassThrough().resume(), endBody: () => undefined, cancel: () => undefined };
    }
    armTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      failed(timeoutError());
    });
    req.on('response', (h) => {
      timer?.cancel();
      const raw: string[] = [];
      for (const [name, value] of Object.entries(h)) {
        if (name.startsWith(':') || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) raw.push(name, String(v));
      }
      handlers.response(Number(h[':status'] ?? 502), undefined, '2.0', raw, req);
    });
    req.on('error', failed);
    return {
      body: req,
      endBody: () => req.end(),
      cancel: () => {
        timer?.cancel();
        req.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  // `fresh`: a retry gets a connection of its own, not the pool's next idle one (as old, or older).
  const send = (fresh: boolean) =>
    https.request({
      protocol: upstream.protocol,
      host: upstream.host,
      port: upstream.port,
      method: head.method,
      path: head.url,
      headers: head.rawHeaders as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent: fresh ? false : httpsPool,
      rejectUnauthorized: false,
    });
  let req = send(false);
  const body = new RetryableBody(req);
  let responded = false;
  let retried = false;
  const wire = (r: http.ClientRequest) => {
    r.on('response', (res) => {
      responded = true;
      body.forget();
      timer?.cancel();
      res.on('error', (err) => handlers.error({ code: 'ERR_NGROK_3004', message: err.message }));
      handlers.response(res.statusCode ?? 502, res.statusMessage, res.httpVersion, res.rawHeaders, res);
    });
    r.on('upgrade', (res, socket, upgradeHead) => {
      responded = true;
      body.forget();
      timer?.cancel();
      handlers.upgrade(res.statusCode ?? 101, res.statusMessage, res.httpVersion, res.rawHeaders, socket, upgradeHead);
    });
    r.on('error', (err: NodeJS.ErrnoException) => {
      if (r !== req) return;
      if (!retried && body.replayable && retryable(r, err, responded)) {
        retried = true;
        req = send(true);
        wire(req);
        body.replayTo(req);
        return;
      }
      failed(err, retried);
      // Unpipes the edge's stream from the body, so the rest of the request body drains (as it
      // did when the body was the destroyed ClientRequest itself) instead of stalling the stream.
      body.destroy();
    });
  };
  wire(req);
  armTimeout(() => req.destroy(timeoutError()));
  return {
    body,
    endBody: () => body.end(),
    cancel: () => {
      timer?.cancel();
      req.destroy();
      body.destroy();
    },
  };
}

/** How an exchange ended, filled in as it happens (for logs and metrics). */
export interface HttpOutcome {
  statusCode?: number;
  errorCode?: string;
  /** Traffic-policy `log` entries the edge recorded for this request (both phases). */
  logs?: PolicyLogEntry[];
}

/** How long the agent holds a response's end for the edge's response-phase `log` entries. */
const POLICY_LOGS_WAIT_MS = 5_000;

/**
 * Forwards one HTTP exchange from the edge (a light MuxExchange: callbacks, no Duplex). `recording`
 * (when capture is on) sees every byte both ways; `closed` runs once when the exchange is over.
 */
export function forwardHttp(
  ex: MuxExchange,
  open: HttpOpen,
  upstream: HttpUpstream,
  recording?: Recording,
  closed?: () => void,
): HttpOutcome {
  return new ForwardedExchange(ex, open, upstream, recording, closed).outcome;
}

/**
 * One exchange being forwarded: the exchange's handler (the edge's side: meta, data, end, close),
 * the upstream request's handlers (response, sink, upgrade, error) and the sink of a raw response
 * body, in one object with its state in fields, as Node's http keeps a request's state in its
 * request object: no closures made per request (they were ≈ 1.6 KB per request).
 */
class ForwardedExchange implements ExchangeHandler, UpstreamHandlers, BodySink {
  /** How the exchange ended (returned to the agent; filled in as it happens). */
  readonly outcome: HttpOutcome;
  private readonly request: { readonly body: Writable; endBody(): void; cancel(): void };
  private answered = false;
  /** Where the edge's bytes go: the request body, then (after a 101) the upstream socket. */
  private requestBody: Writable | undefined;
  private dropBody = false;
  /** An upgrade's bytes before the 101 (the edge's credit bounds them). */
  private early: Buffer[] | undefined;
  private earlyEnd = false;
  private upgraded: Duplex | undefined;
  /** Resumes the upstream's response body (the raw path's, or a Readable's / socket's). */
  private resume: (() => void) | undefined;
  /** Returns the edge its credit once the request body drained (made on first use). */
  private release: (() => void) | undefined;
  /** Response-phase policy logs are due (open.logsResponse): the response's end waits for them. */
  private responseLogs: Promise<void> | undefined;
  private logsDone: (() => void) | undefined;

  constructor(
    private readonly ex: MuxExchange,
    open: HttpOpen,
    upstream: HttpUpstream,
    private readonly recording: Recording | undefined,
    private readonly closed: (() => void) | undefined,
  ) {
    this.outcome = open.logs?.length ? { logs: [...open.logs] } : {};
    if (open.logs?.length) recording?.addPolicyLogs(open.logs);
    // Response-phase `log` entries come in a Meta after the head the edge received; the response's
    // end waits for them so the capture and the log line are complete when the exchange closes.
    if (open.logsResponse) {
      this.responseLogs = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLICY_LOGS_WAIT_MS);
        this.logsDone = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (open.upgrade) this.early = [];
    this.request = requestUpstream(
      upstream,
      {
        method: open.method,
        url: open.url,
        rawHeaders: withHostHeader(open.rawHeaders, upstream),
        upgrade: open.upgrade,
      },
      this,
    );
    ex.attach(this);
    // The body of an upgrade request is the raw protocol: only sent after a 101.
    if (open.upgrade) this.request.endBody();
  }

  private releaser(): () => void {
    return (this.release ??= () => this.ex.release());
  }

  /** Ends the response (after the response-phase logs when they are due). */
  private endResponse(last?: Buffer): void {
    if (!this.responseLogs) {
      this.recording?.finish();
      this.ex.end(last);
      return;
    }
    void this.responseLogs.then(() => {
      this.recording?.finish();
      this.ex.end(last);
    });
  }

  /** `headBytes`: the head as the upstream sent it, when the raw path parsed it (capture keeps those bytes). */
  private respond(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    headBytes?: Buffer,
  ) {
    this.answered = true;
    this.outcome.statusCode = statusCode;
    const head: HttpResponseHead = { kind: 'http-response', statusCode, statusMessage, rawHeaders };
    this.ex.sendMeta(head);
    const recording = this.recording;
    if (!recording) return;
    if (headBytes) recording.responseBytes(statusCode, statusMessage ?? '', httpVersion, headBytes);
    else recording.response(statusCode, statusMessage ?? '', httpVersion, rawHeaders);
  }

  // ---- the upstream's side (UpstreamHandlers, BodySink) ----

  // The raw path: the body goes straight to the exchange (ex.send), and the head, a small body and
  // the end reach the edge together (Meta + one DATA frame with FIN).
  sink(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    resume: () => void,
    headBytes?: Buffer,
  ): BodySink {
    this.respond(statusCode, statusMessage, httpVersion, rawHeaders, headBytes);
    this.resume = resume;
    return this;
  }

  bodyData(chunk: Buffer): boolean {
    this.recording?.responseData(chunk);
    return this.ex.send(chunk, this.resume!);
  }

  bodyEnd(last?: Buffer): void {
    if (last) this.recording?.responseData(last);
    this.endResponse(last);
  }

  response(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    res: Readable,
  ) {
    this.respond(statusCode, statusMessage, httpVersion, rawHeaders);
    const resume = (this.resume = () => res.resume());
    res.on('data', (chunk: Buffer) => {
      this.recording?.responseData(chunk);
      if (!this.ex.send(chunk, resume)) res.pause();
    });
    res.on('end', () => this.endResponse());
  }

  upgrade(
    statusCode: number,
    statusMessage: string | undefined,
    httpVersion: string,
    rawHeaders: string[],
    socket: Duplex,
    head: Buffer,
  ): void {
    this.respond(statusCode, statusMessage, httpVersion, rawHeaders);
    this.recording?.finish();
    // After a 101 the exchange and the upstream socket are one raw byte pipe, with the
    // exchange's credit as back-pressure both ways.
    const ex = this.ex;
    const release = this.releaser();
    this.upgraded = socket;
    socket.on('drain', release);
    const held = this.early ?? [];
    this.early = undefined;
    for (const chunk of held) socket.write(chunk);
    if (this.earlyEnd) socket.end();
    release();
    const resume = () => socket.resume();
    socket.pause();
    socket.on('data', (chunk: Buffer) => {
      if (!ex.send(chunk, resume)) socket.pause();
    });
    socket.on('end', () => ex.end());
    socket.on('error', () => ex.reset({ code: 'ERR_BURROW_STREAM_CANCELLED', message: 'upstream socket failed' }));
    if (!head.length || ex.send(head, resume)) socket.resume();
  }

  error(error: WireError): void {
    const outcome = this.outcome;
    outcome.errorCode = error.code;
    outcome.statusCode ??= 502;
    this.recording?.finish(error);
    if (this.answered) {
      this.ex.reset(error);
      return;
    }
    this.answered = true;
    const head: HttpResponseHead = {
      kind: 'http-response',
      statusCode: 502,
      rawHeaders: [],
      error: { code: error.code, message: error.message },
    };
    this.ex.sendMeta(head);
    // The rest of the request body is read and dropped (a dead upstream request would stall it).
    this.dropBody = true;
    this.early = undefined;
    this.ex.release();
    this.ex.end();
  }

  // ---- the edge's side (ExchangeHandler) ----

  meta(meta: unknown): void {
    const logs = meta as PolicyLogs; // checked by the session (policyLogsMeta)
    if (logs.kind !== 'policy-logs') return;
    if (logs.logs.length) (this.outcome.logs ??= []).push(...logs.logs.slice(0, 64));
    this.recording?.addPolicyLogs(logs.logs.slice(0, 64));
    this.logsDone?.();
  }

  data(chunk: Buffer): boolean {
    this.recording?.requestData(chunk);
    if (this.upgraded) return this.upgraded.write(chunk);
    if (this.early) {
      this.early.push(chunk);
      return false;
    }
    if (this.dropBody) return true;
    const body = (this.requestBody ??= this.request.body);
    if (body.write(chunk)) return true;
    if (body.listenerCount('drain') === 0) body.once('drain', this.releaser());
    return false;
  }

  end(): void {
    this.recording?.requestEnd();
    if (this.upgraded) this.upgraded.end();
    else if (this.early) this.earlyEnd = true;
    else if (this.dropBody) return;
    else if (this.requestBody) this.requestBody.end();
    else this.request.endBody();
  }

  close(error?: WireError): void {
    this.logsDone?.();
    const upgraded = this.upgraded;
    if (error) {
      this.request.cancel();
      upgraded?.destroy();
    } else if (upgraded && !upgraded.destroyed) upgraded.destroy();
    this.closed?.();
  }
}

// ---- h2c / h2 upstreams ----

const h2Sessions = new Map<string, http2.ClientHttp2Session>();

function h2Session(upstream: HttpUpstream): http2.ClientHttp2Session {
  const origin = `${upstream.protocol === 'https:' ? 'https' : 'http'}://${upstream.hostPort}`;
  let session = h2Sessions.get(origin);
  if (!session || session.closed || session.destroyed) {
    session = http2.connect(origin, { rejectUnauthorized: false });
    const created = session;
    created.on('error', () => {
      /* surfaces on each request */
    });
    created.on('close', () => {
      if (h2Sessions.get(origin) === created) h2Sessions.delete(origin);
    });
    created.unref();
    h2Sessions.set(origin, created);
  }
  return session;
}

const H2_FORBIDDEN = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
]);

function h2Headers(head: UpstreamRequestHead): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = { ':method': head.method, ':path': head.url };
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'host') headers[':authority'] = raw[i + 1];
    else if (!H2_FORBIDDEN.has(name)) {
      const prev = headers[name];
      headers[name] = prev === undefined ? raw[i + 1] : ([] as string[]).concat(prev as string | string[], raw[i + 1]);
    }
  }
  return headers;
}
