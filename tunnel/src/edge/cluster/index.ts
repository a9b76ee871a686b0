// `burrow edge --redis URL --node-addr HOST:PORT`: this node's part in a cluster of edges.
//
//   names   — every bound name is claimed in Redis (redis.ts) for the agent session holding it;
//   state   — the admin API's state lives in Redis (state.ts), changes published to every node;
//   routing — a visitor reaching this node for a name another node holds is carried there over a
//             peer link (peers.ts): HTTP requests re-sent as HTTP/1.1 on a peer stream, websockets
//             and TLS passthrough as raw bytes. The holder runs the endpoint's modules, so they
//             run once, with the state (circuit breaker, OAuth sessions…) of the node that has
//             the agent; this node only routes.
import { createHash, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Scheme } from '../../model';
import type { StreamOpen } from '../../protocol/messages';
import type { MuxSession, MuxStream } from '../../protocol/session';
import type { AgentSession } from '../agent-session';
import { EdgeStore, emptyState } from '../admin/store';
import { sendEdgeError, rawEdgeError } from '../../edge-errors';
import { clientIpOf, hostOf } from '../http-proxy';
import { normalizeHost } from '../../net/host';
import { filterRawHeaders, rawHeadersObject, rawHeadersText } from '../../net/raw-headers';
import { ClusterAuthThrottle } from './auth-throttle';
import { SharedRateWindows } from './counters';
import { PeerPool, PeerServer, type PeerOpen } from './peers';
import {
  ClusterError,
  KEY_PREFIX,
  MEMBERS_CHANNEL,
  MOVED_CHANNEL,
  POOL_OWNER,
  RedisNode,
  claimKey,
  redactUrl,
  type Claim,
  type Holder,
  type Member,
} from './redis';
import { ClusterSecret } from './secret';
import { RedisStateBacking, STATE_CHANNEL } from './state';

/** How long a draining node keeps a visitor waiting for a moving agent to bind its name elsewhere. */
const HANDOFF_WAIT_MS = 5000;

/** A node to carry a visitor to, and the pool member there if one was picked. */
type Destination = { addr: string; binding?: string };

/** Announces TCP claims, so every node listens on every TCP endpoint's port. */
const TCP_CHANNEL = 'burrow:tcp-ports';

export { ClusterError, POOL_OWNER } from './redis';
export type { Holder, Member } from './redis';
export type { PeerOpen } from './peers';

export type ClaimKind = 'http' | 'tls' | 'tcp';

/** The group of an endpoint pool's members on every node: `pool:<host>` (HTTP), `pool:tls:<host>`, `pool:tcp:<port>`. */
export function poolGroup(kind: ClaimKind, name: string): string {
  return kind === 'http' ? `pool:${name}` : `pool:${kind}:${name}`;
}

/** The claim a pool's group stands for (see poolGroup). */
function poolClaimKey(group: string): string | undefined {
  const m = /^pool:(?:(tls|tcp):)?(.+)$/.exec(group);
  return m ? claimKey(m[1] ?? 'http', m[2]) : undefined;
}

