// What the extension knows about the agent, kept up to date from the event stream. A pure
// reducer: the tree, the status bar and the CodeLens all read this one object.
import type { AgentStatusJson, CaptureJson, TunnelJson } from '../agent/api';
import type { AgentEvent } from '../agent/events';

/** Captures kept per tunnel (the tree shows fewer; the inspector asks the API for the rest). */
export const MAX_REQUESTS_PER_TUNNEL = 500;

export class AgentState {
  status: AgentStatusJson | undefined;
  readonly tunnels = new Map<string, TunnelJson>();
  /** Per tunnel, newest first. */
  private readonly requests = new Map<string, CaptureJson[]>();
  private readonly byId = new Map<string, CaptureJson>();

  constructor(private readonly perTunnel = MAX_REQUESTS_PER_TUNNEL) {}

  /** Applies one event; returns true when something visible changed. */
  apply(e: AgentEvent): boolean {
    switch (e.type) {
      case 'snapshot':
        this.reset();
        this.status = e.status;
        for (const t of e.tunnels) this.tunnels.set(t.name, t);
        // The snapshot lists newest first; insert oldest first so unshift keeps that order.
        for (const r of [...e.requests].reverse()) this.upsert(r);
        return true;
      case 'tunnel_started':
      case 'tunnel_updated':
        this.tunnels.set(e.tunnel.name, e.tunnel);
        return true;
      case 'tunnel_stopped':
        return this.tunnels.delete(e.name);
      case 'tunnel_metrics': {
        const t = this.tunnels.get(e.name);
        if (!t) return false;
        t.metrics = e.metrics;
        return true;
      }
      case 'request_started':
      case 'request_updated':
        this.upsert(e.request);
        return true;
      case 'request_deleted':
        return this.remove(e.id);
      case 'requests_cleared':
        this.requests.clear();
        this.byId.clear();
        return true;
      default:
        return false;
    }
  }

  reset(): void {
    this.status = undefined;
    this.tunnels.clear();
    this.requests.clear();
    this.byId.clear();
  }

  request(id: string): CaptureJson | undefined {
    return this.byId.get(id);
  }

  /** Captures of one tunnel, newest first. */
  requestsOf(tunnel: string): readonly CaptureJson[] {
    return this.requests.get(tunnel) ?? [];
  }

  /** Tunnel names that have captures but are not running any more (their requests stay inspectable). */
  get stoppedWithRequests(): string[] {
    return [...this.requests.keys()].filter((n) => !this.tunnels.has(n) && this.requests.get(n)!.length > 0);
  }

  get onlineCount(): number {
    return [...this.tunnels.values()].filter((t) => (t.status ?? 'online') === 'online').length;
  }

  private upsert(r: CaptureJson): void {
    const known = this.byId.get(r.id);
    this.byId.set(r.id, r);
    let list = this.requests.get(r.tunnel_name);
    if (!list) this.requests.set(r.tunnel_name, (list = []));
    if (known) {
      const i = list.findIndex((x) => x.id === r.id);
      if (i >= 0) list[i] = r;
      return;
    }
    list.unshift(r);
    for (const dropped of list.splice(this.perTunnel)) this.byId.delete(dropped.id);
  }

  private remove(id: string): boolean {
    const r = this.byId.get(id);
    if (!r) return false;
    this.byId.delete(id);
    const list = this.requests.get(r.tunnel_name);
    if (list) {
      const i = list.findIndex((x) => x.id === id);
      if (i >= 0) list.splice(i, 1);
    }
    return true;
  }
}
