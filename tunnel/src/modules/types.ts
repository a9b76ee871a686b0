// The contract every edge HTTP module implements. A pipeline (modules/pipeline.ts) runs the
// modules of an endpoint (or of an edge route) in a fixed, documented order; the same module code
// runs whether it was configured by a CLI flag, an ngrok.yml key, a traffic-policy action or an
// edge route.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Transform } from 'node:stream';
import type { PeerCertificate } from 'node:tls';

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

export interface RequestContext {
  /** The client's request; its body has not been read yet. */
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  /** L4 source address (never X-Forwarded-For). */
  readonly clientIp: string;
  readonly scheme: 'http' | 'https';
  /** Host name the client asked for, lower case, without port. */
  readonly host: string;
  /** Unique per request; exposed to header templates. */
  readonly requestId: string;
  /** Request line sent upstream; modules may rewrite it (url-rewrite). */
  method: string;
  url: string;
  /** Headers sent upstream, raw name/value pairs, already with X-Forwarded-*; edit in place. */
  upstreamHeaders: string[];
  /**
   * Set by a module that had to read the body (webhook verification, bounded): the proxy sends
   * these bytes upstream instead of reading `req`.
   */
  requestBody?: Buffer;
  /** Per-request values shared between modules and phases (e.g. the signed-in OAuth user). */
  readonly vars: Map<string, unknown>;
  /** The visitor's certificate when mutual TLS is on. */
  readonly peerCertificate?: PeerCertificate;
  /** Set by the pipeline: the module that answered the client itself (a 401, a redirect, a denial). */
  answeredBy?: string;
}

export interface ResponseContext extends RequestContext {
  statusCode: number;
  /** Headers sent to the client, raw name/value pairs; edit in place. */
  responseHeaders: string[];
}

/** `handled`: the module answered the client itself (401, redirect, deny…); stop the pipeline. */
export type RequestOutcome = void | 'handled';

export interface HttpModule {
  readonly name: string;
  /**
   * The response phase may record traffic-policy `log` entries (ctx.vars `policy.logs`): the edge
   * sends them to the agent after the response head, and the agent waits for them.
   */
  readonly logsResponse?: boolean;
  onRequest?(ctx: RequestContext): RequestOutcome | Promise<RequestOutcome>;
  onResponse?(ctx: ResponseContext): void;
  /** A transform for the response body (compression); undefined passes it through untouched. */
  responseBody?(ctx: ResponseContext): Transform | undefined;
  /** Called once per request with the final status (circuit breaker statistics, logs). */
  onComplete?(ctx: RequestContext, result: { statusCode: number; errorCode?: string }): void;
}

/**
 * A rate-limit window counted beyond this process: the nodes of an edge cluster share it (edge
 * cluster/counters.ts). `take` counts one request in `bucket` unless the sliding-window estimate
 * is at `capacity` per `rateMs`; undefined means "count locally" (the shared store is away).
 */
export interface SharedRateLimiter {
  take(bucket: string, capacity: number, rateMs: number): Promise<{ ok: boolean; retryAfterS: number }> | undefined;
}
