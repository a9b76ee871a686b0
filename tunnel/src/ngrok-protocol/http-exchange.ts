// ngrok's agent is a byte pipe even for HTTP endpoints, so for those the edge is the HTTP/1.1
// client: Node's http client runs over proxied muxado streams (a keep-alive pool per tunnel), and
// HttpExchange presents the result the way Burrow's own sessions do — a Duplex whose writable side
// is the request body, which emits 'meta' with the response head and then yields the response
// body — so the edge's proxy code (http-proxy.ts) runs unchanged for both kinds of agent.
import http from 'node:http';
import { Duplex } from 'node:stream';
import type net from 'node:net';
import type { HttpOpen, HttpResponseHead } from '../protocol/messages';

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

export class HttpExchange extends Duplex {
  private readonly req: http.ClientRequest;
  private res?: http.IncomingMessage;
  private upgraded?: Duplex;
  /** Bytes the client sent before an upgrade completed (websocket frames right after the request). */
  private early: Buffer[] = [];
  private readonly isUpgrade: boolean;

  constructor(open: HttpOpen, agent: http.Agent, hostRewrite: string | undefined, fin: boolean) {
    super({ allowHalfOpen: true });
    this.isUpgrade = !!open.upgrade;
    const headers = [...open.rawHeaders];
    if (hostRewrite) {
      for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === 'host') headers[i + 1] = hostRewrite;
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
    if (fin) this.req.end();
    else if (open.upgrade) this.req.flushHeaders();
  }

  private onResponse(res: http.IncomingMessage): void {
    this.res = res;
    this.emit('meta', {
      kind: 'http-response',
      statusCode: res.statusCode ?? 502,
      statusMessage: res.statusMessage,
      rawHeaders: res.rawHeaders,
    } satisfies HttpResponseHead);
    res.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) res.pause();
    });
    res.on('end', () => this.push(null));
    res.on('error', (err) => this.fail(err));
    res.on('aborted', () =>
      this.fail(Object.assign(new Error('upstream response cut short'), { code: 'ERR_NGROK_3004' })),
    );
  }

  private onUpgrade(res: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgraded = socket;
    this.emit('meta', {
      kind: 'http-response',
      statusCode: res.statusCode ?? 101,
      statusMessage: res.statusMessage,
      rawHeaders: res.rawHeaders,
    } satisfies HttpResponseHead);
    if (head.length) this.push(head);
    for (const b of this.early) socket.write(b);
    this.early = [];
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.destroy());
  }

  private fail(err: Error & { code?: string }): void {
    if (this.destroyed) return;
    // The session going away is "agent unreachable"; anything else breaks the upstream's answer.
    err.code = err.code === 'ERR_BURROW_SESSION_CLOSED' ? 'ERR_NGROK_3210' : 'ERR_NGROK_3004';
    this.destroy(err);
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
      if (this.req.write(chunk)) callback();
      else this.req.once('drain', () => callback());
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.upgraded) this.upgraded.end();
    else if (!this.req.writableEnded) this.req.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.req.destroy();
    this.upgraded?.destroy();
    callback(err);
  }
}
