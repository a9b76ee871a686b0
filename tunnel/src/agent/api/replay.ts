// Replay: the agent sends a captured request (optionally edited) straight to a tunnel's upstream,
// as ngrok's agent does (so edge-side modules are skipped), and captures the exchange as a new
// request marked `replay_of`. Bodies come from the capture (bounded by the per-body cap), so no
// replay ever reads an unbounded amount into memory.

import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { CaptureStore, CapturedExchange, Recording } from '../../capture/store';
import { headerPairs, hopByHopNames } from '../../capture/http';
import type { EndpointSpec } from '../../model';
import { parseUpstream } from '../upstream';
import { API_ERRORS, ApiError, type ReplayModifications } from './backend';

export interface ReplayTarget {
  tunnelName: string;
  spec: EndpointSpec;
}

interface OutgoingRequest {
  method: string;
  uri: string;
  headers: [string, string][];
  body: Buffer;
}

const replayError = (status: number, msg: string, err: string): ApiError => new ApiError(status, API_ERRORS.REPLAY_FAILED, msg, { err });

/** Builds the request to send: the captured one with `mods` applied, hop-by-hop headers removed. */
export function buildReplayRequest(ex: CapturedExchange, mods: ReplayModifications = {}): OutgoingRequest {
  const req = ex.request;
  if (ex.response?.statusCode === 101 || headerPairs(req.rawHeaders).some((h) => h.name.toLowerCase() === 'upgrade')) {
    throw replayError(409, 'cannot replay an upgrade (websocket) request', 'upgraded connections are raw byte streams, not replayable requests');
  }
  let body: Buffer;
  if (mods.body !== undefined) body = Buffer.from(mods.body, mods.body_encoding === 'base64' ? 'base64' : 'utf8');
  else {
    if (req.body.truncated) throw replayError(409, 'cannot replay a truncated body', `only ${req.body.stored} of ${req.body.size} body bytes were captured; send a body in "modifications"`);
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
  if (body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(method.toUpperCase())) headers.push(['Content-Length', String(body.length)]);
  return { method, uri: mods.uri ?? (req.uri.startsWith('/') ? req.uri : new URL(req.uri).pathname + new URL(req.uri).search), headers, body };
}

/** Applies the tunnel's host_header rule, as the forwarder does for live traffic. */
function withHostHeader(headers: [string, string][], spec: EndpointSpec, upstream: { host: string; hostPort: string; port: number; protocol: string }): [string, string][] {
  const mode = spec.hostHeader;
  if (!mode || mode === 'preserve') return headers;
  const defaultPort = upstream.protocol === 'https:' ? 443 : 80;
  const host = mode === 'rewrite' ? (upstream.port === defaultPort ? upstream.host : upstream.hostPort) : mode;
  return [['Host', host], ...headers.filter(([n]) => n.toLowerCase() !== 'host')];
}

/**
 * Sends `out` to the target tunnel's upstream. Resolves with the new capture id as soon as the
 * request is under way (the capture reports the rest); rejects with an ApiError when the target
 * cannot be replayed to at all.
 */
export function sendReplay(store: CaptureStore, target: ReplayTarget, out: OutgoingRequest, meta: { replayOf: string; remoteAddr: string }): string {
  const { spec } = target;
  if (spec.proto !== 'http') throw replayError(400, 'cannot replay to a non-HTTP tunnel', `tunnel "${target.tunnelName}" is ${spec.proto}`);
  const upstream = parseUpstream(spec.upstream, 'http');
  if (upstream.kind !== 'http') throw replayError(400, 'cannot replay to this upstream', `tunnel "${target.tunnelName}" serves ${spec.upstream}; replay supports http(s) upstreams`);
  let headers = withHostHeader(out.headers, spec, upstream);
  // HTTP/1.1 needs a Host; Node adds none itself when headers are given as a raw list.
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) headers = [['Host', upstream.hostPort], ...headers];
  const rawHeaders = headers.flat();
  const h2 = spec.upstreamProtocol === 'http2';
  const recording: Recording | undefined = spec.inspect
    ? store.begin({ tunnelName: target.tunnelName, remoteAddr: meta.remoteAddr, method: out.method, uri: out.uri, httpVersion: h2 ? '2.0' : '1.1', rawHeaders }, { replayOf: meta.replayOf })
    : undefined;
  if (out.body.length) recording?.requestData(out.body);
  recording?.requestEnd();
  const fail = (err: Error & { code?: string }): void => recording?.finish({ code: 'ERR_NGROK_8012', message: `${upstream.hostPort}: ${err.message}` });

  if (h2) {
    const session = http2.connect(`${upstream.protocol === 'https:' ? 'https' : 'http'}://${upstream.hostPort}`, { rejectUnauthorized: false });
    session.on('error', fail);
    const h2headers: http2.OutgoingHttpHeaders = { ':method': out.method, ':path': out.uri };
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower === 'host') h2headers[':authority'] = value;
      else if (lower !== 'connection' && lower !== 'keep-alive' && lower !== 'transfer-encoding') {
        const prev = h2headers[lower];
        h2headers[lower] = prev === undefined ? value : ([] as string[]).concat(prev as string | string[], value);
      }
    }
    const stream = session.request(h2headers);
    stream.on('response', (h) => {
      const raw: string[] = [];
      for (const [name, value] of Object.entries(h)) {
        if (name.startsWith(':') || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) raw.push(name, String(v));
      }
      recording?.response(Number(h[':status'] ?? 0), '', '2.0', raw);
    });
    stream.on('data', (chunk: Buffer) => recording?.responseData(chunk));
    stream.on('end', () => {
      recording?.finish();
      session.close();
    });
    stream.on('error', (err) => {
      fail(err);
      session.close();
    });
    stream.end(out.body);
    return recording?.id ?? '';
  }

  const req = (upstream.protocol === 'https:' ? https : http).request({
    host: upstream.host,
    port: upstream.port,
    method: out.method,
    path: out.uri,
    headers: rawHeaders as unknown as http.OutgoingHttpHeaders,
    rejectUnauthorized: false,
    agent: false,
  });
  req.on('response', (res) => {
    recording?.response(res.statusCode ?? 0, res.statusMessage ?? '', res.httpVersion, res.rawHeaders);
    res.on('data', (chunk: Buffer) => recording?.responseData(chunk));
    res.on('end', () => recording?.finish());
    res.on('error', fail);
  });
  req.on('error', fail);
  req.end(out.body);
  return recording?.id ?? '';
}
