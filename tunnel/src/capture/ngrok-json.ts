// Captured exchanges in the JSON shape of ngrok's `GET /api/requests/http` (docs `agent/api.mdx`;
// declared in agent/api/contract.ts):
//
//   { uri, id, tunnel_name, remote_addr, start, duration,
//     request:  { method, proto, headers: {Name: [values]}, uri, raw },
//     response: { status, status_code, proto, headers, raw } | null }
//
// `raw` is base64 of the HTTP/1.1 bytes (head + captured body). ngrok promises additive-only changes
// and so do we: Burrow's extra fields (`state`, `error`, `replay_of`, `edge_module`, `body_size`,
// `body_truncated`, `traffic_policy`) never rename or retype ngrok's.

import { rawHeader } from '../net/raw-headers';
import { ngrokHeaders, protoString, rawMessage, statusText } from './http';
import type { CaptureJson, CaptureListJson, CapturedRequestJson, CapturedResponseJson } from '../agent/api/contract';
import type { CapturedExchange } from './store';

export const REQUESTS_URI = '/api/requests/http';

export interface SerialiseOptions {
  /** Include base64 `raw` (default true, as ngrok does). */
  raw?: boolean;
}

export function exchangeToNgrokJson(ex: CapturedExchange, opts: SerialiseOptions = {}): CaptureJson {
  const withRaw = opts.raw ?? true;
  const req = ex.request;
  const request: CapturedRequestJson = {
    method: req.method,
    proto: protoString(req.httpVersion),
    headers: ngrokHeaders(req.rawHeaders),
    uri: req.uri,
    ...(withRaw ? { raw: rawMessage(req).toString('base64') } : {}),
    body_size: req.body.size,
    body_truncated: req.body.truncated,
    ...contentType(req.rawHeaders),
  };
  let response: CapturedResponseJson | null = null;
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
  const value = rawHeader(rawHeaders, 'content-type');
  return value === undefined ? {} : { content_type: value };
}

/** `GET /api/requests/http` body. */
export function requestListToNgrokJson(list: CapturedExchange[], opts: SerialiseOptions = {}): CaptureListJson {
  return { requests: list.map((ex) => exchangeToNgrokJson(ex, opts)), uri: REQUESTS_URI };
}
