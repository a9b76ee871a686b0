// ngrok v2 tunnel definitions, the body of `POST /api/tunnels`. The extension keeps the definition
// it started each tunnel with (secrets included, in memory only), so Restart and the protection
// commands can apply a change by stopping and starting the same tunnel with an edited definition.
// For a tunnel somebody else started, the definition is rebuilt from the API's (redacted) spec.
import crypto from 'node:crypto';
import type { EndpointDefinitionJson, TunnelJson } from '../agent/api';

export type TunnelDefinition = Record<string, unknown> & { name: string; proto: string; addr: string | number };

export type Protection =
  | { kind: 'basic-auth'; username: string; password: string }
  | {
      kind: 'oauth';
      provider: string;
      clientId: string;
      clientSecret: string;
      allowEmails?: string[];
      allowDomains?: string[];
    }
  | { kind: 'none' };

const PROTECTION_KEYS = ['auth', 'basic_auth', 'oauth', 'oidc'] as const;

/** A password for basic auth: 24 characters from 18 random bytes (144 bits), URL- and YAML-safe. */
export function generatePassword(bytes = 18): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** The module checks (tunnel/src/modules/basic-auth.ts and the schema): password 8–128 characters, no ':' in the user. */
export function checkBasicAuth(username: string, password: string): string | undefined {
  if (!username || username.includes(':')) return 'the user name must not be empty or contain ":"';
  if (password.length < 8 || password.length > 128) return 'the password must be 8 to 128 characters';
  return undefined;
}

/** The definition with `p` applied: basic auth or OAuth replace any earlier protection; `none` removes it. */
export function withProtection(def: TunnelDefinition, p: Protection): TunnelDefinition {
  const out: TunnelDefinition = { ...def };
  for (const k of PROTECTION_KEYS) delete out[k];
  if (p.kind === 'basic-auth') out.basic_auth = [`${p.username}:${p.password}`];
  if (p.kind === 'oauth') {
    out.oauth = {
      provider: p.provider,
      client_id: p.clientId,
      client_secret: p.clientSecret,
      ...(p.allowEmails?.length ? { allow_emails: p.allowEmails } : {}),
      ...(p.allowDomains?.length ? { allow_domains: p.allowDomains } : {}),
    };
  }
  return out;
}

/** Which protection a running tunnel has, from its spec's edge modules. */
export function protectionOf(spec: EndpointDefinitionJson | undefined): 'basic-auth' | 'oauth' | 'oidc' | undefined {
  const edge = spec?.edge ?? {};
  if (edge.oauth) return 'oauth';
  if (edge.oidc) return 'oidc';
  if (edge.basicAuth) return 'basic-auth';
  const policy = JSON.stringify(edge.trafficPolicy ?? {});
  if (/"type":"oauth"/.test(policy)) return 'oauth';
  if (/"type":"openid-connect"/.test(policy)) return 'oidc';
  if (/"type":"basic-auth"/.test(policy)) return 'basic-auth';
  return undefined;
}

/** Host of a public URL when it is a name we can ask for again (keeps the URL across a restart). */
function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'tcp:' ? undefined : u.hostname || undefined;
  } catch {
    return undefined;
  }
}

const REDACTED = /\*{3,}|<redacted>/;

/**
 * Rebuilds a v2 definition from a running tunnel (when the extension did not start it). Modules
 * whose secrets the API redacts cannot be carried over; `lost` names them.
 */
