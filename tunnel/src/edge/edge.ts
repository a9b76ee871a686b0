// The edge: public listeners (HTTP, HTTPS/TLS on one port routed by SNI, TCP per endpoint),
// agent sessions over WebSocket, and the table of bound endpoints.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { EdgeOptions, Proto, Scheme } from '../model';
import type { PolicyLogEntry, RawOpen, RefusedNotice, WireError } from '../protocol/messages';
import { MuxSession, type MuxStream } from '../protocol/session';
import { createTransportPair, type Transport } from '../protocol/transport';
import { acceptLink } from './ws-upgrade';
import { sendEdgeError } from '../edge-errors';
import { MemoryAuthThrottle, type AuthThrottle } from './auth-throttle';
import { serveAgent, type AgentHost, type BindSpec } from './agent-handshake';
import { applyHttpServerLimits, httpServerLimits, onClientError, type ListenerLimits } from './listener-limits';
import { clientIpOf, hostOf, proxyHttp, proxyUpgrade, type HttpTarget } from './http-proxy';
import { RawVisitors, type RawRoute } from './raw-visitor';
import type { RequestHead } from '../http1/head';
import { IpPolicyStore } from '../modules/ip-restriction';
import { connectionGate, connectionOptions, type ConnectionGate } from '../modules/connection-gate';
import { tlsServerOptions } from '../modules/mutual-tls';
import { buildPipeline, ModuleConfigError, type Pipeline, type PipelineEnv } from '../modules/pipeline';
import { VAR } from '../modules/request-vars';
import { handleManagedCallback, MANAGED_CALLBACK_PATH, type ManagedOAuth } from '../modules/oauth/managed';
import '../modules/oauth/register'; // plugs OAuth/OIDC into the pipeline and traffic policy
import { randomName } from './names';
import { normalizeHost } from '../net/host';
import { filterRawHeaders } from '../net/raw-headers';
import { HostRouter, isValidHostname } from './router';
import { ClientHelloError, readClientHello } from './sni';
import { selfSignedCertificate } from './tls-cert';
import { SessionRegistry, type SessionControl } from './sessions';
import type { Grant, TokenSet } from './tokens';
import { checkAcl } from './admin/acl';
import type { HttpsEdgeRouter } from './admin/router';
import type { ClaimKind, ClusterHooks, Holder, Member, PeerOpen } from './cluster';
import { poolGroup, relayToBinding } from './cluster/index';
import { adoptPeerAddress, innerStreamOf } from './cluster/peers';
import { POOL_OWNER } from './cluster/redis';
import { IdleConnections } from '../net/idle-connections';
import { SlotSet } from '../net/slot-set';
import type { AgentSession } from './agent-session';

/** Path on the public HTTP listener where agents open their session. */
export const AGENT_PATH = '/_burrow/session';

/** Refused requests an endpoint reports to its agent per second (the rest are only answered). */
const REFUSED_NOTICES_PER_SECOND = 50;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface EdgeConfig {
  /** Base domain for random and subdomain names: `localhost` for the embedded edge. */
  domain: string;
  /** Public HTTP listener (also where agents connect). */
  http: ListenAddress;
  /** Public TLS listener: HTTPS termination, and TLS passthrough by SNI. Started on first use if omitted. */
  tls?: ListenAddress;
  /** Certificate for HTTPS; a cached self-signed one for `*.domain` when omitted. */
  certificate?: { cert: string; key: string };
  /** Host TCP endpoints listen on (and show in their tcp:// URLs). */
  tcpHost?: string;
  /** Accepted authtokens; an empty set refuses every agent. */
  tokens: TokenSet;
  heartbeatIntervalMs?: number;
  heartbeatToleranceMs?: number;
  /** Optional protocol features announced to agents (default all; fewer: speak as an older edge). */
  wireFeatures?: readonly string[];
  /** Named IP policies endpoints may reference (`ipRestriction.ipPolicies`); one is made if omitted. */
  ipPolicies?: IpPolicyStore;
  /** HTTPS edges (admin/router.ts): serve their hostports first; agents may not bind those names. */
  httpsEdges?: HttpsEdgeRouter;
  /**
   * Behind a forwarder that maps each port to one public URL and does not keep the public Host
   * (Codespaces): every HTTP endpoint also gets a listener of its own on the HTTP host, reported as
   * `publicUrl(port)` first among its URLs. A rebind asks for the port of its previous URL again.
   */
  portPerEndpoint?: { publicUrl(port: number): string; portOf(url: string): number | undefined };
  /** A node of a cluster (edge/cluster): names are claimed cluster-wide, others' names forwarded. */
  cluster?: ClusterHooks;
  /** Reserved domains' and addresses' endpoint configurations and port reservations (admin/endpoint-configs.ts). */
  account?: AccountHooks;
  /** Uploaded and ACME certificates, served by SNI, and ACME challenges (certs/). */
  certificates?: CertificateHooks;
  /**
   * Managed OAuth apps (modules/oauth/managed.ts): endpoints with `oauth: {provider}` and no client
   * id use these. `callbackUrl` defaults to http://DOMAIN:HTTP_PORT/_burrow/oauth/callback.
   */
  managedOAuth?: { apps: ManagedOAuth['apps']; callbackUrl?: string };
  /** Time limits of the public HTTP/1.1 listeners (request head, keep-alive idle): listener-limits.ts. */
  limits?: ListenerLimits;
  /** Rate limits counted across cluster nodes (cluster/counters.ts); per pipeline when omitted. */
  rateLimiter?: PipelineEnv['rateLimiter'];
  /** Slows authtoken guessing per source address (auth-throttle.ts); in memory when omitted. */
  authThrottle?: AuthThrottle;
  /**
   * false: every plain-HTTP visitor goes through Node's http.Server (the reference the raw path,
   * raw-visitor.ts, is tested against); default true unless BURROW_RAW_HTTP=0.
   */
  rawHttp?: boolean;
}

/**
 * The headers a response sent. Modules answer with `writeHead(status, {…})`, which HTTP/1's
 * ServerResponse writes without keeping them (getHeaders() is empty), so read the head it wrote.
 */
function sentHeaders(res: http.ServerResponse | http2.Http2ServerResponse): string[] {
  const out: string[] = [];
  const head = (res as { _header?: unknown })._header;
  if (typeof head === 'string') {
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) out.push(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return out;
  }
  for (const [name, value] of Object.entries(res.getHeaders()))
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) out.push(name, String(v));
  return out;
}

/** Account resources applied to live bindings. */
export interface AccountHooks {
  /** The pipeline a request to `binding` over `scheme` runs (its own, or with a configuration on top). */
  pipelineFor(binding: Binding, scheme: Scheme): Pipeline | undefined;
  /** A TCP connection's verdict from an attached configuration; undefined when none applies. */
  allowConnection(binding: Binding, ip: string): boolean | undefined;
  /** Refusal for a TCP bind naming an address that is not reserved. */
  checkRemoteAddr(remoteAddr: string): { code: string; message: string } | undefined;
  isReservedPort(port: number): boolean;
}

/** Certificates beyond the configured/self-signed one, and ACME's challenge answers. */
export interface CertificateHooks {
  /** The PEM pair for a name; `version` changes whenever the pair does (contexts are cached on it). */
  certificateFor(host: string): { cert: string; key: string; version: string } | undefined;
  /** ACME HTTP-01: true when the request was answered. */
  handleHttp?(
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): boolean;
  /** ACME TLS-ALPN-01: true when the connection was taken (`head` is the ClientHello read so far). */
  handleTls?(socket: net.Socket, head: Buffer, serverName: string): boolean;
}

