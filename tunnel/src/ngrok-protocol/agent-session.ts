// One ngrok agent (SDK, v3 or v2 agent) connected to the edge: muxado over TLS, ngrok's RPCs on
// typed streams, and the AgentSession the edge's bindings and proxy use (tunnel/NGROK-PROTOCOL.md).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Binding, Edge } from '../edge/edge';
import type { AgentSession } from '../edge/agent-session';
import type { Grant, TokenSet } from '../edge/tokens';
import type { SessionControl } from '../edge/sessions';
import { throttledError } from '../edge/auth-throttle';
import type { RefusedNotice, StreamOpen, WireError } from '../protocol/messages';
import type { BindSpec } from '../edge/agent-handshake';
import { MuxError } from './frames';
import { MuxadoSession, type MuxadoStream } from './session';
import {
  StreamType,
  errorText,
  field,
  readJson,
  readStreamType,
  respond,
  stringField,
  RpcError,
  type AuthResp,
  type Bind,
  type BindResp,
  type ProxyHeader,
} from './messages';
import { forwardsHttp2, toBindRequest, type NgrokTunnelOptions } from './bind-options';
import { Http2Exchange, HttpExchange, StreamAgent } from './http-exchange';
import type { CaptureStore } from '../capture/store';
import { parseAddress, proxyHeader } from './proxy-proto';

/** A session must authenticate within this long. */
const AUTH_TIMEOUT_MS = 10_000;
const NS_PER_MS = 1_000_000;

interface Tunnel {
  /** The id the agent knows (bind Id / labeled tunnel id). */
  ngrokId: string;
  binding: Binding;
  options: NgrokTunnelOptions;
  labeled: boolean;
  http?: StreamAgent;
  /** `app_protocol: http2`: one HTTP/2 session over one proxied stream, replaced when it ends. */
  h2?: http2.ClientHttp2Session;
}

export interface NgrokSessionHost {
  edge: Edge;
  tokens: TokenSet;
  region: string;
  /** Where the edge records these agents' HTTP exchanges (ngrok's agents have no inspector here). */
  capture?: CaptureStore;
  /** How long an agent may take to start answering an HTTP request (ms; 0 = no limit). */
  responseTimeoutMs: number;
  /** Called once a session has authenticated, to replace an older one of the same agent. */
  register(session: NgrokAgentSession, key: string): void;
  unregister(session: NgrokAgentSession, key: string): void;
}

export interface NgrokAgentSessionEvents {
  close: [error: WireError | undefined];
}

export class NgrokAgentSession extends EventEmitter<NgrokAgentSessionEvents> implements AgentSession {
  /** Which protocol this agent speaks (for the admin API's session list). */
  readonly protocol = 'ngrok';
  readonly startedAt = new Date();
  /** Set by Auth: the session's id (ngrok's ClientId), and what the agent says about itself. */
  id = '';
  agentVersion = '';
  os = '';
  arch = '';
  clientType = '';
  userAgent = '';
  hostname = '';
  metadata = '';
  credentialId?: string;
  /** Why the agent cannot Stop / Restart / Update, as it said in Auth ('' = it can, or did not say). */
  private readonly unsupported: Record<'Stop' | 'Restart' | 'Update', string> = { Stop: '', Restart: '', Update: '' };
  private authed = false;
  private bindKey?: Buffer;
  private registryKey?: string;
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly byBinding = new Map<string, Tunnel>();
  private readonly mux: MuxadoSession;
  /** An Auth is being checked (the throttle is async): a second one ends the session. */
  private authing = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Connections and HTTP exchanges the edge has open on this session. */
  private inFlight = 0;

  constructor(
    socket: Duplex,
    readonly remoteAddr: string,
    private readonly host: NgrokSessionHost,
  ) {
    super();
    this.mux = new MuxadoSession(socket);
    this.mux.on('stream', (stream) => this.onStream(stream));
    this.mux.once('close', (error) => this.onClosed(error));
    const authTimer = setTimeout(() => {
      if (!this.authed)
        this.close({ code: 'ERR_BURROW_AUTH_TIMEOUT', message: `no Auth within ${AUTH_TIMEOUT_MS} ms` });
    }, AUTH_TIMEOUT_MS);
    authTimer.unref();
    this.timers.push(authTimer);
  }

