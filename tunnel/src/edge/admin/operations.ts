// Every operation on edge objects, with ngrok's checks and codes, shared by the admin API and the
// edge-file loader: bodies are schema-checked first (schema.ts), then the cross-object rules here
// (references exist, hostports are reserved and free, one sign-in route per edge, module configs
// build). A failed check changes nothing; a successful one is committed (persisted) at once.
//
// Hostport precedence (ngrok's conflict codes): a hostport belongs to at most one edge (7122); an
// edge cannot take a hostport an agent currently binds directly (7132); while an edge holds a
// hostport, agents cannot bind that name directly (ERR_NGROK_381, checked by the router at bind).
import { createHash } from 'node:crypto';
import { buildPipeline, ModuleConfigError } from '../../modules/pipeline';
import type { ManagedOAuth } from '../../modules/oauth/managed';
import '../../modules/oauth/register'; // routes may sign users in (OAuth/OIDC modules)
import type { IpPolicyStore } from '../../modules/ip-restriction';
import { invalidAclRule } from './acl';
import { checkRuleCidr } from './cidr';
import { AdminApiError, badRequest, notFound } from './errors';
import { newId, newToken, stableId } from './ids';
import { isAuthRoute, routeBackendId, routeEdgeOptions } from './modules';
import { validateBody } from './schema';
import type { EdgeStore } from './store';
import {
  BACKEND_PREFIX,
  EDGE_MODULES,
  ROUTE_MODULES,
  type AnyBackend,
  type BackendKind,
  type BackendsByKind,
  type Credential,
  type EdgeModuleKey,
  type HttpsEdge,
  type HttpsEdgeRoute,
  type IpPolicyObject,
  type IpPolicyRuleObject,
  type ReservedDomain,
  type RouteModuleKey,
} from './types';

export interface ServiceEnv {
  /** The edge's base domain: hostports under it need no reserved domain. */
  domain: string;
  /** The edge's named IP policies, kept in sync with the stored ones. */
  ipPolicies: IpPolicyStore;
  /** True when an agent binds this host directly right now (ERR_NGROK_7132). */
  boundDirectly?: (host: string) => boolean;
  /** Cluster: true when an agent binds this host directly on any node (read from the claims in Redis). */
  boundInCluster?: (host: string) => Promise<boolean>;
  /** Certificate and endpoint-configuration fields of reserved domains (account.ts). */
  account?: { applyReservedDomain(rd: ReservedDomain, body: Body, created: boolean): void };
  /** The edge's managed OAuth apps, once it runs (an OAuth module without a client id uses them). */
  managedOAuth?: () => ManagedOAuth | undefined;
}

type Body = Record<string, unknown>;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
/** An upserted object keeps its creation time. */
const createdAt = (list: readonly { id: string; created_at: string }[], id: string | undefined) =>
  (id && list.find((o) => o.id === id)?.created_at) || now();
const pick = <T extends object>(body: Body, keys: readonly string[]): Partial<T> =>
  Object.fromEntries(keys.filter((k) => body[k] !== undefined).map((k) => [k, body[k]])) as Partial<T>;
const ROUTE_KEYS = ['match_type', 'match', 'description', 'metadata', ...Object.keys(ROUTE_MODULES)];

export class EdgeService {
  constructor(
    readonly store: EdgeStore,
    private readonly env: ServiceEnv,
  ) {
    this.syncIpPolicies();
  }

  private get state() {
    return this.store.state;
  }

  /**
   * Runs `change`; commits only if every check passed (EdgeStore.transact). The IP policies the
   * modules read follow the stored ones whenever those were replaced (a change or a rollback).
   */
  private mutate<T>(change: () => T): T {
    const { ip_policies, ip_policy_rules } = this.state;
    try {
      return this.store.transact(change);
    } finally {
      if (this.state.ip_policies !== ip_policies || this.state.ip_policy_rules !== ip_policy_rules)
        this.syncIpPolicies();
    }
  }

  syncIpPolicies(): void {
    const store = this.env.ipPolicies;
    for (const p of store.list()) if (!this.state.ip_policies.some((q) => q.id === p.id)) store.delete(p.id);
    for (const p of this.state.ip_policies) {
      const rules = this.state.ip_policy_rules
        .filter((r) => r.ip_policy_id === p.id)
        .map((r) => ({ cidr: r.cidr, action: r.action, description: r.description }));
      store.set({ id: p.id, description: p.description, rules });
    }
  }

