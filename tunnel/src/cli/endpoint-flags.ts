// `burrow http|tcp|tls ADDR [flags]` → EndpointSpec, with ngrok's flag names. Module flags are
// checked here with the edge's own validation (same code, same ngrok codes), so a typo fails
// before anything starts.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { EdgeOptions, EndpointSpec, HeaderRules, Proto, Scheme } from '../model';
import '../modules/oauth/register';
import { buildPipeline, ModuleConfigError } from '../modules/pipeline';
import type { TrafficPolicyDocument } from '../modules/traffic-policy';

export class UsageError extends Error {
  readonly code = 'ERR_BURROW_USAGE';
}

/** Flags shared by the three endpoint commands (parseArgs option table). */
export const ENDPOINT_FLAGS = {
  name: { type: 'string' },
  domain: { type: 'string' },
  subdomain: { type: 'string' },
  hostname: { type: 'string' },
  url: { type: 'string' },
  scheme: { type: 'string', multiple: true },
  'host-header': { type: 'string' },
  'request-header-add': { type: 'string', multiple: true },
  'request-header-remove': { type: 'string', multiple: true },
  'response-header-add': { type: 'string', multiple: true },
  'response-header-remove': { type: 'string', multiple: true },
  'upstream-protocol': { type: 'string' },
  'app-protocol': { type: 'string' },
  'remote-addr': { type: 'string' },
  inspect: { type: 'string' },
  metadata: { type: 'string' },
  // Edge modules (ngrok's flag names).
  'basic-auth': { type: 'string', multiple: true },
  'cidr-allow': { type: 'string', multiple: true },
  'cidr-deny': { type: 'string', multiple: true },
  compression: { type: 'boolean' },
  'circuit-breaker': { type: 'string' },
  'verify-webhook': { type: 'string' },
  'verify-webhook-secret': { type: 'string' },
  'ua-filter-allow': { type: 'string', multiple: true },
  'ua-filter-deny': { type: 'string', multiple: true },
  'mutual-tls-cas': { type: 'string' },
  'traffic-policy-file': { type: 'string' },
  // OAuth / OIDC; the allow lists apply to either.
  oauth: { type: 'string' },
  'oauth-allow-email': { type: 'string', multiple: true },
  'oauth-allow-domain': { type: 'string', multiple: true },
  'oauth-scope': { type: 'string', multiple: true },
  'oauth-client-id': { type: 'string' },
  'oauth-client-secret': { type: 'string' },
  oidc: { type: 'string' },
  'oidc-client-id': { type: 'string' },
  'oidc-client-secret': { type: 'string' },
  'oidc-scope': { type: 'string', multiple: true },
} as const;

