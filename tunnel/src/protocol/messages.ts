// Every JSON message of the wire protocol, as named types (see tunnel/PROTOCOL.md).
import type { EdgeOptions, Proto, Scheme } from '../model';

/** A typed error carried on the wire: `code` is ERR_NGROK_* where ngrok has one, else ERR_BURROW_*. */
export interface WireError {
  code: string;
  message: string;
}

// ---- Control messages (FrameType.Control, stream 0) ----

/** agent → edge, first message of a session. */
export interface Hello {
  type: 'hello';
  version: number;
  authtoken?: string;
  /** Stable per agent process; lets the edge tell a reconnect from a different agent. */
  clientId: string;
  agent: { version: string; os: string; hostname?: string };
  /** Optional protocol features the agent understands (`split-data`: frames.ts FLAG_SPLIT). */
  features?: string[];
}

/** edge → agent, answer to Hello when the session is accepted. */
export interface Welcome {
  type: 'welcome';
  version: number;
  sessionId: string;
  /** How often the agent should ping, and how long without a frame means the edge is dead. */
  heartbeatIntervalMs: number;
  heartbeatToleranceMs: number;
  /** Per-stream receive window both sides start with. */
  initialWindow: number;
  /** Optional protocol features the edge understands (`split-data`: frames.ts FLAG_SPLIT). */
  features?: string[];
}

/** agent → edge: make an endpoint reachable. */
export interface BindRequest {
  type: 'bind';
  /** Correlates the answer. */
  reqId: number;
  /** The agent's name for the endpoint (tunnel name). */
  name: string;
  proto: Proto;
  domain?: string;
  subdomain?: string;
  /** TCP: requested port or host:port. */
  remoteAddr?: string;
  schemes?: Scheme[];
  /** Edge-side handling the edge must apply (header rules now, modules later). */
  edge?: EdgeOptions;
  /** A name this agent held before a reconnect, so it gets the same URL back. */
  previousUrls?: string[];
  /**
   * Labeled tunnel (ngrok.yml v2 `labels`): no name of its own; HTTPS edges whose tunnel-group
   * backends select these labels send it their traffic. proto is 'http'; no domain or modules.
   */
  labels?: Record<string, string>;
  /**
   * Endpoint pooling (`pooling_enabled`): join the agents already serving this name if they pool
   * too; traffic is shared round robin. Without it a taken name is ERR_NGROK_334.
   */
  pooling?: boolean;
  /**
   * Internal endpoint (`https://name.internal`, v3 `bindings: [internal]`): reachable only through
   * other endpoints' `forward-internal` traffic policy action, never from the public listeners.
   */
  internal?: boolean;
}

export interface BindResult {
  type: 'bind-result';
  reqId: number;
  /** Set when the bind succeeded. */
  binding?: { id: string; urls: string[] };
  error?: WireError;
}

/** agent → edge: take an endpoint offline. */
export interface UnbindRequest {
  type: 'unbind';
  reqId: number;
  id: string;
}

export interface UnbindResult {
  type: 'unbind-result';
  reqId: number;
  error?: WireError;
}

/**
 * edge → agent: a module of one of the agent's endpoints answered a request itself (a basic-auth
 * 401, an OAuth redirect, an IP denial), so the agent never saw it; its inspector shows it. The
 * visitor's Authorization header is not included. Agents that do not know it ignore it.
 */
export interface RefusedNotice {
  type: 'refused';
  /** The binding id from bind-result. */
  binding: string;
  /** The module that answered: `basic-auth`, `oauth`, `ip-restriction`, … */
  module: string;
  remoteAddr: string;
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  statusCode: number;
  statusMessage: string;
  responseHeaders: string[];
  /** Traffic-policy `log` entries recorded before the edge answered. */
  logs?: PolicyLogEntry[];
}

/**
 * edge → agent: this edge (a draining cluster node) asks the agent to move. The agent opens a new
 * session (through the load balancer, to another node), binds its endpoints there, then closes
 * this one once its streams are done; until then this session keeps serving. Agents that do not
 * know it ignore it and get a GoAway `ERR_BURROW_EDGE_DRAINING` later.
 */
export interface Reconnect {
  type: 'reconnect';
  code: string;
  message: string;
}

export type ControlMessage =
  Hello | Welcome | BindRequest | BindResult | UnbindRequest | UnbindResult | RefusedNotice | Reconnect;

// ---- Stream metadata (FrameType.Open / FrameType.Meta) ----

/** edge → agent: one proxied HTTP request (or websocket upgrade). Body follows as DATA. */
export interface HttpOpen {
  kind: 'http';
  binding: string;
  remoteAddr: string;
  /** 'http' | 'https': what the client used at the edge. */
  scheme: Scheme;
  method: string;
  url: string;
  httpVersion: string;
  /** Alternating name, value as received (after the edge's own edits). */
  rawHeaders: string[];
  /** The client asked for a protocol upgrade (websocket); after a 101 the stream is raw bytes. */
  upgrade?: boolean;
  /** Traffic-policy `log` entries of the request phase (ngrok's `traffic_policy.logs`). */
  logs?: PolicyLogEntry[];
  /**
   * The endpoint's response phase has `log` actions: after the response head the edge sends one
   * PolicyLogs Meta (possibly empty), and the agent ends the stream only once it came (or a timeout).
   */
  logsResponse?: boolean;
}

/** One traffic-policy `log` action's record. */
export interface PolicyLogEntry {
  metadata: unknown;
}

/** edge → agent, Meta on an HTTP stream: the `log` entries of the response phase. */
export interface PolicyLogs {
  kind: 'policy-logs';
  logs: PolicyLogEntry[];
}

/** edge → agent: one raw TCP (or TLS passthrough) connection. */
export interface RawOpen {
  kind: 'tcp' | 'tls';
  binding: string;
  remoteAddr: string;
  /** The edge's address the visitor connected to (ngrok agents' PROXY protocol headers need it). */
  localAddr?: string;
}

export type StreamOpen = HttpOpen | RawOpen;

/** agent → edge: the upstream's response head (or an agent-side failure). */
export interface HttpResponseHead {
  kind: 'http-response';
  statusCode: number;
  statusMessage?: string;
  rawHeaders: string[];
  /** Set when the agent could not get a response; the edge renders its own error page. */
  error?: WireError;
}