export interface Binding {
  id: string;
  name: string;
  proto: Proto;
  hosts: string[];
  schemes: Scheme[];
  urls: string[];
  session: AgentSession;
  clientId: string;
  edge: EdgeOptions;
  /** HTTP endpoints with modules; built and validated at bind time. */
  pipeline?: Pipeline;
  /** Own HTTPS server when the endpoint needs mutual TLS or a minimum TLS version. */
  httpsServer?: http2.Http2SecureServer;
  /** TCP/TLS endpoints with an IP restriction: checked per connection. */
  /** TCP/TLS: the IP restriction and on_tcp_connect rules, per connection. */
  connectionGate?: ConnectionGate;
  tcpServer?: net.Server;
  /** HTTP endpoint's own listener (`portPerEndpoint`). */
  ownHttpServer?: http.Server;
  /** Labeled tunnel: reached only through HTTPS edges' tunnel-group backends. */
  labels?: Record<string, string>;
  /** Names claimed cluster-wide for this binding (released at unbind). */
  claims?: { kind: ClaimKind; name: string; holder: Holder }[];
  /** Endpoint pool (`pooling_enabled`): every member's binding shares this object. */
  pool?: EndpointPool;
  /** Internal endpoint (`*.internal`): only `forward-internal` reaches it. */
  internal?: boolean;
}

/**
 * Agents serving one URL together (an HTTP or TLS name, a TCP port): requests and connections go
 * round robin; a member leaves on unbind (its session's end included), and a member whose session
 * is already closed is skipped. The members are this edge's bindings; a cluster would add its
 * other nodes' members beside them.
 */
interface EndpointPool {
  members: Binding[];
  next: number;
}

/** The binding that serves the next request or connection of `entry`'s URL (itself when not pooled). */
function pooled(entry: Binding): Binding {
  const pool = entry.pool;
  if (!pool?.members.length) return entry;
  for (let i = 0; i < pool.members.length; i++) {
    const member = pool.members[pool.next++ % pool.members.length];
    if (!member.session.isClosed) return member;
  }
  return entry;
}

export interface EdgeEvents {
  session: [info: { sessionId: string; clientId: string; remoteAddr: string }];
  'session-closed': [info: { sessionId: string; error?: WireError }];
  bind: [binding: Binding];
  unbind: [binding: Binding];
}

class BindError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Edge extends EventEmitter<EdgeEvents> {
  private readonly httpRouter = new HostRouter<Binding>();
  private readonly tlsRouter = new HostRouter<Binding>();
  /** Internal endpoints by `.internal` name: never matched by the public listeners. */
  private readonly internalRouter = new HostRouter<Binding>();
  private readonly bindings = new Map<string, Binding>();
  private readonly sessionsByClient = new Map<string, MuxSession>();
  /** What each session's authtoken may bind (credential ACLs). */
  private readonly grants = new WeakMap<AgentSession, Grant>();
  /** The plain-HTTP listener: the raw path first (raw-visitor.ts), httpServer for what it hands over. */
  private readonly httpListener: net.Server;
  private readonly httpServer: http.Server;
  private readonly rawVisitors: RawVisitors;
  /** The managed OAuth callback's path (requests for it go to httpServer), for its current URL. */
  private callbackPath = { url: '', path: '' };
  private tlsServer?: net.Server;
  private httpsServer?: http2.Http2SecureServer;
  /** Every public socket (for close). Not a Set: one per connection (net/slot-set.ts says why). */
  private readonly sockets = new SlotSet<net.Socket>();
  /** Cluster: who each session is, for name claims. */
  private readonly holders = new WeakMap<AgentSession, Holder>();
  /** Cluster: connections another node carried here (never forwarded again), and their servers. */
  private readonly peerSockets = new WeakSet<object>();
  /** Cluster: requests routed a second time (Redis named this node while they looked): never forwarded again. */
  private readonly routedAgain = new WeakSet<object>();
  /** Cluster: peer connections for one pool member (the node that carried them picked it). */
  private readonly pins = new WeakMap<object, string>();
  private peerHttp?: Record<'http' | 'https', http.Server>;
  /** HTTPS keep-alive connections and h2 sessions, closed when a cluster node drains. */
  private readonly httpsConnections = new IdleConnections();
  /** SIGTERM on a cluster node: no new agent sessions, existing ones told to go elsewhere. */
  draining = false;
  httpPort = 0;
  /** Set at start: the apps and the one callback URL their providers know. */
  /** The apps and the one callback URL their providers know (its default needs the listening port). */
  readonly managedOAuth: ManagedOAuth;
  tlsPort = 0;
  /** Named IP policies (the admin API edits them; endpoints see changes on their next request). */
  readonly ipPolicies: IpPolicyStore;
  /** Live agent sessions (`/tunnel_sessions`); every protocol front end registers its sessions here. */
  readonly sessions = new SessionRegistry(() => (this.nodeId ? { node: this.nodeId } : undefined));
  /** Every agent front door (this session handler, ngrok's Auth) counts failed credentials here. */
  readonly authThrottle: AuthThrottle;