  // ---- HTTPS edges ----

  listEdges(): HttpsEdge[] {
    return this.state.https_edges;
  }

  getEdge(id: string): HttpsEdge {
    const edge = this.state.https_edges.find((e) => e.id === id);
    if (!edge) throw notFound('ERR_NGROK_7000', `Edge ${id} not found`);
    return edge;
  }

  createEdge(body: Body, id?: string): HttpsEdge {
    validateBody(body, 'HTTPSEdgeCreate');
    return this.mutate(() => {
      // Reloading an edge file upserts: same id keeps its creation time and routes added since.
      const old = id ? this.state.https_edges.find((e) => e.id === id) : undefined;
      const edge: HttpsEdge = {
        description: '',
        metadata: '',
        hostports: [],
        mutual_tls: null,
        tls_termination: null,
        ...pick<HttpsEdge>(body, ['description', 'metadata', 'hostports', 'mutual_tls', 'tls_termination']),
        id: id ?? newId('edghts'),
        created_at: old?.created_at ?? now(),
        routes: old?.routes ?? [],
      };
      this.checkEdge(edge);
      this.state.https_edges = [...this.state.https_edges.filter((e) => e.id !== edge.id), edge];
      return edge;
    });
  }

  /**
   * ERR_NGROK_7132 across a cluster: an agent on another node may bind one of the hostports. Asked
   * before createEdge/updateEdge (which check this node's agents themselves, synchronously).
   */
  async checkHostportsFree(body: Body | undefined): Promise<void> {
    const hostports = Array.isArray(body?.hostports) ? body.hostports : [];
    if (!this.env.boundInCluster) return;
    for (const hp of hostports) {
      if (typeof hp !== 'string' || hp.lastIndexOf(':') < 1) continue; // the sync checks say what is wrong
      const host = hp.slice(0, hp.lastIndexOf(':')).toLowerCase();
      if (this.state.https_edges.some((e) => e.hostports.includes(`${host}:443`))) continue;
      if (await this.env.boundInCluster(host))
        throw badRequest('ERR_NGROK_7132', `The hostport ${hp.toLowerCase()} is already in use by an agent directly.`);
    }
  }

  updateEdge(id: string, body: Body): HttpsEdge {
    validateBody(body, 'HTTPSEdgeCreate');
    return this.mutate(() => {
      const edge = this.getEdge(id);
      Object.assign(
        edge,
        pick<HttpsEdge>(body, ['description', 'metadata', 'hostports', 'mutual_tls', 'tls_termination']),
      );
      this.checkEdge(edge);
      return edge;
    });
  }

  deleteEdge(id: string): void {
    this.mutate(() => {
      this.getEdge(id);
      this.state.https_edges = this.state.https_edges.filter((e) => e.id !== id);
    });
  }

  getEdgeModule(id: string, key: EdgeModuleKey): unknown {
    return this.getEdge(id)[key] ?? null;
  }

  putEdgeModule(id: string, key: EdgeModuleKey, body: Body | null): unknown {
    if (body !== null) validateBody(body, EDGE_MODULES[key]);
    return this.mutate(() => {
      const edge = this.getEdge(id);
      (edge as unknown as Record<string, unknown>)[key] = body;
      this.checkEdge(edge);
      return edge[key] ?? null;
    });
  }

