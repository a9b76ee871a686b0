// The edge admin API: a faithful subset of ngrok API v2 on `burrow edge --admin-addr`.
//   Authorization: Bearer <api key>   (ERR_NGROK_200 missing, 201 unparsable, 203 wrong; constant time)
//   Ngrok-Version: 2                   (ERR_NGROK_218 missing, 217 other)
// Resources: /edges/https (+ /mutual_tls, /tls_termination), /edges/https/{id}/routes/{id}
// (+ every route module: backend, ip_restriction, circuit_breaker, compression, request_headers,
// response_headers, webhook_verification, oauth, saml, oidc, websocket_tcp_converter,
// user_agent_filter, traffic_policy), /backends/{tunnel_group|failover|weighted|http_response},
// /reserved_domains, /ip_policies, /ip_policy_rules, /credentials, and (account-api.ts)
// /tls_certificates, /reserved_addrs, /endpoint_configurations (+ modules), /tunnel_sessions. Create = POST (201), update =
// PATCH (200), module replace = PUT (200), delete = DELETE (204). Lists take `limit` (1..100) and
// `before_id`, newest first, and answer {<items>, uri, next_page_uri}. Bodies are JSON, checked
// against schemas/edge-api.schema.json; errors are {error_code, status_code, msg, details}.
// ngrok's generated clients work unchanged (decodeClientBody, clientQuery below).
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, readBody as readBounded } from '../../net/body';
import type { AccountService } from './account';
import { accountRoutes } from './account-api';
import { created, gone, need, ok, page, type Call, type Route } from './api-kit';
import { AdminApiError, badRequest } from './errors';
import { Renderer } from './render';
import type { HttpsEdgeRouter } from './router';
import type { EdgeService } from './operations';
import { EDGE_MODULES, ROUTE_MODULES, type BackendKind, type EdgeModuleKey, type RouteModuleKey } from './types';

const MAX_BODY = 1024 * 1024;
const BACKEND_KINDS = ['tunnel_group', 'failover', 'weighted', 'http_response'] as const;

type Json = Record<string, unknown>;
export interface AdminApiOptions {
  service: EdgeService;
  /** TLS certificates, reserved addresses, endpoint configurations, tunnel sessions. */
  account?: AccountService;
  router?: HttpsEdgeRouter;
  apiKey: string;
  host: string;
  port: number;
}

export class AdminApi {
  private readonly server: http.Server;
  private readonly keyDigest: Buffer;
  private readonly routes: Route[];
  port = 0;

