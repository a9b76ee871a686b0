// ngrok's agent is a byte pipe even for HTTP endpoints, so for those the edge is the HTTP client:
// Node's http client runs over proxied muxado streams (a keep-alive pool per tunnel), or Node's
// http2 client when the agent bound with `app_protocol: http2` (HTTP/2 with prior knowledge on one
// proxied stream: the agent pipes those bytes to an upstream that speaks h2). An exchange presents
// the result the way Burrow's own sessions do — a Duplex whose writable side is the request body,
// which emits 'meta' with the response head and then yields the response body — so the edge's
// proxy code (http-proxy.ts) runs unchanged for both kinds of agent. The edge also captures these
// exchanges and times out an agent that never answers (ngrok's agents do neither for the edge).
import http from 'node:http';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import type net from 'node:net';
import type { HttpOpen, HttpResponseHead } from '../protocol/messages';
import type { Recording } from '../capture/store';

/** A keep-alive pool whose connections are new proxied streams to the agent. */
export class StreamAgent extends http.Agent {
  constructor(private readonly connect: () => Duplex) {
    super({ keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 64, scheduling: 'lifo' });
  }

  override createConnection(_options: unknown, callback?: (err: Error | null, socket: Duplex) => void): Duplex {
    const stream = this.connect();
    // The agent closing its side (the upstream ended a keep-alive connection): close ours too, so
    // the stream is finished on both sides and never reused from the pool.
    stream.once('end', () => stream.end());
    // http.Agent expects socket-like methods; a muxado stream has no Nagle or TCP keep-alive.
    const s = stream as Duplex & Partial<net.Socket>;
    s.setKeepAlive ??= () => s as net.Socket;
    s.setNoDelay ??= () => s as net.Socket;
    s.setTimeout ??= () => s as net.Socket;
    s.ref ??= () => s as net.Socket;
    s.unref ??= () => s as net.Socket;
    callback?.(null, stream);
    return stream;
  }
}

export interface ExchangeOptions {
  /** HostHeaderRewrite: the Host (HTTP/1.1) or :authority (HTTP/2) sent to the agent. */
  hostRewrite?: string;
  /** No response head this long after the request was sent: 504 ERR_NGROK_3007, stream reset (0: no limit). */
  responseTimeoutMs: number;
  /** The edge's capture of this exchange, if the edge captures. */
  recording?: Recording;
}

type Failure = Error & { code?: string };

/** What both exchanges share: the response head, capture, the response-head timeout, failures. */
abstract class Exchange extends Duplex {
  private timer?: NodeJS.Timeout;
  private answered = false;
  private finished = false;

  constructor(protected readonly options: ExchangeOptions) {
    super({ allowHalfOpen: true });
  }

  /** The request is all sent (or an upgrade is waiting): the agent has this long to answer. */
  protected armTimeout(): void {
    const ms = this.options.responseTimeoutMs;
    if (this.answered || this.timer || ms <= 0 || this.destroyed) return;
    this.timer = setTimeout(
      () =>
        this.fail(
          Object.assign(new Error(`the agent sent no response within ${Math.round(ms / 1000)} s`), {
            code: 'ERR_NGROK_3007',
          }),
        ),
      ms,
    );
    this.timer.unref?.();
  }

  protected head(statusCode: number, statusMessage: string, httpVersion: string, rawHeaders: string[]): void {
    if (statusCode >= 200 || statusCode === 101) {
      this.answered = true;
      clearTimeout(this.timer);
    }
    this.options.recording?.response(statusCode, statusMessage, httpVersion, rawHeaders);
    this.emit('meta', { kind: 'http-response', statusCode, statusMessage, rawHeaders } satisfies HttpResponseHead);
  }

  /** A chunk of the response body (or of the upgraded connection) for the client. */
  protected deliver(chunk: Buffer): boolean {
    this.options.recording?.responseData(chunk);
    return this.push(chunk);
  }

  protected deliverEnd(): void {
    this.done();
    this.push(null);
  }

  protected captureRequest(chunk: Buffer): void {
    this.options.recording?.requestData(chunk);
  }

  protected captureRequestEnd(): void {
    this.options.recording?.requestEnd();
  }

  protected fail(err: Failure): void {
    if (this.destroyed) return;
    // A timeout keeps its code; the session going away is "agent unreachable"; anything else
    // broke the upstream's answer.
    if (err.code !== 'ERR_NGROK_3007')
      err.code = err.code === 'ERR_BURROW_SESSION_CLOSED' ? 'ERR_NGROK_3210' : 'ERR_NGROK_3004';
    this.done({ code: err.code, message: err.message });
    this.destroy(err);
  }

  private done(error?: { code: string; message: string }): void {
    clearTimeout(this.timer);
    if (this.finished) return;
    this.finished = true;
    this.options.recording?.finish(error);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // Destroyed without a failure: the visitor left (or the edge cut the response) mid-way.
    this.done(
      err ? undefined : { code: 'ERR_BURROW_CLIENT_CLOSED', message: 'the exchange ended before it completed' },
    );
    this.teardown();
    callback(err);
  }

  protected abstract teardown(): void;
}

/** One request over HTTP/1.1, on a pooled proxied stream (keep-alive, upgrades). */
export class HttpExchange extends Exchange {
  private readonly req: http.ClientRequest;
  private res?: http.IncomingMessage;
  private upgraded?: Duplex;
  /** Bytes the client sent before an upgrade completed (websocket frames right after the request). */
  private early: Buffer[] = [];
  private readonly isUpgrade: boolean;

