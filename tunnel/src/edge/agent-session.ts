// What the edge needs of an agent session, whichever protocol the agent speaks: Burrow's own
// (protocol/session.ts MuxSession) or ngrok's (ngrok-protocol/agent-session.ts). Bindings hold one,
// and the proxy (http-proxy.ts, edge.ts pipeRaw) opens a stream on it per request or connection.
import type { Duplex } from 'node:stream';
import type { RefusedNotice, StreamOpen, WireError } from '../protocol/messages';
import type { ExchangeHandler, ExchangeSender } from '../protocol/session';

export interface AgentSession {
  readonly isClosed: boolean;
  /**
   * One proxied TCP/TLS connection (raw bytes both ways) or one HTTP exchange: the writable side
   * is the request body (`fin`: there is none), then the stream emits 'meta' with the
   * HttpResponseHead and its readable side is the response body (raw bytes after a 101).
   */
  openStream(meta: StreamOpen, fin?: boolean): Duplex;
  /**
   * Optional: one HTTP exchange as a light object, `handler` hearing the agent's side (Burrow's
   * own sessions: protocol/session.ts MuxExchange). The raw visitor path prefers it.
   */
  openExchange?(meta: StreamOpen, fin: boolean, handler: ExchangeHandler): ExchangeSender;
  close(error?: WireError): void;
  /**
   * A module of one of this session's endpoints answered a request itself (a basic-auth 401, an
   * IP denial): the session records it where its inspector reads captures. Burrow's agents get a
   * `refused` control message instead (edge.ts refusedHook).
   */
  refused?(notice: RefusedNotice): void;
}