/** What the Edge asks of the cluster (see the hooks in edge.ts). */
export interface ClusterHooks {
  /** This node's id (shown with each session by the admin API). */
  readonly node: string;
  /**
   * Claims a name cluster-wide for a session: ERR_NGROK_334 when another agent holds it. A pool's
   * claim (holder POOL_OWNER) names the member `binding` joining it (see poolGroup).
   */
  claim(kind: ClaimKind, name: string, holder: Holder, binding?: string): Promise<void>;
  release(kind: ClaimKind, name: string, holder: Holder): void;
  /** The agent identity `owner` holds `name` on some node now (asked of Redis). */
  heldBy(kind: ClaimKind, name: string, owner: string): Promise<boolean>;
  /** Stops renewing a claim (its session is gone): it lapses within the lease unless the agent takes it back. */
  abandon(kind: ClaimKind, name: string, holder: Holder): void;
  /** An HTTP request for a name not bound here: carried to its holder, or answered 3200. */
  /** `fresh`: the request came from another node whose view was stale (the name moved): ask Redis. */
  forwardRequest(req: ClientRequest, res: ClientResponse, scheme: Scheme, member?: Member, fresh?: boolean): void;
  forwardUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    scheme: Scheme,
    member?: Member,
    fresh?: boolean,
  ): void;
  /** A TLS connection whose SNI names nothing here: true when another node holds the name. */
  forwardTls(socket: Duplex, serverName: string, head: Buffer): Promise<boolean>;
  /**
   * A plain-HTTP visitor connection whose first request (`head`: its bytes read so far) names
   * `host`, held by another node and not pooled: the whole connection is carried there as raw
   * bytes (true), and that node serves it. false: nothing was taken (no such holder, a pool).
   */
  carryHttp(socket: Duplex, head: Buffer, host: string): Promise<boolean>;
  /** Before an agent's TCP endpoint listens on `port` here: stop forwarding that port to another node. */
  yieldTcpPort(port: number): Promise<void>;
  /** A binding joins a group spanning nodes: an endpoint pool (poolGroup) or `labels` (labeled tunnel). */
  join(group: string, binding: string, labels?: Record<string, string>): void;
  /** A pooled TLS or TCP connection here goes to this pool member on another node. */
  forwardRaw(socket: Duplex, member: Member, proto: 'tls' | 'tcp', head?: Buffer, port?: number): void;
  leave(binding: string): void;
  /**
   * This node drains: the nodes holding the HTTPS connections it carries as raw TLS close them like
   * their own idle ones (a GOAWAY for h2), so their visitors reconnect through the balancer.
   */
  drainCarried(): void;
  /** No visitor request is being carried from here to another node, nor was a moment ago (drain waits for this). */
  idle(): boolean;
  /**
   * The next member of a group, round robin over every node's members (this node's included);
   * undefined when the cluster knows none yet (serve the local ones).
   */
  pickMember(group: string): Member | undefined;
}

/** What the cluster asks of the Edge: serve a visitor connection another node carried here. */
export interface PeerTarget {
  acceptPeer(stream: MuxStream, meta: PeerOpen): void;
  readonly draining: boolean;
  sessionCount(): number;
  /** Where this node's TCP endpoints listen: other nodes' TCP ports are forwarded from there too. */
  readonly tcpListenHost: string;
  /** A name a binding here claimed is held elsewhere now: stop serving it here. */
  claimLost(kind: ClaimKind, name: string, holder: Holder): void;
  /** An endpoint here serves `host` now. */
  servesHttp(host: string): boolean;
  /** Redis says this node holds the name after all (just bound): route once more here; false if done before. */
  routeAgain(req: ClientRequest, res: ClientResponse, scheme: Scheme): boolean;
  routeUpgradeAgain(req: http.IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): boolean;
}

type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;
type Log = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export interface ClusterOptions {
  redisUrl: string;
  /** host:port this node listens on for peers and health checks, and tells peers to dial. */
  nodeAddr: { host: string; port: number };
  secret: string;
  leaseMs?: number;
  log?: Log;
}

/** Agent identity for claims: the same agent (authtoken + client id) may take its names over. */
export function ownerOf(authtoken: string | undefined, clientId: string): string {
  return createHash('sha256')
    .update(`${authtoken ?? ''}\0${clientId}`)
    .digest('hex');
}

export class EdgeCluster implements ClusterHooks {
  readonly node = `node_${randomBytes(6).toString('hex')}`;
  readonly secret: ClusterSecret;
  readonly redis: RedisNode;
  private readonly peers: PeerPool;
  private peerServer?: PeerServer;
  private target?: PeerTarget;
  private stateBacking?: RedisStateBacking;
  /** Ports of TCP endpoints other nodes hold, listened on here and carried to the holder. */
  private readonly tcpForwarders = new Map<number, net.Server>();
  /** Every node's pool members and labeled tunnels, re-read on each join/leave note and every beat. */
  private members: Member[] = [];
  private membersTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private refreshAgain = false;
  private readonly turns = new Map<string, number>();
  /** Visitor requests being carried to another node (or waiting to be), and when one last began or ended. */
  private relaying = 0;
  /** TLS connections carried as raw bytes to the node that terminates them. */
  private readonly carriedTls = new Set<MuxStream>();
  /** Plain-HTTP visitor connections carried whole to the holder (the raw path there). */
  private readonly carriedHttp = new Set<MuxStream>();
  private lastRelayAt = 0;
  /** Claims this node is making, each settled once the bind that made it has its route (a tick later). */
  private readonly claiming = new Set<Promise<void>>();
  /** Labeled tunnels on other nodes, as bindings the HTTPS edge router can pick (stable per member). */
  private remoteLabeled = new Map<string, RemoteBinding>();

