// The agent's side of a session: connect to the edge over WebSocket, say hello, keep the session
// alive, and reconnect with jittered exponential backoff when it drops.
import os from 'node:os';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { decodeHttpOpen } from '../protocol/binary-meta';
import { FEATURE_BINARY_META, FEATURE_SPLIT_DATA, PROTOCOL_VERSION, WIRE_FEATURES } from '../protocol/frames';
import {
  controlMessage,
  MESSAGE_MALFORMED,
  policyLogsMeta,
  streamOpen,
  type RefusedNotice,
  type BindRequest,
  type BindResult,
  type ControlMessage,
  type StreamOpen,
  type UnbindResult,
  type Welcome,
  type WireError,
} from '../protocol/messages';
import { ShapeError } from '../protocol/shape';
import { MuxSession, type MuxExchange, type MuxStream } from '../protocol/session';
import { CLOSE_NORMAL, type Transport } from '../protocol/transport';
import { openWebSocket, type WebSocketOpenError } from '../protocol/ws-handshake';
import { VERSION } from '../version';

export interface EdgeClientOptions {
  /** ws:// or wss:// URL of the edge's agent endpoint. */
  url: string;
  authtoken?: string;
  /** First and largest reconnect delays. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Opens the session in process instead of over `url` (the agent's own embedded edge). */
  connectInProcess?: () => Transport;
  /** How long a bind or unbind may wait for the edge's answer (default 30 s). */
  requestTimeoutMs?: number;
  /** The optional protocol features this agent announces (default all, WIRE_FEATURES; fewer: speak as an older agent). */
  wireFeatures?: readonly string[];
}

export interface EdgeClientEvents {
  /** `handoff`: the edge asked us to move; the previous session still serves its streams. */
  online: [info: { sessionId: string; reconnected: boolean; handoff: boolean }];
  /** The session we moved away from (handoff) has closed: its bindings are gone for good. */
  retired: [];
  offline: [error: WireError];
  /** Refused for good (bad authtoken, incompatible edge): no more reconnects. */
  fatal: [error: WireError];
  stream: [stream: MuxStream | MuxExchange, open: StreamOpen];
  /** The edge answered a request for one of our endpoints itself (PROTOCOL.md `refused`). */
  refused: [notice: RefusedNotice];
}

/** Errors after which retrying cannot help. */
const FATAL_CODES = new Set([
  'ERR_NGROK_107',
  'ERR_NGROK_4018',
  'ERR_BURROW_PROTOCOL_VERSION',
  // The edge's admin API stopped this agent (POST /tunnel_sessions/{id}/stop).
  'ERR_BURROW_SESSION_STOPPED',
]);
/** The edge asks for a reconnect now: a draining cluster node, or the admin API's restart. */
const RECONNECT_NOW = new Set(['ERR_BURROW_EDGE_DRAINING', 'ERR_BURROW_SESSION_RESTART']);

export class EdgeClient extends EventEmitter<EdgeClientEvents> {
  readonly clientId = randomUUID();
  private session?: MuxSession;
  private nextReqId = 1;
  private readonly pending = new Map<number, (msg: BindResult | UnbindResult) => void>();
  private attempt = 0;
  private stopped = false;
  private everOnline = false;
  private retryTimer?: NodeJS.Timeout;
  /** The session a draining edge asked us to leave: serving its streams until we close it. */
  private retiring?: MuxSession;
  private handingOff = false;
  sessionId: string | undefined;

  constructor(private readonly options: EdgeClientOptions) {
    super();
  }

  private get features(): readonly string[] {
    return this.options.wireFeatures ?? WIRE_FEATURES;
  }

  get online(): boolean {
    return this.sessionId !== undefined && !!this.session && !this.session.isClosed;
  }

  get latencyMs(): number | undefined {
    return this.session?.latencyMs;
  }

