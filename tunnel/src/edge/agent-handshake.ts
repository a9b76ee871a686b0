// The edge's side of a Burrow agent session, the mirror of agent/edge-client.ts: wait for `hello`,
// check it (protocol version, authtoken through the guessing throttle, client id), answer
// `welcome`, then serve bind/unbind until the session ends. Messages arrive already checked
// against their types (MuxSession ends a session whose peer sends a malformed one); what is left
// here is their order and meaning. The Edge supplies what a session touches (AgentHost).
import { randomUUID } from 'node:crypto';
import type { EdgeOptions } from '../model';
import { decodeHttpResponseHead } from '../protocol/binary-meta';
import { FEATURE_BINARY_META, FEATURE_SPLIT_DATA, PROTOCOL_VERSION, WIRE_FEATURES } from '../protocol/frames';
import {
  httpResponseHead,
  type BindRequest,
  type ControlMessage,
  type Hello,
  type WireError,
} from '../protocol/messages';
import { DEFAULT_WINDOW, MuxSession } from '../protocol/session';
import type { Transport } from '../protocol/transport';
import { fromWireEdgeOptions } from '../wire-options';
import { throttledError, type AuthThrottle } from './auth-throttle';
import type { TokenSet } from './tokens';

/** A bind as the edge handles it, whichever protocol the agent speaks: the modules in the model's types. */
export type BindSpec = Omit<BindRequest, 'type' | 'reqId' | 'edge'> & { edge?: EdgeOptions };

export interface AgentInfo {
  sessionId: string;
  /** The agent's IP address (the throttle's key, shown in /tunnel_sessions). */
  remoteAddr: string;
  /** `burrow/ws`, `burrow/in-process`. */
  transportName: string;
}

/** What an agent session needs of the edge. */
export interface AgentHost {
  readonly tokens: TokenSet;
  readonly authThrottle: AuthThrottle;
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatToleranceMs?: number;
  /** The optional protocol features this edge announces (default all, WIRE_FEATURES; fewer: speak as an older edge). */
  readonly wireFeatures?: readonly string[];
  /** The hello was accepted: record the session (grant, registry, same-client replacement). Returns its undo. */
  register(session: MuxSession, hello: Hello, info: AgentInfo): () => void;
  /** Rejects with `{code, message}`. */
  bind(session: MuxSession, clientId: string, spec: BindSpec): Promise<{ id: string; urls: string[] }>;
  /** False when this session holds no such binding. */
  unbind(session: MuxSession, id: string): boolean;
  /** The session ended (after its undo ran): free its endpoints. */
  closed(session: MuxSession, info: AgentInfo, error: WireError | undefined): void;
}

const HELLO_TIMEOUT_MS = 10_000;

