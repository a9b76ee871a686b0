// The one place where ngrok API v2 route module objects (EndpointIPPolicy, EndpointOAuth, …)
// become the pipeline's EdgeOptions. The route then runs the very module code a CLI flag, an
// ngrok.yml key or a traffic-policy action would (tunnel/src/modules/pipeline.ts). A module set
// to null, or with `enabled: false`, is off. Seconds become milliseconds; `0` means the module's
// default, as in ngrok.
import { parse as parseYaml } from 'yaml';
import type { EdgeOptions } from '../../model';
import { ModuleConfigError } from '../../modules/config-error';
import type { OAuthConfig } from '../../modules/oauth/config';
import type { TrafficPolicyDocument } from '../../modules/traffic-policy';
import type { HeadersModule, OAuthModule, RouteModules, SessionModule } from './types';

const on = (m: { enabled?: boolean | null } | null | undefined): boolean => !!m && m.enabled !== false;
const seconds = (s: number | null | undefined): number | undefined => (s ? s * 1000 : undefined);
const list = (l: string[] | null | undefined): string[] | undefined => (l && l.length ? [...l] : undefined);

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function headerRules(m: HeadersModule): { add: string[]; remove: string[] } {
  return { add: Object.entries(m.add ?? {}).map(([k, v]) => `${k}: ${v}`), remove: [...(m.remove ?? [])] };
}

function sessionOptions(m: SessionModule) {
  return {
    optionsPassthrough: m.options_passthrough || undefined,
    cookiePrefix: m.cookie_prefix || undefined,
    inactivityTimeoutMs: seconds(m.inactivity_timeout),
    maxDurationMs: seconds(m.maximum_duration),
  };
}

function oauthConfig(m: OAuthModule): OAuthConfig {
  const set = Object.entries(m.provider ?? {}).filter(([, v]) => v);
  if (set.length === 0)
    throw new ModuleConfigError(
      'ERR_NGROK_7037',
      'oauth: the provider object must set one provider (github, google, microsoft, …)',
    );
  if (set.length > 1)
    throw new ModuleConfigError(
      'ERR_NGROK_7036',
      `oauth: only one provider may be set, got ${set.map(([k]) => k).join(', ')}`,
    );
  const [provider, app] = set[0] as [string, NonNullable<OAuthModule['provider'][string]>];
  if (list(app.teams) || list(app.organizations)) {
    throw new ModuleConfigError(
      'ERR_BURROW_UNSUPPORTED_OPTION',
      'oauth.provider.github: teams and organizations are not supported by Burrow yet; allow users by email_addresses or email_domains',
    );
  }
  for (const e of app.email_addresses ?? [])
    if (e !== e.toLowerCase())
      throw new ModuleConfigError('ERR_NGROK_7067', `oauth: email addresses must be lowercase, "${e}" is not`);
  for (const e of app.email_domains ?? [])
    if (e !== e.toLowerCase())
      throw new ModuleConfigError('ERR_NGROK_7068', `oauth: email domains must be lowercase, "${e}" is not`);
  return defined({
    provider: provider as OAuthConfig['provider'],
    clientId: app.client_id ?? undefined,
    clientSecret: app.client_secret ?? undefined,
    scopes: list(app.scopes),
    allowEmails: list(app.email_addresses),
    allowDomains: list(app.email_domains),
    authCheckIntervalMs: seconds(m.auth_check_interval),
    ...sessionOptions(m),
  });
}

/** A traffic_policy module's `value` (JSON or YAML text) → the policy document. */
export function policyDocument(value: string | undefined): TrafficPolicyDocument {
  let doc: unknown;
  try {
    doc = parseYaml(value ?? ''); // YAML is a superset of JSON
  } catch (err) {
    throw new ModuleConfigError(
      'ERR_NGROK_2236',
      `traffic_policy.value does not parse: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new ModuleConfigError('ERR_NGROK_2236', 'traffic_policy.value is not a policy document');
  return doc as TrafficPolicyDocument;
}

/**
 * A route's module objects → EdgeOptions for buildPipeline. `backend` is not a pipeline module
 * (the edge picks the backend after the request phase). Throws ModuleConfigError for modules
 * Burrow cannot run, never ignoring one that is on.
 */
export function routeEdgeOptions(route: RouteModules): EdgeOptions {
  const edge: EdgeOptions = {};
  if (on(route.ip_restriction))
    edge.ipRestriction = {
      ipPolicies: [
        ...(route.ip_restriction!.ip_policy_ids ?? route.ip_restriction!.ip_policies?.map((r) => r.id) ?? []),
      ],
    };
  if (on(route.user_agent_filter))
    edge.userAgentFilter = defined({
      allow: list(route.user_agent_filter!.allow),
      deny: list(route.user_agent_filter!.deny),
    });
  if (on(route.circuit_breaker)) {
    const c = route.circuit_breaker!;
    edge.circuitBreaker = defined({
      errorThreshold: c.error_threshold_percentage ?? 0.5,
      trippedMs: seconds(c.tripped_duration),
      windowMs: seconds(c.rolling_window),
      numBuckets: c.num_buckets || undefined,
      volumeThreshold: c.volume_threshold || undefined,
    });
  }
  if (on(route.webhook_verification))
    edge.webhookVerification = {
      provider: route.webhook_verification!.provider ?? '',
      secret: route.webhook_verification!.secret ?? '',
    };
  if (on(route.oauth)) edge.oauth = oauthConfig(route.oauth!);
  if (on(route.oidc)) {
    const o = route.oidc!;
    edge.oidc = defined({
      issuerUrl: o.issuer,
      clientId: o.client_id,
      clientSecret: o.client_secret,
      scopes: list(o.scopes),
      ...sessionOptions(o),
    });
  }
  if (on(route.saml))
    throw new ModuleConfigError(
      'ERR_BURROW_UNSUPPORTED_OPTION',
      'saml: SAML is not supported by Burrow yet; use oauth or oidc',
    );
  if (on(route.websocket_tcp_converter))
    throw new ModuleConfigError(
      'ERR_BURROW_UNSUPPORTED_OPTION',
      'websocket_tcp_converter is not supported by Burrow yet',
    );
  if (on(route.traffic_policy)) edge.trafficPolicy = policyDocument(route.traffic_policy!.value);
  if (on(route.request_headers)) edge.requestHeaders = headerRules(route.request_headers!);
  if (on(route.response_headers)) edge.responseHeaders = headerRules(route.response_headers!);
  if (on(route.compression)) edge.compression = {};
  return edge;
}

/** True when the route signs visitors in (OAuth/OIDC/SAML): one such route per edge (ERR_NGROK_7155). */
export function isAuthRoute(route: RouteModules): boolean {
  return on(route.oauth) || on(route.oidc) || on(route.saml);
}

/** The backend id a route's backend module names, when on. */
export function routeBackendId(route: RouteModules): string | undefined {
  return on(route.backend) ? (route.backend!.backend_id ?? route.backend!.backend?.id) : undefined;
}