  /** Connects; resolves when the first session is up, rejects if the edge refuses us for good. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onOnline = () => {
        this.off('fatal', onFatal);
        resolve();
      };
      const onFatal = (e: WireError) => {
        this.off('online', onOnline);
        reject(Object.assign(new Error(e.message), { code: e.code }));
      };
      this.once('online', onOnline);
      this.once('fatal', onFatal);
      this.connect();
    });
  }

  async bind(req: Omit<BindRequest, 'type' | 'reqId'>): Promise<{ id: string; urls: string[] }> {
    const msg: BindRequest = { ...req, type: 'bind', reqId: this.nextReqId++ };
    // The edge ends a session over a malformed message: refuse this bind here instead.
    try {
      controlMessage(JSON.parse(JSON.stringify(msg)), 'bind');
    } catch (err) {
      if (err instanceof ShapeError)
        throw Object.assign(new Error(`the endpoint cannot be sent to the edge: ${err.message}`), {
          code: MESSAGE_MALFORMED,
        });
      throw err;
    }
    const result = (await this.request(msg)) as BindResult;
    if (result.error || !result.binding)
      throw Object.assign(new Error(result.error?.message ?? 'bind failed'), {
        code: result.error?.code ?? 'ERR_BURROW_INTERNAL',
      });
    return result.binding;
  }

  async unbind(id: string): Promise<void> {
    if (!this.online) return;
    await this.request({ type: 'unbind', reqId: this.nextReqId++, id });
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.session?.close();
    this.retiring?.close();
  }

  /**
   * After a handoff, once the endpoints are bound on the new session: close the old one when its
   * streams are done (at most `maxWaitMs`; what is left then is cut and answered 502 by the edge).
   */
  async retire(maxWaitMs = 30_000): Promise<void> {
    const old = this.retiring;
    if (!old) return;
    const until = Date.now() + maxWaitMs;
    // Visitors' requests routed by other nodes before they saw the move still land here briefly.
    await new Promise((r) => setTimeout(r, 200));
    while (!old.isClosed && old.streamCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    old.close();
  }

  private request(
    msg: BindRequest | { type: 'unbind'; reqId: number; id: string },
  ): Promise<BindResult | UnbindResult> {
    const session = this.session;
    if (!session || !this.online)
      return Promise.reject(Object.assign(new Error('not connected to the edge'), { code: 'ERR_NGROK_3210' }));
    return new Promise((resolve, reject) => {
      const fail = (code: string, message: string) => {
        this.pending.delete(msg.reqId);
        session.off('close', onClose);
        clearTimeout(timer);
        reject(Object.assign(new Error(message), { code }));
      };
      const onClose = () => fail('ERR_BURROW_SESSION_CLOSED', 'session to the edge closed');
      // An edge that keeps the session alive but never answers must not hang a start or a stop.
      const waitMs = this.options.requestTimeoutMs ?? 30_000;
      const timer = setTimeout(
        () => fail('ERR_BURROW_EDGE_TIMEOUT', `the edge did not answer the ${msg.type} within ${waitMs / 1000} s`),
        waitMs,
      );
      session.once('close', onClose);
      this.pending.set(msg.reqId, (result) => {
        session.off('close', onClose);
        clearTimeout(timer);
        resolve(result);
      });
      session.sendControl(msg);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    if (this.options.connectInProcess) {
      this.onTransport(this.options.connectInProcess());
      return;
    }
    const url = this.options.url;
    const loopbackOrTls = url.startsWith('wss:') || /^ws:\/\/(127\.|localhost|\[::1\])/.test(url);
    // Masking guards plaintext proxies against browser-driven cache poisoning; over TLS or on
    // loopback there is no such proxy, and a zero mask saves XOR-ing every byte.
    openWebSocket(url, { timeoutMs: 10_000, zeroMask: loopbackOrTls }).then(
      (transport) => {
        if (this.stopped) return transport.close(CLOSE_NORMAL, 'agent stopped');
        this.onTransport(transport);
      },
      (err: WebSocketOpenError) => {
        if (err.kind === 'unreachable')
          return this.lost({ code: 'ERR_BURROW_EDGE_UNREACHABLE', message: `${url}: ${err.message}` });
        const answered = err.status
          ? `HTTP ${err.status}${err.errorCode ? ` (${err.errorCode})` : ''}`
          : `a bad handshake (${err.message})`;
        this.lost({ code: 'ERR_BURROW_EDGE_HANDSHAKE', message: `edge answered ${answered} instead of a websocket` });
      },
    );
  }

  private onTransport(transport: Transport): void {
    // The edge sends one kind of Meta: the response phase's policy log entries of an HTTP stream.
    // HTTP exchanges come as light MuxExchanges (forwardHttp), TCP/TLS connections as streams.
    const session = new MuxSession(transport, {
      role: 'agent',
      meta: policyLogsMeta,
      exchange: isHttpOpen,
      decodeOpen: decodeHttpOpen,
    });
    this.session = session;
    session.on('control', (msg: ControlMessage) => {
      if (msg.type === 'welcome') return this.welcomed(session, msg);
      if (msg.type === 'reconnect') return this.moveFrom(session);
      if (msg.type === 'bind-result' || msg.type === 'unbind-result') {
        const resolve = this.pending.get(msg.reqId);
        this.pending.delete(msg.reqId);
        resolve?.(msg);
      }
      // A request one of our endpoints' modules answered at the edge (the agent captures it).
      if (msg.type === 'refused') this.emit('refused', msg);
    });
    const accept = (stream: MuxStream | MuxExchange, meta: unknown, decoded: boolean) => {
      let open: StreamOpen;
      try {
        // A binary Open was checked as it was decoded (binary-meta.ts).
        open = decoded ? (meta as StreamOpen) : streamOpen(meta, 'open');
      } catch (err) {
        // One bad stream is refused; the session and its other streams go on.
        return stream.reset({ code: MESSAGE_MALFORMED, message: `malformed ${(err as Error).message}` });
      }
      this.emit('stream', stream, open);
    };
    session.on('stream', accept);
    session.on('exchange', accept);
    session.on('close', (error) => {
      if (session === this.retiring) {
        this.retiring = undefined;
        this.emit('retired');
      }
      // A session we already moved away from: nothing to reconnect.
      if (this.session !== session) return;
      this.session = undefined;
      this.sessionId = undefined;
      this.lost(error ?? { code: 'ERR_BURROW_SESSION_CLOSED', message: 'the edge closed the session' });
    });
    session.sendControl({
      type: 'hello',
      version: PROTOCOL_VERSION,
      authtoken: this.options.authtoken,
      clientId: this.clientId,
      agent: { version: VERSION, os: process.platform, hostname: os.hostname() },
      features: [...this.features],
    });
  }

  private welcomed(session: MuxSession, welcome: Welcome): void {
    // Each optional feature is used only when both sides announced it (see agent-handshake.ts).
    const both = (feature: string) => this.features.includes(feature) && (welcome.features?.includes(feature) ?? false);
    session.splitData = both(FEATURE_SPLIT_DATA);
    session.binaryMeta = both(FEATURE_BINARY_META);
    session.startHeartbeat(welcome.heartbeatIntervalMs, welcome.heartbeatToleranceMs);
    this.sessionId = welcome.sessionId;
    this.attempt = 0;
    const reconnected = this.everOnline;
    this.everOnline = true;
    const handoff = this.handingOff;
    this.handingOff = false;
    this.emit('online', { sessionId: welcome.sessionId, reconnected, handoff });
  }

  /** A draining edge asked us to move: a new session now, the old one serving until we retire it. */
  private moveFrom(session: MuxSession): void {
    if (session !== this.session || this.handingOff || this.stopped) return;
    this.handingOff = true;
    this.retiring = session;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  private lost(error: WireError): void {
    if (this.stopped) return;
    if (FATAL_CODES.has(error.code)) {
      this.stopped = true;
      this.emit('fatal', error);
      return;
    }
    // Moving off a draining node that still serves: retry soon (the balancer may pick the draining
    // node again, which refuses), and stay online meanwhile.
    if (this.retiring && !this.retiring.isClosed && this.handingOff) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), 50 + Math.random() * 100);
      return;
    }
    this.emit('offline', error);
    // Full jitter: spread reconnects of many agents after an edge restart.
    const ceiling = Math.min(
      this.options.backoffMaxMs ?? 10_000,
      (this.options.backoffMinMs ?? 200) * 2 ** this.attempt++,
    );
    // A draining cluster node asks for a reconnect (through the balancer, to another node) now.
    const delay = RECONNECT_NOW.has(error.code) ? 0 : ceiling / 2 + (Math.random() * ceiling) / 2;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

function isHttpOpen(meta: unknown): boolean {
  return (meta as { kind?: unknown } | null)?.kind === 'http';
}
