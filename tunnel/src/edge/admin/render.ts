// Stored objects → the read shapes of ngrok API v2: ids become Refs with `uri`s, every module key
// is present (null when unset) with ngrok's defaults filled in, and secrets are redacted
// (OAuth/OIDC client secrets, webhook secrets). `base` is the admin API's own URL.
import type { HttpsEdgeRouter } from './router';
import { REDACTED } from './operations';
import {
  ROUTE_MODULES,
  type AnyBackend,
  type BackendKind,
  type Credential,
  type HttpsEdge,
  type HttpsEdgeRoute,
  type IpPolicyObject,
  type IpPolicyRuleObject,
  type OAuthModule,
  type ReservedDomain,
  type RouteModuleKey,
} from './types';

type Json = Record<string, unknown>;
const OAUTH_PROVIDERS = ['github', 'facebook', 'microsoft', 'google', 'linkedin', 'gitlab', 'twitch', 'amazon'];
const enabled = (m: { enabled?: boolean | null }) => m.enabled !== false;
const redact = (v: unknown) => (typeof v === 'string' && v ? REDACTED : (v ?? null));

export class Renderer {
  constructor(
    readonly base: string,
    private readonly router?: HttpsEdgeRouter,
  ) {}

  ref(path: string, id: string): { id: string; uri: string } {
    return { id, uri: `${this.base}/${path}/${id}` };
  }

  backendRef(id: string) {
    const kind =
      (
        {
          bkdtg: 'tunnel_group',
          bkdfo: 'failover',
          bkdwd: 'weighted',
          bkdhr: 'http_response',
          bkdsc: 'static',
        } as Record<string, string>
      )[id.split('_')[0]] ?? 'unknown';
    return this.ref(`backends/${kind}`, id);
  }

  edge(e: HttpsEdge): Json {
    return {
      id: e.id,
      description: e.description ?? '',
      metadata: e.metadata ?? '',
      created_at: e.created_at,
      uri: `${this.base}/edges/https/${e.id}`,
      hostports: e.hostports,
      mutual_tls: e.mutual_tls ?? null,
      tls_termination: e.tls_termination
        ? {
            enabled: enabled(e.tls_termination),
            terminate_at: 'edge',
            min_version: e.tls_termination.min_version ?? null,
          }
        : null,
      routes: e.routes.map((r) => this.route(r)),
    };
  }

  route(r: HttpsEdgeRoute): Json {
    const out: Json = {
      edge_id: r.edge_id,
      id: r.id,
      created_at: r.created_at,
      uri: `${this.base}/edges/https/${r.edge_id}/routes/${r.id}`,
      match_type: r.match_type,
      match: r.match,
      description: r.description ?? '',
      metadata: r.metadata ?? '',
    };
    for (const key of Object.keys(ROUTE_MODULES) as RouteModuleKey[])
      out[key] = this.module(key, r[key] as Json | null | undefined);
    out.policy = null;
    return out;
  }

  /** One route module in read form (GET/PUT …/routes/{id}/{module}). */
  module(key: RouteModuleKey, m: Json | null | undefined): Json | null {
    if (!m) return null;
    const on = enabled(m);
    switch (key) {
      case 'backend': {
        const id = (m.backend_id as string | undefined) ?? (m.backend as { id?: string } | undefined)?.id;
        return { enabled: on, backend: id ? this.backendRef(id) : null };
      }
      case 'ip_restriction': {
        const ids =
          (m.ip_policy_ids as string[] | undefined) ??
          ((m.ip_policies as { id: string }[] | undefined) ?? []).map((p) => p.id);
        return { enabled: on, ip_policies: ids.map((id) => this.ref('ip_policies', id)) };
      }
      case 'circuit_breaker':
        return {
          enabled: on,
          tripped_duration: m.tripped_duration ?? 0,
          rolling_window: m.rolling_window ?? 0,
          num_buckets: m.num_buckets ?? 0,
          volume_threshold: m.volume_threshold ?? 0,
          error_threshold_percentage: m.error_threshold_percentage ?? 0,
        };
      case 'request_headers':
      case 'response_headers':
        return { enabled: on, add: m.add ?? {}, remove: m.remove ?? [] };
      case 'webhook_verification':
        return { enabled: on, provider: m.provider ?? '', secret: redact(m.secret) };
      case 'oauth': {
        const o = m as unknown as OAuthModule;
        const provider: Json = {};
        for (const p of OAUTH_PROVIDERS) {
          const app = o.provider?.[p];
          provider[p] = app
            ? {
                client_id: app.client_id ?? null,
                client_secret: redact(app.client_secret),
                scopes: app.scopes ?? [],
                email_addresses: app.email_addresses ?? [],
                email_domains: app.email_domains ?? [],
                ...(p === 'github' ? { teams: app.teams ?? [], organizations: app.organizations ?? [] } : {}),
              }
            : null;
        }
        return { enabled: on, provider, ...this.session(m), auth_check_interval: o.auth_check_interval ?? 0 };
      }
      case 'oidc':
        return {
          enabled: on,
          ...this.session(m),
          issuer: m.issuer ?? '',
          client_id: m.client_id ?? '',
          client_secret: redact(m.client_secret),
          scopes: m.scopes ?? [],
        };
      case 'user_agent_filter':
        return { enabled: on, allow: m.allow ?? [], deny: m.deny ?? [] };
      case 'traffic_policy':
        return { enabled: on, value: m.value ?? '' };
      default:
        return { ...m, enabled: on };
    }
  }

