// `burrow edge --ngrok-agent-listen ADDR`: a TLS listener where ngrok's own agents and SDKs
// connect (tunnel/NGROK-PROTOCOL.md). It uses the edge's certificate (the same TLS settings as the
// public TLS listener) and feeds every bind into the edge like Burrow's own agents do.
import net from 'node:net';
import tls from 'node:tls';
import type { Edge, ListenAddress } from '../edge/edge';
import type { TokenSet } from '../edge/tokens';
import type { CaptureStore } from '../capture/store';
import { NgrokAgentSession, type NgrokSessionHost } from './agent-session';

export interface NgrokAgentServerOptions {
  edge: Edge;
  tokens: TokenSet;
  listen: ListenAddress;
  /** What SrvInfo and AuthResp report as the region. */
  region?: string;
  /** Where the edge records these agents' HTTP exchanges (the admin API's /requests/http). */
  capture?: CaptureStore;
  /** How long an agent may take to answer an HTTP request with a response head (ms; default 5 min, 0 = no limit). */
  responseTimeoutMs?: number;
}

export const DEFAULT_RESPONSE_TIMEOUT_MS = 5 * 60_000;

export class NgrokAgentServer {
  private server?: tls.Server;
  /** The listener's close, once asked for (it settles when the last connection is gone). */
  private closing?: Promise<unknown>;
  private readonly sessions = new Set<NgrokAgentSession>();
  private readonly byAgent = new Map<string, NgrokAgentSession>();
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly options: NgrokAgentServerOptions) {}

  /** Sessions currently connected (authenticated or not): agentVersion, os, bindings… on each. */
  listSessions(): NgrokAgentSession[] {
    return [...this.sessions].filter((s) => s.id);
  }

  async start(): Promise<void> {
    const credentials = await this.options.edge.agentTlsOptions();
    // noDelay: muxado frames are small and latency-bound (Nagle + delayed ACK would add ~40 ms).
    const server = tls.createServer(
      { ...credentials, minVersion: 'TLSv1.2', handshakeTimeout: 10_000, noDelay: true },
      (socket) => this.onConnection(socket),
    );
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
  }

  /**
   * A draining cluster node (Edge.drain): no new agent sessions here — the listener closes, so a
   * balancer sends them to another node — and every session moves away (NgrokAgentSession.moveAway),
   * its exchanges in flight given at most 2 s: visitors wait meanwhile, so that wait stays short.
   */
  async drain(handoffUntil: number): Promise<void> {
    this.closing ??= this.server && new Promise((r) => this.server!.close(r));
    const until = Math.min(handoffUntil, Date.now() + 2000);
    await Promise.all(
      [...this.sessions].map((s) =>
        s.id
          ? s.moveAway(until)
          : s.close({ code: 'ERR_BURROW_EDGE_DRAINING', message: 'this edge node is shutting down' }),
      ),
    );
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close({ code: 'ERR_BURROW_EDGE_SHUTDOWN', message: 'edge is shutting down' });
    const closed = (this.closing ??= this.server && new Promise((r) => this.server!.close(r)));
    await new Promise((r) => setImmediate(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private onConnection(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    const host: NgrokSessionHost = {
      edge: this.options.edge,
      tokens: this.options.tokens,
      region: this.options.region ?? 'burrow',
      capture: this.options.capture,
      responseTimeoutMs: this.options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS,
      register: (session, key) => {
        const old = this.byAgent.get(key);
        this.byAgent.set(key, session);
        if (old && old !== session)
          old.close({ code: 'ERR_BURROW_SESSION_REPLACED', message: 'the agent reconnected' });
      },
      unregister: (session, key) => {
        if (this.byAgent.get(key) === session) this.byAgent.delete(key);
      },
    };
    const session = new NgrokAgentSession(socket, remote, host);
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
  }
}