/** Serves one agent session on `transport` until it ends. */
export function serveAgent(host: AgentHost, transport: Transport, info: Omit<AgentInfo, 'sessionId'>): void {
  const session = new MuxSession(transport, {
    role: 'edge',
    initialWindow: DEFAULT_WINDOW,
    heartbeatIntervalMs: host.heartbeatIntervalMs,
    heartbeatToleranceMs: host.heartbeatToleranceMs,
    // Agents send one kind of Meta: the response head of an HTTP stream.
    meta: httpResponseHead,
    decodeMeta: decodeHttpResponseHead,
  });
  const features = host.wireFeatures ?? WIRE_FEATURES;
  const agent: AgentInfo = { ...info, sessionId: randomUUID() };
  let hello: Hello | undefined;
  let helloPending = false;
  let unregister: (() => void) | undefined;
  const helloTimer = setTimeout(
    () => session.close({ code: 'ERR_BURROW_HELLO_TIMEOUT', message: `no hello within ${HELLO_TIMEOUT_MS / 1000} s` }),
    HELLO_TIMEOUT_MS,
  );
  helloTimer.unref();

  const accept = (msg: Hello): void => {
    if (session.isClosed) return;
    hello = msg;
    // Each optional feature is used only when both sides announced it (an older agent, or this
    // edge told to speak as an older one, gets the older form): bulk DATA payloads as their own
    // WebSocket messages, HTTP Opens in binary form.
    const both = (feature: string) => features.includes(feature) && (msg.features?.includes(feature) ?? false);
    session.splitData = both(FEATURE_SPLIT_DATA);
    session.binaryMeta = both(FEATURE_BINARY_META);
    unregister = host.register(session, msg, agent);
    session.sendControl({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      sessionId: agent.sessionId,
      initialWindow: DEFAULT_WINDOW,
      heartbeatIntervalMs: host.heartbeatIntervalMs ?? 2000,
      heartbeatToleranceMs: host.heartbeatToleranceMs ?? 6000,
      features: [...features],
    });
  };

  session.on('stream', (stream) => {
    stream.reset({ code: 'ERR_BURROW_STREAM_REFUSED', message: 'agents may not open streams' });
    if (!hello) session.close({ code: 'ERR_BURROW_PROTOCOL', message: 'first message must be hello' });
  });
  session.on('control', (msg: ControlMessage) => {
    if (!hello) {
      clearTimeout(helloTimer);
      if (msg.type !== 'hello' || helloPending)
        return session.close({
          code: 'ERR_BURROW_PROTOCOL',
          message: 'first message must be hello, then wait for welcome',
        });
      helloPending = true;
      checkHello(host, msg, agent.remoteAddr).then(
        (refusal) => (refusal ? session.close(refusal) : accept(msg)),
        () => session.close({ code: 'ERR_BURROW_INTERNAL', message: 'authentication failed on the edge' }),
      );
      return;
    }
    if (msg.type === 'bind') {
      const reqId = msg.reqId;
      const clientId = hello.clientId;
      Promise.resolve()
        .then(() => host.bind(session, clientId, bindSpec(msg)))
        .then(
          (b) => session.sendControl({ type: 'bind-result', reqId, binding: { id: b.id, urls: b.urls } }),
          (err: { code?: string; message?: string }) =>
            session.sendControl({
              type: 'bind-result',
              reqId,
              error: { code: err.code ?? 'ERR_BURROW_INTERNAL', message: err.message ?? String(err) },
            }),
        );
    } else if (msg.type === 'unbind') {
      const error = host.unbind(session, msg.id)
        ? undefined
        : { code: 'ERR_BURROW_NOT_BOUND', message: `no endpoint ${msg.id} on this session` };
      session.sendControl({ type: 'unbind-result', reqId: msg.reqId, error });
    } else {
      session.close({ code: 'ERR_BURROW_PROTOCOL', message: `unexpected control message ${msg.type}` });
    }
  });
  session.on('close', (error) => {
    clearTimeout(helloTimer);
    unregister?.();
    host.closed(session, agent, error);
  });
}

/** The edge's checks of a hello, in order; a refusal ends the session with its code. */
async function checkHello(host: AgentHost, hello: Hello, remoteAddr: string): Promise<WireError | undefined> {
  if (hello.version !== PROTOCOL_VERSION) {
    return {
      code: 'ERR_BURROW_PROTOCOL_VERSION',
      message: `edge speaks protocol ${PROTOCOL_VERSION}, agent sent ${hello.version}: upgrade the older side`,
    };
  }
  // A locked address is refused before its token is looked at, so guessing learns nothing.
  const waitMs = await host.authThrottle.check(remoteAddr);
  if (waitMs > 0) return throttledError(waitMs);
  if (!hello.authtoken) {
    await host.authThrottle.failed(remoteAddr);
    return { code: 'ERR_NGROK_4018', message: 'no authtoken: pass --authtoken or set BURROW_AUTHTOKEN' };
  }
  if (!host.tokens.accepts(hello.authtoken)) {
    await host.authThrottle.failed(remoteAddr);
    return { code: 'ERR_NGROK_107', message: 'the authtoken is not valid on this edge' };
  }
  await host.authThrottle.succeeded(remoteAddr);
  if (hello.clientId.length < 8) return { code: 'ERR_BURROW_PROTOCOL', message: 'hello needs a clientId' };
  return undefined;
}

/** The wire's bind as the edge handles it: the modules converted from their wire shape. */
function bindSpec(msg: BindRequest): BindSpec {
  const { type: _type, reqId: _reqId, edge, ...rest } = msg;
  return edge ? { ...rest, edge: fromWireEdgeOptions(edge) } : rest;
}