  private session(m: Json): Json {
    return {
      options_passthrough: m.options_passthrough ?? false,
      cookie_prefix: m.cookie_prefix || 'ngrok.',
      inactivity_timeout: m.inactivity_timeout ?? 0,
      maximum_duration: m.maximum_duration ?? 0,
    };
  }

  backend(kind: BackendKind, b: AnyBackend): Json {
    const { id, created_at, description, metadata, ...rest } = b as AnyBackend & Json;
    const out: Json = {
      id,
      uri: `${this.base}/backends/${kind}/${id}`,
      created_at,
      description: description ?? '',
      metadata: metadata ?? '',
      ...rest,
    };
    if (kind === 'tunnel_group')
      out.tunnels = (this.router?.tunnelsFor((b as { labels: Record<string, string> }).labels) ?? []).map((t) =>
        this.ref('tunnels', t.id),
      );
    return out;
  }

  reservedDomain(d: ReservedDomain): Json {
    return {
      id: d.id,
      uri: `${this.base}/reserved_domains/${d.id}`,
      created_at: d.created_at,
      description: d.description ?? '',
      metadata: d.metadata ?? '',
      domain: d.domain,
      region: d.region ?? '',
      cname_target: null,
      ...renderReservedDomainExtras(this, d),
      acme_challenge_cname_target: null,
    };
  }

  ipPolicy(p: IpPolicyObject): Json {
    return {
      id: p.id,
      uri: `${this.base}/ip_policies/${p.id}`,
      created_at: p.created_at,
      description: p.description ?? '',
      metadata: p.metadata ?? '',
    };
  }

  ipPolicyRule(r: IpPolicyRuleObject): Json {
    return {
      id: r.id,
      uri: `${this.base}/ip_policy_rules/${r.id}`,
      created_at: r.created_at,
      description: r.description ?? '',
      metadata: r.metadata ?? '',
      cidr: r.cidr,
      action: r.action,
      ip_policy: this.ref('ip_policies', r.ip_policy_id),
    };
  }

  credential(c: Credential, token: string | null = null): Json {
    return {
      id: c.id,
      uri: `${this.base}/credentials/${c.id}`,
      created_at: c.created_at,
      description: c.description ?? '',
      metadata: c.metadata ?? '',
      token,
      acl: c.acl,
      owner_id: c.owner_id ?? null,
    };
  }
}

/** The certificate and endpoint-configuration fields of a reserved domain's read shape. */
export function renderReservedDomainExtras(r: Renderer, d: ReservedDomain): Json {
  return {
    certificate: d.certificate_id ? r.ref('tls_certificates', d.certificate_id) : null,
    certificate_management_policy: d.certificate_management_policy ?? null,
    certificate_management_status: d.certificate_management_status ?? null,
    http_endpoint_configuration: d.http_endpoint_configuration_id
      ? r.ref('endpoint_configurations', d.http_endpoint_configuration_id)
      : null,
    https_endpoint_configuration: d.https_endpoint_configuration_id
      ? r.ref('endpoint_configurations', d.https_endpoint_configuration_id)
      : null,
  };
}
