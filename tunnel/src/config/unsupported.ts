// Keys that are valid ngrok config but whose Burrow module does not exist yet. They are parsed and
// then refused with BURROW_CONFIG_UNSUPPORTED at the key, never silently ignored. When a module
// lands, delete its rows here and map the key in normalize.ts.

export interface UnsupportedKey {
  /** Where the key lives: a v2 tunnel (also under v3 `tunnels:`) or a v3 endpoint. */
  where: 'tunnel' | 'endpoint';
  /** Path inside the tunnel/endpoint object. */
  path: readonly string[];
  /** What is missing, shown after the key name. */
  feature: string;
  /** Refuse only for these values (default: any value). */
  when?: (value: unknown) => boolean;
}

const truthy = (v: unknown): boolean => v !== false && v !== '' && v !== 0;

export const UNSUPPORTED_KEYS: readonly UnsupportedKey[] = [
  { where: 'tunnel', path: ['websocket_tcp_converter'], feature: 'websocket-to-TCP conversion', when: truthy },
  { where: 'tunnel', path: ['crt'], feature: 'TLS termination' },
  { where: 'tunnel', path: ['key'], feature: 'TLS termination' },
  { where: 'tunnel', path: ['terminate_at'], feature: 'TLS termination', when: (v) => v !== 'upstream' },
  { where: 'tunnel', path: ['proxy_proto'], feature: 'PROXY protocol', when: truthy },
  { where: 'endpoint', path: ['agent_tls_termination'], feature: 'TLS termination' },
  { where: 'endpoint', path: ['upstream', 'proxy_protocol'], feature: 'PROXY protocol' },
  {
    where: 'endpoint',
    path: ['bindings'],
    feature: 'kubernetes bindings',
    when: (v) => Array.isArray(v) && v.some((b) => b !== 'public' && b !== 'internal'),
  },
];

/** The message for a refused key, e.g. "`oauth` is not supported yet (OAuth)". */
export function unsupportedMessage(entry: UnsupportedKey): string {
  return `\`${entry.path.join('.')}\` is not supported yet (${entry.feature})`;
}