  private checkEdge(edge: HttpsEdge): void {
    const seen = new Set<string>();
    edge.hostports = edge.hostports.map((hp) => hp.toLowerCase());
    for (const hp of edge.hostports) {
      const colon = hp.lastIndexOf(':');
      const host = hp.slice(0, colon);
      const port = Number(hp.slice(colon + 1));
      if (colon < 1 || !Number.isInteger(port))
        throw badRequest(
          'ERR_NGROK_7104',
          `Edge has invalid hostports, must be specified in the format 'hostname:portnumber': ${hp}`,
        );
      if (port < 1 || port > 65535)
        throw badRequest(
          'ERR_NGROK_7112',
          `The hostport ${hp} has port out of range: ${port} is not in range 1-65535.`,
        );
      if (port !== 443)
        throw badRequest('ERR_NGROK_7116', `The domain ${hp} is unsupported because it does not use port 443.`);
      if (seen.has(host)) continue;
      seen.add(host);
      if (!this.isReserved(host))
        throw badRequest(
          'ERR_NGROK_7117',
          `The domain ${hp} is not reserved: reserve it (POST /reserved_domains) or use a name under ${this.env.domain}.`,
        );
      const other = this.state.https_edges.find(
        (e) => e.id !== edge.id && e.hostports.some((h) => h.toLowerCase() === hp),
      );
      if (other) throw badRequest('ERR_NGROK_7122', `Hostport ${hp} already exists for another edge (${other.id}).`);
      if (this.env.boundDirectly?.(host))
        throw badRequest('ERR_NGROK_7132', `The hostport ${hp} is already in use by an agent directly.`);
    }
    if (edge.tls_termination?.terminate_at && edge.tls_termination.terminate_at !== 'edge')
      throw badRequest(
        'ERR_NGROK_7109',
        "You may not configure the TLS termination parameter 'terminate_at' for an HTTPS edge.",
      );
    if (edge.tls_termination && edge.tls_termination.enabled !== false && edge.tls_termination.min_version) {
      throw badRequest(
        'ERR_BURROW_UNSUPPORTED_OPTION',
        'tls_termination.min_version is not supported on HTTPS edges by Burrow yet (the edge listener sets the TLS versions); leave it null',
      );
    }
    if (edge.mutual_tls && edge.mutual_tls.enabled !== false) {
      const ids =
        edge.mutual_tls.certificate_authority_ids ?? edge.mutual_tls.certificate_authorities?.map((r) => r.id) ?? [];
      throw badRequest(
        'ERR_NGROK_7072',
        `The CA ID ${ids[0] ?? '(none)'} specified for the Mutual TLS module does not exist (Burrow has no certificate authorities API yet).`,
      );
    }
    const auth = edge.routes.filter((r) => isAuthRoute(r));
    if (auth.length > 1)
      throw badRequest('ERR_NGROK_7155', 'Enabling OAuth, OIDC, or SAML on more than one route is not supported.');
  }

  /** A name under the base domain, or a reserved domain (exact, or a reserved `*.` one level up). */
  private isReserved(host: string): boolean {
    if (host === this.env.domain || host.endsWith(`.${this.env.domain}`)) return true;
    return this.state.reserved_domains.some((d) => {
      const name = d.domain.toLowerCase();
      return (
        name === host ||
        (name.startsWith('*.') && host.endsWith(name.slice(1)) && !host.slice(0, -(name.length - 1)).includes('.'))
      );
    });
  }

  // ---- routes ----

  getRoute(edgeId: string, routeId: string): HttpsEdgeRoute {
    const route = this.getEdge(edgeId).routes.find((r) => r.id === routeId);
    if (!route) throw notFound('ERR_NGROK_7124', `The edge route ${routeId} could not be found.`);
    return route;
  }

  createRoute(edgeId: string, body: Body, id?: string): HttpsEdgeRoute {
    validateBody(body, 'HTTPSEdgeRouteCreate');
    return this.mutate(() => {
      const edge = this.getEdge(edgeId);
      const route = {
        description: '',
        metadata: '',
        ...(Object.fromEntries(Object.keys(ROUTE_MODULES).map((k) => [k, null])) as object),
        ...pick<HttpsEdgeRoute>(body, ROUTE_KEYS),
        id: id ?? newId('edghtsrt'),
        edge_id: edge.id,
        created_at: createdAt(edge.routes, id),
      } as HttpsEdgeRoute;
      edge.routes = [...edge.routes.filter((r) => r.id !== route.id), route];
      this.checkRoute(edge, route);
      return route;
    });
  }

  updateRoute(edgeId: string, routeId: string, body: Body): HttpsEdgeRoute {
    validateBody(body, 'HTTPSEdgeRouteUpdate');
    return this.mutate(() => {
      const edge = this.getEdge(edgeId);
      const route = this.getRoute(edgeId, routeId);
      Object.assign(route, pick<HttpsEdgeRoute>(body, ROUTE_KEYS));
      this.checkRoute(edge, route);
      return route;
    });
  }

