// The agent's local API as JSON: every REST body and every /api/events message, declared once.
// The server (server.ts, capture/ngrok-json.ts) builds these types; the extension
// (client/src/agent/api.ts, events.ts) and the inspector (inspector/web/app.ts) read them with
// type-only imports, so their bundles stay free of agent code. ngrok's own fields keep ngrok's
// names and types (docs `agent/api.mdx`); Burrow's additions are marked and only ever added.
//
// Each type has a runtime check beside it (protocol/shape.ts): the contract test runs a real agent
// and checks what it actually sends, so a field the server adds, drops or retypes without this
// file fails there. The checks refuse unknown fields for that reason.
import type { Proto, Scheme } from '../../model';
import type { WireEdgeOptions } from '../../protocol/edge-options';
import { wireEdgeOptions } from '../../protocol/edge-options';
import {
  array,
  bool,
  int,
  json,
  jsonObject,
  literal,
  nullable,
  num,
  object,
  optional,
  record,
  str,
  tagged,
  type Fields,
  type Shape,
} from '../../protocol/shape';

// ---- errors ----

/** Every error: `{"error_code":102,"status_code":400,"msg":"…","details":{"err":"…"}}` (ngrok's). */
export interface ApiErrorJson {
  error_code: number;
  status_code: number;
  msg: string;
  details: Record<string, string>;
}

// ---- tunnels and endpoints ----

