// The agent's local API and inspector UI, compatible with ngrok's (docs `agent/api.mdx`), on
// `web_addr` (default 127.0.0.1:4040; the next free port when taken; `false` turns it off).
//
//   GET    /api/tunnels                     {tunnels:[…], uri}
//   POST   /api/tunnels                     start: ngrok v2 tunnel JSON incl. `name` → 201 tunnel
//   GET    /api/tunnels/:name               tunnel
//   DELETE /api/tunnels/:name               stop → 204
//   GET    /api/endpoints                   {endpoints:[…], uri}: ngrok's v3 view of the same tunnels
//   POST   /api/endpoints                   start: ngrok.yml v3 endpoint JSON → 201 endpoint
//   GET|DELETE /api/endpoints/:name          endpoint; stop → 204
//   GET    /api/requests/http               ?limit= (default 50) &tunnel_name= → {requests:[…], uri}
//   POST   /api/requests/http               replay {id, tunnel_name?, modifications?} → 204
//                                           (header Burrow-Replay-Id: the new capture's id)
//   DELETE /api/requests/http               clear → 204
//   GET    /api/requests/http/:id           one capture;  DELETE → 204
//   GET    /api/requests/http/:id/har       HAR 1.2 of one capture (Burrow)
//   GET    /api/requests/http/:id/curl      copy as curl, text/plain (Burrow)
//   GET    /api/requests/http.har           HAR 1.2 of the whole store (Burrow)
//   GET    /api/status                      {status, agent_version, session:{legs}, uri}
//   GET    /api/events                      WebSocket event stream (Burrow, see EventStream)
//   GET    /                                the inspector UI (dist/inspector); /inspect/http redirects here
//
// Edit-then-replay: `POST /api/requests/http` with
//   {"id": "…", "modifications": {"method": "PUT", "uri": "/path?q", "headers": [["Name","v"],…],
//    "body": "…", "body_encoding": "utf8" | "base64"}}
// sends the changed request through the agent to the tunnel's upstream; every field is optional.
//
// Errors use ngrok's body: {"error_code":102,"status_code":400,"msg":"…","details":{"err":"…"}}.
// Every request must carry an allowed Host (web_allow_hosts, DNS-rebinding defence); state-changing
// requests and the event stream must not come from another origin.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { exchangesToHar, exchangeToHarEntry } from '../../capture/har';
import { exchangeToCurl } from '../../capture/curl';
import { exchangeToNgrokJson, requestListToNgrokJson } from '../../capture/ngrok-json';
import type { CapturedExchange } from '../../capture/store';
import { BodyTooLargeError, readBody } from '../../net/body';
import { VERSION } from '../../version';
import {
  API_ERRORS,
  LocalApiError,
  type AgentBackend,
  type ReplayRequest,
  type TunnelEvent,
  type TunnelInfo,
} from './backend';
import type {
  AgentEventJson,
  ApiIndexJson,
  EndpointJson,
  EndpointListJson,
  StatusJson,
  TunnelJson,
  TunnelListJson,
} from './contract';
import { HostAllowList, isCrossOrigin } from './hosts';
import { redactSecrets } from './redact';