  deleteRoute(edgeId: string, routeId: string): void {
    this.mutate(() => {
      const edge = this.getEdge(edgeId);
      this.getRoute(edgeId, routeId);
      edge.routes = edge.routes.filter((r) => r.id !== routeId);
    });
  }

  getRouteModule(edgeId: string, routeId: string, key: RouteModuleKey): unknown {
    return this.getRoute(edgeId, routeId)[key] ?? null;
  }

  putRouteModule(edgeId: string, routeId: string, key: RouteModuleKey, body: Body | null): unknown {
    if (body !== null) validateBody(body, ROUTE_MODULES[key]);
    return this.mutate(() => {
      const edge = this.getEdge(edgeId);
      const route = this.getRoute(edgeId, routeId);
      const previous = route[key] as Body | null | undefined;
      (route as unknown as Record<string, unknown>)[key] = body ? keepSecrets(body, previous ?? undefined) : body;
      this.checkRoute(edge, route);
      return route[key] ?? null;
    });
  }

  private checkRoute(edge: HttpsEdge, route: HttpsEdgeRoute): void {
    if (!route.match) throw badRequest('ERR_NGROK_7123', 'Edge routes require a match expression.');
    const clash = edge.routes.find((r) => r !== route && r.match === route.match);
    if (clash)
      throw badRequest(
        'ERR_NGROK_7126',
        `Route match expression ${route.match} must be unique across all routes for HTTPS edge (${clash.id} has it).`,
      );
    const backendId = routeBackendId(route);
    if (route.backend && route.backend.enabled !== false && !backendId)
      throw badRequest('ERR_NGROK_6501', 'The backend module needs a backend_id.');
    if (backendId && !this.findBackend(backendId))
      throw badRequest('ERR_NGROK_6501', `Cannot save backend reference ${backendId} because it does not exist.`);
    for (const id of route.ip_restriction?.ip_policy_ids ?? []) {
      if (!this.state.ip_policies.some((p) => p.id === id))
        throw badRequest(
          'ERR_NGROK_7007',
          `The IP Policy ID ${id} specified for the IP Restriction module does not exist.`,
        );
    }
    try {
      buildPipeline(routeEdgeOptions(route), {
        ipPolicies: this.env.ipPolicies,
        managedOAuth: this.env.managedOAuth?.(),
      });
    } catch (err) {
      if (err instanceof ModuleConfigError) throw badRequest(err.code, err.message);
      throw err;
    }
    this.checkEdge(edge);
  }

  // ---- backends ----

  findBackend(id: string): { kind: BackendKind; backend: AnyBackend } | undefined {
    for (const kind of Object.keys(BACKEND_PREFIX) as BackendKind[]) {
      const backend = this.state.backends[kind].find((b) => b.id === id);
      if (backend) return { kind, backend };
    }
    return undefined;
  }

  listBackends<K extends BackendKind>(kind: K): BackendsByKind[K][] {
    return this.state.backends[kind];
  }

  getBackend<K extends BackendKind>(kind: K, id: string): BackendsByKind[K] {
    const b = this.state.backends[kind].find((x) => x.id === id);
    if (!b) throw notFound('ERR_NGROK_6514', 'Backend not found.');
    return b;
  }

  createBackend<K extends BackendKind>(kind: K, body: Body, id?: string): BackendsByKind[K] {
    validateBody(body, BACKEND_DEF[kind]);
    return this.mutate(() => {
      const backend = {
        id: id ?? newId(BACKEND_PREFIX[kind]),
        created_at: createdAt(this.state.backends[kind], id),
        description: '',
        metadata: '',
        ...BACKEND_DEFAULTS[kind],
        ...pick(body, BACKEND_KEYS[kind]),
      } as unknown as BackendsByKind[K];
      this.checkBackend(kind, backend);
      this.state.backends[kind] = [...this.state.backends[kind].filter((b) => b.id !== backend.id), backend] as never;
      return backend;
    });
  }

  updateBackend<K extends BackendKind>(kind: K, id: string, body: Body): BackendsByKind[K] {
    validateBody(body, BACKEND_DEF[kind]);
    return this.mutate(() => {
      const backend = this.getBackend(kind, id);
      Object.assign(backend, pick(body, BACKEND_KEYS[kind]));
      this.checkBackend(kind, backend);
      return backend;
    });
  }

