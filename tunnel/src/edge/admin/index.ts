// HTTPS edges, their admin API and credentials, wired together for `burrow edge`:
//   EdgeStore (state file) → EdgeService (operations, checks) → HttpsEdgeRouter (request time)
//   credentials → the edge's TokenSet (agents authenticate with them; their ACLs apply at bind).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Edge } from '../edge';
import type { IpPolicyStore } from '../../modules/ip-restriction';
import type { PipelineEnv } from '../../modules/pipeline';
import type { GrantSource, TokenSet } from '../tokens';
import { AccountService } from './account';
import { EndpointConfigOverlay } from './endpoint-configs';
import { AdminApiError } from './errors';
import { HttpsEdgeRouter, type Binding } from './router';
import { EdgeService } from './operations';
import { EdgeStore } from './store';

export { AdminApi } from './admin-api';
export { EdgeService } from './operations';
export { EdgeStore, StateFileError } from './store';
export { HttpsEdgeRouter } from './router';
export { AccountService } from './account';
export { EndpointConfigOverlay } from './endpoint-configs';

export interface HttpsEdges {
  store: EdgeStore;
  service: EdgeService;
  router: HttpsEdgeRouter;
  /** TLS certificates, reserved addresses, endpoint configurations, tunnel sessions. */
  account: AccountService;
  /** What those do to live bindings (EdgeConfig.account). */
  overlay: EndpointConfigOverlay;
  /** Call once the Edge exists, so edges can refuse hostports agents bind directly (7132). */
  attach(edge: Edge): void;
}

export function createHttpsEdges(opts: {
  stateDir?: string;
  /** A store kept elsewhere (the cluster's Redis); wins over stateDir. */
  store?: EdgeStore;
  domain: string;
  ipPolicies: IpPolicyStore;
  tokens: TokenSet;
  /** Host reserved TCP addresses show (default: the domain) and the host TCP listeners bind. */
  tcpHost?: string;
  tcpBindHost?: string;
  /** ACME is on: new reserved domains get a certificate management policy by default. */
  acme?: boolean;
  /** Cluster: route rate limits count across nodes. */
  rateLimiter?: PipelineEnv['rateLimiter'];
  /** Cluster: an agent on any node binds this host directly (ERR_NGROK_7132). */
  boundInCluster?: (host: string) => Promise<boolean>;
  /** Cluster: labeled tunnels on other nodes, for tunnel-group backends. */
  remoteLabeled?: () => Iterable<Binding>;
}): HttpsEdges {
  const store = opts.store ?? (opts.stateDir ? EdgeStore.open(opts.stateDir) : EdgeStore.memory());
  let edge: Edge | undefined;
  const account = new AccountService(store, {
    ipPolicies: opts.ipPolicies,
    tcpHost: opts.tcpHost ?? opts.domain,
    tcpBindHost: opts.tcpBindHost ?? '127.0.0.1',
    acme: opts.acme,
  });
  const service = new EdgeService(store, {
    domain: opts.domain,
    ipPolicies: opts.ipPolicies,
    boundDirectly: (host) => !!edge?.isHostBound(host),
    boundInCluster: opts.boundInCluster,
    account,
    managedOAuth: () => edge?.managedOAuth,
  });
  const overlay = new EndpointConfigOverlay(store, opts.ipPolicies);
  const router = new HttpsEdgeRouter(
    store,
    opts.ipPolicies,
    () => edge?.managedOAuth,
    opts.rateLimiter,
    opts.remoteLabeled,
  );
  // Changes made on another cluster node reach the named IP policies endpoints use.
  store.on('change', () => service.syncIpPolicies());
  const credentials: GrantSource = {
    *grants() {
      for (const c of store.state.credentials)
        yield { sha256: Buffer.from(c.token_sha256, 'hex'), grant: { credentialId: c.id, acl: c.acl } };
    },
  };
  opts.tokens.addSource(credentials);
  return {
    store,
    service,
    router,
    account,
    overlay,
    attach: (e) => {
      edge = e;
      account.env.sessions = e.sessions;
    },
  };
}

export class EdgeFileError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Loads `burrow edge --edges FILE` documents; errors name the file and ngrok's code. On a cluster
 * node a hostport an agent binds directly on any node is refused (ERR_NGROK_7132), as through the
 * admin API.
 */
export async function loadEdgeFiles(
  service: EdgeService,
  files: readonly string[],
): Promise<{ edges: number; backends: number }> {
  const total = { edges: 0, backends: 0 };
  for (const file of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new EdgeFileError(
        'ERR_BURROW_EDGE_FILE',
        `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
    try {
      await service.checkHostportsFree({ hostports: hostportsOf(doc) });
      const n = service.importDocument(doc, path.resolve(file));
      total.edges += n.edges;
      total.backends += n.backends;
    } catch (err) {
      if (err instanceof AdminApiError) {
        const field = typeof err.details.field === 'string' ? ` (at ${err.details.field})` : '';
        throw new EdgeFileError(err.code, `${file}${field}: ${err.message}`);
      }
      throw err;
    }
  }
  return total;
}

/** The hostports of the HTTPS edges in an edge file (one edge, or a bundle's https_edges). */
function hostportsOf(doc: unknown): unknown[] {
  if (!doc || typeof doc !== 'object') return [];
  const d = doc as { https_edges?: unknown; hostports?: unknown };
  const edges = Array.isArray(d.https_edges) ? d.https_edges : [d];
  return edges.flatMap((e) =>
    Array.isArray((e as { hostports?: unknown })?.hostports) ? (e as { hostports: unknown[] }).hostports : [],
  );
}