  constructor(private readonly opts: ClusterOptions) {
    if (!opts.secret || opts.secret.length < 16)
      throw new ClusterError(
        'ERR_BURROW_CLUSTER_SECRET',
        'a cluster needs BURROW_CLUSTER_SECRET (at least 16 characters, the same on every node)',
      );
    this.secret = new ClusterSecret(opts.secret);
    this.redis = new RedisNode({
      url: opts.redisUrl,
      secret: this.secret,
      node: this.node,
      addr: `${opts.nodeAddr.host}:${opts.nodeAddr.port}`,
      leaseMs: opts.leaseMs,
      log: opts.log,
    });
    this.peers = new PeerPool(this.secret);
  }

  /** Rate-limit windows every node counts in together (counters.ts). */
  rateLimiter(): SharedRateWindows {
    return new SharedRateWindows(this.redis, this.secret);
  }

  /** The authtoken-guessing throttle, counted cluster-wide (auth-throttle.ts). */
  authThrottle(): ClusterAuthThrottle {
    return new ClusterAuthThrottle(this.redis, this.secret);
  }

  get redisLabel(): string {
    return redactUrl(this.opts.redisUrl);
  }

  /** Connects to Redis (a clear error when it is not there) and loads the shared admin state. */
  async connect(): Promise<EdgeStore> {
    await this.redis.start([STATE_CHANNEL, TCP_CHANNEL, MEMBERS_CHANNEL, MOVED_CHANNEL]);
    this.redis.on('message', (channel, message) => {
      if (channel === MEMBERS_CHANNEL && message !== this.node) void this.refreshMembers();
      if (channel === MOVED_CHANNEL && message.startsWith(`${KEY_PREFIX}claim:`)) this.redis.moved(message);
      if (channel !== TCP_CHANNEL) return;
      const [op, port, node] = message.split(' ');
      if (node === this.node || !/^\d{1,5}$/.test(port)) return;
      // The note only says which port to look at: who holds it is read (and verified) per connection.
      if (op === 'add') this.forwardTcpPort(Number(port));
      else if (op === 'del') void this.closeTcpForwarder(Number(port));
    });
    this.redis.on('resync', () => void this.refreshMembers());
    await this.refreshMembers();
    // Members of a node that died expire from Redis: look again every third of a lease.
    this.membersTimer = setInterval(() => void this.refreshMembers(), Math.max(200, this.redis.leaseMs / 3));
    this.membersTimer.unref();
    this.stateBacking = new RedisStateBacking(this.redis, this.secret, this.opts.log);
    const state = await this.stateBacking.load(emptyState());
    return EdgeStore.backed(state, this.stateBacking);
  }

  /** Starts the node listener (peer links and /healthz) once the Edge is there to serve peers. */
  async listen(target: PeerTarget): Promise<number> {
    this.target = target;
    this.redis.on('lost', (key, holder) => {
      const [kind, ...name] = key.slice(`${KEY_PREFIX}claim:`.length).split(':');
      target.claimLost(kind as ClaimKind, name.join(':'), holder);
    });
    // TCP endpoints other nodes already hold.
    for await (const keys of this.redis.redis.scanStream({ match: claimKey('tcp', '*'), count: 100 }) as AsyncIterable<
      string[]
    >) {
      for (const key of keys) this.forwardTcpPort(Number(key.slice(key.lastIndexOf(':') + 1)));
    }
    this.peerServer = new PeerServer({
      secret: this.secret,
      ...this.opts.nodeAddr,
      health: () => this.health(),
      onStream: (stream, meta) => target.acceptPeer(stream, meta),
    });
    try {
      await this.peerServer.start();
    } catch (err) {
      throw new ClusterError(
        'ERR_BURROW_LISTEN',
        `cannot listen on the node address ${this.opts.nodeAddr.host}:${this.opts.nodeAddr.port}: ${(err as Error).message}`,
      );
    }
    return this.peerServer.port;
  }