  deleteBackend(kind: BackendKind, id: string): void {
    this.mutate(() => {
      this.getBackend(kind, id);
      const inBackend = [...this.state.backends.failover, ...this.state.backends.weighted].find((b) =>
        (Array.isArray(b.backends) ? b.backends : Object.keys(b.backends)).includes(id),
      );
      const inRoute = this.state.https_edges.flatMap((e) => e.routes).find((r) => routeBackendId(r) === id);
      if (inBackend || inRoute)
        throw badRequest(
          'ERR_NGROK_6502',
          `The backend could not be deleted because it is still referenced by ${inBackend ? `backend ${inBackend.id}` : `route ${inRoute!.id}`}.`,
        );
      this.state.backends[kind] = this.state.backends[kind].filter((b) => b.id !== id) as never;
    });
  }

  private checkBackend(kind: BackendKind, backend: AnyBackend): void {
    if (kind !== 'failover' && kind !== 'weighted') return;
    const refs =
      kind === 'failover'
        ? (backend as BackendsByKind['failover']).backends
        : Object.keys((backend as BackendsByKind['weighted']).backends);
    for (const ref of refs) {
      const found = this.findBackend(ref);
      if (!found) throw badRequest('ERR_NGROK_6501', `Cannot save backend reference ${ref} because it does not exist.`);
      if (ref === backend.id || this.reaches(ref, backend.id))
        throw badRequest(
          kind === 'failover' ? 'ERR_NGROK_6525' : 'ERR_NGROK_6524',
          `A ${kind} backend may not reference ${ref}: it would form a loop.`,
        );
    }
  }

  /** True when backend `from` leads (through failover/weighted lists) to `to`. */
  private reaches(from: string, to: string, depth = 0): boolean {
    if (depth > 16) return true;
    const found = this.findBackend(from);
    if (!found || (found.kind !== 'failover' && found.kind !== 'weighted')) return false;
    const refs =
      found.kind === 'failover'
        ? (found.backend as BackendsByKind['failover']).backends
        : Object.keys((found.backend as BackendsByKind['weighted']).backends);
    return refs.some((r) => r === to || this.reaches(r, to, depth + 1));
  }

  // ---- reserved domains ----

  getReservedDomain(id: string): ReservedDomain {
    const d = this.state.reserved_domains.find((x) => x.id === id);
    if (!d) throw notFound('ERR_BURROW_NOT_FOUND', `Reserved domain ${id} not found.`);
    return d;
  }

  createReservedDomain(body: Body, id?: string): ReservedDomain {
    validateBody(body, 'ReservedDomainCreate');
    return this.mutate(() => {
      const domain = String(body.domain).toLowerCase();
      const other = this.state.reserved_domains.find((d) => d.domain === domain && d.id !== id);
      if (other)
        throw new AdminApiError(
          409,
          'ERR_BURROW_DOMAIN_EXISTS',
          `The domain ${domain} is already reserved (${other.id}).`,
        );
      const rd: ReservedDomain = {
        id: id ?? newId('rd'),
        created_at: createdAt(this.state.reserved_domains, id),
        description: '',
        metadata: '',
        region: null,
        ...pick<ReservedDomain>(body, ['description', 'metadata', 'region']),
        domain,
      };
      this.env.account?.applyReservedDomain(rd, body, true);
      this.state.reserved_domains = [...this.state.reserved_domains.filter((d) => d.id !== rd.id), rd];
      return rd;
    });
  }

  updateReservedDomain(id: string, body: Body): ReservedDomain {
    validateBody(body, 'ReservedDomainUpdate');
    return this.mutate(() => {
      const rd = Object.assign(this.getReservedDomain(id), pick<ReservedDomain>(body, ['description', 'metadata']));
      this.env.account?.applyReservedDomain(rd, body, false);
      return rd;
    });
  }

  deleteReservedDomain(id: string): void {
    this.mutate(() => {
      const rd = this.getReservedDomain(id);
      this.state.reserved_domains = this.state.reserved_domains.filter((d) => d.id !== id);
      const user = this.state.https_edges.find((e) =>
        e.hostports.some((hp) => !this.isReserved(hp.slice(0, hp.lastIndexOf(':')))),
      );
      if (user)
        throw badRequest(
          'ERR_NGROK_446',
          `The domain ${rd.domain} could not be deleted because it is still referenced by edge ${user.id}.`,
        );
    });
  }

