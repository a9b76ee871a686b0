// Node-to-node links. Each node listens on its node address for two things: `GET /healthz` (for
// the load balancer) and `/_burrow/peer`, a WebSocket carrying Burrow's own wire protocol
// (MuxSession) from another node. A node keeps one link per peer and opens one stream on it per
// visitor connection it carries over, so nothing opens a TCP connection per request. The
// handshake carries a fresh HMAC token under the cluster secret; without it: 401, no session.
import http from 'node:http';
import net from 'node:net';
import type tls from 'node:tls';
import { MuxSession } from '../../protocol/session';
import type { Transport } from '../../protocol/transport';
import { openWebSocket, type WebSocketOpenError } from '../../protocol/ws-handshake';
import { acceptLink } from '../ws-upgrade';
import { PEER_AUTH_HEADER, type ClusterSecret } from './secret';

export const PEER_PATH = '/_burrow/peer';
export const HEALTH_PATH = '/healthz';

/** The metadata of a stream one node opens on another: a visitor connection to serve there. */
export interface PeerOpen {
  kind: 'peer';
  /**
   * http/https: an HTTP/1.1 connection (https: the visitor used TLS at the first node); tls: raw
   * TLS bytes; tcp: raw bytes for a TCP port; binding: one agent stream (`open`) relayed as is to
   * the binding `binding` (a labeled tunnel whose edge route already ran on the first node).
   */
  proto: 'http' | 'https' | 'tls' | 'tcp' | 'binding';
  /** The visitor's address as the first node saw it. */
  remoteAddr: string;
  remotePort?: number;
  /**
   * http: a visitor's whole connection, carried from its first request on (edge.ts rawRoute):
   * served like one of the public listener's, head deadlines and keep-alive limits included.
   */
  visitor?: boolean;
  /** tcp: the endpoint's port. */
  port?: number;
  /** http/https: serve these requests with this pool member; binding: the binding to relay to. */
  binding?: string;
  /** binding: the agent stream's own open message, and whether it has no body. */
  open?: import('../../protocol/messages').StreamOpen;
  fin?: boolean;
}

export interface PeerServerOptions {
  secret: ClusterSecret;
  host: string;
  port: number;
  health: () => { status: number; body: Record<string, unknown> };
  onStream: (stream: import('../../protocol/session').MuxStream, meta: PeerOpen) => void;
}

