// Reads a standalone edge's HTTPS edges, their routes and backends from its admin API (the ngrok
// API v2 subset `burrow edge --admin-addr` serves), for the "Edge routes" part of the tree.
// Read only, and no `vscode` import: the tree model and the tests use it as is.

export interface RefJson {
  id: string;
  uri?: string;
}

/** A route as the admin API renders it: every module key present, null when unset. */
export interface RouteJson {
  id: string;
  edge_id: string;
  match_type: 'exact_path' | 'path_prefix';
  match: string;
  description?: string;
  backend?: { enabled?: boolean; backend?: RefJson | null } | null;
  [module: string]: unknown;
}

export interface HttpsEdgeJson {
  id: string;
  description?: string;
  hostports: string[];
  mutual_tls?: unknown;
  tls_termination?: unknown;
  routes: RouteJson[];
}

export interface BackendJson {
  id: string;
  kind: 'tunnel_group' | 'failover' | 'weighted' | 'http_response';
  description?: string;
  /** tunnel_group: the labels it selects, and the tunnels online that carry them. */
  labels?: Record<string, string>;
  tunnels?: RefJson[];
  /** failover (ids in order) and weighted (id → weight). */
  backends?: string[] | Record<string, number>;
  status_code?: number;
}

export interface EdgeRoutes {
  /** The admin API's address, for display. */
  api: string;
  edges: HttpsEdgeJson[];
  backends: Map<string, BackendJson>;
}

export class EdgeApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const BACKEND_KINDS = ['tunnel_group', 'failover', 'weighted', 'http_response'] as const;
const MAX_PAGES = 20;

export class EdgeAdminApi {
  readonly base: string;

  constructor(
    base: string,
    private readonly apiKey: string,
    private readonly timeoutMs = 5000,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  /** Every HTTPS edge with its routes, and every backend by id. */
  async routes(): Promise<EdgeRoutes> {
    const [edges, ...perKind] = await Promise.all([
      this.list<HttpsEdgeJson>('/edges/https', 'https_edges'),
      ...BACKEND_KINDS.map((kind) =>
        this.list<BackendJson>(`/backends/${kind}`, 'backends').then((list) => list.map((b) => ({ ...b, kind }))),
      ),
    ]);
    return { api: this.base, edges, backends: new Map(perKind.flat().map((b) => [b.id, b])) };
  }

  /** All pages of a list (ngrok's `next_page_uri`), bounded. */
  private async list<T>(path: string, key: string): Promise<T[]> {
    const out: T[] = [];
    let url: string | null = `${this.base}${path}`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const body: Record<string, unknown> = await this.get(url);
      out.push(...((body[key] as T[] | undefined) ?? []));
      url = typeof body.next_page_uri === 'string' ? body.next_page_uri : null;
    }
    return out;
  }

  private async get(url: string): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `Bearer ${this.apiKey}`, 'ngrok-version': '2', accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new EdgeApiError(
        'ERR_BURROW_EDGE_API_UNREACHABLE',
        `the edge admin API at ${this.base} did not answer: ${(err as Error).message}`,
      );
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new EdgeApiError(
        'ERR_BURROW_EDGE_API_RESPONSE',
        `${this.base} is not an edge admin API (HTTP ${res.status}, not JSON)`,
      );
    }
    if (!res.ok) {
      const code = typeof body.error_code === 'string' ? body.error_code : `HTTP ${res.status}`;
      throw new EdgeApiError(
        code,
        `edge admin API: ${typeof body.msg === 'string' ? body.msg : res.statusText} [${code}]`,
      );
    }
    return body;
  }
}
