// HTTPS edges at request time: host → edge (by hostport), path → route (exact_path before
// path_prefix, longer prefix first), then the route's pipeline (the same module code as tunnel
// endpoints, modules.ts maps the API objects) and, as its last request step, the backend:
//   tunnel_group   labeled tunnels (agents bound with `labels`) carrying all the backend's
//                  labels, taken in turn (round robin)
//   failover       the first listed backend that can serve (a tunnel online, or a fixed response)
//   weighted       a random pick among those that can serve, in proportion to their weights
//   http_response  a fixed status, headers and body from the edge itself
// Nothing able to serve: 503 with ERR_NGROK_6528. OAuth/OIDC's own paths (/ngrok/login,
// /ngrok/callback, /ngrok/logout) go to the edge's sign-in route whatever its match, so a route
// such as /admin can sign users in (ngrok allows one sign-in route per edge, ERR_NGROK_7155).
// Tables are rebuilt when the store changes; a route's pipeline is reused while its config is
// unchanged (circuit-breaker counts and sign-in state survive edits elsewhere).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AgentSession } from '../agent-session';
import { rawEdgeError, sendEdgeError } from '../../edge-errors';
import { proxyHttp, proxyUpgrade, type HttpTarget } from '../http-proxy';
import { normalizeHost } from '../../net/host';
import type { Scheme } from '../../model';
import type { IpPolicyStore } from '../../modules/ip-restriction';
import { buildPipeline, Pipeline, type PipelineEnv } from '../../modules/pipeline';
import type { ManagedOAuth } from '../../modules/oauth/managed';
import type { ClientRequest, ClientResponse, HttpModule } from '../../modules/types';
import { isAuthRoute, routeBackendId, routeEdgeOptions } from './modules';
import type { EdgeStore } from './store';
import type { BackendsByKind, HttpsEdge, HttpsEdgeRoute } from './types';

const AUTH_PATH_PREFIX = '/ngrok/';

interface CompiledRoute {
  route: HttpsEdgeRoute;
  pipeline: Pipeline;
  key: string;
}

interface CompiledEdge {
  edge: HttpsEdge;
  exact: Map<string, CompiledRoute>;
  /** Longest match first. */
  prefixes: CompiledRoute[];
  auth?: CompiledRoute;
}

/**
 * What routing needs of an agent's labeled binding (edge.ts's Binding has it). Declared here, not
 * imported, so the admin API does not import the edge that imports it.
 */
export interface Binding {
  id: string;
  session: AgentSession;
  labels?: Record<string, string>;
}

type Choice = { kind: 'binding'; binding: Binding } | { kind: 'response'; backend: BackendsByKind['http_response'] };

