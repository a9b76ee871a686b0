// The Tunnels tree as plain data, computed from AgentState. The VS Code TreeDataProvider
// (client/src/views/tunnelsTree.ts) only maps these nodes onto TreeItems, so everything the tree
// shows is unit-tested without VS Code.
import type { CaptureJson, TunnelJson } from '../agent/api';
import type { BackendJson, EdgeRoutes, HttpsEdgeJson, RouteJson } from '../edgeAdminApi';
import { moduleDetail, moduleLabel, protectionOf } from './definitions';
import type { AgentState } from './state';

export type NodeKind =
  | 'tunnel'
  | 'upstream'
  | 'connections'
  | 'module'
  | 'requests'
  | 'request'
  | 'more'
  | 'message'
  | 'edges'
  | 'edge'
  | 'route';

export interface TreeNode {
  /** Stable across refreshes (keeps expansion and selection). */
  id: string;
  kind: NodeKind;
  label: string;
  description?: string;
  tooltip?: string;
  /** Codicon id, optionally with a theme colour id. */
  icon?: { id: string; color?: string };
  /** For `when` clauses in package.json menus (`viewItem`). */
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  children?: TreeNode[];
  tunnel?: string;
  requestId?: string;
  url?: string;
  /** Command run on click: id and arguments. */
  command?: { id: string; title: string; args: unknown[] };
}

export interface TreeOptions {
  /** How many requests to list under a tunnel before "Show more…" (per tunnel). */
  requestLimit(tunnel: string): number;
  /** The standalone edge's HTTPS edges and routes, when its admin API is configured. */
  edgeRoutes?: EdgeRoutes | { api: string; error: string };
}

export const DEFAULT_REQUEST_LIMIT = 25;
export const REQUEST_LIMIT_STEP = 25;

export function statusIcon(status: string | undefined): { id: string; color?: string } {
  switch (status ?? 'online') {
    case 'online':
      return { id: 'circle-filled', color: 'testing.iconPassed' };
    case 'starting':
    case 'reconnecting':
    case 'binding':
      return { id: 'sync~spin' };
    case 'error':
    case 'failed':
      return { id: 'error', color: 'testing.iconFailed' };
    default:
      return { id: 'circle-outline' };
  }
}

export function buildTree(state: AgentState, opts: TreeOptions): TreeNode[] {
  const nodes = [...state.tunnels.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => tunnelNode(state, t, opts));
  // Requests of tunnels that stopped stay inspectable until cleared.
  for (const name of state.stoppedWithRequests.sort()) {
    nodes.push({
      id: `tunnel:${name}`,
      kind: 'tunnel',
      label: name,
      description: 'stopped',
      icon: statusIcon('stopped'),
      contextValue: 'tunnel.stopped',
      collapsible: 'collapsed',
      tunnel: name,
      children: [requestsNode(state, name, opts)],
    });
  }
  if (opts.edgeRoutes) nodes.push(edgeRoutesNode(opts.edgeRoutes));
  return nodes;
}

/** "Edge routes": each HTTPS edge (its hostports), each route under it with its backend and modules. */
export function edgeRoutesNode(routes: EdgeRoutes | { api: string; error: string }): TreeNode {
  const base = {
    id: 'edges',
    kind: 'edges' as const,
    label: 'Edge routes',
    icon: { id: 'globe' },
    contextValue: 'edges',
  };
  if ('error' in routes) {
    return {
      ...base,
      description: 'unavailable',
      tooltip: `${routes.api}\n${routes.error}`,
      collapsible: 'expanded',
      children: [
        {
          id: 'edges:error',
          kind: 'message',
          label: routes.error,
          icon: { id: 'warning', color: 'list.warningForeground' },
          contextValue: 'message',
          collapsible: 'none',
        },
      ],
    };
  }
  const children = routes.edges.map((e) => edgeNode(e, routes.backends));
  if (!children.length)
    children.push({
      id: 'edges:none',
      kind: 'message',
      label: 'No HTTPS edges on this edge yet',
      icon: { id: 'info' },
      contextValue: 'message',
      collapsible: 'none',
    });
  return {
    ...base,
    description: routes.api,
    tooltip: `HTTPS edges of ${routes.api}`,
    collapsible: 'expanded',
    children,
  };
}

function edgeNode(e: HttpsEdgeJson, backends: Map<string, BackendJson>): TreeNode {
  const hosts = e.hostports.map((h) => h.replace(/:443$/, ''));
  const routes = [...e.routes].sort((a, b) => b.match.length - a.match.length || a.match.localeCompare(b.match));
  const online = routes.some((r) => routeOnline(r, backends));
  return {
    id: `edge:${e.id}`,
    kind: 'edge',
    label: hosts.join(', ') || e.id,
    description: e.description || e.id,
    tooltip: [
      `${e.id}${e.description ? ` — ${e.description}` : ''}`,
      ...e.hostports.map((h) => `https://${h.replace(/:443$/, '')}`),
    ].join('\n'),
    icon: online ? { id: 'circle-filled', color: 'testing.iconPassed' } : { id: 'circle-outline' },
    contextValue: 'edge',
    collapsible: 'expanded',
    url: hosts[0] ? `https://${hosts[0]}` : undefined,
    children: routes.map((r) => routeNode(r, backends)),
  };
}