/** ngrok's go-metrics meter/timer: rates are events per second, p* in nanoseconds. */
export interface MeterTimerJson {
  count: number;
  rate1: number;
  rate5: number;
  rate15: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

export interface TunnelMetricsJson {
  /** Connections; `gauge` is how many are open now. */
  conns: MeterTimerJson & { gauge: number };
  http: MeterTimerJson;
}

/** A tunnel's last error (Burrow). */
export interface TunnelErrorJson {
  code: string;
  message: string;
}

/**
 * The endpoint as started (Burrow's EndpointSpec, tunnel/src/model.ts), secrets redacted; the
 * modules in their JSON shape (the same as on the wire to the edge).
 */
export interface EndpointDefinitionJson {
  name: string;
  proto: Proto;
  upstream: string;
  upstreamProtocol?: 'http1' | 'http2';
  domain?: string;
  subdomain?: string;
  remoteAddr?: string;
  schemes?: Scheme[];
  hostHeader?: string;
  inspect: boolean;
  metadata?: string;
  description?: string;
  edge?: WireEdgeOptions;
  pooling?: boolean;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** `GET /api/tunnels/:name`, each of `GET /api/tunnels`, `POST /api/tunnels` → 201. */
export interface TunnelJson {
  name: string;
  uri: string;
  /** The first public URL (https preferred); '' while the tunnel is still binding (event stream only). */
  public_url: string;
  /** `https`, `http`, `tcp` or `tls`: the public URL's scheme. */
  proto: string;
  config: { addr: string; inspect: boolean };
  metrics: TunnelMetricsJson;
  /** Burrow: every public URL of the endpoint. */
  public_urls: string[];
  /** Burrow: `starting`, `online`, `reconnecting`, `error`… */
  status: string;
  /** Burrow: why the tunnel is not online. */
  error?: TunnelErrorJson;
  /** Burrow: the endpoint as started, secrets redacted. */
  definition?: EndpointDefinitionJson;
}

export interface TunnelListJson {
  tunnels: TunnelJson[];
  uri: string;
}

/** ngrok's v3 endpoint object: `GET /api/endpoints/:name`, each of `GET /api/endpoints`, `POST` → 201. */
export interface EndpointJson {
  name: string;
  uri: string;
  url: string;
  proto: string;
  upstream: { url: string; protocol?: 'http1' | 'http2' };
  metadata?: string;
  description?: string;
  /** ngrok's traffic policy document as the endpoint runs it. */
  traffic_policy?: WireEdgeOptions['trafficPolicy'];
  metrics: TunnelMetricsJson;
  status: string;
  error?: TunnelErrorJson;
}

export interface EndpointListJson {
  endpoints: EndpointJson[];
  uri: string;
}

/**
 * `POST /api/tunnels`: an ngrok v2 tunnel definition (ngrok.yml `tunnels:` entry) plus `name`;
 * `POST /api/endpoints`: an ngrok.yml v3 endpoint. Checked by the config validation path.
 */
export type StartTunnelBody = Record<string, unknown> & { name: string };

// ---- status ----

/** The agent's state: `GET /api/status` (with `uri`) and the event stream's snapshot. */
export interface AgentStatusJson {
  status: 'online' | 'reconnecting' | 'offline' | 'starting';
  agent_version: string;
  session: { legs: { region: string; latency: number }[] };
  /** Burrow: the edge the agent talks to. */
  edge_url?: string;
  /** Burrow: the agent's process id (the extension shows which agent a window is on). */
  pid?: number;
}

/** `GET /api/status`. */
export interface StatusJson extends AgentStatusJson {
  uri: string;
}

/** `GET /api`: where everything is. */
export interface ApiIndexJson {
  uri: string;
  tunnels: string;
  endpoints: string;
  requests: string;
  status: string;
  events: string;
}

// ---- captured requests ----

/** One side of a captured exchange. */
interface CapturedMessageJson {
  proto: string;
  /** Canonical header names → values, as ngrok. */
  headers: Record<string, string[]>;
  /** Base64 of the HTTP/1.1 bytes (head + captured body); left out of the event stream. */
  raw?: string;
  /** Burrow: the body's full size and whether the capture kept less of it. */
  body_size: number;
  body_truncated: boolean;
  /** Burrow. */
  content_type?: string;
}

export interface CapturedRequestJson extends CapturedMessageJson {
  method: string;
  uri: string;
}

export interface CapturedResponseJson extends CapturedMessageJson {
  /** `200 OK`. */
  status: string;
  status_code: number;
}

/** `GET /api/requests/http/:id`, each of `GET /api/requests/http`, and the event stream's `request`. */
export interface CaptureJson {
  uri: string;
  id: string;
  tunnel_name: string;
  remote_addr: string;
  /** RFC 3339. */
  start: string;
  /** Nanoseconds; 0 while the exchange is still running. */
  duration: number;
  request: CapturedRequestJson;
  response: CapturedResponseJson | null;
  /** Burrow: how far the exchange got. */
  state: 'request' | 'response' | 'complete' | 'error';
  /** Burrow: why it failed (the edge's or agent's code). */
  error: { code: string; message: string } | null;
  /** Burrow: the capture this one replays. */
  replay_of?: string;
  /** Burrow: the edge module that answered it (basic-auth, oauth, ip-restriction…); the upstream never saw it. */
  edge_module?: string;
  /** The traffic-policy `log` action's entries, as in ngrok's http_request_complete.v0 event. */
  traffic_policy?: { logs: { metadata: unknown }[] };
}

export interface CaptureListJson {
  requests: CaptureJson[];
  uri: string;
}

/** Edit-then-replay: what to change before sending a captured request again (Burrow). */
export interface ReplayModificationsJson {
  method?: string;
  /** Path and query (origin-form, e.g. `/items?x=1`). */
  uri?: string;
  /** Replaces all headers: [[name, value], …] in order. */
  headers?: [string, string][];
  /** Replaces the body; `body_encoding: "base64"` for binary. */
  body?: string;
  body_encoding?: 'utf8' | 'base64';
}

/** `POST /api/requests/http` → 204 with header `Burrow-Replay-Id`: the new capture's id. */
export interface ReplayBody {
  id: string;
  /** Send to this tunnel's upstream instead of the one that captured it. */
  tunnel_name?: string;
  modifications?: ReplayModificationsJson;
}

// ---- the event stream ----

/**
 * `GET /api/events` (WebSocket), text messages. `snapshot` comes first, once per connection;
 * request and metrics events are coalesced per flush interval (the latest state wins).
 */
export type AgentEventJson =
  | { type: 'snapshot'; status: AgentStatusJson; tunnels: TunnelJson[]; requests: CaptureJson[] }
  | { type: 'tunnel_started'; tunnel: TunnelJson }
  | { type: 'tunnel_updated'; tunnel: TunnelJson }
  | { type: 'tunnel_stopped'; name: string }
  /** A tunnel's counters changed (the tunnel object's `metrics`). */
  | { type: 'tunnel_metrics'; name: string; metrics: TunnelMetricsJson }
  /** Captures without `raw` (fetch `GET /api/requests/http/:id` for the bytes). */
  | { type: 'request_started'; request: CaptureJson }
  | { type: 'request_updated'; request: CaptureJson }
  | { type: 'request_deleted'; id: string; reason: 'deleted' | 'evicted' }
  | { type: 'requests_cleared' };

// ---- checks (used by the contract test; see the top of this file) ----

const strings = array(str);
const meter = {
  count: int,
  rate1: num,
  rate5: num,
  rate15: num,
  p50: num,
  p90: num,
  p95: num,
  p99: num,
};
const tunnelMetrics = object<TunnelMetricsJson>({
  conns: object<TunnelMetricsJson['conns']>({ ...meter, gauge: int }),
  http: object<MeterTimerJson>(meter),
});
const tunnelError = object<TunnelErrorJson>({ code: str, message: str });

export const checkApiError: Shape<ApiErrorJson> = object<ApiErrorJson>({
  error_code: int,
  status_code: int,
  msg: str,
  details: record(str),
});

const definition = object<EndpointDefinitionJson>({
  name: str,
  proto: literal('http', 'tcp', 'tls'),
  upstream: str,
  upstreamProtocol: optional(literal('http1', 'http2')),
  domain: optional(str),
  subdomain: optional(str),
  remoteAddr: optional(str),
  schemes: optional(array(literal('http', 'https'))),
  hostHeader: optional(str),
  inspect: bool,
  metadata: optional(str),
  description: optional(str),
  edge: optional(wireEdgeOptions),
  pooling: optional(bool),
  internal: optional(bool),
  labels: optional(record(str)),
});

export const checkTunnel: Shape<TunnelJson> = object<TunnelJson>({
  name: str,
  uri: str,
  public_url: str,
  proto: str,
  config: object<TunnelJson['config']>({ addr: str, inspect: bool }),
  metrics: tunnelMetrics,
  public_urls: strings,
  status: str,
  error: optional(tunnelError),
  definition: optional(definition),
});

export const checkTunnelList: Shape<TunnelListJson> = object<TunnelListJson>({ tunnels: array(checkTunnel), uri: str });

export const checkEndpoint: Shape<EndpointJson> = object<EndpointJson>({
  name: str,
  uri: str,
  url: str,
  proto: str,
  upstream: object<EndpointJson['upstream']>({ url: str, protocol: optional(literal('http1', 'http2')) }),
  metadata: optional(str),
  description: optional(str),
  traffic_policy: optional(jsonObject),
  metrics: tunnelMetrics,
  status: str,
  error: optional(tunnelError),
});

export const checkEndpointList: Shape<EndpointListJson> = object<EndpointListJson>({
  endpoints: array(checkEndpoint),
  uri: str,
});

const statusFields: Fields<AgentStatusJson> = {
  status: literal('online', 'reconnecting', 'offline', 'starting'),
  agent_version: str,
  session: object<AgentStatusJson['session']>({
    legs: array(object<AgentStatusJson['session']['legs'][number]>({ region: str, latency: num })),
  }),
  edge_url: optional(str),
  pid: optional(int),
};
export const checkStatus: Shape<StatusJson> = object<StatusJson>({ ...statusFields, uri: str });

export const checkApiIndex: Shape<ApiIndexJson> = object<ApiIndexJson>({
  uri: str,
  tunnels: str,
  endpoints: str,
  requests: str,
  status: str,
  events: str,
});

const messageFields = {
  proto: str,
  headers: record(strings),
  raw: optional(str),
  body_size: int,
  body_truncated: bool,
  content_type: optional(str),
};

export const checkCapture: Shape<CaptureJson> = object<CaptureJson>({
  uri: str,
  id: str,
  tunnel_name: str,
  remote_addr: str,
  start: str,
  duration: int,
  request: object<CapturedRequestJson>({ ...messageFields, method: str, uri: str }),
  response: nullable(object<CapturedResponseJson>({ ...messageFields, status: str, status_code: int })),
  state: literal('request', 'response', 'complete', 'error'),
  error: nullable(object<NonNullable<CaptureJson['error']>>({ code: str, message: str })),
  replay_of: optional(str),
  edge_module: optional(str),
  traffic_policy: optional(
    object<NonNullable<CaptureJson['traffic_policy']>>({
      logs: array(object<{ metadata: unknown }>({ metadata: json })),
    }),
  ),
});

export const checkCaptureList: Shape<CaptureListJson> = object<CaptureListJson>({
  requests: array(checkCapture),
  uri: str,
});

type Event<T extends AgentEventJson['type']> = Extract<AgentEventJson, { type: T }>;
export const checkEvent: Shape<AgentEventJson> = tagged<AgentEventJson>('type', {
  snapshot: object<Event<'snapshot'>>({
    type: literal('snapshot'),
    status: object<AgentStatusJson>(statusFields),
    tunnels: array(checkTunnel),
    requests: array(checkCapture),
  }),
  tunnel_started: object<Event<'tunnel_started'>>({ type: literal('tunnel_started'), tunnel: checkTunnel }),
  tunnel_updated: object<Event<'tunnel_updated'>>({ type: literal('tunnel_updated'), tunnel: checkTunnel }),
  tunnel_stopped: object<Event<'tunnel_stopped'>>({ type: literal('tunnel_stopped'), name: str }),
  tunnel_metrics: object<Event<'tunnel_metrics'>>({
    type: literal('tunnel_metrics'),
    name: str,
    metrics: tunnelMetrics,
  }),
  request_started: object<Event<'request_started'>>({ type: literal('request_started'), request: checkCapture }),
  request_updated: object<Event<'request_updated'>>({ type: literal('request_updated'), request: checkCapture }),
  request_deleted: object<Event<'request_deleted'>>({
    type: literal('request_deleted'),
    id: str,
    reason: literal('deleted', 'evicted'),
  }),
  requests_cleared: object<Event<'requests_cleared'>>({ type: literal('requests_cleared') }),
});