export class PeerServer {
  private readonly server: http.Server;
  private readonly sessions = new Set<MuxSession>();
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly opts: PeerServerOptions) {
    this.server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url?.split('?')[0] === HEALTH_PATH) {
        const { status, body } = opts.health();
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${JSON.stringify(body)}\n`);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (req.url !== PEER_PATH) return void socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      if (!opts.secret.checkPeerToken(header(req, PEER_AUTH_HEADER))) {
        socket.end(
          'HTTP/1.1 401 Unauthorized\r\nngrok-error-code: ERR_BURROW_CLUSTER_AUTH\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 52\r\n\r\nnode-to-node links need the cluster secret (HMAC)\r\n\r\n',
        );
        return;
      }
      const transport = acceptLink(req, socket, head);
      if (transport) this.accept(transport);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close();
    const closed = new Promise((r) => this.server.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private accept(transport: Transport): void {
    const session = new MuxSession(transport, { role: 'edge' });
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('control', () =>
      session.close({ code: 'ERR_BURROW_PROTOCOL', message: 'peer links carry streams only' }),
    );
    session.on('stream', (stream, meta) => {
      const m = meta as PeerOpen;
      if (m?.kind !== 'peer' || !['http', 'https', 'tls', 'tcp', 'binding'].includes(m.proto)) {
        stream.reset({ code: 'ERR_BURROW_PROTOCOL', message: 'not a peer stream' });
        return;
      }
      this.opts.onStream(stream, m);
    });
  }
}

/** One multiplexed link per peer node, opened on first use and again after it drops. */
export class PeerPool {
  private readonly links = new Map<string, Promise<MuxSession>>();
  /** Links that are up now (what synchronous routing may use). */
  private readonly open = new Map<string, MuxSession>();
  /** Nodes whose link failed and could not be opened again: left out of pools and groups. */
  private readonly down = new Set<string>();

  constructor(private readonly secret: ClusterSecret) {}

  get(addr: string): Promise<MuxSession> {
    let link = this.links.get(addr);
    if (!link) {
      const made = this.connect(addr);
      link = made;
      this.links.set(addr, made);
      made.then(
        (s) => {
          this.down.delete(addr);
          this.open.set(addr, s);
          s.once('close', () => {
            if (this.open.get(addr) === s) this.open.delete(addr);
            if (this.links.get(addr) === made) this.links.delete(addr);
            // A node that died drops out at once: dial again now, and mark it down if that fails.
            if (!this.closed) this.get(addr).catch(() => undefined);
          });
        },
        () => {
          this.down.add(addr);
          if (this.links.get(addr) === made) this.links.delete(addr);
        },
      );
    }
    return link;
  }

  /** The link to `addr` if it is up now; else undefined (and it is being opened). */
  ready(addr: string): MuxSession | undefined {
    const s = this.open.get(addr);
    if (s && !s.isClosed) return s;
    if (!this.down.has(addr)) this.get(addr).catch(() => undefined);
    return undefined;
  }

  /** False once a link to `addr` failed and could not be opened again (until one opens). */
  isUp(addr: string): boolean {
    return !this.down.has(addr);
  }

  /** Try a node marked down again (its address appeared anew in Redis). */
  retry(addr: string): void {
    if (this.down.has(addr) && !this.links.has(addr)) this.get(addr).catch(() => undefined);
  }

  private closed = false;

  close(): void {
    this.closed = true;
    for (const link of this.links.values())
      link.then(
        (s) => s.close(),
        () => undefined,
      );
    this.links.clear();
  }

  private connect(addr: string): Promise<MuxSession> {
    return openWebSocket(`ws://${addr}${PEER_PATH}`, {
      headers: { [PEER_AUTH_HEADER]: this.secret.peerToken() },
      timeoutMs: 3000,
    }).then(
      (transport) => new MuxSession(transport, { role: 'agent' }),
      (err: WebSocketOpenError) => {
        if (err.status) throw new Error(`node ${addr} refused the link (HTTP ${err.status})`);
        if (err.kind === 'handshake') throw new Error(`node ${addr} answered a bad handshake: ${err.message}`);
        throw new Error(`node ${addr} is unreachable: ${err.message}`);
      },
    );
  }
}

/**
 * HTTPS that another node carried here as raw TLS: the TLS socket sits on a peer stream, not a TCP
 * socket, so it has no address of its own. Give it the visitor's (set on the stream by
 * Edge.acceptPeer), so X-Forwarded-For and IP rules see the visitor. Reaches into Node's
 * TLSSocket internals (_handle._parentWrap.stream, _peername); without them nothing changes.
 */
export function adoptPeerAddress(socket: tls.TLSSocket): void {
  if (socket.remoteAddress) return;
  const inner = innerStreamOf(socket) as { remoteAddress?: string; remotePort?: number } | undefined;
  if (!inner?.remoteAddress) return;
  (socket as unknown as { _peername?: { address: string; port?: number; family: string } })._peername = {
    address: inner.remoteAddress,
    port: inner.remotePort,
    family: net.isIPv6(inner.remoteAddress) ? 'IPv6' : 'IPv4',
  };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The stream a TLS socket runs over when it is not a TCP socket (a peer stream), from Node's internals. */
export function innerStreamOf(socket: tls.TLSSocket): object | undefined {
  return (socket as unknown as { _handle?: { _parentWrap?: { stream?: object } } })._handle?._parentWrap?.stream;
}
