// Captured exchanges in the JSON shape of ngrok's `GET /api/requests/http` (docs `agent/api.mdx`):
//
//   { uri, id, tunnel_name, remote_addr, start, duration,
//     request:  { method, proto, headers: {Name: [values]}, uri, raw },
//     response: { status, status_code, proto, headers, raw } | null }
//
// `raw` is base64 of the HTTP/1.1 bytes (head + captured body). ngrok promises additive-only changes
// and so do we: Burrow's extra fields (`state`, `error`, `replay_of`, `edge_module`, `body_size`,
// `body_truncated`, `traffic_policy`) never rename or retype ngrok's.

import { headerValue, ngrokHeaders, protoString, rawMessage, statusText } from './http';
import type { CaptureError, CapturedExchange, ExchangeState } from './store';

export const REQUESTS_URI = '/api/requests/http';

export interface NgrokRequestJson {
  method: string;
  proto: string;
  headers: Record<string, string[]>;
  uri: string;
  /** Omitted in summaries (event stream); always present from the REST API. */
  raw?: string;
  body_size: number;
  body_truncated: boolean;
  content_type?: string;
}

export interface NgrokResponseJson {
  status: string;
  status_code: number;
  proto: string;
  headers: Record<string, string[]>;
  raw?: string;
  body_size: number;
  body_truncated: boolean;
  content_type?: string;
}

export interface NgrokCapturedJson {
  uri: string;
  id: string;
  tunnel_name: string;
  remote_addr: string;
  /** RFC 3339. */
  start: string;
  /** Nanoseconds; 0 while the exchange is still running. */
  duration: number;
  request: NgrokRequestJson;
  response: NgrokResponseJson | null;
  state: ExchangeState;
  error: CaptureError | null;
  replay_of?: string;
  /** Answered by the edge's module of this name (basic-auth, oauth, ip-restriction…), not by the upstream. */
  edge_module?: string;
  /** The traffic-policy `log` action's entries, as in ngrok's http_request_complete.v0 event. */
  traffic_policy?: { logs: { metadata: unknown }[] };
}

export interface SerialiseOptions {
  /** Include base64 `raw` (default true, as ngrok does). */
  raw?: boolean;
}

export function exchangeToNgrokJson(ex: CapturedExchange, opts: SerialiseOptions = {}): NgrokCapturedJson {
  const withRaw = opts.raw ?? true;
  const req = ex.request;
  const request: NgrokRequestJson = {
    method: req.method,
    proto: protoString(req.httpVersion),
    headers: ngrokHeaders(req.rawHeaders),
    uri: req.uri,
    ...(withRaw ? { raw: rawMessage(req).toString('base64') } : {}),
    body_size: req.body.size,
    body_truncated: req.body.truncated,
    ...contentType(req.rawHeaders),
  };
  let response: NgrokResponseJson | null = null;
  const res = ex.response;
  if (res) {
    response = {
      status: `${res.statusCode} ${statusText(res)}`.trim(),
      status_code: res.statusCode,
      proto: protoString(res.httpVersion),
      headers: ngrokHeaders(res.rawHeaders),
      ...(withRaw ? { raw: rawMessage(res).toString('base64') } : {}),
      body_size: res.body.size,
      body_truncated: res.body.truncated,
      ...contentType(res.rawHeaders),
    };
  }
  return {
    uri: `${REQUESTS_URI}/${ex.id}`,
    id: ex.id,
    tunnel_name: ex.tunnelName,
    remote_addr: ex.remoteAddr,
    start: new Date(ex.startedAt).toISOString(),
    duration: ex.durationNs,
    request,
    response,
    state: ex.state,
    error: ex.error,
    ...(ex.replayOf ? { replay_of: ex.replayOf } : {}),
    ...(ex.edgeModule ? { edge_module: ex.edgeModule } : {}),
    ...(ex.policyLogs ? { traffic_policy: { logs: ex.policyLogs } } : {}),
  };
}

function contentType(rawHeaders: string[]): { content_type?: string } {
  const value = headerValue(rawHeaders, 'content-type');
  return value === undefined ? {} : { content_type: value };
}

/** `GET /api/requests/http` body. */
export function requestListToNgrokJson(
  list: CapturedExchange[],
  opts: SerialiseOptions = {},
): { requests: NgrokCapturedJson[]; uri: string } {
  return { requests: list.map((ex) => exchangeToNgrokJson(ex, opts)), uri: REQUESTS_URI };
}
