// The programmatic API, shaped like @ngrok/ngrok's:
//   const listener = await forward({ addr: 8080 });  listener.url();  await listener.close();
// Pure JS, no native binaries. Listeners that share an edge and authtoken share one agent session.
import { Agent, type TunnelState } from './agent/agent';
import type { EndpointSpec, Proto, Scheme } from './model';

export type { EndpointSpec, TunnelState };
export { Agent };

export interface ForwardOptions {
  /** Port, host:port or URL of the service to expose (`8080`, `localhost:8080`, `https://…`, `file:///dir`). */
  addr: number | string;
  proto?: Proto;
  /** Edge URL (`wss://edge.example.com`); default: an embedded edge on 127.0.0.1. */
  edge?: string;
  /** Default: BURROW_AUTHTOKEN or NGROK_AUTHTOKEN when `authtoken_from_env` is set. */
  authtoken?: string;
  authtoken_from_env?: boolean;
  domain?: string;
  /** tcp: requested public port or host:port. */
  remote_addr?: string;
  schemes?: Scheme[];
  host_header?: string;
  request_header_add?: string[];
  request_header_remove?: string[];
  response_header_add?: string[];
  response_header_remove?: string[];
  /** `http2` speaks h2c to the upstream. */
  app_protocol?: 'http1' | 'http2';
  metadata?: string;
  /** Name shown in status output; default derived from addr. */
  name?: string;
}

export interface Listener {
  url(): string | null;
  urls(): string[];
  proto(): Proto;
  forwardsTo(): string;
  metadata(): string | undefined;
  close(): Promise<void>;
}

const agents = new Map<string, Promise<Agent>>();
const listeners = new Map<string, { agentKey: string; name: string; listener: Listener }>();
let counter = 0;

function agentFor(edge: string | undefined, authtoken: string | undefined): { key: string; agent: Promise<Agent> } {
  const key = `${edge ?? 'embedded'}\u0000${authtoken ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    const a = new Agent({ edgeUrl: edge, authtoken });
    agent = a.start().then(() => a);
    agent.catch(() => agents.delete(key));
    agents.set(key, agent);
  }
  return { key, agent };
}

/** Starts forwarding to `addr`; resolves once the endpoint is online. */
export async function forward(options: ForwardOptions | number | string): Promise<Listener> {
  const opts: ForwardOptions = typeof options === 'object' ? options : { addr: options };
  const proto = opts.proto ?? 'http';
  const authtoken =
    opts.authtoken ??
    (opts.authtoken_from_env ? (process.env.BURROW_AUTHTOKEN ?? process.env.NGROK_AUTHTOKEN) : undefined);
  const { key, agent: agentPromise } = agentFor(opts.edge, authtoken);
  const agent = await agentPromise;
  const headerRules = (add?: string[], remove?: string[]) =>
    add?.length || remove?.length ? { add: add ?? [], remove: remove ?? [] } : undefined;
  const requestHeaders = headerRules(opts.request_header_add, opts.request_header_remove);
  const responseHeaders = headerRules(opts.response_header_add, opts.response_header_remove);
  const spec: EndpointSpec = {
    name: opts.name ?? `sdk-${++counter}`,
    proto,
    upstream: String(opts.addr),
    inspect: false,
    domain: opts.domain,
    remoteAddr: opts.remote_addr,
    schemes: opts.schemes,
    hostHeader: opts.host_header,
    upstreamProtocol: opts.app_protocol,
    metadata: opts.metadata,
    edge: requestHeaders || responseHeaders ? { requestHeaders, responseHeaders } : undefined,
  };
  const state = await agent.startTunnel(spec);
  const listener: Listener = {
    url: () => agent.tunnel(spec.name)?.urls[0] ?? null,
    urls: () => agent.tunnel(spec.name)?.urls ?? [],
    proto: () => proto,
    forwardsTo: () => state.upstreamUrl,
    metadata: () => spec.metadata,
    close: async () => {
      listeners.delete(spec.name);
      await agent.stopTunnel(spec.name);
      // The last listener on an agent takes its session (and embedded edge) down with it.
      if (![...listeners.values()].some((l) => l.agentKey === key)) {
        agents.delete(key);
        await agent.close();
      }
    },
  };
  listeners.set(spec.name, { agentKey: key, name: spec.name, listener });
  return listener;
}

/** ngrok's alias. */
export const connect = forward;

/** Closes one listener by URL, or all of them. */
export async function disconnect(url?: string): Promise<void> {
  for (const { listener } of [...listeners.values()]) {
    if (!url || listener.urls().includes(url)) await listener.close();
  }
}

export async function kill(): Promise<void> {
  await disconnect();
}

export function getListeners(): Listener[] {
  return [...listeners.values()].map((l) => l.listener);
}
