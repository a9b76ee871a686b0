// The agent: owns tunnels, the session to the edge (or an embedded edge of its own), and the
// forwarders. Everything a UI shows comes from here, through the local API.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { CaptureStore } from '../capture/store';
import { Edge } from '../edge/edge';
import { TokenSet } from '../edge/tokens';
import { managedAppsFrom } from '../modules/oauth/managed';
import type { EndpointSpec } from '../model';
import { hasRawHeader } from '../net/raw-headers';
import type { RefusedNotice, StreamOpen, WireError } from '../protocol/messages';
import { toWireEdgeOptions } from '../wire-options';
import { MuxExchange, type MuxStream } from '../protocol/session';
import { codespacePortOf, codespaceUrl, detectCodespace, type Codespace } from './codespaces';
import { EdgeClient } from './edge-client';
import { startFileServer, type FileServer } from './file-server';
import { forwardHttp, requestUpstream, withHostHeader, type HttpOutcome, type HttpUpstream } from './http-forwarder';
import { forwardRaw } from './raw-forwarder';
import { parseUpstream, type Upstream } from './upstream';

export const EMBEDDED_PORT = 8480;

export interface AgentOptions {
  /** Edge to connect to (`wss://edge.example.com`, `ws://host:port`, or http(s):// equivalents). None = embedded edge. */
  edgeUrl?: string;
  authtoken?: string;
  /**
   * Where the embedded edge listens (default 127.0.0.1:8480, next free port if taken). In a
   * codespace (detected from the environment unless `codespace` says otherwise; null = never) each
   * HTTP tunnel gets a port of its own and that port's forwarded https URL.
   */
  embedded?: { host?: string; port?: number; domain?: string; codespace?: Codespace | null };
  /** Captured exchanges for the inspector; tunnels with `inspect: false` skip it. */
  capture?: CaptureStore;
  /** Upstream must answer with a response head within this time (default 5 min, like ngrok's idle timeout). */
  responseTimeoutMs?: number;
  /** Reconnect backoff bounds (tests shorten them). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How long a bind or unbind waits for the edge's answer (default 30 s; tests shorten it). */
  edgeRequestTimeoutMs?: number;
  /** Optional protocol features announced to the edge (default all; fewer: speak as an older agent). */
  wireFeatures?: readonly string[];
}

export type TunnelStatus = 'starting' | 'online' | 'reconnecting' | 'failed' | 'stopped';

export interface TunnelState {
  name: string;
  spec: EndpointSpec;
  status: TunnelStatus;
  /** Public URLs (http and/or https, tcp://, tls://). */
  urls: string[];
  /** Where requests go: the upstream URL as forwarded (file:// shows its root). */
  upstreamUrl: string;
  error?: WireError;
  /** Connections: total and currently open. */
  conns: { count: number; open: number };
}

export interface AgentEvents {
  tunnel: [tunnel: TunnelState];
  'tunnel-removed': [tunnel: TunnelState];
  online: [info: { reconnected: boolean }];
  offline: [error: WireError];
  fatal: [error: WireError];
  /** One finished connection/request, for metrics and logs (`http` for HTTP requests). */
  exchange: [info: ExchangeInfo];
}

export interface ExchangeInfo {
  tunnel: string;
  durationMs: number;
  remoteAddr: string;
  http?: { method: string; url: string; statusCode?: number; errorCode?: string; logs?: { metadata: unknown }[] };
  /** A TCP/TLS connection: its on_tcp_connect `log` entries, when there were any. */
  tcp?: { logs?: { metadata: unknown }[] };
}

