// Every JSON message of the wire protocol, as named types (see tunnel/PROTOCOL.md), and the
// checks every decoded control message passes before anyone uses it (MuxSession runs them).
// Self-contained: nothing here depends on the rest of Burrow, so only an edit in this folder
// changes what goes on the wire.
import { wireEdgeOptions, type WireEdgeOptions } from './edge-options';
import { array, bool, int, json, literal, object, optional, record, str, tagged, type Shape } from './shape';

export type Proto = 'http' | 'tcp' | 'tls';
export type Scheme = 'http' | 'https';

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
  /** The endpoint's modules, applied by the edge (protocol/edge-options.ts). */
  edge?: WireEdgeOptions;
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
  /** Traffic-policy `log` entries of `on_tcp_connect` (ngrok's `traffic_policy.logs`). */
  logs?: PolicyLogEntry[];
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

// ---- checks ----

/** Code of the GoAway that ends a session whose peer sent a message of the wrong shape. */
export const MESSAGE_MALFORMED = 'ERR_BURROW_MESSAGE_MALFORMED';

export const wireError: Shape<WireError> = object<WireError>({ code: str, message: str });
const strings = array(str);

const policyLogs = array(object<PolicyLogEntry>({ metadata: json }));

/**
 * Every control message, told apart by `type`; an unknown type or a field of the wrong shape throws.
 * The map is typed by ControlMessage's `type`s, so a message added there without a check here does
 * not compile (a missing check would cut every session that receives the new message).
 */
const controlVariants: { [K in ControlMessage['type']]: Shape<ControlMessage> } = {
  hello: object<Hello>({
    type: literal('hello'),
    version: int,
    authtoken: optional(str),
    clientId: str,
    agent: object<Hello['agent']>({ version: str, os: str, hostname: optional(str) }),
    features: optional(strings),
  }),
  welcome: object<Welcome>({
    type: literal('welcome'),
    version: int,
    sessionId: str,
    heartbeatIntervalMs: int,
    heartbeatToleranceMs: int,
    initialWindow: int,
    features: optional(strings),
  }),
  bind: object<BindRequest>({
    type: literal('bind'),
    reqId: int,
    name: str,
    proto: literal('http', 'tcp', 'tls'),
    domain: optional(str),
    subdomain: optional(str),
    remoteAddr: optional(str),
    schemes: optional(array(literal('http', 'https'))),
    edge: optional(wireEdgeOptions),
    previousUrls: optional(strings),
    labels: optional(record(str)),
    pooling: optional(bool),
    internal: optional(bool),
  }),
  'bind-result': object<BindResult>({
    type: literal('bind-result'),
    reqId: int,
    binding: optional(object<NonNullable<BindResult['binding']>>({ id: str, urls: strings })),
    error: optional(wireError),
  }),
  unbind: object<UnbindRequest>({ type: literal('unbind'), reqId: int, id: str }),
  'unbind-result': object<UnbindResult>({ type: literal('unbind-result'), reqId: int, error: optional(wireError) }),
  reconnect: object<Reconnect>({ type: literal('reconnect'), code: str, message: str }),
  refused: object<RefusedNotice>({
    type: literal('refused'),
    binding: str,
    module: str,
    remoteAddr: str,
    method: str,
    url: str,
    httpVersion: str,
    rawHeaders: strings,
    statusCode: int,
    statusMessage: str,
    responseHeaders: strings,
    logs: optional(policyLogs),
  }),
};
export const controlMessage: Shape<ControlMessage> = tagged<ControlMessage>('type', controlVariants);

const rawHeaders = array(str);

const rawOpen = object<RawOpen>({
  kind: literal('tcp', 'tls'),
  binding: str,
  remoteAddr: str,
  localAddr: optional(str),
  logs: optional(policyLogs),
});

/** Stream metadata of an `Open` (edge → agent), told apart by `kind`. */
export const streamOpen: Shape<StreamOpen> = tagged<StreamOpen>('kind', {
  http: object<HttpOpen>({
    kind: literal('http'),
    binding: str,
    remoteAddr: str,
    scheme: literal('http', 'https'),
    method: str,
    url: str,
    httpVersion: str,
    rawHeaders,
    upgrade: optional(bool),
    logs: optional(policyLogs),
    logsResponse: optional(bool),
  }),
  tcp: rawOpen,
  tls: rawOpen,
});

/** The `Meta` of an HTTP stream (edge → agent): the `log` entries of the response phase. */
export const policyLogsMeta: Shape<PolicyLogs> = object<PolicyLogs>({ kind: literal('policy-logs'), logs: policyLogs });

/** The `Meta` of an HTTP stream (agent → edge): the upstream's response head. */
export const httpResponseHead: Shape<HttpResponseHead> = object<HttpResponseHead>({
  kind: literal('http-response'),
  statusCode: int,
  statusMessage: optional(str),
  rawHeaders,
  error: optional(wireError),
});
