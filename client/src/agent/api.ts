// A small client for the agent's ngrok-compatible local API (tunnel/src/agent/api/server.ts).
// No `vscode` import: the tree, the commands and the unit tests all use this same class.
import http from 'node:http';
import { readBody } from '../../../tunnel/src/net/body';

/** ngrok's error body: {"error_code":102,"status_code":400,"msg":"…","details":{"err":"…"}}. */
export class AgentApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number | undefined,
    message: string,
    readonly detail?: string,
  ) {
    super(detail ? `${message}: ${detail}` : message);
  }
}

/** The agent could not be reached at all (not running, wrong address). */
export class AgentUnreachableError extends Error {
  readonly code = 'ERR_BURROW_AGENT_UNREACHABLE';
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface MeterJson {
  count: number;
  gauge?: number;
  rate1: number;
}

/** `GET /api/tunnels` item (Burrow's additive fields included). */
export interface TunnelJson {
  name: string;
  uri?: string;
  public_url: string;
  public_urls?: string[];
  proto: string;
  config: { addr: string; inspect: boolean };
  metrics?: { conns: MeterJson; http: MeterJson };
  status?: string;
  error?: { code: string; message: string };
  /** The endpoint as started (Burrow's EndpointSpec), secrets redacted. */
  definition?: EndpointSpecJson;
}

/** The parts of Burrow's EndpointSpec the extension reads (tunnel/src/model.ts). */
export interface EndpointSpecJson {
  name: string;
  proto: 'http' | 'tcp' | 'tls';
  upstream: string;
  domain?: string;
  subdomain?: string;
  remoteAddr?: string;
  schemes?: ('http' | 'https')[];
  hostHeader?: string;
  inspect?: boolean;
  metadata?: string;
  description?: string;
  upstreamProtocol?: 'http1' | 'http2';
  edge?: Record<string, unknown>;
}

export interface CaptureJson {
  id: string;
  tunnel_name: string;
  remote_addr?: string;
  start: string;
  /** Nanoseconds; 0 while running. */
  duration: number;
  state?: 'request' | 'response' | 'complete' | 'error';
  error?: { code: string; message: string } | null;
  replay_of?: string;
  /** The edge's module answered it (basic-auth, oauth, ip-restriction…); the upstream never saw it. */
  edge_module?: string;
  request: { method: string; uri: string; headers?: Record<string, string[]> };
  response: { status?: string; status_code: number } | null;
}

export interface StatusJson {
  status: string;
  agent_version: string;
  edge_url?: string;
  /** The agent's process id (Burrow addition). */
  pid?: number;
  session?: { legs: { region: string; latency: number }[] };
}

const TIMEOUT_MS = 15_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class AgentApi {
  /** `base` is the API origin, e.g. `http://127.0.0.1:4040`. */
  constructor(readonly base: string) {}

  /** One API call; resolves with any status (the webview transport passes errors through). */
  request(method: string, path: string, body?: unknown): Promise<RawResponse> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          timeout: TIMEOUT_MS,
          headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
        },
        (res) => {
          readBody(res, MAX_RESPONSE_BYTES).then((body) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers))
              if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
            resolve({ status: res.statusCode ?? 0, headers, body: body.toString('utf8') });
          }, reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`no answer from the agent at ${this.base} within ${TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EHOSTUNREACH') {
          reject(new AgentUnreachableError(`the Burrow agent is not reachable at ${this.base} (${err.code})`));
        } else reject(err);
      });
      req.end(payload);
    });
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    if (res.status >= 400) throw toApiError(res);
    return (res.body ? JSON.parse(res.body) : undefined) as T;
  }

  status(): Promise<StatusJson> {
    return this.json('GET', '/api/status');
  }

  async tunnels(): Promise<TunnelJson[]> {
    return (await this.json<{ tunnels: TunnelJson[] }>('GET', '/api/tunnels')).tunnels;
  }

  /** `POST /api/tunnels` with an ngrok v2 tunnel definition plus `name`. */
  startTunnel(def: Record<string, unknown> & { name: string }): Promise<TunnelJson> {
    return this.json('POST', '/api/tunnels', def);
  }

  async stopTunnel(name: string): Promise<void> {
    await this.json('DELETE', `/api/tunnels/${encodeURIComponent(name)}`);
  }

  async requests(opts: { limit?: number; tunnelName?: string } = {}): Promise<CaptureJson[]> {
    const q = new URLSearchParams();
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.tunnelName) q.set('tunnel_name', opts.tunnelName);
    return (await this.json<{ requests: CaptureJson[] }>('GET', `/api/requests/http?${q}`)).requests;
  }

  /** Replays a capture; resolves with the new capture's id. */
  async replay(id: string, tunnelName?: string): Promise<string | undefined> {
    const res = await this.request('POST', '/api/requests/http', {
      id,
      ...(tunnelName ? { tunnel_name: tunnelName } : {}),
    });
    if (res.status >= 400) throw toApiError(res);
    return res.headers['burrow-replay-id'];
  }

  async clearRequests(): Promise<void> {
    await this.json('DELETE', '/api/requests/http');
  }

  /** HAR 1.2 of every capture (or one tunnel's), as text. */
  async har(tunnelName?: string): Promise<string> {
    const res = await this.request(
      'GET',
      `/api/requests/http.har${tunnelName ? `?tunnel_name=${encodeURIComponent(tunnelName)}` : ''}`,
    );
    if (res.status >= 400) throw toApiError(res);
    return res.body;
  }

  async curl(id: string): Promise<string> {
    const res = await this.request('GET', `/api/requests/http/${encodeURIComponent(id)}/curl`);
    if (res.status >= 400) throw toApiError(res);
    return res.body;
  }

  /** The events WebSocket URL. */
  get eventsUrl(): string {
    const u = new URL('/api/events', this.base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  }
}

export function toApiError(res: RawResponse): AgentApiError {
  try {
    const body = JSON.parse(res.body) as { error_code?: number; msg?: string; details?: { err?: string } };
    return new AgentApiError(res.status, body.error_code, body.msg ?? `HTTP ${res.status}`, body.details?.err);
  } catch {
    return new AgentApiError(res.status, undefined, `HTTP ${res.status}`, res.body.slice(0, 200) || undefined);
  }
}