  // ---- IP policies and rules ----

  getIpPolicy(id: string): IpPolicyObject {
    const p = this.state.ip_policies.find((x) => x.id === id);
    if (!p) throw notFound('ERR_NGROK_1402', 'IP Policy not found');
    return p;
  }

  createIpPolicy(body: Body, id?: string): IpPolicyObject {
    validateBody(body, 'IPPolicyCreate');
    return this.mutate(() => {
      const p: IpPolicyObject = {
        id: id ?? newId('ipp'),
        created_at: createdAt(this.state.ip_policies, id),
        description: '',
        metadata: '',
        ...pick<IpPolicyObject>(body, ['description', 'metadata']),
      };
      this.state.ip_policies = [...this.state.ip_policies.filter((x) => x.id !== p.id), p];
      return p;
    });
  }

  updateIpPolicy(id: string, body: Body): IpPolicyObject {
    validateBody(body, 'IPPolicyUpdate');
    return this.mutate(() =>
      Object.assign(this.getIpPolicy(id), pick<IpPolicyObject>(body, ['description', 'metadata'])),
    );
  }

  deleteIpPolicy(id: string): void {
    this.mutate(() => {
      this.getIpPolicy(id);
      const user = this.state.https_edges
        .flatMap((e) => e.routes)
        .find((r) => r.ip_restriction?.ip_policy_ids?.includes(id));
      if (user)
        throw badRequest(
          'ERR_NGROK_1420',
          `Cannot delete IP Policy (${id}) because it is referenced by route ${user.id}. Detach it first.`,
        );
      const config = this.state.endpoint_configurations.find((ec) => ec.ip_policy?.ip_policy_ids?.includes(id));
      if (config)
        throw badRequest(
          'ERR_NGROK_1420',
          `Cannot delete IP Policy (${id}) because it is referenced by endpoint configuration ${config.id}. Detach it first.`,
        );
      this.state.ip_policies = this.state.ip_policies.filter((p) => p.id !== id);
      this.state.ip_policy_rules = this.state.ip_policy_rules.filter((r) => r.ip_policy_id !== id);
    });
  }

  getIpPolicyRule(id: string): IpPolicyRuleObject {
    const r = this.state.ip_policy_rules.find((x) => x.id === id);
    if (!r) throw notFound('ERR_NGROK_1404', 'IP Policy Rule not found');
    return r;
  }

  createIpPolicyRule(body: Body, id?: string): IpPolicyRuleObject {
    validateBody(body, 'IPPolicyRuleCreate');
    return this.mutate(() => {
      const rule = {
        description: '',
        metadata: '',
        ...pick<IpPolicyRuleObject>(body, ['description', 'metadata', 'cidr', 'ip_policy_id', 'action']),
        id: id ?? newId('ipr'),
        created_at: createdAt(this.state.ip_policy_rules, id),
      } as IpPolicyRuleObject;
      this.checkRule(rule);
      this.state.ip_policy_rules = [...this.state.ip_policy_rules.filter((r) => r.id !== rule.id), rule];
      return rule;
    });
  }

  updateIpPolicyRule(id: string, body: Body): IpPolicyRuleObject {
    validateBody(body, 'IPPolicyRuleUpdate');
    return this.mutate(() => {
      const rule = Object.assign(
        this.getIpPolicyRule(id),
        pick<IpPolicyRuleObject>(body, ['description', 'metadata', 'cidr']),
      );
      this.checkRule(rule);
      return rule;
    });
  }

  deleteIpPolicyRule(id: string): void {
    this.mutate(() => {
      this.getIpPolicyRule(id);
      this.state.ip_policy_rules = this.state.ip_policy_rules.filter((r) => r.id !== id);
    });
  }

  private checkRule(rule: IpPolicyRuleObject): void {
    if (!this.state.ip_policies.some((p) => p.id === rule.ip_policy_id))
      throw notFound('ERR_NGROK_1402', `IP Policy ${rule.ip_policy_id} not found`);
    checkRuleCidr(rule.cidr);
    const dup = this.state.ip_policy_rules.find(
      (r) => r.id !== rule.id && r.ip_policy_id === rule.ip_policy_id && r.cidr === rule.cidr,
    );
    if (dup) throw badRequest('ERR_NGROK_1408', `IP Policy Rule with CIDR ${rule.cidr} already exists`);
  }

