// AgentBackend over the real Agent: turns its tunnel states and events into ngrok's tunnel
// objects, feeds the metrics, validates `POST /api/tunnels` bodies with the shared config schema,
// and implements replay. The API server only ever sees the AgentBackend interface.

import { EventEmitter } from 'node:events';
import { endpointToSpec, tunnelToSpec, validateDocument } from '../../config';
import type { EndpointV3, TunnelV2 } from '../../config/types';
import type { EndpointSpec } from '../../model';
import type { CaptureStore } from '../../capture/store';
import { VERSION } from '../../version';
import { ModuleConfigError } from '../../modules/config-error';
import { AgentError, type Agent, type TunnelState } from '../agent';
import {
  API_ERRORS,
  LocalApiError,
  type AgentBackend,
  type AgentStatus,
  type ReplayRequest,
  type TunnelEvent,
  type TunnelInfo,
} from './backend';
import { TunnelMetrics } from './metrics';
import { buildReplayRequest } from './replay';

/** Counters of stopped tunnels kept for their name (a protection change re-creates a tunnel). */
const KEPT_METRICS = 100;

export class AgentApiBackend extends EventEmitter<{ tunnel: [TunnelEvent] }> implements AgentBackend {
  /** Per tunnel name, kept when the tunnel stops: like its captured requests, its counts survive a re-creation. */
  private readonly metrics = new Map<string, TunnelMetrics>();
  private readonly known = new Set<string>();
  /** The `tunnel_metrics` event of each running tunnel, made once (see metricsChanged). */
  private readonly metricsEvents = new Map<string, TunnelEvent & { type: 'tunnel_metrics' }>();

  constructor(
    private readonly agent: Agent,
    readonly capture: CaptureStore,
  ) {
    super();
    agent.on('tunnel', (t) => {
      const type = this.known.has(t.name) ? 'tunnel_updated' : 'tunnel_started';
      this.known.add(t.name);
      this.emit('tunnel', { type, tunnel: this.info(t) });
    });
    agent.on('tunnel-removed', (t) => {
      this.known.delete(t.name);
      this.metricsEvents.delete(t.name);
      // Oldest stopped names first (Map order); running tunnels' counters are never dropped.
      for (const name of this.metrics.keys()) {
        if (this.metrics.size - this.known.size <= KEPT_METRICS) break;
        if (!this.known.has(name)) this.metrics.delete(name);
      }
      this.emit('tunnel', { type: 'tunnel_stopped', name: t.name });
    });
    agent.on('exchange', ({ tunnel, durationMs, http }) => {
      const m = this.metricsFor(tunnel);
      m.connClosed(durationMs);
      if (http) m.httpRequest(durationMs);
      this.metricsChanged(tunnel);
    });
    // A captured request has just opened its connection: the open count changed.
    capture.on('exchange', (ex) => this.metricsChanged(ex.tunnelName));
  }

  /**
   * Counters change in place (TunnelMetrics); only a subscriber (the API's event stream, which
   * coalesces per flush) hears of it, through one event object per tunnel whose `metrics` are
   * computed when read. Nothing is copied or built per request: sorting the latency samples per
   * request was ≈ 15 % of the agent's CPU, copying the tunnel state per request 1.3 % (issue 11).
   */
  private metricsChanged(name: string): void {
    if (this.listenerCount('tunnel') === 0) return;
    let event = this.metricsEvents.get(name);
    if (!event) {
      if (!this.agent.tunnel(name)) return;
      const metrics = this.metricsFor(name);
      const agent = this.agent;
      event = {
        type: 'tunnel_metrics',
        name,
        get metrics() {
          return metrics.toJSON(agent.tunnel(name)?.conns.open);
        },
      };
      this.metricsEvents.set(name, event);
    }
    this.emit('tunnel', event);
  }

  private metricsFor(name: string): TunnelMetrics {
    let m = this.metrics.get(name);
    if (!m) this.metrics.set(name, (m = new TunnelMetrics()));
    return m;
  }

  private info(t: TunnelState): TunnelInfo {
    const publicUrl = preferredUrl(t.urls);
    return {
      name: t.name,
      public_url: publicUrl,
      public_urls: t.urls,
      proto: publicUrl ? new URL(publicUrl).protocol.replace(':', '') : t.spec.proto,
      config: { addr: t.upstreamUrl, inspect: t.spec.inspect },
      metrics: this.metricsFor(t.name).toJSON(t.conns.open),
      status: t.status,
      ...(t.error ? { error: t.error } : {}),
      definition: t.spec,
    };
  }

  tunnels(): TunnelInfo[] {
    return this.agent.tunnels().map((t) => this.info(t));
  }

  publicUrl(tunnelName: string): string | undefined {
    const t = this.agent.tunnel(tunnelName);
    return t ? preferredUrl(t.urls) || undefined : undefined;
  }

  async startTunnel(def: unknown): Promise<TunnelInfo> {
    const invalid = (err: string): LocalApiError =>
      new LocalApiError(400, API_ERRORS.INVALID_TUNNEL, 'invalid tunnel configuration', { err });
    if (typeof def !== 'object' || def === null || Array.isArray(def))
      throw invalid('the body must be a JSON object with the tunnel definition');
    const { name, ...body } = def as Record<string, unknown>;
    const rest = withoutWrapperOptions(body);
    if (typeof name !== 'string' || name.trim() === '') throw invalid('"name" (string) is required');
    // Same checks as ngrok.yml (schema, semantics, each module's own): the body as the only tunnel of a v2 file.
    const doc = JSON.stringify({ version: '2', tunnels: { [name]: rest } }, null, 2);
    const result = validateDocument(doc, 'POST /api/tunnels', { kind: 'agent' });
    const errors = result.problems.filter((p) => p.severity === 'error');
    if (errors.length) throw invalid(errors.map((p) => p.ngrokMessage ?? p.message).join('; '));
    const tunnels = (result.data as { tunnels?: Record<string, TunnelV2> } | undefined)?.tunnels;
    return this.start(invalid, () => {
      const spec = tunnels?.[name] && tunnelToSpec(name, tunnels[name], this.capture.enabled);
      if (!spec) throw invalid('labeled tunnels are not supported; give the tunnel a "proto"');
      return spec;
    });
  }