  health(): { status: number; body: Record<string, unknown> } {
    const draining = !!this.target?.draining;
    const redis = this.redis.available ? 'ready' : 'unreachable';
    return {
      // A draining node leaves the balancer; a node without Redis still serves what it holds.
      status: draining ? 503 : 200,
      body: {
        node: this.node,
        status: draining ? 'draining' : 'ok',
        redis,
        draining,
        sessions: this.target?.sessionCount() ?? 0,
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.membersTimer);
    for (const port of [...this.tcpForwarders.keys()]) await this.closeTcpForwarder(port);
    this.peers.close();
    await this.peerServer?.close();
    await this.redis.stop();
  }

  // ---- claims ----

  async claim(kind: ClaimKind, name: string, holder: Holder, binding?: string): Promise<void> {
    const member = holder.owner === POOL_OWNER && binding ? this.memberOf(poolGroup(kind, name), binding) : undefined;
    const claiming = this.redis.claim(kind, name, holder, member);
    // Until the bind that made it has its route here: see settleHere.
    const settled = claiming.then(
      () => new Promise<void>((r) => setImmediate(r)),
      () => undefined,
    );
    this.claiming.add(settled);
    void settled.finally(() => this.claiming.delete(settled));
    await claiming;
    if (kind === 'tcp') void this.redis.redis.publish(TCP_CHANNEL, `add ${name} ${this.node}`).catch(() => undefined);
  }

  release(kind: ClaimKind, name: string, holder: Holder): void {
    void this.redis.release(claimKey(kind, name), holder).then(() => {
      // A pool's name goes with its last member (leave).
      if (kind === 'tcp' && holder.owner !== POOL_OWNER)
        void this.redis.redis.publish(TCP_CHANNEL, `del ${name} ${this.node}`).catch(() => undefined);
    });
  }

  drainCarried(): void {
    for (const stream of [...this.carriedTls, ...this.carriedHttp]) stream.sendMeta({ drain: true });
  }

  async heldBy(kind: ClaimKind, name: string, owner: string): Promise<boolean> {
    this.redis.forget(kind, name);
    return (await this.redis.lookup(kind, [name]).catch(() => undefined))?.owner === owner;
  }

  idle(): boolean {
    // The grace covers a request another node sent here just as the last one ended.
    return this.relaying === 0 && Date.now() - this.lastRelayAt > 250;
  }

  async yieldTcpPort(port: number): Promise<void> {
    await this.closeTcpForwarder(port);
  }

  /** Listens on another node's TCP endpoint port here; each connection goes to whoever holds it then. */
  private forwardTcpPort(port: number): void {
    if (!this.target || this.tcpForwarders.has(port) || !(port > 0 && port < 65536)) return;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => socket.destroy());
      socket.pause();
      void this.redis.lookup('tcp', [String(port)]).then(async (claim) => {
        // A pool's port: one of its members, round robin.
        const dest = claim?.owner === POOL_OWNER ? this.pickMember(poolGroup('tcp', String(port))) : claim;
        if (!dest || dest.node === this.node) return void socket.destroy();
        let stream: MuxStream;
        try {
          stream = await this.openOnHolder(
            dest,
            {
              kind: 'peer',
              proto: 'tcp',
              port,
              remoteAddr: String(socket.remoteAddress ?? ''),
              remotePort: socket.remotePort,
              binding: 'binding' in dest ? dest.binding : undefined,
            },
            'tcp',
            String(port),
          );
        } catch {
          return void socket.destroy();
        }
        pipeBoth(socket, stream);
        socket.resume();
      });
    });
    this.tcpForwarders.set(port, server);
    server.once('error', () => this.tcpForwarders.get(port) === server && this.tcpForwarders.delete(port));
    server.listen(port, this.target.tcpListenHost);
  }

  private async closeTcpForwarder(port: number): Promise<void> {
    const server = this.tcpForwarders.get(port);
    if (!server) return;
    this.tcpForwarders.delete(port);
    await new Promise((r) => server.close(r));
  }

  // ---- groups spanning nodes: endpoint pools, labeled tunnels ----

  /** A member of this node (one shape, so its signed value is the same at claim and join). */
  private memberOf(group: string, binding: string, labels?: Record<string, string>): Member {
    return { group, binding, node: this.node, addr: this.redis.addr, ...(labels ? { labels } : {}) };
  }

  join(group: string, binding: string, labels?: Record<string, string>): void {
    const member = this.memberOf(group, binding, labels);
    this.members = [...this.members, member].sort((a, b) => (a.binding < b.binding ? -1 : 1));
    void this.redis.join(member);
  }

  leave(binding: string): void {
    const mine = this.members.find((m) => m.node === this.node && m.binding === binding);
    this.members = this.members.filter((m) => m !== mine);
    const group = mine?.group;
    const poolKey = group ? poolClaimKey(group) : undefined;
    void this.redis.leave(binding, poolKey).then((remain) => {
      if (!group?.startsWith('pool:tcp:')) return;
      const port = group.slice('pool:tcp:'.length);
      // The pool's last member anywhere: its port is free. Else, with none left here, this node
      // carries the port's connections to the others' members.
      if (!remain) void this.redis.redis.publish(TCP_CHANNEL, `del ${port} ${this.node}`).catch(() => undefined);
      else if (!this.members.some((m) => m.group === group && m.node === this.node)) this.forwardTcpPort(Number(port));
    });
  }

  forwardRaw(socket: Duplex, member: Member, proto: 'tls' | 'tcp', head?: Buffer, port?: number): void {
    const s = socket as net.Socket;
    void this.openOnHolder(
      member,
      {
        kind: 'peer',
        proto,
        port,
        binding: member.binding,
        remoteAddr: String(s.remoteAddress ?? ''),
        remotePort: s.remotePort,
      },
      proto,
      String(port ?? ''),
    ).then(
      (stream) => {
        if (head?.length) stream.write(head);
        pipeBoth(socket, stream);
        socket.resume();
      },
      () => socket.destroy(),
    );
  }

  pickMember(group: string): Member | undefined {
    const all = this.members.filter((m) => m.group === group && this.usable(m));
    if (!all.length) return undefined;
    const turn = this.turns.get(group) ?? 0;
    this.turns.set(group, (turn + 1) % 1_000_000);
    return all[turn % all.length];
  }

  /** Labeled tunnels other nodes hold whose link is up (HTTPS edges' tunnel groups pick among them). */
  labeledElsewhere(): RemoteBinding[] {
    const out: RemoteBinding[] = [];
    for (const m of this.members) {
      if (m.group !== 'labels' || m.node === this.node) continue;
      const key = `${m.addr} ${m.binding}`;
      let b = this.remoteLabeled.get(key);
      if (!b) {
        b = new RemoteBinding(m, this.peers);
        this.remoteLabeled.set(key, b);
      }
      if (!b.session.isClosed) out.push(b);
    }
    return out;
  }

  /** A member here, or on a node whose link is up (or being opened for the first time). */
  private usable(m: Member): boolean {
    return m.node === this.node || this.peers.isUp(m.addr);
  }

  private refreshMembers(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        if (!this.redis.available) break;
        const listed = await this.redis.members().catch(() => undefined);
        if (!listed) break;
        // What this node joined counts even before Redis has it (joins made while it was away).
        const mine = this.members.filter((m) => m.node === this.node);
        const others = listed.filter((m) => m.node !== this.node);
        // One order on every node (by binding id), so round robin does not skip when Redis reorders.
        this.members = [...mine, ...others].sort((a, b) => (a.binding < b.binding ? -1 : 1));
        const keys = new Set(others.map((m) => `${m.addr} ${m.binding}`));
        for (const key of this.remoteLabeled.keys()) if (!keys.has(key)) this.remoteLabeled.delete(key);
        // Warm the links, so the first visitor does not wait for a handshake; retry nodes marked down.
        for (const addr of new Set(others.map((m) => m.addr))) {
          this.peers.retry(addr);
          this.peers.ready(addr);
        }
      } while (this.refreshAgain);
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** True when an agent on any node binds `host` as an HTTP or TLS endpoint (ERR_NGROK_7132). */
  async isBound(host: string): Promise<boolean> {
    const name = normalizeHost(host);
    return !!(await this.redis.lookup('http', [name])) || !!(await this.redis.lookup('tls', [name]));
  }

  abandon(kind: ClaimKind, name: string, holder: Holder): void {
    this.redis.abandon(claimKey(kind, name), holder);
  }

  // ---- routing to the holder ----

  /** The node holding `host` (exact name, then the wildcard one label up); `fresh`: ask Redis. */
  private async claimOf(kind: ClaimKind, host: string, fresh = false): Promise<Claim | undefined> {
    const names = [host];
    const dot = host.indexOf('.');
    if (dot > 0) names.push(`*.${host.slice(dot + 1)}`);
    if (fresh) this.redis.forgetAll(kind, names);
    return this.redis.lookup(kind, names).catch(() => undefined);
  }

  /** The other node holding `host`. */
  private async holderOf(kind: ClaimKind, host: string): Promise<Claim | undefined> {
    const claim = await this.claimOf(kind, host);
    return claim && claim.node !== this.node ? claim : undefined;
  }

  private async openOnHolder(
    claim: { addr: string },
    meta: PeerOpen,
    kind: ClaimKind,
    host: string,
  ): Promise<MuxStream> {
    let link: MuxSession;
    try {
      link = await this.peers.get(claim.addr);
      return link.openStream(meta);
    } catch (err) {
      // The holder may have just died: look again on the next request.
      this.redis.forget(kind, host);
      throw err;
    }
  }

  forwardRequest(req: ClientRequest, res: ClientResponse, scheme: Scheme, member?: Member, fresh = false): void {
    const host = normalizeHost(hostOf(req));
    this.relaying++;
    this.lastRelayAt = Date.now();
    res.once('close', () => {
      this.relaying--;
      this.lastRelayAt = Date.now();
    });
    void this.route(host, member, fresh).then(async (dest) => {
      // This node bound the name while the request was looking (an agent moving here): serve it.
      if (dest === 'here' && this.target?.routeAgain(req, res, scheme)) return;
      if (!dest || dest === 'here')
        return sendEdgeError(req, res, 'ERR_NGROK_3200', `no endpoint is bound to ${scheme}://${host}`);
      let link: MuxSession;
      try {
        link = await this.peers.get(dest.addr);
      } catch (err) {
        this.redis.forget('http', host);
        // A pool member's node is gone: another member serves (the dead node is left out now).
        const next = dest.binding ? this.pickMember(`pool:${host}`) : undefined;
        if (next && next.addr !== dest.addr && next.node !== this.node)
          return this.forwardRequest(req, res, scheme, next);
        return sendEdgeError(
          req,
          res,
          'ERR_NGROK_3210',
          `the node holding ${host} is unreachable: ${(err as Error).message}`,
        );
      }
      relayHttp(req, res, peerAgentFor(req, dest.addr, scheme, link, dest.binding));
    });
  }

  /** Where to carry a request for `host` (see destination), once a name Redis gives this node has settled. */
  private async route(host: string, member?: Member, fresh = false): Promise<Destination | 'here' | undefined> {
    const dest = await this.destination(host, member, fresh);
    return dest === 'here' ? this.settleHere(host) : dest;
  }

  /**
   * Redis names this node for `host`, yet no endpoint here serves it. Either a bind here is
   * finishing (its claim is written, its route a few ticks away: a visitor another node sent here
   * at once must not get a 404 in that instant), or this node drains and the agent that held the
   * name is moving to another node: wait, bounded, until the name is bound here or held elsewhere.
   */
  private async settleHere(host: string): Promise<Destination | 'here' | undefined> {
    const until = Date.now() + HANDOFF_WAIT_MS;
    for (;;) {
      await Promise.all([...this.claiming]);
      if (this.target?.servesHttp(host)) return 'here';
      if (!this.target?.draining || Date.now() > until) return undefined;
      await new Promise((r) => setTimeout(r, 25));
      const dest = await this.destination(host, undefined, true);
      if (dest !== 'here') return dest;
    }
  }

  /**
   * Where to carry a request for `host`: the given pool member, or the holder of the name (a
   * pooled name: one of its members on another node).
   */
  private async destination(host: string, member?: Member, fresh = false): Promise<Destination | 'here' | undefined> {
    if (member) return { addr: member.addr, binding: member.binding };
    const claim = await this.claimOf('http', host, fresh);
    if (claim?.node === this.node && claim.owner !== POOL_OWNER) return 'here';
    if (!claim || claim.owner !== POOL_OWNER) return claim && { addr: claim.addr };
    for (let i = 0; i < 8; i++) {
      const m = this.pickMember(`pool:${host}`);
      if (!m) break;
      if (m.node !== this.node) return { addr: m.addr, binding: m.binding };
    }
    return undefined;
  }

  forwardUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    scheme: Scheme,
    member?: Member,
    fresh = false,
  ): void {
    const host = normalizeHost(hostOf(req));
    void this.route(host, member, fresh).then(async (dest) => {
      if (dest === 'here' && this.target?.routeUpgradeAgain(req, socket, head, scheme)) return;
      if (!dest || dest === 'here') {
        socket.end(rawEdgeError('ERR_NGROK_3200', `no endpoint is bound to ${scheme}://${host}`));
        return;
      }
      let stream: MuxStream;
      try {
        stream = await this.openOnHolder(
          dest,
          { kind: 'peer', proto: scheme, remoteAddr: clientIpOf(req), binding: dest.binding },
          'http',
          host,
        );
      } catch (err) {
        socket.end(
          rawEdgeError('ERR_NGROK_3210', `the node holding ${host} is unreachable: ${(err as Error).message}`),
        );
        return;
      }
      // The holder's HTTP server parses the request again and answers the upgrade itself.
      let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
      text += rawHeadersText(req.rawHeaders);
      stream.write(`${text}\r\n`);
      if (head.length) stream.write(head);
      pipeBoth(socket, stream);
    });
  }

  async carryHttp(socket: Duplex, head: Buffer, host: string): Promise<boolean> {
    const name = normalizeHost(host);
    const claim = await this.holderOf('http', name);
    // A pool's requests go round robin one by one (forwardRequest), never a whole connection.
    if (!claim || claim.owner === POOL_OWNER) return false;
    const s = socket as net.Socket;
    let stream: MuxStream;
    try {
      stream = await this.openOnHolder(
        claim,
        {
          kind: 'peer',
          proto: 'http',
          visitor: true,
          remoteAddr: String(s.remoteAddress ?? ''),
          remotePort: s.remotePort,
        },
        'http',
        name,
      );
    } catch {
      return false; // the per-request path answers with its coded error
    }
    this.carriedHttp.add(stream);
    stream.once('close', () => this.carriedHttp.delete(stream));
    stream.write(head);
    pipeBoth(socket, stream);
    socket.resume();
    return true;
  }

  async forwardTls(socket: Duplex, serverName: string, head: Buffer): Promise<boolean> {
    const host = normalizeHost(serverName);
    const tlsClaim = await this.claimOf('tls', host);
    // A TLS pool's name: one of its members, round robin.
    const dest =
      tlsClaim?.owner === POOL_OWNER
        ? this.pickMember(poolGroup('tls', host))
        : tlsClaim?.node !== this.node && tlsClaim
          ? tlsClaim
          : await this.holderOf('http', host);
    if (!dest || dest.node === this.node) return false;
    const s = socket as net.Socket;
    let stream: MuxStream;
    try {
      stream = await this.openOnHolder(
        dest,
        {
          kind: 'peer',
          proto: 'tls',
          remoteAddr: String(s.remoteAddress ?? ''),
          remotePort: s.remotePort,
          binding: 'binding' in dest ? dest.binding : undefined,
        },
        'tls',
        host,
      );
    } catch {
      socket.destroy();
      return true;
    }
    stream.write(head);
    pipeBoth(socket, stream);
    this.carriedTls.add(stream);
    stream.once('close', () => this.carriedTls.delete(stream));
    socket.resume();
    return true;
  }
}