interface Tunnel extends TunnelState {
  bindingId?: string;
  upstream: Upstream;
  fileServer?: FileServer;
  httpUpstream?: HttpUpstream;
}

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Agent extends EventEmitter<AgentEvents> {
  private readonly tunnelsByName = new Map<string, Tunnel>();
  private readonly tunnelsByBinding = new Map<string, Tunnel>();
  /** Bindings of a session we moved away from (handoff), still serving their last streams. */
  private readonly retiredBindings = new Set<string>();
  private client?: EdgeClient;
  private embeddedEdge?: Edge;
  /** URL of the edge in use (the embedded one's once started). */
  edgeUrl = '';

  constructor(private readonly options: AgentOptions = {}) {
    super();
  }

  get embedded(): Edge | undefined {
    return this.embeddedEdge;
  }

  get online(): boolean {
    return !!this.client?.online;
  }

  get latencyMs(): number | undefined {
    return this.client?.latencyMs;
  }

  /** Starts the embedded edge when no edge URL is set, then opens the session. */
  async start(): Promise<void> {
    let authtoken = this.options.authtoken;
    if (this.options.edgeUrl) {
      this.edgeUrl = toAgentUrl(this.options.edgeUrl);
    } else {
      authtoken = randomBytes(24).toString('base64url');
      this.embeddedEdge = await startEmbeddedEdge(this.options.embedded ?? {}, authtoken);
      this.edgeUrl = `ws://127.0.0.1:${this.embeddedEdge.httpPort}/_burrow/session`;
    }
    const embedded = this.embeddedEdge;
    const client = new EdgeClient({
      url: this.edgeUrl,
      authtoken,
      backoffMinMs: this.options.backoffMinMs,
      backoffMaxMs: this.options.backoffMaxMs,
      requestTimeoutMs: this.options.edgeRequestTimeoutMs,
      wireFeatures: this.options.wireFeatures,
      // The embedded edge is in this process: no loopback socket or WebSocket between the two.
      connectInProcess: embedded ? () => embedded.connectInProcess() : undefined,
    });
    this.client = client;
    client.on('stream', (stream, open) => this.onStream(stream, open));
    client.on('refused', (notice: RefusedNotice) => this.captureRefused(notice));
    client.on('online', ({ reconnected, handoff }) => {
      this.emit('online', { reconnected });
      if (handoff) {
        // Moving off a draining node: bind everything on the new session (the old bindings keep
        // serving their streams), then let the old session go.
        for (const t of this.tunnelsByName.values()) {
          if (t.bindingId) this.retiredBindings.add(t.bindingId);
          t.bindingId = undefined;
        }
        void this.rebindAll().then(() => client.retire());
      } else if (reconnected) void this.rebindAll();
    });
    client.on('retired', () => {
      for (const id of this.retiredBindings) this.tunnelsByBinding.delete(id);
      this.retiredBindings.clear();
    });
    client.on('offline', (error) => {
      for (const t of this.tunnelsByName.values()) {
        if (t.status === 'online') this.update(t, { status: 'reconnecting', error });
        if (t.bindingId) this.tunnelsByBinding.delete(t.bindingId);
        t.bindingId = undefined;
      }
      this.emit('offline', error);
    });
    client.on('fatal', (error) => {
      for (const t of this.tunnelsByName.values()) this.update(t, { status: 'failed', error });
      this.emit('fatal', error);
    });
    await client.start();
  }

  tunnels(): TunnelState[] {
    return [...this.tunnelsByName.values()].map(publicState);
  }

  tunnel(name: string): TunnelState | undefined {
    const t = this.tunnelsByName.get(name);
    return t && publicState(t);
  }

  /** Binds an endpoint; rejects with a coded AgentError (bad upstream, name taken, …). */
  async startTunnel(spec: EndpointSpec): Promise<TunnelState> {
    if (!this.client) throw new AgentError('ERR_BURROW_NOT_STARTED', 'agent not started');
    if (this.tunnelsByName.has(spec.name))
      throw new AgentError('ERR_BURROW_TUNNEL_EXISTS', `a tunnel named "${spec.name}" is already running`);
    let upstream: Upstream;
    try {
      upstream = parseUpstream(spec.upstream, spec.proto);
    } catch (err) {
      throw new AgentError('ERR_BURROW_UPSTREAM_ADDR', (err as Error).message);
    }
    const tunnel: Tunnel = {
      name: spec.name,
      spec,
      status: 'starting',
      urls: [],
      upstream,
      upstreamUrl: describeUpstream(upstream, spec),
      conns: { count: 0, open: 0 },
    };
    this.tunnelsByName.set(spec.name, tunnel);
    try {
      if (upstream.kind === 'file') {
        tunnel.fileServer = await startFileServer(upstream.root);
        const port = Number(new URL(tunnel.fileServer.url).port);
        tunnel.httpUpstream = this.httpUpstream(spec, {
          protocol: 'http:',
          host: '127.0.0.1',
          port,
          hostPort: `127.0.0.1:${port}`,
        });
      } else if (upstream.kind === 'http') {
        tunnel.httpUpstream = this.httpUpstream(spec, upstream);
      }
      await this.bind(tunnel);
    } catch (err) {
      this.tunnelsByName.delete(spec.name);
      await tunnel.fileServer?.close();
      const e = err as { code?: string; message: string };
      throw new AgentError(e.code ?? 'ERR_BURROW_INTERNAL', e.message);
    }
    return publicState(tunnel);
  }

  /**
   * Sends a request straight to a tunnel's upstream, as ngrok's replay does (edge modules are
   * skipped), and captures it as a new exchange marked `replayOf`. Returns the new capture id
   * ('' when the tunnel does not capture); the capture reports how it went.
   */
  replay(
    tunnelName: string,
    request: { method: string; uri: string; rawHeaders: string[]; body: Buffer },
    meta: { replayOf: string; remoteAddr: string },
  ): string {
    const tunnel = this.tunnelsByName.get(tunnelName);
    if (!tunnel) throw new AgentError('ERR_BURROW_TUNNEL_NOT_FOUND', `no tunnel named "${tunnelName}"`);
    const upstream = tunnel.httpUpstream;
    if (!upstream)
      throw new AgentError(
        'ERR_BURROW_REPLAY',
        `tunnel "${tunnelName}" is ${tunnel.spec.proto}: only http tunnels replay requests`,
      );
    let rawHeaders = withHostHeader(request.rawHeaders, upstream);
    // HTTP/1.1 needs a Host; Node adds none itself when headers are given as a raw list.
    if (!hasRawHeader(rawHeaders, 'host')) rawHeaders = ['Host', upstream.hostPort, ...rawHeaders];
    const recording =
      tunnel.spec.inspect && this.options.capture
        ? this.options.capture.begin(
            {
              tunnelName,
              remoteAddr: meta.remoteAddr,
              method: request.method,
              uri: request.uri,
              httpVersion: upstream.http2 ? '2.0' : '1.1',
              rawHeaders,
            },
            { replayOf: meta.replayOf },
          )
        : undefined;
    if (request.body.length) recording?.requestData(request.body);
    recording?.requestEnd();
    const { body } = requestUpstream(
      upstream,
      { method: request.method, url: request.uri, rawHeaders },
      {
        response(statusCode, statusMessage, httpVersion, raw, res) {
          recording?.response(statusCode, statusMessage ?? '', httpVersion, raw);
          res.on('data', (chunk: Buffer) => recording?.responseData(chunk));
          res.on('end', () => recording?.finish());
        },
        upgrade(_status, _message, _version, _raw, socket) {
          socket.destroy();
          recording?.finish({
            code: 'ERR_BURROW_REPLAY',
            message: 'the upstream switched protocols; upgrades cannot be replayed',
          });
        },
        error: (error) => recording?.finish(error),
      },
    );
    body.end(request.body);
    return recording?.id ?? '';
  }

  /** The edge answered a request itself (401, OAuth redirect, denial): captured, marked with the module. */
  private captureRefused(r: RefusedNotice): void {
    const tunnel = this.tunnelsByBinding.get(r.binding);
    if (!tunnel?.spec.inspect || !this.options.capture) return;
    this.options.capture.recordAnswered(
      {
        tunnelName: tunnel.name,
        remoteAddr: r.remoteAddr,
        method: r.method,
        uri: r.url,
        httpVersion: r.httpVersion,
        rawHeaders: r.rawHeaders,
      },
      r,
    );
  }

  async stopTunnel(name: string): Promise<boolean> {
    const tunnel = this.tunnelsByName.get(name);
    if (!tunnel) return false;
    this.tunnelsByName.delete(name);
    if (tunnel.bindingId) {
      this.tunnelsByBinding.delete(tunnel.bindingId);
      await this.client?.unbind(tunnel.bindingId).catch(() => undefined);
    }
    await tunnel.fileServer?.close();
    tunnel.status = 'stopped';
    this.emit('tunnel-removed', publicState(tunnel));
    return true;
  }

  async close(): Promise<void> {
    // Closing the session unbinds everything at the edge, so no unbind round trips: an edge that
    // stopped answering cannot hold up the shutdown.
    this.client?.close();
    for (const name of [...this.tunnelsByName.keys()]) await this.stopTunnel(name);
    await this.embeddedEdge?.close();
  }

  private httpUpstream(
    spec: EndpointSpec,
    u: { protocol: 'http:' | 'https:'; host: string; port: number; hostPort: string },
  ): HttpUpstream {
    return {
      ...u,
      http2: spec.upstreamProtocol === 'http2',
      hostHeader: spec.hostHeader,
      responseTimeoutMs: this.options.responseTimeoutMs ?? 5 * 60_000,
    };
  }

  private async bind(tunnel: Tunnel): Promise<void> {
    const { spec } = tunnel;
    const binding = await this.client!.bind({
      name: spec.name,
      proto: spec.proto,
      domain: spec.domain,
      subdomain: spec.subdomain,
      remoteAddr: spec.remoteAddr,
      schemes: spec.schemes,
      edge: spec.edge && toWireEdgeOptions(spec.edge),
      labels: spec.labels,
      ...(spec.pooling ? { pooling: true } : {}),
      ...(spec.internal ? { internal: true } : {}),
      previousUrls: tunnel.urls.length ? tunnel.urls : undefined,
    });
    tunnel.bindingId = binding.id;
    tunnel.urls = binding.urls;
    this.tunnelsByBinding.set(binding.id, tunnel);
    this.update(tunnel, { status: 'online', error: undefined });
  }

  /** After a reconnect, ask for the same names back so URLs survive an edge restart. */
  private async rebindAll(): Promise<void> {
    for (const tunnel of this.tunnelsByName.values()) {
      if (tunnel.bindingId) continue;
      // TCP endpoints ask for their old port back.
      if (tunnel.spec.proto === 'tcp' && !tunnel.spec.remoteAddr && tunnel.urls[0]) {
        tunnel.spec = { ...tunnel.spec, remoteAddr: new URL(tunnel.urls[0]).port };
      }
      try {
        await this.bind(tunnel);
      } catch (err) {
        const e = err as { code?: string; message: string };
        this.update(tunnel, { status: 'failed', error: { code: e.code ?? 'ERR_BURROW_INTERNAL', message: e.message } });
      }
    }
  }

  private update(tunnel: Tunnel, patch: Partial<Pick<TunnelState, 'status' | 'error'>>): void {
    Object.assign(tunnel, patch);
    if (this.tunnelsByName.get(tunnel.name) === tunnel) this.emit('tunnel', publicState(tunnel));
  }

  /** A stream from the edge: an HTTP exchange (a light MuxExchange) or a TCP/TLS connection (MuxStream). */
  private onStream(stream: MuxStream | MuxExchange, open: StreamOpen, retried = false): void {
    const tunnel = this.tunnelsByBinding.get(open.binding);
    if (!tunnel) {
      // A request can arrive in the same message as its bind-result, before bind() has recorded
      // the new binding id (promise continuations run after the frames are dispatched): look again.
      if (!retried) return void setImmediate(() => this.onStream(stream, open, true));
      stream.reset({ code: 'ERR_NGROK_3200', message: 'the agent no longer serves this endpoint' });
      return;
    }
    const started = performance.now();
    tunnel.conns.count++;
    tunnel.conns.open++;
    let outcome: HttpOutcome | undefined;
    const closed = () => {
      tunnel.conns.open--;
      const http = open.kind === 'http' ? { method: open.method, url: open.url, ...outcome } : undefined;
      this.emit('exchange', {
        tunnel: tunnel.name,
        durationMs: performance.now() - started,
        remoteAddr: open.remoteAddr,
        http,
        ...(open.kind !== 'http' ? { tcp: { logs: open.logs } } : {}),
      });
    };
    if (open.kind === 'http' && stream instanceof MuxExchange) {
      if (!tunnel.httpUpstream) {
        stream.reset({ code: 'ERR_BURROW_PROTOCOL', message: 'http stream for a non-http tunnel' });
        closed();
        return;
      }
      const recording =
        tunnel.spec.inspect && this.options.capture
          ? this.options.capture.begin({
              tunnelName: tunnel.name,
              remoteAddr: open.remoteAddr,
              method: open.method,
              uri: open.url,
              httpVersion: open.httpVersion,
              rawHeaders: open.rawHeaders,
            })
          : undefined;
      outcome = forwardHttp(stream, open, tunnel.httpUpstream, recording, closed);
      return;
    }
    if (stream instanceof MuxExchange) {
      stream.reset({ code: 'ERR_BURROW_PROTOCOL', message: `${open.kind} stream taken as an HTTP exchange` });
      closed();
      return;
    }
    stream.once('close', closed);
    stream.on('error', () => {
      /* reported by the forwarder's own listeners */
    });
    if (open.kind === 'http') {
      stream.reset({ code: 'ERR_BURROW_PROTOCOL', message: 'http stream not taken as an exchange' });
    } else if (tunnel.upstream.kind === 'tcp') {
      forwardRaw(stream, tunnel.upstream.host, tunnel.upstream.port);
    } else {
      stream.reset({ code: 'ERR_BURROW_PROTOCOL', message: `${open.kind} stream for an http tunnel` });
    }
  }
}

