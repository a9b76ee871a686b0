// A small client for the agent's ngrok-compatible local API (tunnel/src/agent/api/server.ts).
// No `vscode` import: the tree, the commands and the unit tests all use this same class.
import http from 'node:http';
import type {
  ApiErrorJson,
  CaptureJson,
  CaptureListJson,
  ReplayBody,
  StartTunnelBody,
  StatusJson,
  TunnelJson,
  TunnelListJson,
} from '../../../tunnel/src/agent/api/contract';
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

// The JSON of every answer is declared once, with the server (type-only: nothing of the agent is bundled).
export type {
  AgentStatusJson,
  CaptureJson,
  EndpointDefinitionJson,
  StatusJson,
  TunnelJson,
  TunnelMetricsJson,
} from '../../../tunnel/src/agent/api/contract';

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
    return (await this.json<TunnelListJson>('GET', '/api/tunnels')).tunnels;
  }

  /** `POST /api/tunnels` with an ngrok v2 tunnel definition plus `name`. */
  startTunnel(def: StartTunnelBody): Promise<TunnelJson> {
    return this.json('POST', '/api/tunnels', def);
  }

  async stopTunnel(name: string): Promise<void> {
    await this.json('DELETE', `/api/tunnels/${encodeURIComponent(name)}`);
  }

  async requests(opts: { limit?: number; tunnelName?: string } = {}): Promise<CaptureJson[]> {
    const q = new URLSearchParams();
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.tunnelName) q.set('tunnel_name', opts.tunnelName);
    return (await this.json<CaptureListJson>('GET', `/api/requests/http?${q}`)).requests;
  }

  /** Replays a capture; resolves with the new capture's id. */
  async replay(id: string, tunnelName?: string): Promise<string | undefined> {
    const body: ReplayBody = { id, ...(tunnelName ? { tunnel_name: tunnelName } : {}) };
    const res = await this.request('POST', '/api/requests/http', body);
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
    const body = JSON.parse(res.body) as Partial<ApiErrorJson>;
    return new AgentApiError(res.status, body.error_code, body.msg ?? `HTTP ${res.status}`, body.details?.err);
  } catch {
    return new AgentApiError(res.status, undefined, `HTTP ${res.status}`, res.body.slice(0, 200) || undefined);
  }
}