  constructor(private readonly config: EdgeConfig) {
    super();
    this.ipPolicies = config.ipPolicies ?? new IpPolicyStore();
    // Read by the raw path on every request: built again only when the port changed.
    let callbackPort = -1;
    let callback = '';
    const defaultCallback = () => {
      if (this.httpPort !== callbackPort) {
        callbackPort = this.httpPort;
        callback = `http://${config.domain}${callbackPort === 80 ? '' : `:${callbackPort}`}${MANAGED_CALLBACK_PATH}`;
      }
      return callback;
    };
    this.managedOAuth = {
      apps: config.managedOAuth?.apps ?? {},
      get callbackUrl() {
        return config.managedOAuth?.callbackUrl ?? defaultCallback();
      },
    };
    this.authThrottle = config.authThrottle ?? new MemoryAuthThrottle();
    this.httpServer = http.createServer(httpServerLimits(config.limits), (req, res) =>
      this.onRequest(req, res, 'http'),
    );
    this.httpServer.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as net.Socket, head, 'http'));
    this.httpServer.on('clientError', onClientError);
    // Fed by httpListener, never listening itself: its head-deadline checker starts on 'listening'.
    this.httpServer.emit('listening');
    this.rawVisitors = new RawVisitors({
      scheme: 'http',
      limits: config.limits,
      fallback: this.httpServer,
      route: (head, host, socket) => this.rawRoute(head, host, socket),
    });
    // As http.Server's own sockets: half-open allowed (a response still goes out), no Nagle delay.
    const rawHttp = config.rawHttp ?? process.env.BURROW_RAW_HTTP !== '0';
    this.httpListener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.track(socket);
      if (!rawHttp) this.httpServer.emit('connection', socket);
      else this.rawVisitors.accept(socket);
    });
  }

  async start(): Promise<void> {
    this.httpPort = await listen(this.httpListener, this.config.http);
    if (this.config.tls) await this.startTls();
  }

  async close(): Promise<void> {
    for (const session of new Set([...this.bindings.values()].map((b) => b.session))) {
      session.close({ code: 'ERR_BURROW_EDGE_SHUTDOWN', message: 'edge is shutting down' });
    }
    for (const b of this.bindings.values()) (b.tcpServer ?? b.ownHttpServer)?.close();
    this.rawVisitors.closing = true;
    const closed = Promise.all([
      new Promise((r) => this.httpListener.close(r)),
      new Promise((r) => this.httpServer.close(r)),
      this.tlsServer ? new Promise((r) => this.tlsServer!.close(r)) : undefined,
    ]);
    // Requests cut by the closed sessions get their coded 502 on the next tick: let those go out
    // before the sockets do, so clients see ERR_NGROK_3210 rather than a hang-up.
    await new Promise((r) => setImmediate(r));
    for (const s of this.sockets.values()) s.destroy();
    await closed;
  }

  /** True when an agent binds `host` directly (an HTTPS edge may not take it, ERR_NGROK_7132). */
  isHostBound(host: string): boolean {
    return this.httpRouter.has(host) || this.tlsRouter.has(host);
  }

  /** Cluster: a visitor connection another node carried here over its peer link. */
  acceptPeer(stream: Duplex, meta: PeerOpen): void {
    Object.defineProperties(stream, {
      remoteAddress: { value: meta.remoteAddr, configurable: true },
      remotePort: { value: meta.remotePort, configurable: true },
    });
    this.peerSockets.add(stream);
    if (meta.proto === 'binding')
      return relayToBinding(stream as MuxStream, this.bindings.get(meta.binding ?? '')?.session, meta);
    if (meta.binding) this.pins.set(stream, meta.binding);
    // A visitor connection carried whole from another node: the raw path, as on the public listener.
    if (meta.proto === 'http' && meta.visitor) {
      // The node that carried it drains: end it after its current request, as that node would.
      stream.on('meta', (m: { drain?: boolean } | undefined) => {
        if (m?.drain && !this.rawVisitors.drain(stream)) endAfterResponse(stream);
      });
      return this.rawVisitors.accept(stream as net.Socket);
    }
    if (meta.proto === 'tls') {
      // The node that carried it drains: close it as if this node did (if HTTPS ends here).
      stream.on('meta', (m: { drain?: boolean } | undefined) => {
        if (m?.drain) this.httpsConnections.drainSome((t) => innerStreamOf(t) === stream);
      });
      return void this.onTlsConnection(stream as net.Socket, true);
    }
    if (meta.proto === 'tcp') {
      const binding = this.tcpHolder(meta.port);
      if (binding) this.pipeRaw(stream as net.Socket, binding);
      else stream.destroy();
      return;
    }
    this.peerHttp ??= { http: this.peerHttpServer('http'), https: this.peerHttpServer('https') };
    this.peerHttp[meta.proto as Scheme].emit('connection', stream);
  }

  private peerHttpServer(scheme: Scheme): http.Server {
    const server = http.createServer({ keepAliveTimeout: 5 * 60_000, requestTimeout: 0 }, (req, res) =>
      this.onRequest(req, res, scheme),
    );
    server.on('upgrade', (req, socket: net.Socket, head) => this.onUpgrade(req, socket, head, scheme));
    server.on('clientError', (_err, socket) => socket.destroy());
    return server;
  }

  /**
   * Cluster node shutdown, within `timeoutMs`: refuse new agent sessions (and /healthz says 503);
   * ask each agent to move (`reconnect`): it binds its endpoints on another node, which takes the
   * names over, and closes this session once its streams are done. Sessions still here after half
   * the time (agents that do not know `reconnect`) finish their streams and get the GoAway
   * ERR_BURROW_EDGE_DRAINING, on which they reconnect at once. Then the visitors' requests still in
   * flight here (answered, or carried to other nodes) finish; what is left at the deadline is cut.
   */
  async drain(
    timeoutMs = 30_000,
    /** Other agent front doors (ngrok's) moving their sessions, given the hand-off time and the deadline. */
    others: ((handoffUntil: number, deadline: number) => Promise<void>)[] = [],
  ): Promise<void> {
    this.draining = true;
    // Keep-alive HTTPS visitors (h2 sessions get a GOAWAY) open their next connection elsewhere.
    this.httpsConnections.drain();
    this.config.cluster?.drainCarried();
    const deadline = Date.now() + timeoutMs;
    const handoffUntil = Date.now() + timeoutMs / 2;
    const tick = () => new Promise((r) => setTimeout(r, 20));
    const sessions = [...new Set(this.sessionsByClient.values())];
    const message = 'this edge node is shutting down: reconnect';
    const bound = new Set([...this.bindings.values()].map((b) => b.session));
    for (const s of sessions) {
      // Nothing bound, nothing to move: the agent may go now.
      if (!bound.has(s)) s.close({ code: 'ERR_BURROW_EDGE_DRAINING', message });
      else s.sendControl({ type: 'reconnect', code: 'ERR_BURROW_EDGE_DRAINING', message });
    }
    await Promise.all([
      ...sessions.map(async (session) => {
        while (!session.isClosed && Date.now() < handoffUntil) await tick();
        while (!session.isClosed && session.streamCount > 0 && Date.now() < deadline) await tick();
        session.close({ code: 'ERR_BURROW_EDGE_DRAINING', message });
      }),
      ...others.map((move) => move(handoffUntil, deadline)),
    ]);
    // Stop taking visitors (a balancer retries another node) and let the requests in flight end.
    this.httpListener.close();
    this.httpServer.close();
    this.tlsServer?.close();
    this.rawVisitors.closing = true;
    this.httpServer.closeIdleConnections();
    this.rawVisitors.closeIdle();
    while (this.sockets.size && Date.now() < deadline) {
      this.httpServer.closeIdleConnections();
      this.rawVisitors.closeIdle();
      await tick();
    }
    // Visitors this node carries to other nodes (to moved agents, too) finish as well.
    while (this.config.cluster && !this.config.cluster.idle() && Date.now() < deadline) await tick();
  }

  routeAgain(
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
    scheme: Scheme,
  ): boolean {
    if (this.routedAgain.has(req)) return false;
    this.routedAgain.add(req);
    this.onRequest(req, res, scheme);
    return true;
  }

  routeUpgradeAgain(req: http.IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): boolean {
    if (this.routedAgain.has(req)) return false;
    this.routedAgain.add(req);
    this.onUpgrade(req, socket as net.Socket, head, scheme);
    return true;
  }

  /** Cluster: an endpoint here serves `host` now. */
  servesHttp(host: string): boolean {
    return !!this.httpRouter.lookup(host);
  }

  sessionCount(): number {
    return this.sessionsByClient.size;
  }

  /** Cluster: the name moved to another holder (the agent reconnected elsewhere): unbind it here. */
  claimLost(kind: ClaimKind, name: string, holder: Holder): void {
    for (const b of [...this.bindings.values()]) {
      if (b.claims?.some((c) => c.kind === kind && c.name === name && c.holder === holder)) this.unbind(b, false);
    }
  }

  /** Cluster: this node's id (the admin API shows it with each session); undefined on a single edge. */
  get nodeId(): string | undefined {
    return this.config.cluster?.node;
  }

  get tcpListenHost(): string {
    return this.config.tcpHost ?? this.config.http.host;
  }

  /** Endpoints currently bound (for status output and the admin API later). */
  listBindings(): Binding[] {
    return [...this.bindings.values()];
  }

  // ---- public listeners ----

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', this.untrack);
  }

  /** One listener for every public socket (the socket is `this`): no closure per idle visitor. */
  private readonly untrack = ((sockets: SlotSet<net.Socket>) =>
    function (this: net.Socket) {
      sockets.delete(this);
    })(this.sockets);

  /** The endpoint serving `host`; on a cluster, a pool's member on another node (`from`: the visitor's connection). */
  private httpTarget(host: string, scheme: Scheme, from?: object): HttpTarget | Member | undefined {
    const entry = this.httpRouter.lookup(host);
    const pool = entry?.pool;
    let binding = entry && pooled(entry);
    if (pool) {
      const cluster = this.config.cluster;
      const pinned = from && this.bindings.get(this.pins.get(from) ?? '');
      // Round robin over the members on every node; a connection another node carried stays here.
      const member =
        pinned || !cluster || this.peerSockets.has(from ?? {})
          ? undefined
          : cluster.pickMember(`pool:${entry.hosts[0]}`);
      if (member && member.node !== cluster!.node) return member;
      const mine = member && this.bindings.get(member.binding);
      binding = (pinned?.pool === pool && pinned) || (mine?.pool === pool && mine) || binding;
    }
    if (!binding || !binding.schemes.includes(scheme)) return undefined;
    const pipeline = this.config.account ? this.config.account.pipelineFor(binding, scheme) : binding.pipeline;
    return { id: binding.id, session: binding.session, pipeline };
  }

  private onRequest(
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
    scheme: Scheme,
  ): void {
    if (this.config.certificates?.handleHttp?.(req, res)) return;
    if (this.config.httpsEdges?.handleRequest(req, res, scheme)) return;
    if (handleManagedCallback(req, res, this.managedOAuth, (h) => !!this.httpRouter.lookup(h))) return;
    const target = this.httpTarget(hostOf(req), scheme, req.socket);
    if (target && 'group' in target) return this.config.cluster!.forwardRequest(req, res, scheme, target);
    if (!target) {
      // Carried here by a node that thought this one holds the name (it just moved): one more hop,
      // to the holder Redis names now.
      if (this.config.cluster && !this.routedAgain.has(req))
        return this.config.cluster.forwardRequest(req, res, scheme, undefined, this.peerSockets.has(req.socket));
      sendEdgeError(req, res, 'ERR_NGROK_3200', `no endpoint is bound to ${scheme}://${normalizeHost(hostOf(req))}`);
      return;
    }
    proxyHttp(req, res, target, scheme);
  }

  /**
   * The raw path's routing (raw-visitor.ts): an endpoint without modules, or the 404 onRequest
   * would answer, or (cluster) the whole connection carried to the node holding the name;
   * undefined hands the connection to httpServer for everything onRequest does with Node's
   * objects (ACME, HTTPS edges, the OAuth callback, modules, pools).
   */
  private rawRoute(head: RequestHead, host: string, socket: net.Socket): RawRoute | undefined {
    const url = head.target;
    if (this.config.httpsEdges?.serves(host)) return undefined;
    if (this.config.certificates?.handleHttp && url.includes('/.well-known/acme-challenge/')) return undefined;
    const callback = this.managedOAuth.callbackUrl;
    if (callback !== this.callbackPath.url) this.callbackPath = { url: callback, path: new URL(callback).pathname };
    if (url.includes(this.callbackPath.path)) return undefined;
    // Pools pick a member per request (round robin, across nodes too): theirs stay on httpServer,
    // where the pick is made once.
    if (this.httpRouter.lookup(host)?.pool) return undefined;
    const target = this.httpTarget(host, 'http', socket);
    const cluster = this.config.cluster;
    if (!target && cluster) {
      // Held by another node: the whole connection goes there as bytes (once; a carried one is served here).
      if (this.peerSockets.has(socket)) return undefined;
      return { takeover: (s, bytes) => this.carryHttp(cluster, s, bytes, host) };
    }
    if (!target) return { error: 'ERR_NGROK_3200', detail: `no endpoint is bound to http://${normalizeHost(host)}` };
    if ('group' in target || target.pipeline) return undefined;
    return { target };
  }

  /** Cluster: a visitor connection to the holder of `host`, else to httpServer (pools, 3200, races). */
  private carryHttp(cluster: ClusterHooks, socket: net.Socket, bytes: Buffer, host: string): void {
    void cluster.carryHttp(socket, bytes, host).then((carried) => {
      if (carried || socket.destroyed) return;
      if (bytes.length) socket.unshift(bytes);
      this.httpServer.emit('connection', socket);
      socket.resume();
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scheme: Scheme): void {
    const found = this.httpTarget(hostOf(req), scheme, socket);
    if (found && 'group' in found) return this.config.cluster!.forwardUpgrade(req, socket, head, scheme, found);
    const target = found;
    if (!target && req.url === AGENT_PATH) {
      if (this.draining) {
        socket.end(
          'HTTP/1.1 503 Service Unavailable\r\nngrok-error-code: ERR_BURROW_EDGE_DRAINING\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
        );
        return;
      }
      const transport = acceptLink(req, socket, head);
      if (transport) this.onAgent(transport, clientIpOf(req));
      return;
    }
    if (this.config.httpsEdges?.handleUpgrade(req, socket, head, scheme)) return;
    if (!target && this.config.cluster && !this.routedAgain.has(req))
      return this.config.cluster.forwardUpgrade(req, socket, head, scheme, undefined, this.peerSockets.has(socket));
    if (!target) {
      socket.end(
        'HTTP/1.1 404 Not Found\r\nngrok-error-code: ERR_NGROK_3200\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
      );
      return;
    }
    proxyUpgrade(req, socket, head, target, scheme);
  }

  private async startTls(): Promise<void> {
    if (this.tlsServer) return;
    this.httpsServer = await this.createHttpsServer();
    const server = net.createServer((socket) => this.onTlsConnection(socket));
    this.tlsServer = server;
    this.tlsPort = await listen(server, this.config.tls ?? { host: this.config.http.host, port: 0 });
  }

  /**
   * An HTTPS (h2 + HTTP/1.1) server fed by onTlsConnection. `extra` (mutual TLS CAs, minimum
   * version) gives an endpoint its own server; the shared one has none.
   */
  private async createHttpsServer(
    extra?: tls.SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean },
  ): Promise<http2.Http2SecureServer> {
    const { requestCert: _requestCert, rejectUnauthorized: _reject, ...contextExtra } = extra ?? {};
    const https = http2.createSecureServer({
      ...(await this.tlsCredentials(contextExtra)),
      ...(extra ?? {}),
      allowHTTP1: true,
    });
    applyHttpServerLimits(https, this.config.limits);
    this.httpsConnections.track(https);
    https.on('request', (req, res) => this.onRequest(req, res, 'https'));
    https.on('secureConnection', (socket: tls.TLSSocket) => adoptPeerAddress(socket));
    https.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head, 'https'),
    );
    return https;
  }

  /**
   * The configured certificate, or self-signed ones for local use: browsers and Node refuse
   * `*.localhost` wildcards, so each served name gets its own (cached) certificate via SNI.
   * `extra` goes into every context too (client CAs must be in the context SNI switches to).
   */
  private async tlsCredentials(
    extra: tls.SecureContextOptions = {},
  ): Promise<tls.SecureContextOptions & { SNICallback?: tls.TlsOptions['SNICallback'] }> {
    const certificates = this.config.certificates;
    if (this.config.certificate && !certificates) return { ...this.config.certificate, ...extra };
    const managed = new Map<string, { version: string; ctx: tls.SecureContext }>();
    const managedContext = (host: string): tls.SecureContext | undefined => {
      const pair = certificates?.certificateFor(host);
      if (!pair) return undefined;
      let entry = managed.get(host);
      if (entry?.version !== pair.version) {
        entry = { version: pair.version, ctx: tls.createSecureContext({ cert: pair.cert, key: pair.key, ...extra }) };
        managed.set(host, entry);
      }
      return entry.ctx;
    };
    if (this.config.certificate)
      return {
        ...this.config.certificate,
        ...extra,
        SNICallback: (name, cb) => cb(null, managedContext(normalizeHost(name))),
      };
    const contexts = new Map<string, Promise<tls.SecureContext>>();
    const contextFor = (name: string) => {
      let ctx = contexts.get(name);
      if (!ctx) {
        ctx = selfSignedCertificate({ hosts: [name] }).then((c) => tls.createSecureContext({ ...c, ...extra }));
        contexts.set(name, ctx);
      }
      return ctx;
    };
    return {
      ...(await selfSignedCertificate({ hosts: [this.config.domain] })),
      ...extra,
      SNICallback: (name, cb) => {
        const host = normalizeHost(name);
        // Only names we serve: anything else would let clients make us mint certificates at will.
        if (host !== this.config.domain && !this.httpRouter.lookup(host) && !this.config.httpsEdges?.serves(host))
          return cb(new Error(`no endpoint for ${host}`));
        const own = managedContext(host);
        if (own) return cb(null, own);
        contextFor(host).then(
          (ctx) => cb(null, ctx),
          (err: Error) => cb(err),
        );
      },
    };
  }

  /** One port for TLS: a passthrough endpoint when SNI names one, else HTTPS terminated here. */
  private async onTlsConnection(socket: net.Socket, fromPeer = false): Promise<void> {
    this.track(socket);
    socket.on('error', () => socket.destroy());
    let hello: { serverName?: string; head: Buffer };
    try {
      hello = await readClientHello(socket, 10_000);
    } catch (err) {
      // A hello without SNI (a client dialling an IP) can still be served by HTTPS here.
      if (!(err instanceof ClientHelloError && err.code === 'ERR_TLS_NO_SNI')) {
        socket.destroy();
        return;
      }
      hello = { head: err.head };
    }
    if (hello.serverName && this.config.certificates?.handleTls?.(socket, hello.head, hello.serverName)) return;
    const binding = hello.serverName ? this.tlsRouter.lookup(hello.serverName) : undefined;
    if (binding) {
      this.pipeRaw(socket, binding, hello.head, hello.serverName);
      return;
    }
    const name = hello.serverName;
    if (
      name &&
      this.config.cluster &&
      !fromPeer &&
      !this.httpRouter.lookup(name) &&
      !this.config.httpsEdges?.serves(normalizeHost(name)) &&
      (await this.config.cluster.forwardTls(socket, name, hello.head))
    )
      return;
    const own = hello.serverName ? this.httpRouter.lookup(hello.serverName)?.httpsServer : undefined;
    // No resume(): a flowing socket would drain the unshifted hello to nobody before the TLS
    // layer reads its buffer; TLSSocket starts reading by itself.
    socket.unshift(hello.head);
    (own ?? this.httpsServer!).emit('connection', socket);
  }

  /** The binding whose listener holds TCP port `port` (a pool's current holder). */
  private tcpHolder(port: number | undefined): Binding | undefined {
    return [...this.bindings.values()].find(
      (b) => b.tcpServer && (b.tcpServer.address() as net.AddressInfo | null)?.port === port,
    );
  }

  private pipeRaw(socket: net.Socket, entry: Binding, head?: Buffer, sni?: string): void {
    let binding = pooled(entry);
    const cluster = this.config.cluster;
    if (entry.pool && cluster) {
      // A pool's connections go round robin over its members on every node; one another node
      // carried here stays with the member that node picked.
      const pinned = this.bindings.get(this.pins.get(socket) ?? '');
      const port = entry.proto === 'tcp' ? new URL(entry.urls[0]).port : undefined;
      const group = port ? poolGroup('tcp', port) : poolGroup('tls', entry.hosts[0]);
      const member = pinned || this.peerSockets.has(socket) ? undefined : cluster.pickMember(group);
      if (member && member.node !== cluster.node)
        return cluster.forwardRaw(socket, member, port ? 'tcp' : 'tls', head, port ? Number(port) : undefined);
      const mine = member && this.bindings.get(member.binding);
      binding = (pinned?.pool === entry.pool && pinned) || (mine?.pool === entry.pool && mine) || binding;
    }
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const verdict = binding.connectionGate?.({
      client_ip: ip,
      client_port: socket.remotePort ?? 0,
      server_ip: (socket.localAddress ?? '').replace(/^::ffff:/, ''),
      server_port: socket.localPort ?? 0,
      ...(binding.proto === 'tls' ? { tls: { sni: sni ?? '' } } : {}),
    });
    if (verdict?.close || this.config.account?.allowConnection(binding, ip) === false) {
      socket.destroy(); // ngrok closes refused TCP/TLS connections without a word
      return;
    }
    const open: RawOpen = {
      kind: binding.proto === 'tls' ? 'tls' : 'tcp',
      binding: binding.id,
      remoteAddr: `${socket.remoteAddress}:${socket.remotePort}`,
      localAddr: `${socket.localAddress}:${socket.localPort}`,
      ...(verdict?.logs.length ? { logs: verdict.logs } : {}),
    };
    let stream;
    try {
      stream = binding.session.openStream(open);
    } catch {
      socket.destroy();
      return;
    }
    if (head?.length) stream.write(head);
    socket.pipe(stream).pipe(socket);
    socket.on('error', () => stream.destroy());
    stream.on('error', () => socket.destroy());
    socket.resume();
  }

  // ---- agent sessions ----

  /** Opens an agent session inside this process (the embedded edge); returns the agent's end. */
  connectInProcess(): Transport {
    // Streams are handed over as objects, not frames (transport.ts directPeer).
    const [edgeEnd, agentEnd] = createTransportPair({ directStreams: true });
    this.onAgent(edgeEnd, '127.0.0.1', 'burrow/in-process');
    return agentEnd;
  }

  private onAgent(transport: Transport, remoteAddr: string, transportName = 'burrow/ws'): void {
    serveAgent(this.agentHost(), transport, { remoteAddr, transportName });
  }

  /** What Burrow's agent sessions (agent-handshake.ts) do to this edge. */
  private agentHost(): AgentHost {
    return {
      tokens: this.config.tokens,
      authThrottle: this.authThrottle,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      heartbeatToleranceMs: this.config.heartbeatToleranceMs,
      wireFeatures: this.config.wireFeatures,
      register: (session, hello, { sessionId, remoteAddr, transportName }) => {
        const grant = this.config.tokens.grantFor(hello.authtoken) ?? { acl: [] };
        this.grants.set(session, grant);
        // Claim identity: the same agent reconnecting through another node takes its names over.
        const owner = createHash('sha256')
          .update(`${hello.authtoken ?? ''}\0${hello.clientId}`)
          .digest('hex');
        this.holders.set(session, { owner, session: sessionId });
        const entry = this.sessions.add({
          agent_version: hello.agent.version,
          os: hello.agent.os,
          hostname: hello.agent.hostname,
          ip: remoteAddr,
          credential_id: grant.credentialId ?? null,
          transport: transportName,
          control: burrowSessionControl(session),
        });
        // The same agent reconnecting replaces its old session at once (it may not have timed out yet).
        this.sessionsByClient
          .get(hello.clientId)
          ?.close({ code: 'ERR_BURROW_SESSION_REPLACED', message: 'the agent reconnected' });
        this.sessionsByClient.set(hello.clientId, session);
        this.emit('session', { sessionId, clientId: hello.clientId, remoteAddr });
        return () => {
          entry.remove();
          if (this.sessionsByClient.get(hello.clientId) === session) this.sessionsByClient.delete(hello.clientId);
        };
      },
      bind: (session, clientId, spec) => this.bind(session, clientId, spec),
      unbind: (session, id) => this.unbindFor(session, id),
      closed: (session, { sessionId }, error) => {
        // Cluster: names stay claimed until the lease runs out, for the agent to take back elsewhere.
        for (const b of [...this.bindings.values()]) if (b.session === session) this.unbind(b, false);
        this.emit('session-closed', { sessionId, error });
      },
    };
  }

  // ---- sessions of other agent protocols (ngrok's: ngrok-protocol/server.ts) ----

  /** Registers a session with what its credential may bind; its bindings go when it closes. */
  attachSession(session: AgentSession & { once(event: 'close', fn: () => void): unknown }, grant: Grant): void {
    this.grants.set(session, grant);
    // Listed in /tunnel_sessions with what the session says about its agent.
    const about = session as Partial<
      Record<'agentVersion' | 'os' | 'remoteAddr' | 'protocol' | 'hostname' | 'metadata', string>
    >;
    const entry = this.sessions.add({
      agent_version: about.agentVersion ?? '',
      os: about.os ?? '',
      ip: (about.remoteAddr ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'),
      credential_id: grant.credentialId ?? null,
      transport: about.protocol === 'ngrok' ? 'ngrok/muxado' : (about.protocol ?? 'other'),
      hostname: about.hostname || undefined,
      metadata: about.metadata ?? '',
      control: (session as { control?: SessionControl }).control,
    });
    session.once('close', () => {
      entry.remove();
      // Cluster: names stay claimed until the lease runs out, for the agent to take back elsewhere.
      for (const b of [...this.bindings.values()]) if (b.session === session) this.unbind(b, false);
    });
  }

  /**
   * Draining: the session's endpoints take no new visitors here but keep their cluster claims, for
   * its agent to bind them again on another node (requests meanwhile wait for that, see
   * cluster/index.ts); its streams in flight go on.
   */
  handOff(session: AgentSession): void {
    for (const b of [...this.bindings.values()]) if (b.session === session) this.unbind(b, false);
  }

  /** Binds for an attached session exactly as for Burrow's own agents; rejects with `{code, message}`. */
  bindFor(session: AgentSession, clientId: string, req: BindSpec): Promise<Binding> {
    // Cluster claims: the same agent (credential + client id) reconnecting may take its names over.
    if (!this.holders.has(session)) {
      const credential = this.grants.get(session)?.credentialId ?? '';
      const owner = createHash('sha256').update(`ngrok\0${credential}\0${clientId}`).digest('hex');
      this.holders.set(session, { owner, session: randomUUID() });
    }
    return this.bind(session, clientId, req);
  }

  /** Unbinds one of an attached session's bindings; false when it holds no such binding. */
  unbindFor(session: AgentSession, id: string): boolean {
    const b = this.bindings.get(id);
    if (!b || b.session !== session) return false;
    this.unbind(b);
    return true;
  }

  /** The TLS settings of the public TLS listener (certificate or SNI callback), for agent listeners. */
  agentTlsOptions(): Promise<tls.SecureContextOptions & { SNICallback?: tls.TlsOptions['SNICallback'] }> {
    return this.tlsCredentials();
  }

  /**
   * A request a module answered itself never reaches the agent: tell a Burrow agent about it (a
   * `refused` control message, PROTOCOL.md) so its inspector shows it. ngrok agents have no such
   * message. At most REFUSED_NOTICES_PER_SECOND per endpoint: a flood of 401s is not echoed in full.
   */
  private refusedHook(session: AgentSession, binding: string): PipelineEnv['onRefused'] {
    const deliver =
      session instanceof MuxSession
        ? (notice: RefusedNotice) => session.sendControl(notice)
        : session.refused?.bind(session);
    if (!deliver) return undefined;
    let second = 0;
    let sent = 0;
    return (ctx, result, module) => {
      const now = Math.floor(Date.now() / 1000);
      if (now !== second) [second, sent] = [now, 0];
      if (session.isClosed || ++sent > REFUSED_NOTICES_PER_SECOND) return;
      const raw = ctx.req.rawHeaders;
      // The credentials a visitor tried are not kept (a wrong password is still a password).
      const rawHeaders = filterRawHeaders(raw, (name) => name !== 'authorization' && !name.startsWith(':'));
      const res = ctx.res;
      deliver({
        type: 'refused',
        binding,
        module,
        remoteAddr: ctx.clientIp,
        method: ctx.req.method ?? 'GET',
        url: ctx.req.url ?? '/',
        httpVersion: ctx.req.httpVersion,
        rawHeaders,
        statusCode: result.statusCode,
        statusMessage: ('statusMessage' in res && res.statusMessage) || http.STATUS_CODES[result.statusCode] || '',
        responseHeaders: sentHeaders(res),
        logs: ctx.vars.get(VAR.policyLogs) as PolicyLogEntry[] | undefined,
      });
    };
  }

  private async bind(session: AgentSession, clientId: string, req: BindSpec): Promise<Binding> {
    if (session.isClosed) throw new BindError('ERR_BURROW_SESSION_CLOSED', 'session closed');
    const edge = req.edge ?? {};
    const base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'> = {
      id: `ep_${randomBytes(8).toString('hex')}`,
      name: req.name,
      session,
      clientId,
      edge,
    };
    this.checkBindRights(session, req);
    if (req.labels !== undefined) {
      const binding = this.bindLabeled(base, req);
      this.emit('bind', binding);
      return binding;
    }
    let bound: Binding | undefined;
    try {
      if (req.proto === 'http') {
        base.pipeline = buildPipeline(edge, {
          ipPolicies: this.ipPolicies,
          managedOAuth: this.managedOAuth,
          rateLimiter: this.config.rateLimiter,
          rateScope: () => `endpoint:${bound?.hosts[0] ?? base.id}`,
          onRefused: this.refusedHook(session, base.id),
          internalEndpoint: (host) => {
            const b = this.internalRouter.lookup(host);
            return b && ({ id: b.id, session: b.session } satisfies HttpTarget);
          },
        });
        const tlsOptions = tlsServerOptions(edge.mutualTls, edge.tlsTermination);
        if (tlsOptions) base.httpsServer = await this.createHttpsServer(tlsOptions);
      } else {
        // TCP and TLS endpoints take an IP restriction and on_tcp_connect rules, judged per connection.
        const { options, refused } = connectionOptions(edge);
        if (refused.length)
          throw new BindError(
            'ERR_BURROW_UNSUPPORTED_OPTION',
            `${req.proto} endpoints do not support the option "${refused[0]}"`,
          );
        base.connectionGate = connectionGate(options, { ipPolicies: this.ipPolicies });
      }
    } catch (err) {
      if (err instanceof ModuleConfigError) throw new BindError(err.code, err.message);
      throw err;
    }
    let binding: Binding;
    try {
      if (req.internal || /\.internal$/i.test(req.domain ?? '')) binding = this.bindInternal(base, req);
      else if (req.proto === 'http') binding = await this.bindHttp(base, req);
      else if (req.proto === 'tls') binding = await this.bindTls(base, req);
      else if (req.proto === 'tcp') binding = await this.bindTcp(base, req);
      else throw new BindError('ERR_NGROK_332', `unsupported protocol "${String(req.proto)}"`);
      bound = binding;
    } catch (err) {
      for (const c of base.claims ?? []) this.config.cluster?.release(c.kind, c.name, c.holder);
      throw err;
    }
    if (session.isClosed) {
      this.unbind(binding);
      throw new BindError('ERR_BURROW_SESSION_CLOSED', 'session closed while binding');
    }
    this.emit('bind', binding);
    return binding;
  }

  /** Credential ACL (ERR_NGROK_316/308/356/399) and names held by HTTPS edges (ERR_NGROK_381). */
  private checkBindRights(session: AgentSession, req: BindSpec): void {
    const host = req.domain
      ? req.domain.toLowerCase()
      : req.subdomain
        ? `${req.subdomain.toLowerCase()}.${this.config.domain}`
        : undefined;
    const denied = checkAcl(this.grants.get(session)?.acl ?? [], {
      proto: req.proto,
      host,
      remoteAddr: req.remoteAddr,
      labels: req.labels,
    });
    if (denied) throw new BindError(denied.code, denied.message);
    if (host && req.proto !== 'tcp' && this.config.httpsEdges?.serves(host)) {
      throw new BindError(
        'ERR_NGROK_381',
        `The host ${host} and port 443 you requested is already reserved by an edge: bind a labeled tunnel its tunnel group selects instead`,
      );
    }
  }

  /** A labeled tunnel: no name or URL of its own; HTTPS edges' tunnel groups route to it. */
  private bindLabeled(base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>, req: BindSpec): Binding {
    if (!this.config.httpsEdges)
      throw new BindError(
        'ERR_NGROK_358',
        'this edge has no HTTPS edges, so a labeled tunnel could never be reached: run `burrow edge --admin-addr …` or `--edges FILE`',
      );
    const entries = req.labels && typeof req.labels === 'object' ? Object.entries(req.labels) : [];
    if (entries.length === 0) throw new BindError('ERR_NGROK_394', 'a labeled tunnel needs at least one label');
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || !/^[^=]{1,255}$/.test(k) || !/^[^=]{1,255}$/.test(v))
        throw new BindError(
          'ERR_NGROK_6531',
          `the label ${k}=${String(v)} is invalid: keys and values are 1..255 characters without '='`,
        );
    }
    if (req.proto !== 'http')
      throw new BindError(
        'ERR_NGROK_332',
        'labeled tunnels carry HTTP (HTTPS edges); tcp and tls edges are not supported',
      );
    if (req.domain || req.subdomain || req.schemes?.length)
      throw new BindError('ERR_NGROK_358', 'a labeled tunnel has no domain or schemes of its own (the edge has them)');
    if (req.edge && Object.keys(req.edge).length)
      throw new BindError(
        'ERR_BURROW_UNSUPPORTED_OPTION',
        'a labeled tunnel takes no modules: configure them on the edge route',
      );
    const binding: Binding = {
      ...base,
      proto: 'http',
      hosts: [],
      schemes: [],
      urls: [],
      labels: Object.fromEntries(entries),
    };
    this.bindings.set(binding.id, binding);
    this.config.httpsEdges?.addBinding(binding);
    this.config.cluster?.join('labels', binding.id, binding.labels);
    return binding;
  }

  /**
   * An internal endpoint: an HTTP name under `.internal`, reached only by `forward-internal` from
   * another endpoint's traffic policy. Its own modules would not run on that path, so it takes none.
   */
  private bindInternal(base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>, req: BindSpec): Binding {
    const host = (req.domain ?? '').toLowerCase();
    if (!req.internal || !host.endsWith('.internal') || !isValidHostname(host))
      throw new BindError(
        'ERR_BURROW_INTERNAL_URL',
        `internal endpoints need a URL under .internal (e.g. https://api.internal) and the internal binding; got "${host}"`,
      );
    if (req.proto !== 'http')
      throw new BindError('ERR_BURROW_UNSUPPORTED_OPTION', `internal ${req.proto} endpoints are not supported yet`);
    if (base.pipeline || Object.keys(base.edge).length)
      throw new BindError(
        'ERR_BURROW_UNSUPPORTED_OPTION',
        'internal endpoints take no modules or traffic policy yet (put them on the public endpoint that forwards)',
      );
    if (this.internalRouter.has(host))
      throw new BindError('ERR_NGROK_334', `${host} is already bound by another session`);
    const binding: Binding = {
      ...base,
      proto: 'http',
      hosts: [host],
      schemes: ['https'],
      urls: [`https://${host}`],
      internal: true,
    };
    this.internalRouter.add(host, binding);
    this.bindings.set(binding.id, binding);
    return binding;
  }

  /**
   * Picks the host name for an http/tls bind: requested domain, subdomain, previous URL or random.
   * On a cluster node the name is also claimed cluster-wide (into base.claims).
   */
  private async chooseHost(
    router: HostRouter<Binding>,
    req: BindSpec,
    base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>,
  ): Promise<string> {
    const kind: ClaimKind = router === this.tlsRouter ? 'tls' : 'http';
    let host: string | undefined;
    if (req.domain) host = req.domain.toLowerCase();
    else if (req.subdomain) host = `${req.subdomain.toLowerCase()}.${this.config.domain}`;
    if (host) {
      if (!isValidHostname(host)) throw new BindError('ERR_NGROK_326', `"${host}" is not a valid host name`);
      const taken = router.get(host);
      if (taken && req.pooling && taken.pool) {
        // Joins the pool: its name is claimed by the pool, on every node (keeps it claimed while here).
        await this.claimName(base, kind, host, true);
        return host;
      }
      if (taken && !!req.pooling !== !!taken.pool)
        throw new BindError(
          'ERR_NGROK_6030',
          `${host} is served by endpoints that ${taken.pool ? 'pool' : 'do not pool'}: every endpoint of one URL must set pooling_enabled alike`,
        );
      if (taken) throw new BindError('ERR_NGROK_334', `${host} is already bound by another session`);
      await this.claimName(base, kind, host, !!req.pooling);
      return host;
    }
    for (const url of req.previousUrls ?? []) {
      const previous = normalizeHost(new URL(url).host);
      if (
        !router.has(previous) &&
        previous.endsWith(`.${this.config.domain}`) &&
        (await this.tryClaim(base, kind, previous))
      )
        return previous;
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const candidate = `${randomName(attempt)}.${this.config.domain}`;
      if (!router.has(candidate) && (await this.tryClaim(base, kind, candidate))) return candidate;
    }
    throw new BindError('ERR_BURROW_NAME_EXHAUSTED', 'could not find a free random name');
  }

  /** Cluster: claims `name` for the binding's session (ERR_NGROK_334 when another agent holds it). */
  private async claimName(
    base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>,
    kind: ClaimKind,
    name: string,
    pooled = false,
  ): Promise<void> {
    const agent = this.holders.get(base.session);
    if (!this.config.cluster || !agent) return;
    // A pooled name belongs to the pool: any pooling agent on any node may bind it too.
    const holder = pooled ? { owner: POOL_OWNER, session: agent.session } : agent;
    await this.config.cluster.claim(kind, name, holder, pooled ? base.id : undefined);
    (base.claims ??= []).push({ kind, name, holder });
  }

  private async tryClaim(
    base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>,
    kind: ClaimKind,
    name: string,
  ): Promise<boolean> {
    try {
      await this.claimName(base, kind, name);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_NGROK_334') return false;
      throw err;
    }
  }

  private async bindHttp(base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>, req: BindSpec): Promise<Binding> {
    const schemes: Scheme[] = req.schemes?.length ? [...new Set(req.schemes)] : ['http'];
    if (schemes.includes('https')) await this.startTls();
    const host = await this.chooseHost(this.httpRouter, req, base);
    const urls = schemes.map((s) => this.url(s, host, s === 'http' ? this.httpPort : this.tlsPort));
    const binding: Binding = { ...base, proto: 'http', hosts: [host], schemes, urls };
    const pool = this.httpRouter.get(host)?.pool;
    if (pool) {
      binding.pool = pool;
      pool.members.push(binding);
      this.bindings.set(binding.id, binding);
      this.config.cluster?.join(`pool:${host}`, binding.id);
      return binding;
    }
    if (req.pooling) {
      binding.pool = { members: [binding], next: 0 };
      this.config.cluster?.join(`pool:${host}`, binding.id);
    }
    if (this.config.portPerEndpoint)
      await this.listenOwnPort(binding, this.config.portPerEndpoint, req.previousUrls ?? []);
    this.httpRouter.add(host, binding);
    this.bindings.set(binding.id, binding);
    return binding;
  }

  /**
   * The endpoint's own listener: everything arriving there is this endpoint's, whatever its Host,
   * and modules see the public URL's origin. Ports count up from the HTTP listener's, so the same
   * tunnels get the same URLs (and OAuth callbacks) after a restart.
   */
  private async listenOwnPort(
    binding: Binding,
    perEndpoint: NonNullable<EdgeConfig['portPerEndpoint']>,
    previousUrls: string[],
  ): Promise<void> {
    let target: HttpTarget | undefined;
    let scheme: Scheme = 'http';
    const server = http.createServer(httpServerLimits(this.config.limits), (req, res) =>
      proxyHttp(req, res, target!, scheme),
    );
    server.on('upgrade', (req, socket: net.Socket, head) => proxyUpgrade(req, socket, head, target!, scheme));
    server.on('connection', (socket: net.Socket) => this.track(socket));
    server.on('clientError', onClientError);
    const previous = previousUrls.map((u) => perEndpoint.portOf(u)).filter((p): p is number => p !== undefined);
    const candidates = [
      ...previous,
      ...Array.from({ length: 100 }, (_, i) => this.httpPort + 1 + i).filter((p) => p <= 65535),
      0,
    ];
    let port = -1;
    for (const candidate of candidates) {
      try {
        port = await listen(server, { host: this.config.http.host, port: candidate });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE')
          throw new BindError('ERR_BURROW_LISTEN', `cannot listen for ${binding.name}: ${(err as Error).message}`);
      }
    }
    const url = new URL(perEndpoint.publicUrl(port));
    scheme = url.protocol === 'https:' ? 'https' : 'http';
    target = { id: binding.id, session: binding.session, pipeline: binding.pipeline, publicHost: url.hostname };
    binding.ownHttpServer = server;
    binding.urls.unshift(url.origin);
  }

  private async bindTls(base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>, req: BindSpec): Promise<Binding> {
    await this.startTls();
    const host = await this.chooseHost(this.tlsRouter, req, base);
    const binding: Binding = {
      ...base,
      proto: 'tls',
      hosts: [host],
      schemes: [],
      urls: [this.url('tls', host, this.tlsPort)],
    };
    const pool = this.tlsRouter.get(host)?.pool;
    if (pool) {
      binding.pool = pool;
      pool.members.push(binding);
      this.bindings.set(binding.id, binding);
      this.config.cluster?.join(poolGroup('tls', host), binding.id);
      return binding;
    }
    if (req.pooling) {
      binding.pool = { members: [binding], next: 0 };
      this.config.cluster?.join(poolGroup('tls', host), binding.id);
    }
    this.tlsRouter.add(host, binding);
    this.bindings.set(binding.id, binding);
    return binding;
  }

  private async bindTcp(base: Omit<Binding, 'proto' | 'hosts' | 'schemes' | 'urls'>, req: BindSpec): Promise<Binding> {
    let port = 0;
    if (req.remoteAddr) {
      port = Number(req.remoteAddr.slice(req.remoteAddr.lastIndexOf(':') + 1));
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new BindError('ERR_NGROK_9029', `"${req.remoteAddr}" has no valid port`);
      const refusal = this.config.account?.checkRemoteAddr(req.remoteAddr);
      // Cluster: a port this agent holds (it moved here from another node) is its own, reserved or not.
      const agent = this.holders.get(base.session);
      if (refusal && !(agent && (await this.config.cluster?.heldBy('tcp', String(port), agent.owner))))
        throw new BindError(refusal.code, refusal.message);
      const holder = this.tcpHolder(port);
      if (holder && !!req.pooling !== !!holder.pool)
        throw new BindError(
          'ERR_NGROK_6030',
          `tcp port ${port} is served by endpoints that ${holder.pool ? 'pool' : 'do not pool'}: every endpoint of one address must set pooling_enabled alike`,
        );
      if (holder?.pool) {
        // Joins the pool: the holder's listener hands this member its share of the connections.
        const binding: Binding = { ...base, proto: 'tcp', hosts: [], schemes: [], urls: [...holder.urls] };
        await this.claimName(base, 'tcp', String(port), true);
        binding.pool = holder.pool;
        holder.pool.members.push(binding);
        this.bindings.set(binding.id, binding);
        this.config.cluster?.join(poolGroup('tcp', String(port)), binding.id);
        return binding;
      }
    }
    // Half-open allowed: a client that shuts down its sending side still gets the reply.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.track(socket);
      this.pipeRaw(socket, binding);
    });
    const host = this.config.tcpHost ?? this.config.http.host;
    // Cluster: a requested port is claimed first, and this node stops forwarding it to another.
    const requested = port;
    if (requested && this.config.cluster) {
      await this.claimName(base, 'tcp', String(requested), !!req.pooling);
      await this.config.cluster.yieldTcpPort(requested);
    }
    try {
      port = await listen(server, { host, port });
      // A random port must not be one a reserved address holds (its owner may be offline now).
      for (let i = 0; !requested && this.config.account?.isReservedPort(port) && i < 10; i++) {
        await new Promise((r) => server.close(r));
        port = await listen(server, { host, port: 0 });
      }
    } catch (err) {
      throw new BindError('ERR_NGROK_334', `tcp port ${port} is not available: ${(err as Error).message}`);
    }
    if (!requested) {
      try {
        await this.claimName(base, 'tcp', String(port), !!req.pooling);
      } catch (err) {
        server.close();
        throw err;
      }
    }
    const shownHost = host === '0.0.0.0' || host === '::' ? this.config.domain : host;
    const binding: Binding = {
      ...base,
      proto: 'tcp',
      hosts: [],
      schemes: [],
      urls: [`tcp://${shownHost}:${port}`],
      tcpServer: server,
    };
    if (req.pooling) {
      binding.pool = { members: [binding], next: 0 };
      this.config.cluster?.join(poolGroup('tcp', String(port)), binding.id);
    }
    this.bindings.set(binding.id, binding);
    return binding;
  }

  private url(scheme: string, host: string, port: number): string {
    const defaultPort = scheme === 'http' ? 80 : 443;
    return `${scheme}://${host}${port === defaultPort ? '' : `:${port}`}`;
  }

  /** `release`: free cluster claims now (an unbind); else they lapse with their lease (a lost session). */
  private unbind(binding: Binding, release = true): void {
    if (!this.bindings.delete(binding.id)) return;
    // A pool's name stays claimed while another member is bound here.
    const poolStays = !!binding.pool?.members.some((m) => m !== binding);
    for (const c of poolStays ? [] : (binding.claims ?? []))
      if (release) this.config.cluster?.release(c.kind, c.name, c.holder);
      else this.config.cluster?.abandon(c.kind, c.name, c.holder);
    const router = binding.internal ? this.internalRouter : binding.proto === 'tls' ? this.tlsRouter : this.httpRouter;
    const pool = binding.pool;
    if (pool) pool.members.splice(pool.members.indexOf(binding), 1);
    if (pool || binding.labels) this.config.cluster?.leave(binding.id);
    for (const host of binding.hosts) {
      if (router.get(host) !== binding) continue;
      // A pool keeps its name while a member is left: the next one holds the router entry.
      if (pool?.members.length) router.add(host, pool.members[0]);
      else router.delete(host);
    }
    // A pooled TCP address keeps its listener while a member is left: the next one holds it.
    if (binding.tcpServer && pool?.members.length) pool.members[0].tcpServer = binding.tcpServer;
    else binding.tcpServer?.close();
    binding.ownHttpServer?.close();
    binding.httpsServer?.close();
    if (binding.labels) this.config.httpsEdges?.removeBinding(binding);
    this.emit('unbind', binding);
  }
}

function listen(server: net.Server, addr: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Stop / restart of one of Burrow's own agents from the admin API: the session ends with a code the
 * agent knows (edge-client.ts): STOPPED makes it give up, RESTART makes it reconnect at once.
 */
function burrowSessionControl(session: MuxSession): SessionControl {
  return {
    stop: async () => session.close({ code: 'ERR_BURROW_SESSION_STOPPED', message: 'stopped through the admin API' }),
    restart: async () =>
      session.close({ code: 'ERR_BURROW_SESSION_RESTART', message: 'restarted through the admin API: reconnect' }),
    update: () =>
      Promise.reject({
        code: 'ERR_BURROW_UNSUPPORTED',
        message: "Burrow's agents do not update themselves: upgrade the burrow package where the agent runs",
      }),
  };
}

/**
 * Ends an HTTP connection that http.Server serves once its current response is out (now if it
 * has none): a carried connection whose first node drains, after a request for a name held
 * elsewhere moved it off the raw path. `_httpMessage` is the response Node has in progress on it.
 */
function endAfterResponse(socket: Duplex): void {
  const res = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (!res) return void socket.destroy();
  if (!res.headersSent) res.shouldKeepAlive = false;
  res.once('finish', () => socket.end());
}