export interface ApiServerOptions {
  backend: AgentBackend;
  /** `host:port`, or false to disable. Default 127.0.0.1:4040. Port 0 picks any free port. */
  webAddr?: string | false;
  /** ngrok's web_allow_hosts (added to the localhost defaults). */
  allowHosts?: readonly string[];
  /** Where the built inspector lives (index.html, inspector.js). Default: dist/inspector. */
  inspectorDir?: string;
  /** How many following ports to try when the configured one is taken (default 10). */
  portAttempts?: number;
  /** Event stream: request events are coalesced over this many ms (default 50). */
  eventFlushMs?: number;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const WS_MAX_BUFFERED = 8 * 1024 * 1024;
const SNAPSHOT_LIMIT = 1000;

export function parseWebAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim()) ?? /^()()(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new LocalApiError(400, API_ERRORS.BAD_REQUEST, `web_addr "${addr}" is not host:port`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly hosts: HostAllowList;
  private readonly inspectorDir: string | undefined;
  private readonly events: EventStream;
  private address: AddressInfo | undefined;

  constructor(private readonly opts: ApiServerOptions) {
    this.hosts = new HostAllowList(opts.allowHosts ?? []);
    this.inspectorDir = opts.inspectorDir ?? findInspectorDir();
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.sendError(res, toApiError(err)));
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    this.events = new EventStream(opts.backend, opts.eventFlushMs ?? 50);
    this.server.on('upgrade', (req, socket, head) => {
      const refuse = (status: number, msg: string): void => {
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${msg}\n`,
        );
      };
      if (!this.hosts.allows(req.headers.host)) return refuse(403, 'host not allowed');
      if (isCrossOrigin(req.headers as Record<string, string>)) return refuse(403, 'cross-origin event stream refused');
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/api/events') return refuse(404, 'not found');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.events.add(ws, req));
    });
  }

  /** Listens on web_addr (or the next free port); resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const webAddr = this.opts.webAddr ?? '127.0.0.1:4040';
    if (webAddr === false) throw new Error('the local API is disabled (web_addr: false)');
    const { host, port } = parseWebAddr(webAddr);
    const attempts = port === 0 ? 1 : Math.max(1, this.opts.portAttempts ?? 10);
    let lastError: Error | undefined;
    for (let i = 0; i < attempts && port + i <= 65535; i++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => reject(err);
          this.server.once('error', onError);
          this.server.listen(port === 0 ? 0 : port + i, host, () => {
            this.server.off('error', onError);
            resolve();
          });
        });
        this.address = this.server.address() as AddressInfo;
        return this.address;
      } catch (err) {
        lastError = err as Error;
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    throw new Error(`could not listen on ${webAddr}: ${lastError?.message}`);
  }

  /** `http://host:port` of the running server. */
  get url(): string {
    if (!this.address) throw new Error('API server is not listening');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  async close(): Promise<void> {
    this.events.close();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.hosts.allows(req.headers.host)) {
      throw new LocalApiError(403, API_ERRORS.HOST_FORBIDDEN, 'host not allowed', {
        err: `the Host header "${req.headers.host ?? ''}" is not localhost and not in web_allow_hosts`,
      });
    }
    const method = req.method ?? 'GET';
    const safe = method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
    if (!safe && isCrossOrigin(req.headers as Record<string, string>)) {
      throw new LocalApiError(403, API_ERRORS.ORIGIN_FORBIDDEN, 'cross-origin request refused', {
        err: `Origin "${req.headers.origin ?? ''}" does not match Host "${req.headers.host ?? ''}"`,
      });
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map(safeDecode);
    if (parts[0] !== 'api') return this.serveStatic(url.pathname, method, res);
    const route = parts.slice(1);
    const backend = this.opts.backend;

    // /api
    if (route.length === 0) {
      allow(method, ['GET']);
      return sendJson<ApiIndexJson>(res, 200, {
        uri: '/api',
        tunnels: '/api/tunnels',
        endpoints: '/api/endpoints',
        requests: '/api/requests/http',
        status: '/api/status',
        events: '/api/events',
      });
    }
    // /api/tunnels[/:name]
    if (route[0] === 'tunnels') {
      if (route.length === 1) {
        allow(method, ['GET', 'POST']);
        if (method === 'GET')
          return sendJson<TunnelListJson>(res, 200, {
            tunnels: bound(backend.tunnels()).map(tunnelJson),
            uri: '/api/tunnels',
          });
        const body = await readJson(req);
        return sendJson(res, 201, tunnelJson(await backend.startTunnel(body)));
      }
      if (route.length === 2) {
        allow(method, ['GET', 'DELETE']);
        const name = route[1];
        if (method === 'DELETE') {
          if (!(await backend.stopTunnel(name))) throw notFound(`tunnel "${name}" not found`);
          return sendEmpty(res, 204);
        }
        const t = bound(backend.tunnels()).find((x) => x.name === name);
        if (!t) throw notFound(`tunnel "${name}" not found`);
        return sendJson(res, 200, tunnelJson(t));
      }
    }
    // /api/endpoints[/:name]: the v3 view (ngrok agent ≥ 3.16; pyngrok with config_version 3)
    if (route[0] === 'endpoints') {
      if (route.length === 1) {
        allow(method, ['GET', 'POST']);
        if (method === 'GET')
          return sendJson<EndpointListJson>(res, 200, {
            endpoints: bound(backend.tunnels()).map(endpointJson),
            uri: '/api/endpoints',
          });
        return sendJson(res, 201, endpointJson(await backend.startEndpoint(await readJson(req))));
      }
      if (route.length === 2) {
        allow(method, ['GET', 'DELETE']);
        const name = route[1];
        if (method === 'DELETE') {
          if (!(await backend.stopTunnel(name))) throw notFound(`endpoint "${name}" not found`);
          return sendEmpty(res, 204);
        }
        const t = bound(backend.tunnels()).find((x) => x.name === name);
        if (!t) throw notFound(`endpoint "${name}" not found`);
        return sendJson(res, 200, endpointJson(t));
      }
    }
    // /api/status
    if (route[0] === 'status' && route.length === 1) {
      allow(method, ['GET']);
      return sendJson<StatusJson>(res, 200, redactSecrets({ ...backend.status(), uri: '/api/status' }));
    }
    // /api/requests/http…
    if (route[0] === 'requests') {
      const store = backend.capture;
      if (route[1] === 'http.har' && route.length === 2) {
        allow(method, ['GET']);
        const har = exchangesToHar(
          store.list({ limit: Number.MAX_SAFE_INTEGER, tunnelName: url.searchParams.get('tunnel_name') ?? undefined }),
          this.harOptions(),
        );
        return sendJson(res, 200, har, { 'Content-Disposition': 'attachment; filename="burrow-requests.har"' });
      }
      if (route[1] === 'http' && route.length === 2) {
        allow(method, ['GET', 'POST', 'DELETE']);
        if (method === 'GET') {
          const limit = parseLimit(url.searchParams.get('limit'));
          const tunnelName = url.searchParams.get('tunnel_name') ?? undefined;
          return sendJson(res, 200, requestListToNgrokJson(store.list({ limit, tunnelName })));
        }
        if (method === 'DELETE') {
          store.clear();
          return sendEmpty(res, 204);
        }
        const replay = parseReplay(await readJson(req));
        if (!store.get(replay.id)) throw notFound(`captured request "${replay.id}" not found`);
        const newId = await backend.replay(replay);
        return sendEmpty(res, 204, { 'Burrow-Replay-Id': newId });
      }
      if (route[1] === 'http' && (route.length === 3 || route.length === 4)) {
        const ex = store.get(route[2]);
        if (route.length === 3) {
          allow(method, ['GET', 'DELETE']);
          if (!ex) throw notFound(`captured request "${route[2]}" not found`);
          if (method === 'DELETE') {
            store.delete(ex.id);
            return sendEmpty(res, 204);
          }
          return sendJson(res, 200, exchangeToNgrokJson(ex));
        }
        if (route[3] === 'har') {
          allow(method, ['GET']);
          if (!ex) throw notFound(`captured request "${route[2]}" not found`);
          const har = exchangesToHar([ex], this.harOptions());
          return sendJson(res, 200, har, { 'Content-Disposition': `attachment; filename="request-${ex.id}.har"` });
        }
        if (route[3] === 'curl') {
          allow(method, ['GET']);
          if (!ex) throw notFound(`captured request "${route[2]}" not found`);
          return sendText(res, 200, exchangeToCurl(ex, { baseUrl: backend.publicUrl(ex.tunnelName) }));
        }
      }
    }
    throw notFound(`no such API resource: ${url.pathname}`);
  }

  private harOptions(): Parameters<typeof exchangeToHarEntry>[1] {
    return { baseUrlFor: (name) => this.opts.backend.publicUrl(name), creatorVersion: VERSION };
  }

  private serveStatic(pathname: string, method: string, res: http.ServerResponse): void {
    allow(method, ['GET', 'HEAD']);
    const dir = this.inspectorDir;
    if (!dir) throw notFound('the inspector UI is not built (run the build)');
    // ngrok's inspector lives at /inspect/http; ours at / (relative asset URLs need the root).
    if (pathname === '/inspect/http' || pathname === '/inspect') {
      res.writeHead(302, { Location: '/' });
      return void res.end();
    }
    const rel = pathname === '/' ? 'index.html' : pathname.replace(/^\/+/, '');
    const file = path.resolve(dir, rel);
    if (!file.startsWith(path.resolve(dir) + path.sep)) throw notFound('not found');
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw notFound(`not found: ${pathname}`);
    }
    if (!stat.isFile()) throw notFound(`not found: ${pathname}`);
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': stat.size,
      'Cache-Control': 'no-cache',
      ...SECURITY_HEADERS,
    });
    if (method === 'HEAD') return void res.end();
    fs.createReadStream(file).pipe(res);
  }

  private sendError(res: http.ServerResponse, err: LocalApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(
      res,
      err.statusCode,
      err.toJSON(),
      err.statusCode === 405 && err.details.allow ? { Allow: err.details.allow } : {},
    );
  }
}

/** Starts the API server; resolves once it listens. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const server = new ApiServer(opts);
  await server.listen();
  return server;
}

// ---- event stream ----

/**
 * `GET /api/events` (WebSocket). Text messages, JSON:
 *   {type:"snapshot", status, tunnels:[tunnel…], requests:[capture…]}   first, once
 *   {type:"tunnel_started"|"tunnel_updated", tunnel}   {type:"tunnel_stopped", name}
 *   {type:"tunnel_metrics", name, metrics}             a tunnel's counters (the tunnel object's `metrics`)
 *   {type:"request_started"|"request_updated", request}                 ngrok capture shape without `raw`
 *   {type:"request_deleted", id, reason:"deleted"|"evicted"}   {type:"requests_cleared"}
 * Request and metrics events are coalesced per flush interval (the latest state wins). A client that cannot
 * keep up (8 MiB unsent) is closed with 1013 and should reconnect for a fresh snapshot.
 */
class EventStream {
  private readonly clients = new Set<WebSocket>();
  private readonly pending = new Map<string, 'request_started' | 'request_updated'>();
  /** Latest counters per tunnel name since the last flush. */
  private readonly pendingMetrics = new Map<string, TunnelEvent & { type: 'tunnel_metrics' }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly ping: NodeJS.Timeout;
  private readonly onStart = (ex: CapturedExchange): void => this.queue(ex.id, 'request_started');
  private readonly onUpdate = (ex: CapturedExchange): void =>
    this.queue(ex.id, this.pending.get(ex.id) ?? 'request_updated');
  private readonly onDeleted = (id: string): void => this.dropped(id, 'deleted');
  private readonly onEvicted = (id: string): void => this.dropped(id, 'evicted');
  private readonly onCleared = (): void => {
    this.pending.clear();
    this.broadcast({ type: 'requests_cleared' });
  };
  private readonly onTunnel = (e: TunnelEvent): void => {
    if (e.type === 'tunnel_metrics') {
      this.pendingMetrics.set(e.name, e);
      this.timer ??= setTimeout(() => this.flush(), this.flushMs);
      return;
    }
    this.flush();
    this.broadcast(e.type === 'tunnel_stopped' ? e : { type: e.type, tunnel: tunnelJson(e.tunnel) });
  };

  constructor(
    private readonly backend: AgentBackend,
    private readonly flushMs: number,
  ) {
    this.ping = setInterval(() => {
      for (const ws of this.clients) ws.ping();
    }, 30_000);
    this.ping.unref();
  }

  add(ws: WebSocket, req: http.IncomingMessage): void {
    if (this.clients.size === 0) this.subscribe();
    this.clients.add(ws);
    ws.on('close', () => {
      this.clients.delete(ws);
      if (this.clients.size === 0) this.unsubscribe();
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', () => {
      /* the stream is one-way; input is ignored */
    });
    const limit = parseLimit(new URL(req.url ?? '/', 'http://x').searchParams.get('limit'), SNAPSHOT_LIMIT);
    const capture = this.backend.capture;
    this.send(ws, {
      type: 'snapshot',
      status: redactSecrets(this.backend.status()),
      tunnels: this.backend.tunnels().map(tunnelJson),
      requests: capture.list({ limit }).map((ex) => exchangeToNgrokJson(ex, { raw: false })),
    });
  }

  close(): void {
    clearInterval(this.ping);
    clearTimeout(this.timer);
    this.unsubscribe();
  }

  private subscribe(): void {
    const c = this.backend.capture;
    c.on('exchange', this.onStart);
    c.on('exchange-update', this.onUpdate);
    c.on('deleted', this.onDeleted);
    c.on('evicted', this.onEvicted);
    c.on('cleared', this.onCleared);
    this.backend.on('tunnel', this.onTunnel);
  }

  private unsubscribe(): void {
    const c = this.backend.capture;
    c.off('exchange', this.onStart);
    c.off('exchange-update', this.onUpdate);
    c.off('deleted', this.onDeleted);
    c.off('evicted', this.onEvicted);
    c.off('cleared', this.onCleared);
    this.backend.off('tunnel', this.onTunnel);
    this.pending.clear();
    this.pendingMetrics.clear();
  }

  private queue(id: string, type: 'request_started' | 'request_updated'): void {
    this.pending.set(id, type);
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  private dropped(id: string, reason: 'deleted' | 'evicted'): void {
    const wasPending = this.pending.get(id);
    this.pending.delete(id);
    // Clients never heard of it: nothing to retract.
    if (wasPending === 'request_started') return;
    this.flush();
    this.broadcast({ type: 'request_deleted', id, reason });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const store = this.backend.capture;
    for (const [id, type] of this.pending) {
      const ex = store.get(id);
      if (ex) this.broadcast({ type, request: exchangeToNgrokJson(ex, { raw: false }) });
    }
    this.pending.clear();
    for (const e of this.pendingMetrics.values()) this.broadcast(e);
    this.pendingMetrics.clear();
  }

  private broadcast(msg: AgentEventJson): void {
    const text = JSON.stringify(msg);
    for (const ws of this.clients) this.send(ws, text);
  }

  private send(ws: WebSocket, msg: AgentEventJson | string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > WS_MAX_BUFFERED) {
      ws.close(1013, 'event stream client too slow; reconnect for a fresh snapshot');
      return;
    }
    ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
}

// ---- helpers ----

/** ngrok's tunnel object (plus Burrow's additive fields), secrets redacted. */
export /**
 * Tunnels as ngrok's API lists them: once bound. One still binding (status "starting", no
 * public_url yet) is left out, so a script polling for `public_url` never reads an empty one; the
 * event stream does show it.
 */
function bound<T extends { status?: string }>(tunnels: T[]): T[] {
  return tunnels.filter((t) => t.status !== 'starting');
}

function tunnelJson(t: TunnelInfo): TunnelJson {
  return redactSecrets<TunnelJson>({
    name: t.name,
    uri: `/api/tunnels/${encodeURIComponent(t.name)}`,
    public_url: t.public_url,
    proto: t.proto,
    config: t.config,
    metrics: t.metrics,
    public_urls: t.public_urls,
    status: t.status,
    ...(t.error ? { error: t.error } : {}),
    ...(t.definition !== undefined ? { definition: t.definition } : {}),
  });
}

/** ngrok's v3 endpoint object (`url`, `upstream: {url, protocol}`), secrets redacted. */
function endpointJson(t: TunnelInfo): EndpointJson {
  const spec = t.definition;
  return redactSecrets<EndpointJson>({
    name: t.name,
    uri: `/api/endpoints/${encodeURIComponent(t.name)}`,
    url: t.public_url,
    proto: t.proto,
    upstream: {
      url: t.config.addr,
      ...(spec?.proto === 'http' ? { protocol: spec.upstreamProtocol ?? 'http1' } : {}),
    },
    ...(spec?.metadata !== undefined ? { metadata: spec.metadata } : {}),
    ...(spec?.description !== undefined ? { description: spec.description } : {}),
    ...(spec?.edge?.trafficPolicy ? { traffic_policy: spec.edge.trafficPolicy } : {}),
    metrics: t.metrics,
    status: t.status,
    ...(t.error ? { error: t.error } : {}),
  });
}

function parseLimit(value: string | null, fallback = 50): number {
  if (value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new LocalApiError(400, API_ERRORS.BAD_REQUEST, 'invalid limit', {
      err: `limit must be a non-negative integer, got "${value}"`,
    });
  return n;
}

function parseReplay(body: unknown): ReplayRequest {
  const bad = (err: string): LocalApiError =>
    new LocalApiError(400, API_ERRORS.BAD_REQUEST, 'invalid replay request', { err });
  if (!isRecord(body)) throw bad('the body must be a JSON object {"id": "…"}');
  if (typeof body.id !== 'string' || !body.id) throw bad('"id" (string) is required');
  if (body.tunnel_name !== undefined && typeof body.tunnel_name !== 'string')
    throw bad('"tunnel_name" must be a string');
  const out: ReplayRequest = { id: body.id, ...(body.tunnel_name ? { tunnelName: body.tunnel_name } : {}) };
  const m = body.modifications;
  if (m === undefined || m === null) return out;
  if (!isRecord(m)) throw bad('"modifications" must be an object');
  const known = new Set(['method', 'uri', 'headers', 'body', 'body_encoding']);
  for (const k of Object.keys(m))
    if (!known.has(k)) throw bad(`unknown modification "${k}" (allowed: ${[...known].join(', ')})`);
  if (m.method !== undefined && (typeof m.method !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(m.method)))
    throw bad('"method" must be an HTTP method token');
  if (m.uri !== undefined && (typeof m.uri !== 'string' || !m.uri.startsWith('/') || /[\s]/.test(m.uri)))
    throw bad('"uri" must be a path starting with "/" without spaces');
  if (m.headers !== undefined) {
    if (!Array.isArray(m.headers)) throw bad('"headers" must be a list of [name, value] pairs');
    for (const h of m.headers) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string')
        throw bad('each header must be a [name, value] pair of strings');
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h[0])) throw bad(`invalid header name "${h[0]}"`);
      if (/[\r\n\0]/.test(h[1])) throw bad(`header "${h[0]}" has a line break or NUL in its value`);
    }
  }
  if (m.body !== undefined && typeof m.body !== 'string') throw bad('"body" must be a string');
  if (m.body_encoding !== undefined && m.body_encoding !== 'utf8' && m.body_encoding !== 'base64')
    throw bad('"body_encoding" must be "utf8" or "base64"');
  out.modifications = {
    ...(m.method !== undefined ? { method: m.method as string } : {}),
    ...(m.uri !== undefined ? { uri: m.uri as string } : {}),
    ...(m.headers !== undefined ? { headers: m.headers as [string, string][] } : {}),
    ...(m.body !== undefined ? { body: m.body as string } : {}),
    ...(m.body_encoding !== undefined ? { body_encoding: m.body_encoding as 'utf8' | 'base64' } : {}),
  };
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    return Promise.reject(
      new LocalApiError(415, API_ERRORS.BAD_REQUEST, 'unsupported content type', {
        err: `send application/json, not ${type}`,
      }),
    );
  }
  return readBody(req, MAX_BODY_BYTES).then(
    (body) => {
      const text = body.toString('utf8');
      if (text.trim() === '') return {};
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new LocalApiError(400, API_ERRORS.BAD_REQUEST, 'invalid JSON body', { err: (err as Error).message });
      }
    },
    (err: unknown) => {
      if (!(err instanceof BodyTooLargeError)) throw err;
      throw new LocalApiError(413, API_ERRORS.BAD_REQUEST, 'request body too large', {
        err: `at most ${MAX_BODY_BYTES} bytes`,
      });
    },
  );
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method))
    throw new LocalApiError(405, API_ERRORS.METHOD_NOT_ALLOWED, `method ${method} not allowed`, {
      allow: methods.join(', '),
    });
}

function notFound(msg: string): LocalApiError {
  return new LocalApiError(404, API_ERRORS.NOT_FOUND, msg);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function toApiError(err: unknown): LocalApiError {
  if (err instanceof LocalApiError) return err;
  const e = err as { code?: string; message?: string };
  return new LocalApiError(500, API_ERRORS.INTERNAL, 'internal error', {
    err: `${e.code ? e.code + ': ' : ''}${e.message ?? String(err)}`,
  });
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** `T` names the contract type of the body where there is one (contract.ts). */
function sendJson<T>(res: http.ServerResponse, status: number, body: T, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
    ...headers,
  });
  res.end(text);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(text);
}

function sendEmpty(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Cache-Control': 'no-store', ...headers });
  res.end();
}

/** dist/inspector next to the bundle (dist/burrow.js), or the repo's dist when run from source. */
function findInspectorDir(): string | undefined {
  const candidates = [path.join(__dirname, 'inspector'), path.resolve(__dirname, '../../../../dist/inspector')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html')));
}