  constructor(private readonly options: AdminApiOptions) {
    this.keyDigest = sha256(options.apiKey);
    this.routes = [...buildRoutes(options.service), ...(options.account ? accountRoutes(options.account) : [])];
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const operationId = `op_${randomUUID().replace(/-/g, '')}`;
    try {
      this.authenticate(req);
      const version = req.headers['ngrok-version'];
      if (version === undefined)
        throw badRequest(
          'ERR_NGROK_218',
          'Your request has not specified an API version. Include the version you wish to use in the Ngrok-Version header. Supported versions: 2.',
        );
      if (version !== '2')
        throw badRequest(
          'ERR_NGROK_217',
          `The provided API version ${String(version)} is invalid or unsupported. Supported versions: 2.`,
        );
      const url = new URL(req.url ?? '/', 'http://admin');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      let matched: { route: Route; params: string[] } | undefined;
      for (const route of this.routes) {
        const m = route.pattern.exec(path);
        if (m) {
          matched = { route, params: m.slice(1).map(decodeURIComponent) };
          break;
        }
      }
      if (!matched) throw new AdminApiError(404, 'ERR_BURROW_NOT_FOUND', `No API resource at ${path}.`);
      const method = req.method ?? 'GET';
      const handler = matched.route.methods[method];
      if (!handler)
        throw new AdminApiError(
          405,
          'ERR_BURROW_METHOD_NOT_ALLOWED',
          `${method} is not allowed on ${path}; allowed: ${Object.keys(matched.route.methods).join(', ')}.`,
        );
      const body = decodeClientBody(await readBody(req, method), matched.params, method);
      const render = new Renderer(
        `http://${req.headers.host ?? `${this.options.host}:${this.port}`}`,
        this.options.router,
      );
      const result = await handler({
        method,
        params: matched.params,
        body,
        query: clientQuery(url.searchParams),
        render,
        path,
      });
      if (result.body === undefined) {
        res.writeHead(result.status).end();
        return;
      }
      const text = JSON.stringify(result.body);
      res
        .writeHead(result.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        .end(text);
    } catch (err) {
      const e =
        err instanceof AdminApiError
          ? err
          : new AdminApiError(500, 'ERR_NGROK_722', `internal server error: ${(err as Error)?.message ?? String(err)}`);
      const text = JSON.stringify(e.body(operationId));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res
        .writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        .end(text);
    }
  }

  private authenticate(req: http.IncomingMessage): void {
    const header = req.headers.authorization;
    const unauthorized = (code: string, msg: string) => new AdminApiError(401, code, msg);
    if (!header)
      throw unauthorized(
        'ERR_NGROK_200',
        'The API requires that you set the Authorization header for authentication (Authorization: Bearer <api key>).',
      );
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m)
      throw unauthorized(
        'ERR_NGROK_201',
        'The API requires Bearer authentication via the Authorization header. It could not parse the header in this request.',
      );
    if (!timingSafeEqual(sha256(m[1]), this.keyDigest))
      throw unauthorized(
        'ERR_NGROK_203',
        'The API authentication you specified is properly formed, but it is invalid.',
      );
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

async function readBody(req: http.IncomingMessage, method: string): Promise<Json | undefined> {
  const text = (
    await readBounded(req, MAX_BODY).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError)
        throw new AdminApiError(413, 'ERR_NGROK_212', `The request body is larger than ${MAX_BODY} bytes.`);
      throw err;
    })
  ).toString('utf8');
  const wantsBody = method === 'POST' || method === 'PATCH' || method === 'PUT';
  if (!wantsBody) {
    if (text.trim())
      throw badRequest('ERR_NGROK_211', `The ${method} request you made does not expect a body, but you provided one.`);
    return undefined;
  }
  const type = req.headers['content-type'];
  if (!type)
    throw badRequest('ERR_NGROK_216', 'You did not provide a Content-Type with your request. Use application/json.');
  if (!/^application\/json\s*(;|$)/i.test(type))
    throw new AdminApiError(
      415,
      'ERR_NGROK_210',
      `The content type you specified ${type} is not supported by the API. Use application/json.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text || '{}');
  } catch (err) {
    throw badRequest(
      'ERR_NGROK_213',
      `The application/json request body could not be parsed: ${(err as Error).message}.`,
    );
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw badRequest('ERR_NGROK_213', 'The request body must be a JSON object.');
  return parsed as Json;
}

/**
 * What ngrok's generated API clients send, made into the documented request (one place, so every
 * resource gets it): they repeat the path's ids in the body (`id`, and `edge_id` under an edge),
 * dropped here when they equal a path parameter (a different value stays, and the schema refuses
 * it as unknown); module PUTs arrive wrapped as `{edge_id, id, module: {…}}`.
 */
function decodeClientBody(body: Json | undefined, params: readonly string[], method: string): Json | undefined {
  if (!body) return body;
  let out = body;
  for (const key of ['id', 'edge_id'])
    if (key in out && params.includes(out[key] as string)) {
      const { [key]: _dropped, ...rest } = out;
      out = rest;
    }
  const keys = Object.keys(out);
  if (method === 'PUT' && keys.length === 1 && keys[0] === 'module') {
    const inner = out.module;
    if (inner === null || (typeof inner === 'object' && !Array.isArray(inner))) return (inner ?? {}) as Json;
  }
  return out;
}

/** The JS client (0.11) pages with `beforeId` (its camelCase argument name, not converted to snake case). */
function clientQuery(query: URLSearchParams): URLSearchParams {
  if (!query.has('beforeId')) return query;
  const out = new URLSearchParams(query);
  if (!out.has('before_id')) out.set('before_id', out.get('beforeId')!);
  out.delete('beforeId');
  return out;
}

function buildRoutes(svc: EdgeService): Route[] {
  const ID = '([A-Za-z0-9_]+)';
  const routes: Route[] = [
    {
      pattern: /^\/edges\/https$/,
      methods: {
        GET: (c) => page(c, 'https_edges', svc.listEdges(), (e) => c.render.edge(e)),
        POST: async (c) => {
          await svc.checkHostportsFree(need(c.body));
          return created(c.render.edge(svc.createEdge(need(c.body))));
        },
      },
    },
    {
      pattern: new RegExp(`^/edges/https/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.edge(svc.getEdge(c.params[0]))),
        PATCH: async (c) => {
          await svc.checkHostportsFree(need(c.body));
          return ok(c.render.edge(svc.updateEdge(c.params[0], need(c.body))));
        },
        DELETE: (c) => (svc.deleteEdge(c.params[0]), gone()),
      },
    },
    ...(Object.keys(EDGE_MODULES) as EdgeModuleKey[]).map((key) => ({
      pattern: new RegExp(`^/edges/https/${ID}/${key}$`),
      methods: {
        GET: (c: Call) => ok(svc.getEdgeModule(c.params[0], key)),
        PUT: (c: Call) => ok(svc.putEdgeModule(c.params[0], key, need(c.body))),
        DELETE: (c: Call) => (svc.putEdgeModule(c.params[0], key, null), gone()),
      },
    })),
    {
      pattern: new RegExp(`^/edges/https/${ID}/routes$`),
      methods: { POST: (c) => created(c.render.route(svc.createRoute(c.params[0], need(c.body)))) },
    },
    {
      pattern: new RegExp(`^/edges/https/${ID}/routes/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.route(svc.getRoute(c.params[0], c.params[1]))),
        PATCH: (c) => ok(c.render.route(svc.updateRoute(c.params[0], c.params[1], need(c.body)))),
        DELETE: (c) => (svc.deleteRoute(c.params[0], c.params[1]), gone()),
      },
    },
    ...(Object.keys(ROUTE_MODULES) as RouteModuleKey[]).map((key) => ({
      pattern: new RegExp(`^/edges/https/${ID}/routes/${ID}/${key}$`),
      methods: {
        GET: (c: Call) => ok(c.render.module(key, svc.getRouteModule(c.params[0], c.params[1], key) as Json | null)),
        PUT: (c: Call) =>
          ok(c.render.module(key, svc.putRouteModule(c.params[0], c.params[1], key, need(c.body)) as Json | null)),
        DELETE: (c: Call) => (svc.putRouteModule(c.params[0], c.params[1], key, null), gone()),
      },
    })),
    ...BACKEND_KINDS.flatMap((kind: BackendKind) => [
      {
        pattern: new RegExp(`^/backends/${kind}$`),
        methods: {
          GET: (c: Call) => page(c, 'backends', svc.listBackends(kind), (b) => c.render.backend(kind, b)),
          POST: (c: Call) => created(c.render.backend(kind, svc.createBackend(kind, need(c.body)))),
        },
      },
      {
        pattern: new RegExp(`^/backends/${kind}/${ID}$`),
        methods: {
          GET: (c: Call) => ok(c.render.backend(kind, svc.getBackend(kind, c.params[0]))),
          PATCH: (c: Call) => ok(c.render.backend(kind, svc.updateBackend(kind, c.params[0], need(c.body)))),
          DELETE: (c: Call) => (svc.deleteBackend(kind, c.params[0]), gone()),
        },
      },
    ]),
    {
      pattern: /^\/reserved_domains$/,
      methods: {
        GET: (c) => page(c, 'reserved_domains', svc.store.state.reserved_domains, (d) => c.render.reservedDomain(d)),
        POST: (c) => created(c.render.reservedDomain(svc.createReservedDomain(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/reserved_domains/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.reservedDomain(svc.getReservedDomain(c.params[0]))),
        PATCH: (c) => ok(c.render.reservedDomain(svc.updateReservedDomain(c.params[0], need(c.body)))),
        DELETE: (c) => (svc.deleteReservedDomain(c.params[0]), gone()),
      },
    },
    {
      pattern: /^\/ip_policies$/,
      methods: {
        GET: (c) => page(c, 'ip_policies', svc.store.state.ip_policies, (p) => c.render.ipPolicy(p)),
        POST: (c) => created(c.render.ipPolicy(svc.createIpPolicy(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/ip_policies/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.ipPolicy(svc.getIpPolicy(c.params[0]))),
        PATCH: (c) => ok(c.render.ipPolicy(svc.updateIpPolicy(c.params[0], need(c.body)))),
        DELETE: (c) => (svc.deleteIpPolicy(c.params[0]), gone()),
      },
    },
    {
      pattern: /^\/ip_policy_rules$/,
      methods: {
        GET: (c) => page(c, 'ip_policy_rules', svc.store.state.ip_policy_rules, (r) => c.render.ipPolicyRule(r)),
        POST: (c) => created(c.render.ipPolicyRule(svc.createIpPolicyRule(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/ip_policy_rules/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.ipPolicyRule(svc.getIpPolicyRule(c.params[0]))),
        PATCH: (c) => ok(c.render.ipPolicyRule(svc.updateIpPolicyRule(c.params[0], need(c.body)))),
        DELETE: (c) => (svc.deleteIpPolicyRule(c.params[0]), gone()),
      },
    },
    {
      pattern: /^\/credentials$/,
      methods: {
        GET: (c) => page(c, 'credentials', svc.store.state.credentials, (cr) => c.render.credential(cr)),
        POST: (c) => {
          const { credential, token } = svc.createCredential(need(c.body));
          return created(c.render.credential(credential, token));
        },
      },
    },
    {
      pattern: new RegExp(`^/credentials/${ID}$`),
      methods: {
        GET: (c) => ok(c.render.credential(svc.getCredential(c.params[0]))),
        PATCH: (c) => ok(c.render.credential(svc.updateCredential(c.params[0], need(c.body)))),
        DELETE: (c) => (svc.deleteCredential(c.params[0]), gone()),
      },
    },
  ];
  return routes;
}