  async startEndpoint(def: unknown): Promise<TunnelInfo> {
    const invalid = (err: string): LocalApiError =>
      new LocalApiError(400, API_ERRORS.INVALID_TUNNEL, 'invalid endpoint configuration', { err });
    if (typeof def !== 'object' || def === null || Array.isArray(def))
      throw invalid('the body must be a JSON object with the endpoint definition');
    const { name } = def as Record<string, unknown>;
    if (typeof name !== 'string' || name.trim() === '') throw invalid('"name" (string) is required');
    // Same checks as ngrok.yml (schema, semantics, each module's own): the body as the only endpoint of a v3 file.
    const doc = JSON.stringify({ version: '3', agent: {}, endpoints: [def] }, null, 2);
    const result = validateDocument(doc, 'POST /api/endpoints', { kind: 'agent' });
    const errors = result.problems.filter((p) => p.severity === 'error');
    if (errors.length) throw invalid(errors.map((p) => p.ngrokMessage ?? p.message).join('; '));
    const endpoint = (result.data as { endpoints: EndpointV3[] }).endpoints[0];
    return this.start(invalid, () => endpointToSpec(endpoint, this.capture.enabled));
  }

  /** Builds the spec (module configs were checked by validateDocument, as the edge will) and starts it. */
  private async start(invalid: (err: string) => LocalApiError, toSpec: () => EndpointSpec): Promise<TunnelInfo> {
    let spec: EndpointSpec;
    try {
      spec = toSpec();
    } catch (err) {
      if (err instanceof ModuleConfigError) throw invalid(`${err.code}: ${err.message}`);
      throw err;
    }
    try {
      return this.info(await this.agent.startTunnel(spec));
    } catch (err) {
      if (err instanceof AgentError) {
        const status =
          err.code === 'ERR_BURROW_TUNNEL_EXISTS' ? 409 : err.code === 'ERR_BURROW_UPSTREAM_ADDR' ? 400 : 502;
        throw new LocalApiError(
          status,
          status === 400 ? API_ERRORS.INVALID_TUNNEL : API_ERRORS.TUNNEL_START_FAILED,
          'could not start the tunnel',
          { err: `${err.code}: ${err.message}` },
        );
      }
      throw err;
    }
  }

  stopTunnel(name: string): Promise<boolean> {
    return this.agent.stopTunnel(name);
  }

  async replay(req: ReplayRequest): Promise<string> {
    const ex = this.capture.get(req.id);
    if (!ex) throw new LocalApiError(404, API_ERRORS.NOT_FOUND, `captured request "${req.id}" not found`);
    const tunnelName = req.tunnelName ?? ex.tunnelName;
    const tunnel = this.agent.tunnel(tunnelName);
    if (!tunnel) throw new LocalApiError(404, API_ERRORS.NOT_FOUND, `tunnel "${tunnelName}" not found`);
    const out = buildReplayRequest(ex, req.modifications);
    try {
      return this.agent.replay(
        tunnelName,
        { method: out.method, uri: out.uri, rawHeaders: out.headers.flat(), body: out.body },
        { replayOf: ex.id, remoteAddr: ex.remoteAddr },
      );
    } catch (err) {
      if (err instanceof AgentError)
        throw new LocalApiError(400, API_ERRORS.REPLAY_FAILED, 'cannot replay to this tunnel', { err: err.message });
      throw err;
    }
  }

  status(): AgentStatus {
    const latency = this.agent.latencyMs;
    let region = 'local';
    try {
      region = this.agent.embedded ? 'local' : new URL(this.agent.edgeUrl).host;
    } catch {
      /* not started yet */
    }
    return {
      status: this.agent.online ? 'online' : this.agent.edgeUrl ? 'reconnecting' : 'starting',
      agent_version: VERSION,
      session: { legs: this.agent.online ? [{ region, latency: Math.round((latency ?? 0) * 1e6) }] : [] },
      edge_url: this.agent.edgeUrl,
      pid: process.pid,
    };
  }
}

/**
 * The npm `ngrok` wrapper (4.x, also @expo/ngrok) posts its whole options object, so its own
 * client-side options arrive beside the tunnel keys (functions vanish in JSON; these strings
 * stay). ngrok 2, the agent that wrapper downloads, ignored unknown keys; ngrok 3 refuses any
 * unknown key with error 102 ("field X not found in type config.HTTPv2Tunnel"). Burrow drops
 * exactly these wrapper options (the config path and authtoken were already given on the command
 * line; Burrow has no regions) and refuses every other unknown key as ngrok 3 does.
 */
const WRAPPER_OPTIONS = [
  'configPath',
  'binPath',
  'authtoken',
  'region',
  'onStatusChange',
  'onLogEvent',
  'onTerminated',
];

function withoutWrapperOptions(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !WRAPPER_OPTIONS.includes(k)));
}

/** ngrok reports the https URL when a tunnel has both. */
function preferredUrl(urls: string[]): string {
  return urls.find((u) => u.startsWith('https:')) ?? urls[0] ?? '';
}