  get isClosed(): boolean {
    return this.mux.isClosed;
  }

  /** The edge's bindings of this session (for status and the admin API). */
  get bindings(): Binding[] {
    return [...this.tunnels.values()].map((t) => t.binding);
  }

  close(error?: WireError, muxCode: MuxError = error ? MuxError.Protocol : MuxError.None): void {
    this.mux.close(error, muxCode);
  }

  /**
   * A draining cluster node: the tunnels take no new visitors here (their names stay claimed, and
   * visitors wait for them on the other nodes), the exchanges in flight get until `until` to end,
   * then a GOAWAY. ngrok's SDKs and agents reconnect at once on a GOAWAY — through the balancer,
   * to another node — and rebind every tunnel with its bind Id, so with the same URL.
   */
  async moveAway(until: number): Promise<void> {
    this.host.edge.handOff(this);
    while (this.inFlight > 0 && !this.isClosed && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.close(
      { code: 'ERR_BURROW_EDGE_DRAINING', message: 'this edge node is shutting down: reconnect' },
      MuxError.None,
    );
  }

  // ---- AgentSession: the edge opens one stream per connection / HTTP exchange ----

  openStream(meta: StreamOpen, fin = false): Duplex {
    const stream = this.openNgrokExchange(meta, fin);
    // Counted until answered in full (or gone): a draining node waits for these before its GOAWAY
    // (moveAway). Not until 'close': an exchange whose request had no body is never ended by the edge.
    this.inFlight++;
    let counted = true;
    const done = () => {
      if (counted) this.inFlight--;
      counted = false;
    };
    stream.once('end', done).once('close', done);
    return stream;
  }

  private openNgrokExchange(meta: StreamOpen, fin: boolean): Duplex {
    const tunnel = this.byBinding.get(meta.binding);
    if (!tunnel || this.isClosed)
      throw Object.assign(new Error('no such tunnel on this session'), { code: 'ERR_NGROK_3210' });
    if (meta.kind === 'http') {
      const recording = this.host.capture?.begin({
        tunnelName: tunnel.binding.urls[0] ?? tunnel.ngrokId,
        remoteAddr: meta.remoteAddr,
        method: meta.method,
        uri: meta.url,
        httpVersion: meta.httpVersion,
        rawHeaders: meta.rawHeaders,
      });
      const options = {
        hostRewrite: tunnel.options.hostRewrite,
        responseTimeoutMs: this.host.responseTimeoutMs,
        recording,
      };
      // Pooled streams serve many clients: the proxy header names the first (the upstream sees
      // X-Forwarded-For from the edge's headers for each request).
      const clientAddr = socketAddress(meta.remoteAddr, false);
      if (tunnel.options.http2) return new Http2Exchange(meta, this.h2Session(tunnel, clientAddr), options, fin);
      tunnel.http ??= new StreamAgent(() => this.proxyStream(tunnel, clientAddr));
      return new HttpExchange(meta, tunnel.http, options, fin);
    }
    const stream = this.proxyStream(tunnel, socketAddress(meta.remoteAddr, true));
    if (tunnel.options.proxyProto) {
      const local = meta.localAddr ? parseAddress(meta.localAddr) : undefined;
      stream.write(proxyHeader(tunnel.options.proxyProto, parseAddress(meta.remoteAddr), local));
    }
    return stream;
  }

  /** A module answered a request of one of our endpoints at the edge: the edge's capture keeps it. */
  refused(r: RefusedNotice): void {
    const tunnel = this.byBinding.get(r.binding);
    if (!tunnel) return;
    this.host.capture?.recordAnswered(
      {
        tunnelName: tunnel.binding.urls[0] ?? tunnel.ngrokId,
        remoteAddr: r.remoteAddr,
        method: r.method,
        uri: r.url,
        httpVersion: r.httpVersion,
        rawHeaders: r.rawHeaders,
      },
      r,
    );
  }

  /** The tunnel's HTTP/2 session (prior knowledge) over one proxied stream; a new one once it ends. */
  private h2Session(tunnel: Tunnel, clientAddr: string): http2.ClientHttp2Session {
    if (tunnel.h2 && !tunnel.h2.closed && !tunnel.h2.destroyed) return tunnel.h2;
    const stream = this.proxyStream(tunnel, clientAddr);
    const session = http2.connect('http://ngrok-agent.invalid', { createConnection: () => stream });
    session.on('error', () => undefined); // each request sees its own error
    stream.once('end', () => stream.end());
    tunnel.h2 = session;
    return session;
  }

  /** A type-3 stream to the agent: the proxy header, then the connection's bytes. */
  private proxyStream(tunnel: Tunnel, clientAddr: string): MuxadoStream {
    const stream = this.mux.openStream();
    const header: ProxyHeader = {
      Id: tunnel.ngrokId,
      ClientAddr: clientAddr,
      Proto: tunnel.labeled ? 'https' : tunnel.options.ngrokProto,
      EdgeType: tunnel.labeled ? '3' : '',
      PassthroughTLS: tunnel.options.ngrokProto === 'tls',
    };
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(12);
    prefix.writeUInt32BE(StreamType.Proxy, 0);
    prefix.writeBigInt64LE(BigInt(json.length), 4);
    stream.write(Buffer.concat([prefix, json]));
    return stream;
  }

  // ---- server → agent commands ----

  /** Asks the agent to stop (ngrok's Stop); resolves with its error text, '' when it agreed. */
  stop(): Promise<string> {
    return this.command(StreamType.Stop, {});
  }

  /** Asks the agent to restart itself (ngrok's Restart). */
  restart(): Promise<string> {
    return this.command(StreamType.Restart, {});
  }

  /** Asks the agent to update itself (ngrok's Update; the agent decides where from). */
  update(): Promise<string> {
    return this.command(StreamType.Update, { Version: '', PermitMajorVersion: false });
  }

  /** The admin API's stop/restart/update (Edge.attachSession reads it): rejects with a code on refusal. */
  get control(): SessionControl {
    const run = (name: 'Stop' | 'Restart' | 'Update', send: () => Promise<string>) => async () => {
      const verb = name.toLowerCase();
      // The agent said in Auth it cannot: refuse without asking, as ngrok does.
      if (this.unsupported[name])
        throw { code: 'ERR_BURROW_AGENT_REFUSED', message: `the agent cannot ${verb}: ${this.unsupported[name]}` };
      let refusal: string;
      try {
        refusal = await send();
      } catch (err) {
        // An agent that acts at once (the CLI agent exits or re-execs) may drop the session first.
        if (this.isClosed && name !== 'Update') return;
        const timeout = (err as RpcError).code === 'ERR_BURROW_RPC_TIMEOUT';
        throw {
          code: timeout ? 'ERR_BURROW_AGENT_TIMEOUT' : 'ERR_BURROW_AGENT_UNREACHABLE',
          message: `the agent did not answer the ${verb} command: ${(err as Error).message}`,
        };
      }
      if (refusal)
        throw { code: 'ERR_BURROW_AGENT_REFUSED', message: `the agent refused to ${verb}: ${refusal.trim()}` };
    };
    return {
      stop: run('Stop', () => this.stop()),
      restart: run('Restart', () => this.restart()),
      update: run('Update', () => this.update()),
    };
  }

  /** Tells the agent one of its tunnels was stopped by the edge (ngrok's StopTunnel; no reply). */
  stopTunnel(ngrokId: string, message: string, errorCode = ''): void {
    const tunnel = this.tunnels.get(ngrokId);
    if (tunnel) this.dropTunnel(tunnel);
    const stream = this.mux.openStream();
    stream.on('error', () => undefined);
    stream.end(typedBody(StreamType.StopTunnel, { Id: ngrokId, Message: message, ErrorCode: errorCode }));
  }

  private async command(type: StreamType, body: unknown): Promise<string> {
    const stream = this.mux.openStream();
    stream.on('error', () => undefined);
    stream.write(typedBody(type, body));
    try {
      const reply = await readJson(stream, 64 * 1024, 10_000);
      return stringField(reply, 'Error') ?? '';
    } finally {
      stream.destroy();
    }
  }

  // ---- agent → server RPCs ----

  private async onStream(stream: MuxadoStream): Promise<void> {
    stream.on('error', () => undefined);
    let type: number;
    try {
      type = await readStreamType(stream);
    } catch (err) {
      stream.destroy();
      if (err instanceof RpcError && err.code === 'ERR_BURROW_RPC_TIMEOUT') return;
      return;
    }
    if (type === StreamType.Heartbeat) {
      // The agent writes 4-byte nonces and expects each back: echo whatever arrives.
      stream.on('data', (chunk: Buffer) => stream.write(chunk));
      stream.on('end', () => stream.end());
      return;
    }
    if (!this.authed && type !== StreamType.Auth) {
      return this.close({ code: 'ERR_BURROW_PROTOCOL', message: `RPC ${type} before Auth` });
    }
    let body: unknown;
    try {
      body = await readJson(stream);
    } catch (err) {
      const e = err as RpcError;
      if (e.code === 'ERR_BURROW_RPC_TIMEOUT') return void stream.destroy();
      return this.close({ code: e.code ?? 'ERR_BURROW_RPC_MALFORMED', message: e.message });
    }
    try {
      switch (type) {
        case StreamType.Auth:
          return await this.onAuth(stream, body);
        case StreamType.Bind:
          return respond(stream, await this.onBind(body as Bind));
        case StreamType.BindLabeled:
          return respond(stream, await this.onBindLabeled(body));
        case StreamType.Unbind:
          return respond(stream, this.onUnbind(body));
        case StreamType.SrvInfo:
          return respond(stream, { Region: this.host.region });
        case StreamType.PatchTunnelState:
          return respond(stream, {
            Error: errorText('ERR_BURROW_UNSUPPORTED_OPTION', 'changing a tunnel in place is not supported: rebind it'),
          });
        default:
          return this.close({ code: 'ERR_BURROW_PROTOCOL', message: `agents may not open streams of type ${type}` });
      }
    } catch (err) {
      const e = err as { code?: string; message: string };
      this.close({ code: e.code ?? 'ERR_BURROW_INTERNAL', message: e.message });
    }
  }

  private async onAuth(stream: MuxadoStream, body: unknown): Promise<void> {
    if (this.authed || this.authing) return this.close({ code: 'ERR_BURROW_PROTOCOL', message: 'Auth sent twice' });
    this.authing = true;
    const extra = field(body, 'Extra');
    const token = stringField(extra, 'Authtoken');
    const refuse = (code: string, message: string) => {
      const resp: AuthResp = { Version: '3', ClientId: '', Error: errorText(code, message), Extra: {} };
      respond(stream, resp);
      // Let the refusal reach the agent before the session goes.
      setTimeout(() => this.close({ code, message }), 200).unref();
    };
    // The edge's authtoken throttle (auth-throttle.ts), as for Burrow's own agents: a locked address
    // is refused before its token is looked at.
    const throttle = this.host.edge.authThrottle;
    const ip = this.remoteAddr.replace(/:\d+$/, '');
    const waitMs = await throttle.check(ip);
    if (this.isClosed) return;
    if (waitMs > 0) {
      const locked = throttledError(waitMs);
      return refuse(locked.code, locked.message);
    }
    if (!token) {
      await throttle.failed(ip);
      return refuse('ERR_NGROK_4018', 'authentication failed: no authtoken was sent');
    }
    const grant: Grant | undefined = this.host.tokens.grantFor(token);
    if (!grant) {
      await throttle.failed(ip);
      return refuse('ERR_NGROK_107', 'authentication failed: the authtoken is not valid on this edge');
    }
    await throttle.succeeded(ip);
    if (this.isClosed) return;
    const versions = field(body, 'Version');
    if (Array.isArray(versions) && versions.length && !versions.includes('3') && !versions.includes('2'))
      return refuse(
        'ERR_NGROK_120',
        `protocol versions ${versions.join(', ')} are not supported: this edge speaks 3 and 2`,
      );

    const asked = stringField(body, 'ClientId') ?? '';
    this.id = /^[A-Za-z0-9_-]{8,64}$/.test(asked) ? asked : `sess_${randomBytes(12).toString('hex')}`;
    this.agentVersion = stringField(extra, 'Version') ?? '';
    this.os = stringField(extra, 'OS') ?? '';
    this.arch = stringField(extra, 'Arch') ?? '';
    this.clientType = stringField(extra, 'ClientType') ?? '';
    this.userAgent = stringField(extra, 'UserAgent') ?? '';
    this.hostname = stringField(extra, 'Hostname') ?? '';
    this.metadata = stringField(extra, 'Metadata') ?? '';
    for (const name of ['Stop', 'Restart', 'Update'] as const)
      this.unsupported[name] = stringField(extra, `${name}UnsupportedError`) ?? '';
    this.credentialId = grant.credentialId;
    const tokenDigest = createHash('sha256').update(token).digest();
    this.bindKey = createHash('sha256').update('burrow-ngrok-bind-id\0').update(tokenDigest).digest();
    this.authed = true;
    // The same agent reconnecting (same token and ClientId) replaces its old session, freeing its names.
    this.registryKey = `${tokenDigest.toString('hex')}:${this.id}`;
    this.host.register(this, this.registryKey);
    this.host.edge.attachSession(this, grant);
    this.superviseHeartbeat(field(extra, 'HeartbeatInterval'), field(extra, 'HeartbeatTolerance'));
    const resp: AuthResp = { Version: '3', ClientId: this.id, Extra: { Region: this.host.region, Version: '3' } };
    respond(stream, resp);
    this.host.edge.emit('session', { sessionId: this.id, clientId: this.id, remoteAddr: this.remoteAddr });
  }

  private superviseHeartbeat(intervalNs: unknown, toleranceNs: unknown): void {
    const interval = typeof intervalNs === 'number' && intervalNs > 0 ? intervalNs / NS_PER_MS : 10_000;
    const tolerance = typeof toleranceNs === 'number' && toleranceNs > 0 ? toleranceNs / NS_PER_MS : 15_000;
    // Generous: the agent drops the session itself after interval + tolerance without an echo.
    const limit = Math.min(Math.max(2 * (interval + tolerance), 10_000), 10 * 60_000);
    const timer = setInterval(
      () => {
        if (Date.now() - this.mux.lastFrameAt > limit)
          this.close({ code: 'ERR_BURROW_HEARTBEAT_TIMEOUT', message: `nothing from the agent for ${limit} ms` });
      },
      Math.min(limit / 4, 30_000),
    );
    timer.unref();
    this.timers.push(timer);
  }

  private async onBind(bind: Bind): Promise<BindResp> {
    const opts = (field(bind, 'Opts') ?? {}) as Record<string, unknown>;
    const ngrokProto = stringField(bind, 'Proto') ?? '';
    const fail = (err: { code?: string; message: string }): BindResp => ({
      Id: '',
      URL: '',
      Proto: ngrokProto,
      Opts: opts,
      Error: errorText(err.code ?? 'ERR_BURROW_INTERNAL', err.message),
      Extra: { Token: '' },
    });
    const previous = this.previousUrl(stringField(bind, 'Id') ?? '');
    let mapped: { request: BindSpec; tunnel: NgrokTunnelOptions };
    try {
      mapped = toBindRequest(bind, `ngrok-${ngrokProto}`, previous ? [previous] : []);
    } catch (err) {
      return fail(err as RpcError);
    }
    const { request, tunnel: options } = mapped;
    // A reconnecting agent gets its TCP port back, if nobody took it meanwhile.
    const previousPort = request.proto === 'tcp' && previous && !request.remoteAddr ? portOf(previous) : undefined;
    let binding: Binding;
    try {
      binding = await this.bindAt(request, previousPort);
    } catch (err) {
      return fail(err as { code?: string; message: string });
    }
    const url = binding.urls[0];
    // A rebind keeps the Id the agent knows its tunnel by (the SDKs look proxied connections up by
    // it), even when this node's URL differs (another port, or the old name was taken).
    const ngrokId = previous ? (stringField(bind, 'Id') as string) : this.bindIdFor(url);
    this.addTunnel({ ngrokId, binding, options, labeled: false });
    return { Id: ngrokId, URL: url, Proto: ngrokProto, Opts: opts, Extra: { Token: '' } };
  }

  private async bindAt(request: BindSpec, previousPort: number | undefined): Promise<Binding> {
    if (previousPort) {
      try {
        return await this.host.edge.bindFor(this, this.id, { ...request, remoteAddr: String(previousPort) });
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_NGROK_334') throw err;
      }
    }
    return this.host.edge.bindFor(this, this.id, request);
  }

  private async onBindLabeled(body: unknown): Promise<{ Id: string; Error?: string }> {
    const labels = field(body, 'Labels');
    if (!labels || typeof labels !== 'object' || Array.isArray(labels))
      return { Id: '', Error: errorText('ERR_NGROK_394', 'a labeled tunnel needs at least one label') };
    let http2 = false;
    try {
      http2 = forwardsHttp2(body, true);
    } catch (err) {
      const e = err as RpcError;
      return { Id: '', Error: errorText(e.code, e.message) };
    }
    let binding: Binding;
    try {
      binding = await this.host.edge.bindFor(this, this.id, {
        name: 'ngrok-labeled',
        proto: 'http',
        labels: labels as Record<string, string>,
      });
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { Id: '', Error: errorText(e.code ?? 'ERR_BURROW_INTERNAL', e.message) };
    }
    const ngrokId = `lab_${randomBytes(10).toString('hex')}`;
    this.addTunnel({ ngrokId, binding, options: { ngrokProto: 'https', ...(http2 ? { http2 } : {}) }, labeled: true });
    return { Id: ngrokId };
  }

  private onUnbind(body: unknown): { Error?: string } {
    // Idempotent: the Node SDK sends Unbind twice when a listener closes.
    const tunnel = this.tunnels.get(stringField(body, 'Id') ?? '');
    if (tunnel) this.dropTunnel(tunnel);
    return {};
  }

  private addTunnel(tunnel: Tunnel): void {
    const old = this.tunnels.get(tunnel.ngrokId);
    if (old) this.dropTunnel(old);
    this.tunnels.set(tunnel.ngrokId, tunnel);
    this.byBinding.set(tunnel.binding.id, tunnel);
  }

  private dropTunnel(tunnel: Tunnel): void {
    this.tunnels.delete(tunnel.ngrokId);
    this.byBinding.delete(tunnel.binding.id);
    tunnel.http?.destroy();
    tunnel.h2?.destroy();
    this.host.edge.unbindFor(this, tunnel.binding.id);
  }

  /**
   * Bind ids carry the URL and a MAC keyed by the authtoken, so an agent reconnecting — even to a
   * restarted edge — asks for its URL back without the edge keeping any state.
   */
  private bindIdFor(url: string): string {
    const payload = Buffer.from(url).toString('base64url');
    const mac = createHmac('sha256', this.bindKey!).update(payload).digest('base64url').slice(0, 16);
    return `tun_${payload}.${mac}`;
  }

  private previousUrl(id: string): string | undefined {
    const m = /^tun_([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{16})$/.exec(id);
    if (!m || !this.bindKey) return undefined;
    const expected = createHmac('sha256', this.bindKey).update(m[1]).digest('base64url').slice(0, 16);
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(m[2]))) return undefined;
    return Buffer.from(m[1], 'base64url').toString('utf8');
  }

  private onClosed(error: WireError | undefined): void {
    for (const t of this.timers) clearTimeout(t);
    for (const tunnel of this.tunnels.values()) {
      tunnel.http?.destroy();
      tunnel.h2?.destroy();
    }
    if (this.registryKey) this.host.unregister(this, this.registryKey);
    this.emit('close', error);
    if (this.authed) this.host.edge.emit('session-closed', { sessionId: this.id, error });
  }
}

function typedBody(type: StreamType, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const out = Buffer.alloc(4 + json.length);
  out.writeUInt32BE(type >>> 0, 0);
  json.copy(out, 4);
  return out;
}

/** A socket address the agent can parse: "ip:port" or "[v6]:port"; `withPort` false for bare IPs (HTTP). */
function socketAddress(addr: string, withPort: boolean): string {
  let ip = addr;
  let port = '0';
  if (withPort) {
    const colon = addr.lastIndexOf(':');
    ip = addr.slice(0, colon);
    port = addr.slice(colon + 1);
  }
  ip = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '').replace(/^\[|\]$/g, '');
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function portOf(url: string): number | undefined {
  try {
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