/** Does a binding carry every label the backend asks for? */
export function labelsMatch(have: Record<string, string> | undefined, want: Record<string, string>): boolean {
  if (!have) return false;
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

export class HttpsEdgeRouter {
  private hosts = new Map<string, CompiledEdge>();
  private compiled = new Map<string, CompiledRoute>();
  private readonly labeled = new Set<Binding>();
  private readonly turns = new Map<string, number>();
  /** The target of each request in flight, filled in by the backend step. */
  private readonly targets = new WeakMap<object, HttpTarget>();

  constructor(
    private readonly store: EdgeStore,
    private readonly ipPolicies: IpPolicyStore,
    /** The edge's managed OAuth apps once it runs. */
    private readonly managedOAuth: () => ManagedOAuth | undefined = () => undefined,
    /** Rate limits counted across cluster nodes (route modules run on the node the visitor reached). */
    private readonly rateLimiter?: PipelineEnv['rateLimiter'],
    /** Cluster: labeled tunnels other nodes hold (their sessions relay over the node link). */
    private readonly remoteLabeled: () => Iterable<Binding> = () => [],
  ) {
    store.on('change', () => this.rebuild());
    this.rebuild();
  }

  // ---- what the edge asks ----

  /** True when an HTTPS edge serves `host` (TLS accepts the name; agents may not bind it). */
  serves(host: string): boolean {
    return this.hosts.has(normalizeHost(host));
  }

  addBinding(b: Binding): void {
    if (b.labels) this.labeled.add(b);
  }

  removeBinding(b: Binding): void {
    this.labeled.delete(b);
  }

  /** Labeled tunnels online now that serve a tunnel-group backend's labels (on every cluster node). */
  tunnelsFor(labels: Record<string, string>): Binding[] {
    return [...this.labeled, ...this.remoteLabeled()].filter((b) => labelsMatch(b.labels, labels));
  }

  handleRequest(req: ClientRequest, res: ClientResponse, scheme: Scheme): boolean {
    const route = this.routeFor(req, scheme);
    if (route === undefined) return false;
    if (route === null) {
      sendEdgeError(req, res, 'ERR_NGROK_3200', 'no route of this edge matches the path');
      return true;
    }
    const target = this.newTarget(route);
    this.targets.set(req, target);
    proxyHttp(req, res, target, scheme);
    return true;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): boolean {
    const route = this.routeFor(req, scheme);
    if (route === undefined) return false;
    if (route === null) {
      socket.end(rawEdgeError('ERR_NGROK_3200', 'no route of this edge matches the path'));
      return true;
    }
    const target = this.newTarget(route);
    this.targets.set(req, target);
    proxyUpgrade(req, socket, head, target, scheme);
    return true;
  }

  // ---- routing ----

  /** undefined: not an edge host; null: an edge host without a matching route. */
  private routeFor(req: ClientRequest, scheme: Scheme): CompiledRoute | null | undefined {
    if (scheme !== 'https') return undefined;
    const edge = this.hosts.get(normalizeHost(String(req.headers.host ?? req.headers[':authority'] ?? '')));
    if (!edge) return undefined;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (edge.auth && path.startsWith(AUTH_PATH_PREFIX)) return edge.auth;
    return edge.exact.get(path) ?? edge.prefixes.find((r) => path.startsWith(r.route.match)) ?? null;
  }

  private newTarget(route: CompiledRoute): HttpTarget {
    // Filled in by the backend step, the pipeline's last request module (see backendStep).
    return { id: '', session: undefined as unknown as HttpTarget['session'], pipeline: route.pipeline };
  }

  private rebuild(): void {
    const env = {
      ipPolicies: this.ipPolicies,
      cookieSecret: this.store.cookieSecret,
      managedOAuth: this.managedOAuth(),
    } as PipelineEnv;
    const hosts = new Map<string, CompiledEdge>();
    const compiled = new Map<string, CompiledRoute>();
    for (const edge of this.store.state.https_edges) {
      const c: CompiledEdge = { edge, exact: new Map(), prefixes: [] };
      for (const route of edge.routes) {
        const key = JSON.stringify(route);
        let cr = this.compiled.get(route.id);
        if (!cr || cr.key !== key) {
          let modules: readonly HttpModule[] = [];
          try {
            const scope = `route:${route.id}`;
            modules =
              buildPipeline(routeEdgeOptions(route), { ...env, rateLimiter: this.rateLimiter, rateScope: () => scope })
                ?.modules ?? [];
          } catch {
            // The service refuses configs that do not build; a stored one that no longer does
            // (e.g. its IP policy was edited away) serves nothing rather than serving unprotected.
            modules = [refuseAll()];
          }
          cr = { route, key, pipeline: new Pipeline([...modules, this.backendStep(route)]) };
        }
        compiled.set(route.id, cr);
        if (route.match_type === 'exact_path') c.exact.set(route.match, cr);
        else c.prefixes.push(cr);
        if (isAuthRoute(route)) c.auth = cr;
      }
      c.prefixes.sort((a, b) => b.route.match.length - a.route.match.length);
      for (const hp of edge.hostports) hosts.set(normalizeHost(hp), c);
    }
    this.hosts = hosts;
    this.compiled = compiled;
  }

  // ---- backends ----

  private backendStep(route: HttpsEdgeRoute): HttpModule {
    return {
      name: 'backend',
      onRequest: (ctx) => {
        const backendId = routeBackendId(route);
        const choice = backendId ? this.resolve(backendId, 0) : undefined;
        if (!choice) {
          sendEdgeError(
            ctx.req,
            ctx.res,
            'ERR_NGROK_6528',
            backendId ? `no tunnel is online for backend ${backendId}` : `route ${route.id} has no backend`,
          );
          return 'handled';
        }
        if (choice.kind === 'response') {
          const b = choice.backend;
          const body = Buffer.from(b.body ?? '');
          ctx.res.writeHead(b.status_code ?? 200, { ...(b.headers ?? {}), 'content-length': String(body.length) });
          ctx.res.end(body);
          return 'handled';
        }
        const target = this.targets.get(ctx.req);
        if (target) {
          target.id = choice.binding.id;
          target.session = choice.binding.session;
        }
        return undefined;
      },
    };
  }

  private find(id: string): { kind: keyof BackendsByKind; backend: BackendsByKind[keyof BackendsByKind] } | undefined {
    const all = this.store.state.backends;
    for (const kind of Object.keys(all) as (keyof BackendsByKind)[]) {
      const backend = all[kind].find((b) => b.id === id);
      if (backend) return { kind, backend };
    }
    return undefined;
  }

  /** Can this backend serve now (without taking a turn)? */
  private available(id: string, depth: number): boolean {
    const found = depth < 16 ? this.find(id) : undefined;
    if (!found) return false;
    switch (found.kind) {
      case 'tunnel_group':
        return this.tunnelsFor((found.backend as BackendsByKind['tunnel_group']).labels).some(
          (b) => !b.session.isClosed,
        );
      case 'http_response':
        return true;
      case 'failover':
        return (found.backend as BackendsByKind['failover']).backends.some((b) => this.available(b, depth + 1));
      case 'weighted':
        return Object.entries((found.backend as BackendsByKind['weighted']).backends).some(
          ([b, w]) => w > 0 && this.available(b, depth + 1),
        );
    }
  }

  private resolve(id: string, depth: number): Choice | undefined {
    const found = depth < 16 ? this.find(id) : undefined;
    if (!found) return undefined;
    switch (found.kind) {
      case 'http_response':
        return { kind: 'response', backend: found.backend as BackendsByKind['http_response'] };
      case 'tunnel_group': {
        const online = this.tunnelsFor((found.backend as BackendsByKind['tunnel_group']).labels).filter(
          (b) => !b.session.isClosed,
        );
        if (!online.length) return undefined;
        const turn = this.turns.get(id) ?? 0;
        this.turns.set(id, (turn + 1) % 1_000_000);
        return { kind: 'binding', binding: online[turn % online.length] };
      }
      case 'failover': {
        for (const b of (found.backend as BackendsByKind['failover']).backends) {
          const choice = this.resolve(b, depth + 1);
          if (choice) return choice;
        }
        return undefined;
      }
      case 'weighted': {
        const ready = Object.entries((found.backend as BackendsByKind['weighted']).backends).filter(
          ([b, w]) => w > 0 && this.available(b, depth + 1),
        );
        const total = ready.reduce((s, [, w]) => s + w, 0);
        let pick = Math.random() * total;
        for (const [b, w] of ready) {
          pick -= w;
          if (pick < 0) return this.resolve(b, depth + 1);
        }
        return ready.length ? this.resolve(ready[ready.length - 1][0], depth + 1) : undefined;
      }
    }
  }
}

/** Stands in for a route whose stored modules no longer build: refuse, never serve unprotected. */
function refuseAll(): HttpModule {
  return {
    name: 'refuse',
    onRequest(ctx) {
      sendEdgeError(
        ctx.req,
        ctx.res,
        'ERR_NGROK_6528',
        "this route's modules are misconfigured; fix the route through the admin API",
      );
      return 'handled';
    },
  };
}