/**
 * A labeled tunnel on another node, as the HTTPS edge router sees a binding: streams opened on its
 * "session" go over the peer link and are relayed as they are to the agent's binding there (the
 * route's modules already ran here).
 */
export class RemoteBinding {
  readonly id: string;
  readonly labels?: Record<string, string>;
  readonly session: AgentSession;

  constructor(member: Member, peers: PeerPool) {
    this.id = member.binding;
    this.labels = member.labels;
    this.session = {
      get isClosed() {
        return !peers.ready(member.addr);
      },
      openStream(open: StreamOpen, fin = false): Duplex {
        const link = peers.ready(member.addr);
        if (!link) throw new ClusterError('ERR_NGROK_3210', 'the node holding this tunnel is unreachable');
        const meta: PeerOpen = {
          kind: 'peer',
          proto: 'binding',
          remoteAddr: open.remoteAddr,
          binding: member.binding,
          open,
          fin,
        };
        return link.openStream(meta, fin);
      },
      close() {},
    };
  }
}

/** On the node holding `binding`: one agent stream another node opened for it, relayed both ways. */
export function relayToBinding(peer: MuxStream, session: AgentSession | undefined, meta: PeerOpen): void {
  if (!session || session.isClosed || !meta.open) {
    peer.reset({ code: 'ERR_NGROK_3210', message: 'the tunnel is no longer bound on this node' });
    return;
  }
  let agent: Duplex;
  try {
    agent = session.openStream(meta.open, !!meta.fin);
  } catch (err) {
    peer.reset({ code: 'ERR_NGROK_3210', message: (err as Error).message });
    return;
  }
  agent.on('meta', (head: unknown) => peer.sendMeta(head));
  if (!meta.fin) peer.pipe(agent);
  agent.pipe(peer);
  agent.on('error', (err: Error & { code?: string }) =>
    peer.reset({ code: err.code ?? 'ERR_NGROK_3210', message: err.message }),
  );
  peer.on('error', () => agent.destroy());
  peer.on('close', () => {
    if (!agent.writableFinished || !agent.readableEnded) agent.destroy();
  });
}

