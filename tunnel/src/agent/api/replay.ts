// Replay: turns a captured request (optionally edited) back into a request the agent sends
// straight to a tunnel's upstream (Agent.replay), as ngrok's agent does, so edge-side modules are
// skipped. Bodies come from the capture (bounded by the per-body cap), so no replay ever reads an
// unbounded amount into memory.

import type { CapturedExchange } from '../../capture/store';
import { headerPairs, hopByHopNames } from '../../capture/http';
import { API_ERRORS, LocalApiError } from './backend';
import type { ReplayModificationsJson } from './contract';

export interface OutgoingRequest {
  method: string;
  uri: string;
  headers: [string, string][];
  body: Buffer;
}

const replayError = (status: number, msg: string, err: string): LocalApiError =>
  new LocalApiError(status, API_ERRORS.REPLAY_FAILED, msg, { err });

/** Builds the request to send: the captured one with `mods` applied, hop-by-hop headers removed. */
export function buildReplayRequest(ex: CapturedExchange, mods: ReplayModificationsJson = {}): OutgoingRequest {
  const req = ex.request;
  if (ex.response?.statusCode === 101 || headerPairs(req.rawHeaders).some((h) => h.name.toLowerCase() === 'upgrade')) {
    throw replayError(
      409,
      'cannot replay an upgrade (websocket) request',
      'upgraded connections are raw byte streams, not replayable requests',
    );
  }
  let body: Buffer;
  if (mods.body !== undefined) body = Buffer.from(mods.body, mods.body_encoding === 'base64' ? 'base64' : 'utf8');
  else {
    if (req.body.truncated)
      throw replayError(
        409,
        'cannot replay a truncated body',
        `only ${req.body.stored} of ${req.body.size} body bytes were captured; send a body in "modifications"`,
      );
    body = req.body.bytes();
  }
  const source = mods.headers ? mods.headers.flat() : req.rawHeaders;
  const hop = hopByHopNames(source);
  const headers: [string, string][] = [];
  for (const { name, value } of headerPairs(source)) {
    const lower = name.toLowerCase();
    if (hop.has(lower) || lower === 'content-length') continue;
    headers.push([name, value]);
  }
  const method = mods.method ?? req.method;
  if (body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(method.toUpperCase()))
    headers.push(['Content-Length', String(body.length)]);
  return {
    method,
    uri: mods.uri ?? (req.uri.startsWith('/') ? req.uri : new URL(req.uri).pathname + new URL(req.uri).search),
    headers,
    body,
  };
}
