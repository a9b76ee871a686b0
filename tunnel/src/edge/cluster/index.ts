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
import type { MuxSession, MuxStream } from '../../protocol/session';
import { EdgeStore, emptyState } from '../admin/store';
import { sendEdgeError, rawEdgeError } from '../../edge-errors';
import { clientIpOf, hostOf } from '../http-proxy';
import { normalizeHost } from '../../net/host';
import { filterRawHeaders, rawHeadersObject, rawHeadersText } from '../../net/raw-headers';
import { ClusterAuthThrottle } from './auth-throttle';
import { SharedCounter } from './counters';
import { PeerPool, PeerServer, type PeerOpen } from './peers';
import { ClusterError, KEY_PREFIX, RedisNode, claimKey, redactUrl, type Claim, type Holder } from './redis';
import { ClusterSecret } from './secret';
import { RedisStateBacking, STATE_CHANNEL } from './state';

/** Announces TCP claims, so every node listens on every TCP endpoint's port. */
const TCP_CHANNEL = 'burrow:tcp-ports';

export { ClusterError } from './redis';
export type { Holder } from './redis';
export type { PeerOpen } from './peers';

export type ClaimKind = 'http' | 'tls' | 'tcp';

/** What the Edge asks of the cluster (see the hooks in edge.ts). */
export interface ClusterHooks {
  /** This node's id (shown with each session by the admin API). */
  readonly node: string;
  /** Claims a name cluster-wide for a session: ERR_NGROK_334 when another agent holds it. */
  claim(kind: ClaimKind, name: string, holder: Holder): Promise<void>;
  release(kind: ClaimKind, name: string, holder: Holder): void;
  /** Stops renewing a claim (its session is gone): it lapses within the lease unless the agent takes it back. */
  abandon(kind: ClaimKind, name: string, holder: Holder): void;
  /** An HTTP request for a name not bound here: carried to its holder, or answered 3200. */
  forwardRequest(req: ClientRequest, res: ClientResponse, scheme: Scheme): void;
  forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): void;
  /** A TLS connection whose SNI names nothing here: true when another node holds the name. */
  forwardTls(socket: Duplex, serverName: string, head: Buffer): Promise<boolean>;
  /** Before an agent's TCP endpoint listens on `port` here: stop forwarding that port to another node. */
  yieldTcpPort(port: number): Promise<void>;
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

  /**
   * A counter shared by every node (see counters.ts): the seam for any rate limit that must
   * count cluster-wide.
   */
  counter(name: string, windowMs: number): SharedCounter {
    return new SharedCounter(this.redis, this.secret, name, windowMs);
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
    await this.redis.start([STATE_CHANNEL, TCP_CHANNEL]);
    this.redis.on('message', (channel, message) => {
      if (channel !== TCP_CHANNEL) return;
      const [op, port, node] = message.split(' ');
      if (node === this.node || !/^\d{1,5}$/.test(port)) return;
      // The note only says which port to look at: who holds it is read (and verified) per connection.
      if (op === 'add') this.forwardTcpPort(Number(port));
      else if (op === 'del') void this.closeTcpForwarder(Number(port));
    });
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
    for (const port of [...this.tcpForwarders.keys()]) await this.closeTcpForwarder(port);
    this.peers.close();
    await this.peerServer?.close();
    await this.redis.stop();
  }

  // ---- claims ----

  async claim(kind: ClaimKind, name: string, holder: Holder): Promise<void> {
    await this.redis.claim(kind, name, holder);
    if (kind === 'tcp') void this.redis.redis.publish(TCP_CHANNEL, `add ${name} ${this.node}`).catch(() => undefined);
  }

  release(kind: ClaimKind, name: string, holder: Holder): void {
    void this.redis.release(claimKey(kind, name), holder).then(() => {
      if (kind === 'tcp') void this.redis.redis.publish(TCP_CHANNEL, `del ${name} ${this.node}`).catch(() => undefined);
    });
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
        if (!claim || claim.node === this.node) return void socket.destroy();
        let stream: MuxStream;
        try {
          stream = await this.openOnHolder(
            claim,
            {
              kind: 'peer',
              proto: 'tcp',
              port,
              remoteAddr: String(socket.remoteAddress ?? ''),
              remotePort: socket.remotePort,
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

  abandon(kind: ClaimKind, name: string, holder: Holder): void {
    this.redis.abandon(claimKey(kind, name), holder);
  }

  // ---- routing to the holder ----

  /** The other node holding `host` (exact name, then the wildcard one label up). */
  private async holderOf(kind: ClaimKind, host: string): Promise<Claim | undefined> {
    const names = [host];
    const dot = host.indexOf('.');
    if (dot > 0) names.push(`*.${host.slice(dot + 1)}`);
    const claim = await this.redis.lookup(kind, names).catch(() => undefined);
    return claim && claim.node !== this.node ? claim : undefined;
  }

  private async openOnHolder(claim: Claim, meta: PeerOpen, kind: ClaimKind, host: string): Promise<MuxStream> {
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

  forwardRequest(req: ClientRequest, res: ClientResponse, scheme: Scheme): void {
    const host = normalizeHost(hostOf(req));
    void this.holderOf('http', host).then(async (claim) => {
      if (!claim) return sendEdgeError(req, res, 'ERR_NGROK_3200', `no endpoint is bound to ${scheme}://${host}`);
      let link: MuxSession;
      try {
        link = await this.peers.get(claim.addr);
      } catch (err) {
        this.redis.forget('http', host);
        return sendEdgeError(
          req,
          res,
          'ERR_NGROK_3210',
          `the node holding ${host} is unreachable: ${(err as Error).message}`,
        );
      }
      relayHttp(req, res, peerAgentFor(req, claim.addr, scheme, link));
    });
  }

  forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): void {
    const host = normalizeHost(hostOf(req));
    void this.holderOf('http', host).then(async (claim) => {
      if (!claim) {
        socket.end(rawEdgeError('ERR_NGROK_3200', `no endpoint is bound to ${scheme}://${host}`));
        return;
      }
      let stream: MuxStream;
      try {
        stream = await this.openOnHolder(
          claim,
          { kind: 'peer', proto: scheme, remoteAddr: clientIpOf(req) },
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

  async forwardTls(socket: Duplex, serverName: string, head: Buffer): Promise<boolean> {
    const host = normalizeHost(serverName);
    const claim = (await this.holderOf('tls', host)) ?? (await this.holderOf('http', host));
    if (!claim) return false;
    const s = socket as net.Socket;
    let stream: MuxStream;
    try {
      stream = await this.openOnHolder(
        claim,
        { kind: 'peer', proto: 'tls', remoteAddr: String(s.remoteAddress ?? ''), remotePort: s.remotePort },
        'tls',
        host,
      );
    } catch {
      socket.destroy();
      return true;
    }
    stream.write(head);
    pipeBoth(socket, stream);
    socket.resume();
    return true;
  }
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

function peerAgentFor(req: ClientRequest, addr: string, scheme: Scheme, link: MuxSession): PeerAgent {
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
  const key = `${scheme} ${addr}`;
  let agent = agents.get(key);
  if (!agent || agent.link !== link || link.isClosed) {
    agent?.destroy();
    agent = new PeerAgent(link, { kind: 'peer', proto: scheme, remoteAddr: clientIpOf(req) });
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
