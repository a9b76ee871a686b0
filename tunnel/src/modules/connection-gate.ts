// What TCP and TLS endpoints take of the edge options: an IP restriction and a traffic policy's
// `on_tcp_connect` rules. Both are judged once per visitor connection, before a byte reaches the
// agent; the edge (pipeRaw) and the config checks (config/module-checks.ts) share this one rule.
import type { EdgeOptions } from '../model';
import { ModuleConfigError, within } from './config-error';
import { ipFilter, type IpPolicyStore } from './ip-restriction';
import { connectPolicy, type ConnectVerdict } from './traffic-policy';

/** The connection as CEL's `conn` names it (ngrok's variables). */
export interface ConnectionFacts {
  client_ip: string;
  client_port: number;
  server_ip: string;
  server_port: number;
  /** TLS passthrough: the ClientHello's server name. */
  tls?: { sni: string };
}

export type ConnectionGate = (conn: ConnectionFacts) => ConnectVerdict;

const TAKEN = ['ipRestriction', 'trafficPolicy'] as const;

/** A TCP/TLS endpoint's options split into those it takes and the keys it refuses. */
export function connectionOptions(options: EdgeOptions | undefined): { options?: EdgeOptions; refused: string[] } {
  if (!options) return { refused: [] };
  const taken = Object.fromEntries(TAKEN.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
  return {
    options: Object.keys(taken).length ? (taken as EdgeOptions) : undefined,
    refused: Object.keys(options).filter((k) => !(TAKEN as readonly string[]).includes(k)),
  };
}

/** The gate of a TCP/TLS endpoint (undefined: every connection passes); throws ModuleConfigError. */
export function connectionGate(
  options: EdgeOptions | undefined,
  env: { ipPolicies?: IpPolicyStore; collect?: ModuleConfigError[] } = {},
): ConnectionGate | undefined {
  const ip = options?.ipRestriction;
  const allowed =
    ip && within(['ipRestriction'], () => (ip.enforce === false ? undefined : ipFilter(ip, env.ipPolicies)));
  // Config checks collect every refusal of the policy; their paths start inside it.
  const collected: ModuleConfigError[] = [];
  const policy =
    options?.trafficPolicy &&
    within(['trafficPolicy'], () =>
      connectPolicy(options.trafficPolicy!, { ...env, collect: env.collect && collected }),
    );
  for (const err of collected) env.collect!.push(Object.assign(err, { path: ['trafficPolicy', ...err.path] }));
  if (!allowed && !policy) return undefined;
  return (conn) => {
    // ngrok closes a refused TCP/TLS connection without a word.
    if (allowed && !allowed(conn.client_ip)) return { close: true, logs: [], vars: {} };
    return policy ? policy(conn as unknown as Record<string, unknown>) : { close: false, logs: [], vars: {} };
  };
}

/** Every refusal of a TCP/TLS endpoint's options (config checks), paths from the option key. */
export function connectionOptionErrors(options: EdgeOptions | undefined): ModuleConfigError[] {
  const collect: ModuleConfigError[] = [];
  try {
    connectionGate(options, { collect });
  } catch (err) {
    if (!(err instanceof ModuleConfigError)) throw err;
    collect.push(err);
  }
  return collect;
}