/** Route modules that are set, by their API names (backend aside). */
function routeModules(r: RouteJson): string[] {
  return Object.entries(r)
    .filter(
      ([k, v]) =>
        v &&
        typeof v === 'object' &&
        !['backend', 'policy'].includes(k) &&
        (v as { enabled?: boolean }).enabled !== false,
    )
    .map(([k]) => k);
}

/** The route's backend id, unless the backend module is off. */
function backendOf(r: RouteJson): string | undefined {
  return r.backend?.enabled === false ? undefined : (r.backend?.backend?.id ?? undefined);
}

function routeOnline(r: RouteJson, backends: Map<string, BackendJson>): boolean {
  const id = backendOf(r);
  return id ? backendOnline(id, backends, new Set()) : false;
}

function backendOnline(id: string, backends: Map<string, BackendJson>, seen: Set<string>): boolean {
  const b = backends.get(id);
  if (!b || seen.has(id)) return false;
  seen.add(id);
  if (b.kind === 'tunnel_group') return (b.tunnels?.length ?? 0) > 0;
  if (b.kind === 'http_response') return true;
  const ids = Array.isArray(b.backends) ? b.backends : Object.keys(b.backends ?? {});
  return ids.some((child) => backendOnline(child, backends, seen));
}

function describeBackend(id: string | undefined, backends: Map<string, BackendJson>): string {
  if (!id) return 'no backend';
  const b = backends.get(id);
  if (!b) return id;
  switch (b.kind) {
    case 'tunnel_group': {
      const labels = Object.entries(b.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const n = b.tunnels?.length ?? 0;
      return `tunnels ${labels} (${n} online)`;
    }
    case 'http_response':
      return `responds ${b.status_code ?? 200}`;
    case 'failover':
      return `failover of ${(b.backends as string[] | undefined)?.length ?? 0}`;
    case 'weighted':
      return `weighted over ${Object.keys(b.backends ?? {}).length}`;
  }
}

function routeNode(r: RouteJson, backends: Map<string, BackendJson>): TreeNode {
  const modules = routeModules(r);
  const backend = describeBackend(backendOf(r), backends);
  const label = r.match_type === 'exact_path' ? `= ${r.match}` : `${r.match}*`;
  const online = routeOnline(r, backends);
  return {
    id: `route:${r.edge_id}:${r.id}`,
    kind: 'route',
    label,
    description: [backend, ...modules].join(' · '),
    tooltip: [
      `${r.match_type} ${r.match} (${r.id})`,
      r.description,
      `Backend: ${backend}`,
      modules.length ? `Modules: ${modules.join(', ')}` : 'No modules',
    ]
      .filter(Boolean)
      .join('\n'),
    icon: online
      ? {
          id: modules.some((m) => m === 'oauth' || m === 'oidc' || m === 'saml') ? 'lock' : 'arrow-right',
          color: 'testing.iconPassed',
        }
      : { id: 'arrow-right' },
    contextValue: 'route',
    collapsible: 'none',
  };
}

function tunnelNode(state: AgentState, t: TunnelJson, opts: TreeOptions): TreeNode {
  const status = t.status ?? 'online';
  const protection = protectionOf(t.definition);
  const http = t.proto === 'http' || t.proto === 'https';
  const context = [
    'tunnel',
    status === 'online' ? 'online' : status,
    http ? 'http' : t.proto,
    protection ? 'protected' : 'open',
    ...(t.definition?.edge?.basicAuth ? ['basicauth'] : []),
  ].join('.');
  const users = t.definition?.edge?.basicAuth ? moduleDetail('basicAuth', t.definition.edge.basicAuth) : '';
  const children: TreeNode[] = [
    {
      id: `tunnel:${t.name}:upstream`,
      kind: 'upstream',
      label: 'Upstream',
      description: t.config.addr,
      icon: { id: 'arrow-right' },
      contextValue: 'upstream',
      collapsible: 'none',
      tunnel: t.name,
    },
  ];
  const conns = t.metrics?.conns;
  if (conns) {
    children.push({
      id: `tunnel:${t.name}:conns`,
      kind: 'connections',
      label: `${conns.gauge ?? 0} open`,
      description: `${conns.count} total${t.metrics?.http?.count ? ` · ${t.metrics.http.count} HTTP` : ''}`,
      icon: { id: 'plug' },
      contextValue: 'connections',
      collapsible: 'none',
      tunnel: t.name,
    });
  }
  for (const [key, value] of Object.entries(t.definition?.edge ?? {})) {
    children.push({
      id: `tunnel:${t.name}:module:${key}`,
      kind: 'module',
      label: moduleLabel(key),
      description: moduleDetail(key, value) || undefined,
      icon: { id: key === 'basicAuth' || key === 'oauth' || key === 'oidc' ? 'lock' : 'extensions' },
      contextValue: `module.${key}`,
      collapsible: 'none',
      tunnel: t.name,
    });
  }
  if (http && t.config.inspect !== false) children.push(requestsNode(state, t.name, opts));
  const tooltip = [
    `${t.name} — ${status}`,
    t.public_url && `Public URL: ${t.public_url}`,
    `Upstream: ${t.config.addr}`,
    protection &&
      `Protected by ${protection === 'basic-auth' ? `basic auth${users ? ` (user ${users})` : ''}` : protection === 'oauth' ? 'OAuth' : 'OpenID Connect'}`,
    t.error && `Error ${t.error.code}: ${t.error.message}`,
  ]
    .filter(Boolean)
    .join('\n');
  return {
    id: `tunnel:${t.name}`,
    kind: 'tunnel',
    label: t.name,
    description: t.error && status !== 'online' ? `${t.error.code}` : t.public_url || status,
    tooltip,
    icon: protection && status === 'online' ? { id: 'lock', color: 'testing.iconPassed' } : statusIcon(status),
    contextValue: context,
    collapsible: 'expanded',
    children,
    tunnel: t.name,
    url: t.public_url || undefined,
  };
}

function requestsNode(state: AgentState, tunnel: string, opts: TreeOptions): TreeNode {
  const all = state.requestsOf(tunnel);
  const limit = Math.max(1, opts.requestLimit(tunnel));
  const children: TreeNode[] = all.slice(0, limit).map((r) => requestNode(r));
  if (all.length > limit) {
    children.push({
      id: `tunnel:${tunnel}:more`,
      kind: 'more',
      label: 'Show more…',
      description: `${all.length - limit} older`,
      icon: { id: 'ellipsis' },
      contextValue: 'more',
      collapsible: 'none',
      tunnel,
      command: { id: 'burrow.showMoreRequests', title: 'Show more', args: [tunnel] },
    });
  }
  if (all.length === 0) {
    children.push({
      id: `tunnel:${tunnel}:none`,
      kind: 'message',
      label: 'No requests yet',
      icon: { id: 'info' },
      contextValue: 'message',
      collapsible: 'none',
      tunnel,
    });
  }
  return {
    id: `tunnel:${tunnel}:requests`,
    kind: 'requests',
    label: 'Requests',
    description: String(all.length),
    icon: { id: 'history' },
    contextValue: all.length ? 'requests' : 'requests.empty',
    collapsible: 'expanded',
    children,
    tunnel,
  };
}

export function requestNode(r: CaptureJson): TreeNode {
  const code = r.response?.status_code;
  const status = r.state === 'error' ? (r.error?.code ?? 'error') : code === undefined ? '…' : String(code);
  const ms = r.duration > 0 ? formatDuration(r.duration) : '';
  const time = formatTime(r.start);
  return {
    id: `request:${r.id}`,
    kind: 'request',
    label: `${r.request.method} ${r.request.uri}`,
    description: [status, r.edge_module && `edge: ${r.edge_module}`, ms, time].filter(Boolean).join(' · '),
    tooltip: `${r.request.method} ${r.request.uri}\n${r.response?.status ?? status}${ms ? ` in ${ms}` : ''}\n${r.start}${r.remote_addr ? ` from ${r.remote_addr}` : ''}${r.replay_of ? `\nreplay of ${r.replay_of}` : ''}${r.edge_module ? `\nanswered by the edge (${r.edge_module}); the upstream never saw it` : ''}`,
    icon: requestIcon(r),
    contextValue: 'request',
    collapsible: 'none',
    tunnel: r.tunnel_name,
    requestId: r.id,
    command: { id: 'burrow.showRequest', title: 'Show Request', args: [r.id] },
  };
}

function requestIcon(r: CaptureJson): { id: string; color?: string } {
  if (r.state === 'error') return { id: 'error', color: 'testing.iconFailed' };
  if (r.edge_module) return { id: 'shield', color: 'list.warningForeground' };
  const code = r.response?.status_code;
  if (code === undefined) return { id: 'loading~spin' };
  if (code >= 500) return { id: 'circle-filled', color: 'testing.iconFailed' };
  if (code >= 400) return { id: 'circle-filled', color: 'list.warningForeground' };
  if (code >= 300) return { id: 'circle-filled', color: 'charts.blue' };
  return { id: 'circle-filled', color: 'testing.iconPassed' };
}

/** Nanoseconds → "850 µs", "12 ms", "1.4 s". */
export function formatDuration(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1) return `${Math.max(1, Math.round(ns / 1e3))} µs`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** RFC 3339 → local "HH:MM:SS". */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
