// The one seam between the local API server and the agent. The server never reaches into the
// agent's internals: everything it shows or changes goes through AgentBackend, so the same
// server runs over the real Agent (see agent-backend.ts) and nothing else.

import type { CaptureStore } from '../../capture/store';
import type { EndpointSpec } from '../../model';
import type { AgentStatusJson, ReplayModificationsJson, TunnelMetricsJson } from './contract';

export type { MeterTimerJson, TunnelMetricsJson } from './contract';

/** What the API needs to render ngrok's tunnel object. */
export interface TunnelInfo {
  name: string;
  /** The first public URL (https preferred, as ngrok reports it). */
  public_url: string;
  /** Every public URL of the endpoint (http and https, …). Burrow addition. */
  public_urls: string[];
  /** ngrok's proto: `https`, `http`, `tcp` or `tls` (the public URL's scheme). */
  proto: string;
  config: { addr: string; inspect: boolean };
  metrics: TunnelMetricsJson;
  /** Burrow additions: lifecycle state and the last error. */
  status: string;
  error?: { code: string; message: string };
  /** The endpoint definition as started, secrets redacted by the server before output. */
  definition?: EndpointSpec;
}

export type AgentStatus = AgentStatusJson;

export interface ReplayRequest {
  /** Id of the captured request to send again. */
  id: string;
  /** Send to this tunnel's upstream instead of the one that captured it (ngrok's `tunnel_name`). */
  tunnelName?: string;
  modifications?: ReplayModificationsJson;
}

export type TunnelEvent =
  | { type: 'tunnel_started'; tunnel: TunnelInfo }
  | { type: 'tunnel_updated'; tunnel: TunnelInfo }
  | { type: 'tunnel_stopped'; name: string }
  /** A tunnel's counters changed (a connection opened or finished); the event stream coalesces these. */
  | { type: 'tunnel_metrics'; name: string; metrics: TunnelMetricsJson };

export interface AgentBackend {
  tunnels(): TunnelInfo[];
  /** Body of `POST /api/tunnels`: an ngrok v2 tunnel definition including `name`. Rejects with LocalApiError. */
  startTunnel(def: unknown): Promise<TunnelInfo>;
  /** Body of `POST /api/endpoints`: an ngrok.yml v3 endpoint definition (`name`, `url`, `upstream`…). */
  startEndpoint(def: unknown): Promise<TunnelInfo>;
  stopTunnel(name: string): Promise<boolean>;
  readonly capture: CaptureStore;
  /** Sends a captured request to a tunnel's upstream; the new exchange is captured. Resolves with its id. */
  replay(req: ReplayRequest): Promise<string>;
  status(): AgentStatus;
  /** Public URL of a tunnel by name (HAR and curl use it as the request origin). */
  publicUrl(tunnelName: string): string | undefined;
  on(event: 'tunnel', listener: (e: TunnelEvent) => void): unknown;
  off(event: 'tunnel', listener: (e: TunnelEvent) => void): unknown;
}

/**
 * An API error in ngrok's body shape:
 * `{"error_code":102,"status_code":400,"msg":"invalid tunnel configuration","details":{"err":"..."}}`.
 */
export class LocalApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: number,
    message: string,
    readonly details: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error_code: number; status_code: number; msg: string; details: Record<string, string> } {
    return { error_code: this.errorCode, status_code: this.statusCode, msg: this.message, details: this.details };
  }
}

/** ngrok agent API error codes Burrow uses (ngrok's numbering where it has one). */
export const API_ERRORS = {
  /** ngrok: invalid tunnel configuration. */
  INVALID_TUNNEL: 102,
  /** Body is not JSON or has the wrong shape. */
  BAD_REQUEST: 100,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  /** Host header not in web_allow_hosts. */
  HOST_FORBIDDEN: 403,
  /** Cross-origin state-changing request. */
  ORIGIN_FORBIDDEN: 4031,
  TUNNEL_START_FAILED: 103,
  REPLAY_FAILED: 110,
  INTERNAL: 500,
} as const;