function publicState(t: Tunnel): TunnelState {
  return {
    name: t.name,
    spec: t.spec,
    status: t.status,
    urls: [...t.urls],
    upstreamUrl: t.upstreamUrl,
    error: t.error,
    conns: { ...t.conns },
  };
}

function describeUpstream(u: Upstream, spec: EndpointSpec): string {
  if (u.kind === 'file') return `file://${u.root}`;
  if (u.kind === 'tcp') return `tcp://${u.hostPort}`;
  return `${spec.upstreamProtocol === 'http2' && u.protocol === 'http:' ? 'h2c:' : u.protocol}//${u.hostPort}`;
}

/** Accepts ws(s):// or http(s):// edge URLs; the agent endpoint lives at AGENT_PATH. */
export function toAgentUrl(edgeUrl: string): string {
  const url = new URL(/^[a-z]+:\/\//i.test(edgeUrl) ? edgeUrl : `ws://${edgeUrl}`);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new AgentError('ERR_BURROW_EDGE_URL', `"${edgeUrl}" is not an edge URL: use wss://host or ws://host:port`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/_burrow/session';
  return url.toString();
}

/** The zero-set-up edge: loopback only, names under *.localhost, a token only this process knows. */
async function startEmbeddedEdge(opts: NonNullable<AgentOptions['embedded']>, authtoken: string): Promise<Edge> {
  const first = opts.port ?? EMBEDDED_PORT;
  const host = opts.host ?? '127.0.0.1';
  const cs = opts.codespace === undefined ? detectCodespace() : (opts.codespace ?? undefined);
  const portPerEndpoint = cs && {
    publicUrl: (port: number) => codespaceUrl(cs, port),
    portOf: (url: string) => codespacePortOf(cs, url),
  };
  // Port 0 means "any"; otherwise try the next few ports if another agent holds this one.
  const candidates = first === 0 ? [0] : Array.from({ length: 20 }, (_, i) => first + i);
  let lastError: unknown;
  for (const port of candidates) {
    const edge = new Edge({
      domain: opts.domain ?? 'localhost',
      http: { host, port },
      tokens: new TokenSet([authtoken]),
      portPerEndpoint,
      // The user's own managed OAuth apps (BURROW_OAUTH_APP_GOOGLE=ID:SECRET…; the extension passes them).
      managedOAuth: { apps: managedAppsFrom([], process.env) },
    });
    try {
      await edge.start();
      return edge;
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw new AgentError(
    'ERR_BURROW_EMBEDDED_EDGE',
    `could not start the embedded edge on ${host}:${first}: ${(lastError as Error).message}`,
  );
}