export type EndpointFlagValues = {
  [K in keyof typeof ENDPOINT_FLAGS]?: (typeof ENDPOINT_FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof ENDPOINT_FLAGS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function headerAdds(values: string[] | undefined, flag: string): string[] {
  return (values ?? []).map((v) => {
    const colon = v.indexOf(':');
    const name = colon > 0 ? v.slice(0, colon).trim() : '';
    if (!HEADER_NAME.test(name)) throw new UsageError(`--${flag} "${v}": expected "Name: value"`);
    return `${name}: ${v.slice(colon + 1).trim()}`;
  });
}

function headerRemoves(values: string[] | undefined, flag: string): string[] {
  return (values ?? []).map((v) => {
    if (!HEADER_NAME.test(v.trim())) throw new UsageError(`--${flag} "${v}": expected a header name`);
    return v.trim();
  });
}

function rules(add: string[], remove: string[]): HeaderRules | undefined {
  return add.length || remove.length ? { add, remove } : undefined;
}

export function endpointFromFlags(proto: Proto, addr: string | undefined, flags: EndpointFlagValues): EndpointSpec {
  if (!addr)
    throw new UsageError(
      `burrow ${proto} needs an address to forward to, e.g. burrow ${proto} ${proto === 'http' ? '3000' : '22'}`,
    );
  const spec: EndpointSpec = {
    name: flags.name ?? `${proto}-${addr.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`,
    proto,
    upstream: addr,
    inspect: true,
  };
  let domain = flags.domain ?? flags.hostname;
  let schemes: Scheme[] | undefined;
  if (flags.url) {
    // ngrok 3's --url: a full URL or a bare host name.
    const url = new URL(
      /^[a-z]+:\/\//i.test(flags.url) ? flags.url : `${proto === 'http' ? 'https' : proto}://${flags.url}`,
    );
    domain = url.hostname;
    if (url.protocol === 'http:' || url.protocol === 'https:') schemes = [url.protocol.slice(0, -1) as Scheme];
    if (proto === 'tcp') spec.remoteAddr = url.port ? `${url.hostname}:${url.port}` : undefined;
  }
  if (flags.subdomain) spec.subdomain = flags.subdomain;
  if (domain && proto !== 'tcp') spec.domain = domain;
  if (flags['remote-addr']) {
    if (proto !== 'tcp') throw new UsageError('--remote-addr only applies to tcp endpoints');
    spec.remoteAddr = flags['remote-addr'];
  }
  if (flags.scheme) {
    if (proto !== 'http') throw new UsageError('--scheme only applies to http endpoints');
    schemes = flags.scheme.flatMap((s) => s.split(',')).map((s) => s.trim().toLowerCase()) as Scheme[];
    for (const s of schemes)
      if (s !== 'http' && s !== 'https') throw new UsageError(`--scheme "${s}": use http, https or http,https`);
  }
  if (schemes) spec.schemes = schemes;
  if (flags.inspect !== undefined) {
    if (!['true', 'false'].includes(flags.inspect)) throw new UsageError('--inspect takes true or false');
    spec.inspect = flags.inspect === 'true';
  }
  if (flags.metadata) spec.metadata = flags.metadata;
  const upstreamProtocol = flags['upstream-protocol'] ?? flags['app-protocol'];
  if (upstreamProtocol) {
    if (upstreamProtocol !== 'http1' && upstreamProtocol !== 'http2')
      throw new UsageError(`--upstream-protocol "${upstreamProtocol}": use http1 or http2`);
    spec.upstreamProtocol = upstreamProtocol;
  }
  const httpOnly = [
    'host-header',
    'request-header-add',
    'request-header-remove',
    'response-header-add',
    'response-header-remove',
    'upstream-protocol',
    'basic-auth',
    'compression',
    'circuit-breaker',
    'verify-webhook',
    'verify-webhook-secret',
    'ua-filter-allow',
    'ua-filter-deny',
    'mutual-tls-cas',
    'oauth',
    'oauth-allow-email',
    'oauth-allow-domain',
    'oauth-scope',
    'oauth-client-id',
    'oauth-client-secret',
    'oidc',
    'oidc-client-id',
    'oidc-client-secret',
    'oidc-scope',
  ] as const;
  const edge: EdgeOptions = {};
  if (flags['cidr-allow'] || flags['cidr-deny'])
    edge.ipRestriction = { allowCidrs: flags['cidr-allow'], denyCidrs: flags['cidr-deny'] };
  // Every protocol takes a policy (TCP/TLS: on_tcp_connect only, judged by the edge at bind).
  if (flags['traffic-policy-file'])
    edge.trafficPolicy = readTrafficPolicyFile(flags['traffic-policy-file'], 'traffic-policy-file');
  if (proto !== 'http') {
    for (const f of httpOnly) if (flags[f] !== undefined) throw new UsageError(`--${f} only applies to http endpoints`);
    return withEdge(spec, edge);
  }
  if (flags['host-header']) spec.hostHeader = flags['host-header'];
  const requestHeaders = rules(
    headerAdds(flags['request-header-add'], 'request-header-add'),
    headerRemoves(flags['request-header-remove'], 'request-header-remove'),
  );
  const responseHeaders = rules(
    headerAdds(flags['response-header-add'], 'response-header-add'),
    headerRemoves(flags['response-header-remove'], 'response-header-remove'),
  );
  if (requestHeaders) edge.requestHeaders = requestHeaders;
  if (responseHeaders) edge.responseHeaders = responseHeaders;
  if (flags['basic-auth']) edge.basicAuth = { credentials: flags['basic-auth'] };
  if (flags.compression) edge.compression = {};
  if (flags['circuit-breaker'] !== undefined) {
    const ratio = Number(flags['circuit-breaker']);
    if (flags['circuit-breaker'].trim() === '' || !Number.isFinite(ratio))
      throw new UsageError(
        `--circuit-breaker "${flags['circuit-breaker']}": expected an error ratio between 0.0 and 1.0`,
      );
    edge.circuitBreaker = { errorThreshold: ratio };
  }
  if (flags['verify-webhook'] || flags['verify-webhook-secret']) {
    if (!flags['verify-webhook']) throw new UsageError('--verify-webhook-secret needs --verify-webhook PROVIDER');
    edge.webhookVerification = { provider: flags['verify-webhook'], secret: flags['verify-webhook-secret'] ?? '' };
  }
  if (flags['ua-filter-allow'] || flags['ua-filter-deny'])
    edge.userAgentFilter = { allow: flags['ua-filter-allow'], deny: flags['ua-filter-deny'] };
  if (flags['mutual-tls-cas'])
    edge.mutualTls = { certificateAuthorities: [readFlagFile(flags['mutual-tls-cas'], 'mutual-tls-cas')] };
  authFromFlags(flags, edge);
  return withEdge(spec, edge);
}

function authFromFlags(flags: EndpointFlagValues, edge: EdgeOptions): void {
  const allow = { allowEmails: flags['oauth-allow-email'], allowDomains: flags['oauth-allow-domain'] };
  const orphan = (
    ['oauth-allow-email', 'oauth-allow-domain', 'oauth-scope', 'oauth-client-id', 'oauth-client-secret'] as const
  ).find((f) => flags[f] !== undefined);
  if (flags.oauth !== undefined && flags.oidc !== undefined)
    throw new UsageError('--oauth and --oidc cannot be used together (one login per endpoint)');
  if (flags.oauth !== undefined) {
    edge.oauth = clean({
      provider: flags.oauth as never,
      clientId: flags['oauth-client-id'],
      clientSecret: flags['oauth-client-secret'],
      scopes: flags['oauth-scope'],
      ...allow,
    });
  } else if (flags.oidc !== undefined) {
    const oauthOnly = (['oauth-scope', 'oauth-client-id', 'oauth-client-secret'] as const).find(
      (f) => flags[f] !== undefined,
    );
    if (oauthOnly)
      throw new UsageError(
        `--${oauthOnly} belongs to --oauth; use --oidc-client-id, --oidc-client-secret, --oidc-scope`,
      );
    edge.oidc = clean({
      issuerUrl: flags.oidc,
      clientId: flags['oidc-client-id'] ?? '',
      clientSecret: flags['oidc-client-secret'] ?? '',
      scopes: flags['oidc-scope'],
      ...allow,
    });
  } else if (orphan) {
    throw new UsageError(`--${orphan} needs --oauth PROVIDER (or --oidc ISSUER)`);
  } else {
    const oidcOrphan = (['oidc-client-id', 'oidc-client-secret', 'oidc-scope'] as const).find(
      (f) => flags[f] !== undefined,
    );
    if (oidcOrphan) throw new UsageError(`--${oidcOrphan} needs --oidc ISSUER`);
  }
}

/** Drops undefined fields so module defaults apply. */
function clean<T extends object>(config: T): T {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as T;
}

function withEdge(spec: EndpointSpec, edge: EdgeOptions): EndpointSpec {
  if (Object.keys(edge).length === 0) return spec;
  try {
    // The edge checks again at bind time; checking here names the flag before anything starts.
    buildPipeline(spec.proto === 'http' ? edge : { ipRestriction: edge.ipRestriction });
  } catch (err) {
    if (err instanceof ModuleConfigError) throw new UsageError(`${err.code}: ${err.message}`);
    throw err;
  }
  spec.edge = edge;
  return spec;
}

function readFlagFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--${flag} "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** A traffic-policy file, YAML or JSON (YAML is a superset). */
export function readTrafficPolicyFile(path: string, flag: string): TrafficPolicyDocument {
  const text = readFlagFile(path, flag);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(
      `ERR_NGROK_2236: --${flag} "${path}": the policy does not parse: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new UsageError(
      `ERR_NGROK_2236: --${flag} "${path}": expected a policy document (on_http_request / on_http_response)`,
    );
  return doc as TrafficPolicyDocument;
}
