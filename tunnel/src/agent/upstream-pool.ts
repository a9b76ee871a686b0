// Keep-alive connections to HTTP/1.1 upstreams, and what to do when one dies under a request.
//
// An upstream closes idle keep-alive connections on its own timer (Node 5 s, gunicorn 2 s, …). If
// the agent picks such a connection just as its FIN is on the way, the request meets a reset or
// an EOF before any response byte. Two defences:
// - `ExpiringAgent` drops idle pooled connections first: after `Keep-Alive: timeout=N` minus 1 s
//   when the upstream announces one, else after 4 s (below Node's 5 s default).
// - `RetryableBody` lets the caller send the request again, once, on a fresh connection when a
//   reused one failed before any response byte, as browsers do (Chromium resends any request
//   whose reused connection fails that way: the upstream closed it idle and saw nothing). Bodies
//   are kept for that up to REPLAY_LIMIT bytes; past it the request is not retried.
import http from 'node:http';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';

/** Idle pooled connections are dropped after this when the upstream announces no timeout. */
export const DEFAULT_POOL_IDLE_MS = 4_000;
/** Request bodies up to this size can be sent again after a failed reused connection. */
export const REPLAY_LIMIT = 256 * 1024;

/**
 * Makes a keep-alive `http.Agent` or `https.Agent` drop idle pooled connections before the
 * upstream does (see the header comment). Node's own use of the Keep-Alive hint only applies when
 * the agent has a `timeout`, which would also cut quiet responses (SSE), so it is done here.
 */
export function expireIdle<T extends http.Agent>(agent: T, idleMs = DEFAULT_POOL_IDLE_MS): T {
  const pooled = agent as unknown as {
    keepSocketAlive(socket: Socket): boolean;
    reuseSocket(socket: Socket, req: http.ClientRequest): void;
  };
  const keep = pooled.keepSocketAlive.bind(agent);
  const reuse = pooled.reuseSocket.bind(agent);
  pooled.keepSocketAlive = (socket) => {
    if (!keep(socket)) return false;
    const res = (socket as unknown as { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res;
    const hint = /(?:^|[\s,])timeout=(\d+)/i.exec(String(res?.headers['keep-alive'] ?? ''))?.[1];
    const idle = hint === undefined ? idleMs : Math.min(idleMs, Number(hint) * 1000 - 1000);
    if (idle <= 0) return false; // the upstream's own timeout is too short to reuse safely
    socket.setTimeout(idle); // http.Agent destroys a free socket on 'timeout'
    return true;
  };
  pooled.reuseSocket = (socket, req) => {
    socket.setTimeout(0);
    reuse(socket, req);
  };
  return agent;
}

/** Socket errors that mean "the connection went away", as opposed to "could not connect". */
const GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** True when `err` on `req` may be retried on a fresh connection (see the header comment). */
export function retryable(req: http.ClientRequest, err: NodeJS.ErrnoException, responded: boolean): boolean {
  return !responded && req.reusedSocket && GONE.has(err.code ?? '');
}

/**
 * The request body the caller writes into: forwarded to the current upstream request, and kept
 * (up to REPLAY_LIMIT) so that `replayTo` can send it again to a new one.
 */
export class RetryableBody extends Writable {
  private target: http.ClientRequest;
  private kept: Buffer[] | undefined = [];
  private keptBytes = 0;
  private ended = false;
  private waiting: (() => void) | undefined;

  constructor(target: http.ClientRequest) {
    super();
    this.target = target;
  }

  /** Whether everything written so far can still be sent again. */
  get replayable(): boolean {
    return this.kept !== undefined;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.kept) {
      this.keptBytes += chunk.length;
      if (this.keptBytes <= REPLAY_LIMIT) this.kept.push(chunk);
      else this.kept = undefined;
    }
    if (this.target.write(chunk)) cb();
    else {
      this.waiting = cb;
      this.target.once('drain', () => this.release());
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.ended = true;
    this.target.end();
    cb();
  }

  /** The upstream answered: no retry any more, so the kept bytes can go. */
  forget(): void {
    this.kept = undefined;
  }

  /** Sends everything written so far to `next` and forwards to it from now on (only while `replayable`). */
  replayTo(next: http.ClientRequest): void {
    const kept = this.kept ?? [];
    this.target = next;
    for (const chunk of kept) next.write(chunk);
    if (this.ended) next.end();
    this.release();
  }

  private release(): void {
    const cb = this.waiting;
    this.waiting = undefined;
    cb?.();
  }
}