export function definitionFromTunnel(t: TunnelJson): { def: TunnelDefinition; lost: string[] } {
  const spec = t.definition;
  const lost: string[] = [];
  const proto = spec?.proto ?? (t.proto === 'https' ? 'http' : t.proto);
  const def: TunnelDefinition = { name: t.name, proto, addr: spec?.upstream ?? t.config.addr };
  if (spec?.subdomain) def.subdomain = spec.subdomain;
  else if (proto !== 'tcp') {
    const host = spec?.domain ?? hostOf(t.public_url);
    if (host) def.domain = host;
  }
  if (proto === 'tcp') {
    const remote = spec?.remoteAddr ?? (t.public_url ? new URL(t.public_url).host : undefined);
    if (remote) def.remote_addr = remote;
  }
  if (spec?.schemes) def.schemes = spec.schemes;
  if (spec?.hostHeader) def.host_header = spec.hostHeader;
  if (spec?.metadata) def.metadata = spec.metadata;
  if (spec?.inspect === false || t.config.inspect === false) def.inspect = false;
  if (spec?.upstreamProtocol === 'http2') lost.push('upstream protocol http2');
  const edge = spec?.edge ?? {};
  for (const [key, value] of Object.entries(edge)) {
    if (key === 'basicAuth') {
      const creds = (value as { credentials?: string[] }).credentials ?? [];
      if (creds.some((c) => REDACTED.test(c))) lost.push('basic auth (password not readable from the agent)');
      else def.basic_auth = creds;
    } else if (key === 'oauth') {
      const o = value as {
        provider: string;
        clientId?: string;
        clientSecret?: string;
        allowEmails?: string[];
        allowDomains?: string[];
        scopes?: string[];
      };
      if (o.clientSecret && REDACTED.test(o.clientSecret))
        lost.push('OAuth (client secret not readable from the agent)');
      else
        def.oauth = {
          provider: o.provider,
          client_id: o.clientId,
          client_secret: o.clientSecret,
          allow_emails: o.allowEmails,
          allow_domains: o.allowDomains,
          scopes: o.scopes,
        };
    } else if (key === 'ipRestriction') {
      const r = value as { allowCidrs?: string[]; denyCidrs?: string[] };
      def.ip_restriction = {
        ...(r.allowCidrs ? { allow_cidrs: r.allowCidrs } : {}),
        ...(r.denyCidrs ? { deny_cidrs: r.denyCidrs } : {}),
      };
    } else if (key === 'trafficPolicy') {
      if (REDACTED.test(JSON.stringify(value))) lost.push('traffic policy (has redacted secrets)');
      else def.traffic_policy = value;
    } else if (key === 'requestHeaders' || key === 'responseHeaders') {
      def[key === 'requestHeaders' ? 'request_header' : 'response_header'] = value;
    } else if (key === 'compression') {
      def.compression = true;
    } else {
      lost.push(moduleLabel(key));
    }
  }
  return { def: stripUndefined(def), lost };
}

function stripUndefined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) delete o[k];
    else if (v && typeof v === 'object' && !Array.isArray(v)) stripUndefined(v as Record<string, unknown>);
  }
  return o;
}

/** Human names of the edge modules (EdgeOptions keys in tunnel/src/model.ts). */
export function moduleLabel(key: string): string {
  return (
    (
      {
        basicAuth: 'Basic auth',
        oauth: 'OAuth',
        oidc: 'OpenID Connect',
        ipRestriction: 'IP restriction',
        mutualTls: 'Mutual TLS',
        tlsTermination: 'TLS termination',
        userAgentFilter: 'User-agent filter',
        circuitBreaker: 'Circuit breaker',
        webhookVerification: 'Webhook verification',
        trafficPolicy: 'Traffic policy',
        requestHeaders: 'Request headers',
        responseHeaders: 'Response headers',
        compression: 'Compression',
      } as Record<string, string>
    )[key] ?? key
  );
}

/** One line about a module's config for the tree (never a secret). */
export function moduleDetail(key: string, value: unknown): string {
  const v = (value ?? {}) as Record<string, unknown>;
  const list = (x: unknown): string => (Array.isArray(x) ? x.join(', ') : '');
  switch (key) {
    case 'basicAuth':
      return list((v.credentials as string[] | undefined)?.map((c) => c.split(':')[0]));
    case 'oauth': {
      const allow = [list(v.allowEmails), list((v.allowDomains as string[] | undefined)?.map((d) => `@${d}`))]
        .filter(Boolean)
        .join(', ');
      return `${String(v.provider ?? '')}${allow ? ` · ${allow}` : ''}`;
    }
    case 'oidc':
      return String(v.issuerUrl ?? '');
    case 'ipRestriction':
      return [v.allowCidrs ? `allow ${list(v.allowCidrs)}` : '', v.denyCidrs ? `deny ${list(v.denyCidrs)}` : '']
        .filter(Boolean)
        .join(' · ');
    case 'trafficPolicy': {
      const phases = Object.keys(v).filter((k) => k.startsWith('on_'));
      return phases.join(', ');
    }
    default:
      return '';
  }
}

/** The OAuth redirect URI to register at the provider (same rule as tunnel/src/modules/oauth/config.ts). */
export { oauthCallbackUrl } from '../../../tunnel/src/modules/oauth/config';