  // ---- credentials ----

  getCredential(id: string): Credential {
    const c = this.state.credentials.find((x) => x.id === id);
    if (!c) throw notFound('ERR_BURROW_NOT_FOUND', `Credential ${id} not found.`);
    return c;
  }

  /** Returns the credential and its token; the token is not kept. */
  createCredential(body: Body): { credential: Credential; token: string } {
    validateBody(body, 'CredentialCreate');
    const acl = (body.acl as string[] | null | undefined) ?? [];
    const bad = invalidAclRule(acl);
    if (bad !== undefined)
      throw badRequest(
        'ERR_NGROK_600',
        `Invalid ACL rule. An ACL rule must be '*' or start with 'bind:'. The bind value must match the format of a domain, address, or label. You specified: ${bad}.`,
        { field: 'acl' },
      );
    const token = newToken();
    const credential = this.mutate(() => {
      const c: Credential = {
        id: newId('cr'),
        created_at: now(),
        description: '',
        metadata: '',
        owner_id: null,
        ...pick<Credential>(body, ['description', 'metadata', 'owner_id']),
        acl: [...acl],
        token_sha256: createHash('sha256').update(token).digest('hex'),
      };
      this.state.credentials = [...this.state.credentials, c];
      return c;
    });
    return { credential, token };
  }

  updateCredential(id: string, body: Body): Credential {
    validateBody(body, 'CredentialUpdate');
    const bad = body.acl ? invalidAclRule(body.acl as string[]) : undefined;
    if (bad !== undefined)
      throw badRequest(
        'ERR_NGROK_600',
        `Invalid ACL rule. An ACL rule must be '*' or start with 'bind:'. You specified: ${bad}.`,
        { field: 'acl' },
      );
    return this.mutate(() =>
      Object.assign(
        this.getCredential(id),
        pick<Credential>(body, ['description', 'metadata']),
        body.acl !== undefined ? { acl: [...((body.acl as string[] | null) ?? [])] } : {},
      ),
    );
  }

  deleteCredential(id: string): void {
    this.mutate(() => {
      this.getCredential(id);
      this.state.credentials = this.state.credentials.filter((c) => c.id !== id);
    });
  }

  // ---- edge files ----

  /**
   * Loads one edge document (an HTTPS edge, or a bundle; schemas/edge-api.schema.json) with the
   * same checks as the API. Objects are upserted by id; one without an id gets an id derived from
   * `origin` and its place in the file, so loading the same file again updates, never duplicates.
   */
  importDocument(doc: unknown, origin: string): { edges: number; backends: number } {
    validateBody(doc);
    const d = doc as Body;
    const idOf = (o: Body, prefix: string, where: string) =>
      typeof o.id === 'string' ? o.id : stableId(prefix, `${origin}#${where}`);
    const strip = (o: Body, ...keys: string[]) =>
      Object.fromEntries(
        Object.entries(o).filter(([k]) => !['id', 'uri', 'created_at', '$schema', ...keys].includes(k)),
      );
    const bundle = BUNDLE_KEYS.some((k) => k in d) ? d : { https_edges: [d] };
    const apiOnly = ['tls_certificates', 'reserved_addrs', 'endpoint_configurations'].find((k) => k in d);
    if (apiOnly)
      throw badRequest(
        'ERR_BURROW_EDGE_FILE',
        `${apiOnly} are created through the admin API, not loaded from edge files.`,
        {
          field: apiOnly,
        },
      );
    const list = (k: string) => ((bundle as Body)[k] as Body[] | undefined) ?? [];
    list('ip_policies').forEach((p, i) => this.createIpPolicy(strip(p), idOf(p, 'ipp', `ip_policies/${i}`)));
    list('ip_policy_rules').forEach((r, i) => {
      const body = strip(r, 'ip_policy');
      if (!body.ip_policy_id && r.ip_policy) body.ip_policy_id = (r.ip_policy as Body).id;
      this.createIpPolicyRule(body, idOf(r, 'ipr', `ip_policy_rules/${i}`));
    });
    list('reserved_domains').forEach((rd, i) =>
      this.createReservedDomain(
        strip(
          rd,
          'cname_target',
          'certificate',
          'certificate_management_policy',
          'certificate_management_status',
          'acme_challenge_cname_target',
          'http_endpoint_configuration',
          'https_endpoint_configuration',
        ),
        idOf(rd, 'rd', `reserved_domains/${i}`),
      ),
    );
    let backends = 0;
    const pending: [BackendKind, Body, string][] = [];
    for (const kind of ['tunnel_group', 'http_response', 'failover', 'weighted'] as const) {
      list(`${kind}_backends`).forEach((b, i) =>
        pending.push([kind, strip(b, 'tunnels'), idOf(b, BACKEND_PREFIX[kind], `${kind}_backends/${i}`)]),
      );
    }
    // Failover and weighted backends may name each other: create each once what it names exists.
    while (pending.length) {
      const ready = pending.findIndex(
        ([kind, body]) =>
          !(kind === 'failover' || kind === 'weighted') ||
          (Array.isArray(body.backends) ? body.backends : Object.keys(body.backends as object)).every((r: string) =>
            this.findBackend(r),
          ),
      );
      const [kind, body, id] = pending.splice(ready === -1 ? 0 : ready, 1)[0];
      this.createBackend(kind, body, id);
      backends++;
    }
    const edges = list('https_edges');
    edges.forEach((e, i) => {
      const edgeId = idOf(e, 'edghts', `https_edges/${i}`);
      this.createEdge(strip(e, 'routes'), edgeId);
      ((e.routes as Body[] | undefined) ?? []).forEach((r, j) => {
        const body = strip(r, 'edge_id', 'policy');
        for (const key of Object.keys(ROUTE_MODULES))
          if (body[key] && typeof body[key] === 'object') body[key] = writeForm(body[key] as Body);
        this.createRoute(edgeId, body, idOf(r, 'edghtsrt', `https_edges/${i}/routes/${j}`));
      });
    });
    return { edges: edges.length, backends };
  }
}