  constructor(open: HttpOpen, agent: http.Agent, options: ExchangeOptions, fin: boolean) {
    super(options);
    this.isUpgrade = !!open.upgrade;
    const headers = [...open.rawHeaders];
    if (options.hostRewrite) {
      for (let i = 0; i < headers.length; i += 2)
        if (headers[i].toLowerCase() === 'host') headers[i + 1] = options.hostRewrite;
    }
    this.req = http.request({
      agent,
      method: open.method,
      path: open.url,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      // The edge already answered Expect itself or forwards it; the agent just carries bytes.
    });
    this.req.on('response', (res) => this.onResponse(res));
    this.req.on('upgrade', (res, socket, head) => this.onUpgrade(res, socket, head));
    this.req.on('error', (err) => this.fail(err));
    this.req.on('finish', () => this.armTimeout());
    if (fin) {
      this.captureRequestEnd();
      this.req.end();
    } else if (open.upgrade) {
      this.req.flushHeaders();
      this.armTimeout();
    }
  }

  private onResponse(res: http.IncomingMessage): void {
    this.res = res;
    this.head(res.statusCode ?? 502, res.statusMessage ?? '', res.httpVersion, res.rawHeaders);
    res.on('data', (chunk: Buffer) => {
      if (!this.deliver(chunk)) res.pause();
    });
    res.on('end', () => this.deliverEnd());
    res.on('error', (err) => this.fail(err));
    res.on('aborted', () =>
      this.fail(Object.assign(new Error('upstream response cut short'), { code: 'ERR_NGROK_3004' })),
    );
  }

  private onUpgrade(res: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgraded = socket;
    this.head(res.statusCode ?? 101, res.statusMessage ?? '', res.httpVersion, res.rawHeaders);
    if (head.length) this.deliver(head);
    for (const b of this.early) socket.write(b);
    this.early = [];
    socket.on('data', (chunk: Buffer) => {
      if (!this.deliver(chunk)) socket.pause();
    });
    socket.on('end', () => this.deliverEnd());
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.res?.resume();
    this.upgraded?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.upgraded) {
      this.upgraded.write(chunk, callback);
    } else if (this.isUpgrade) {
      this.early.push(chunk); // before the 101: never as a request body
      callback();
    } else {
      this.captureRequest(chunk);
      if (this.req.write(chunk)) callback();
      else this.req.once('drain', () => callback());
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.upgraded) this.upgraded.end();
    else if (!this.req.writableEnded) {
      this.captureRequestEnd();
      this.req.end();
    }
    callback();
  }

  protected teardown(): void {
    this.req.destroy();
    this.upgraded?.destroy();
  }
}

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2); Host becomes :authority. */
const NOT_IN_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/** One request as an HTTP/2 stream of the tunnel's h2 session (`app_protocol: http2`). */
export class Http2Exchange extends Exchange {
  private req?: http2.ClientHttp2Stream;

  constructor(open: HttpOpen, session: http2.ClientHttp2Session, options: ExchangeOptions, fin: boolean) {
    super(options);
    if (open.upgrade) {
      // Websockets over HTTP/2 need extended CONNECT (RFC 8441), which upstreams rarely speak.
      process.nextTick(() =>
        this.fail(new Error('this tunnel forwards with app_protocol http2: upgrades (websockets) need HTTP/1.1')),
      );
      return;
    }
    let authority = options.hostRewrite ?? '';
    const headers: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < open.rawHeaders.length; i += 2) {
      const name = open.rawHeaders[i].toLowerCase();
      const value = open.rawHeaders[i + 1];
      if (name === 'host') authority ||= value;
      if (NOT_IN_H2.has(name) || (name === 'te' && value.trim().toLowerCase() !== 'trailers')) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? value : ([] as string[]).concat(prev as string | string[], value);
    }
    headers[':method'] = open.method;
    headers[':path'] = open.url;
    headers[':scheme'] = open.scheme;
    headers[':authority'] = authority || 'localhost';
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request(headers, { endStream: fin });
    } catch (err) {
      process.nextTick(() => this.fail(err as Failure));
      return;
    }
    this.req = req;
    let ended = false;
    req.on('response', (h) => {
      const raw: string[] = [];
      for (const [name, value] of Object.entries(h)) {
        if (name.startsWith(':') || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) raw.push(name, String(v));
      }
      this.head(Number(h[':status'] ?? 502), '', '2.0', raw);
    });
    req.on('data', (chunk: Buffer) => {
      if (!this.deliver(chunk)) req.pause();
    });
    req.on('end', () => {
      ended = true;
      this.deliverEnd();
    });
    req.on('finish', () => this.armTimeout());
    req.on('error', (err) => this.fail(err));
    req.on('close', () => {
      if (!ended) this.fail(new Error(`the agent's HTTP/2 stream closed early (code ${req.rstCode ?? 0})`));
    });
    if (fin) {
      this.captureRequestEnd();
      this.armTimeout();
    }
  }

  override _read(): void {
    this.req?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (!this.req || this.req.writableEnded) return callback();
    this.captureRequest(chunk);
    this.req.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.req && !this.req.writableEnded) {
      this.captureRequestEnd();
      this.req.end();
    }
    callback();
  }

  protected teardown(): void {
    if (this.req && !this.req.closed) this.req.close(http2.constants.NGHTTP2_CANCEL);
  }
}