function pipeBoth(socket: Duplex, stream: MuxStream): void {
  socket.pipe(stream).pipe(socket);
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
  socket.on('close', () => stream.destroy());
}

/**
 * Keep-alive "connections" (peer streams) to a holder for one visitor connection: its requests
 * reuse one stream, like a proxy's upstream connection, and the stream's metadata (the visitor's
 * address) stays true for every request on it.
 */
class PeerAgent extends http.Agent {
  constructor(
    readonly link: MuxSession,
    private readonly meta: PeerOpen,
  ) {
    super({ keepAlive: true });
  }

  override createConnection(): Duplex {
    return this.link.openStream(this.meta);
  }

  // A peer stream is no TCP socket: nothing to keep alive or unref.
  override keepSocketAlive(): boolean {
    return true;
  }

  override reuseSocket(_socket: unknown, req: http.ClientRequest): void {
    req.reusedSocket = true;
  }
}

const peerAgents = new WeakMap<object, Map<string, PeerAgent>>();

function peerAgentFor(req: ClientRequest, addr: string, scheme: Scheme, link: MuxSession, binding?: string): PeerAgent {
  // HTTP/2: one visitor connection is the session (req.socket is only a proxy to it).
  const owner: EventEmitter = 'stream' in req && req.stream ? req.stream.session! : req.socket;
  let agents = peerAgents.get(owner);
  if (!agents) {
    const created = new Map<string, PeerAgent>();
    agents = created;
    peerAgents.set(owner, created);
    owner.once('close', () => {
      for (const a of created.values()) a.destroy();
    });
  }
  const key = `${scheme} ${addr} ${binding ?? ''}`;
  let agent = agents.get(key);
  if (!agent || agent.link !== link || link.isClosed) {
    agent?.destroy();
    agent = new PeerAgent(link, { kind: 'peer', proto: scheme, remoteAddr: clientIpOf(req), binding });
    agents.set(key, agent);
  }
  return agent;
}