/** Module read forms (Refs) → write forms (ids), as an exported edge file has them. */
function writeForm(m: Body): Body {
  const out = { ...m };
  if (out.backend && typeof out.backend === 'object' && !out.backend_id) out.backend_id = (out.backend as Body).id;
  delete out.backend;
  if (Array.isArray(out.ip_policies) && !out.ip_policy_ids)
    out.ip_policy_ids = (out.ip_policies as Body[]).map((r) => r.id);
  delete out.ip_policies;
  return out;
}

/** The lists an edge bundle file may hold (any of them makes the file a bundle, as in the schema). */
const BUNDLE_KEYS = [
  'https_edges',
  'tunnel_group_backends',
  'failover_backends',
  'weighted_backends',
  'http_response_backends',
  'reserved_domains',
  'ip_policies',
  'ip_policy_rules',
];

export const REDACTED = '**redacted**';

/** A module body sent back with redacted secrets keeps the stored ones (GET then PUT round-trips). */
function keepSecrets(body: Body, previous: Body | undefined): Body {
  if (!previous) return body;
  const out = structuredClone(body);
  const walk = (o: Body, p: Body) => {
    for (const [k, v] of Object.entries(o)) {
      if (v === REDACTED && typeof p[k] === 'string') o[k] = p[k];
      else if (v && typeof v === 'object' && !Array.isArray(v) && p[k] && typeof p[k] === 'object')
        walk(v as Body, p[k] as Body);
    }
  };
  walk(out, previous);
  return out;
}

const BACKEND_DEF: Record<BackendKind, string> = {
  tunnel_group: 'TunnelGroupBackendCreate',
  failover: 'FailoverBackendCreate',
  weighted: 'WeightedBackendCreate',
  http_response: 'HTTPResponseBackendCreate',
};
const BACKEND_KEYS: Record<BackendKind, string[]> = {
  tunnel_group: ['description', 'metadata', 'labels'],
  failover: ['description', 'metadata', 'backends'],
  weighted: ['description', 'metadata', 'backends'],
  http_response: ['description', 'metadata', 'body', 'headers', 'status_code'],
};
const BACKEND_DEFAULTS: Record<BackendKind, Body> = {
  tunnel_group: { labels: {} },
  failover: { backends: [] },
  weighted: { backends: {} },
  http_response: { body: '', headers: {}, status_code: 200 },
};