const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
]);

/** The visitor's request re-sent as HTTP/1.1 on a peer stream; the holder's answer streamed back as is. */
function relayHttp(req: ClientRequest, res: ClientResponse, agent: PeerAgent): void {
  const headers: string[] = [];
  let hasHost = false;
  let hasLength = false;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name.startsWith(':') || HOP.has(name)) continue;
    if (name === 'host') hasHost = true;
    if (name === 'content-length') hasLength = true;
    headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  if (!hasHost) headers.push('Host', hostOf(req));
  const h2 = 'stream' in req && req.stream;
  const hasBody = h2 ? !req.stream.endAfterHeaders : req.headers['transfer-encoding'] !== undefined || hasLength;
  if (hasBody && !hasLength) headers.push('Transfer-Encoding', 'chunked');
  let out: http.ClientRequest;
  try {
    out = http.request({
      agent,
      method: req.method,
      path: req.url,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
    });
  } catch (err) {
    return sendEdgeError(
      req,
      res,
      'ERR_NGROK_3210',
      `the link to the node holding this endpoint failed: ${(err as Error).message}`,
    );
  }
  out.on('response', (back) => {
    const raw = filterRawHeaders(back.rawHeaders, (name) => !HOP.has(name));
    try {
      if ('stream' in res) {
        res.writeHead(back.statusCode ?? 502, rawHeadersObject(raw));
      } else {
        res.writeHead(back.statusCode ?? 502, back.statusMessage, raw as unknown as http.OutgoingHttpHeaders);
      }
    } catch (err) {
      out.destroy();
      return sendEdgeError(req, res, 'ERR_NGROK_3004', (err as Error).message);
    }
    back.pipe(res as NodeJS.WritableStream);
    back.on('error', () => res.destroy());
  });
  out.on('error', (err) => {
    if (!res.headersSent)
      sendEdgeError(req, res, 'ERR_NGROK_3210', `the node holding this endpoint dropped the request: ${err.message}`);
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) out.destroy();
  });
  if (hasBody) req.pipe(out);
  else out.end();
}
