// Account resources of ngrok API v2 beside the edges: uploaded TLS certificates (`cert_`),
// reserved TCP addresses (`ra_`), endpoint configurations (`ec_`, ngrok's pre-edge module
// objects attached to reserved domains and addresses) and the live tunnel sessions (`ts_`).
// Objects live in the same EdgeStore as everything else (committed atomically; a failed check
// changes nothing). What they do to traffic is in endpoint-configs.ts (modules on live bindings)
// and ../certs (certificates served by SNI).
import net from 'node:net';
import type { EdgeOptions } from '../../model';
import type { IpPolicyStore } from '../../modules/ip-restriction';
import { buildPipeline, ModuleConfigError } from '../../modules/pipeline';
import { BundleError, certificateFields, parseBundle } from '../certs/bundle';
import type { SessionRegistry, TunnelSessionEntry } from '../sessions';
import { AdminApiError, badRequest, notFound } from './errors';
import { newId } from './ids';
import { routeEdgeOptions } from './modules';
import { REDACTED } from './operations';
import type { Renderer } from './render';
import { validateBody } from './schema';
import type { EdgeStore } from './store';
import {
  ENDPOINT_CONFIG_MODULES,
  type CertificateManagementStatus,
  type EndpointConfigModuleKey,
  type EndpointConfiguration,
  type ReservedAddr,
  type ReservedDomain,
  type RouteModuleKey,
  type TlsCertificateObject,
} from './types';

type Body = Record<string, unknown>;
type Json = Record<string, unknown>;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const pick = (body: Body, keys: readonly string[]): Body =>
  Object.fromEntries(keys.filter((k) => body[k] !== undefined).map((k) => [k, body[k]]));
const on = (m: { enabled?: boolean | null } | null | undefined): boolean => !!m && m.enabled !== false;

export const DEFAULT_CERT_POLICY = { authority: 'letsencrypt', private_key_type: 'ecdsa' } as const;

export interface AccountEnv {
  ipPolicies: IpPolicyStore;
  /** The host reserved addresses are shown with (the edge's public name). */
  tcpHost: string;
  /** Where TCP listeners bind (a reserved port is checked free there). */
  tcpBindHost: string;
  /** Live agent sessions (`/tunnel_sessions`); set once the Edge exists. */
  sessions?: SessionRegistry;
  /** ACME on: new reserved domains get a certificate management policy unless they say null. */
  acme?: boolean;
}

/** An endpoint configuration's modules as pipeline options (the same mapping as edge routes). */
export function endpointConfigOptions(ec: EndpointConfiguration): EdgeOptions {
  const options = routeEdgeOptions({
    ip_restriction: ec.ip_policy,
    circuit_breaker: ec.circuit_breaker,
    compression: ec.compression,
    request_headers: ec.request_headers,
    response_headers: ec.response_headers,
    webhook_verification: ec.webhook_validation,
    oauth: ec.oauth,
    oidc: ec.oidc,
  });
  if (on(ec.basic_auth)) {
    const b = ec.basic_auth!;
    options.basicAuth = { credentials: [`${b.auth_username ?? ''}:${b.auth_password ?? ''}`] };
  }
  if (on(ec.mutual_tls))
    throw new ModuleConfigError(
      'ERR_NGROK_7072',
      'mutual_tls: Burrow has no certificate authorities API yet, so no CA id can be named',
    );
  if (on(ec.tls_termination) && ec.tls_termination!.min_version)
    throw new ModuleConfigError(
      'ERR_BURROW_UNSUPPORTED_OPTION',
      'tls_termination.min_version is not supported on endpoint configurations yet (the edge listener sets the TLS versions); leave it null',
    );
  return options;
}

export class AccountService {
  env: AccountEnv;

  constructor(
    readonly store: EdgeStore,
    env: AccountEnv,
  ) {
    this.env = env;
  }

  private get state() {
    return this.store.state;
  }

  /** Runs `change`; commits only if it did not throw (EdgeStore.transact). */
  private mutate<T>(change: () => T): T {
    return this.store.transact(change);
  }

  // ---- TLS certificates ----

  getCertificate(id: string): TlsCertificateObject {
    const c = this.state.tls_certificates.find((x) => x.id === id);
    if (!c) throw notFound('ERR_BURROW_NOT_FOUND', `TLS certificate ${id} not found.`);
    return c;
  }

  createCertificate(body: Body): TlsCertificateObject {
    validateBody(body, 'TLSCertificateCreate');
    const pem = { certificate_pem: String(body.certificate_pem), private_key_pem: String(body.private_key_pem) };
    checkBundle(pem.certificate_pem, pem.private_key_pem);
    return this.mutate(() => {
      const c: TlsCertificateObject = {
        id: newId('cert'),
        created_at: now(),
        description: '',
        metadata: '',
        ...pick(body, ['description', 'metadata']),
        ...pem,
      };
      this.state.tls_certificates = [...this.state.tls_certificates, c];
      return c;
    });
  }

  updateCertificate(id: string, body: Body): TlsCertificateObject {
    validateBody(body, 'TLSCertificateUpdate');
    return this.mutate(() => Object.assign(this.getCertificate(id), pick(body, ['description', 'metadata'])));
  }

  deleteCertificate(id: string): void {
    this.mutate(() => {
      this.getCertificate(id);
      const user = this.state.reserved_domains.find((d) => d.certificate_id === id);
      if (user)
        throw badRequest(
          'ERR_BURROW_IN_USE',
          `The TLS certificate ${id} is attached to reserved domain ${user.domain} (${user.id}): detach it first (PATCH certificate_id: null).`,
        );
      this.state.tls_certificates = this.state.tls_certificates.filter((c) => c.id !== id);
    });
  }

  // ---- reserved addresses ----

  getReservedAddr(id: string): ReservedAddr {
    const a = this.state.reserved_addrs.find((x) => x.id === id);
    if (!a) throw notFound('ERR_BURROW_NOT_FOUND', `Reserved address ${id} not found.`);
    return a;
  }

  /** The reserved address holding `port`, if any. */
  reservedAddrForPort(port: number): ReservedAddr | undefined {
    return this.state.reserved_addrs.find((a) => portOf(a.addr) === port);
  }

  async createReservedAddr(body: Body): Promise<ReservedAddr> {
    validateBody(body, 'ReservedAddrCreate');
    // Burrow extension: `addr` (PORT or HOST:PORT) reserves a given port; otherwise a free one.
    let port: number;
    if (body.addr !== undefined) {
      const text = String(body.addr);
      port = Number(text.slice(text.lastIndexOf(':') + 1));
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw badRequest('ERR_NGROK_9029', `"${text}" has no valid port (1-65535).`, { field: 'addr' });
      if (this.reservedAddrForPort(port))
        throw new AdminApiError(409, 'ERR_BURROW_ADDR_EXISTS', `The port ${port} is already reserved.`);
    } else {
      port = await this.freePort();
    }
    return this.mutate(() => {
      const ra: ReservedAddr = {
        id: newId('ra'),
        created_at: now(),
        description: '',
        metadata: '',
        region: 'global',
        endpoint_configuration_id: null,
        ...pick(body, ['description', 'metadata', 'region', 'endpoint_configuration_id']),
        addr: `${this.env.tcpHost}:${port}`,
      };
      this.checkConfigRef(ra.endpoint_configuration_id, 'tcp', 'endpoint_configuration_id');
      this.state.reserved_addrs = [...this.state.reserved_addrs, ra];
      return ra;
    });
  }

  updateReservedAddr(id: string, body: Body): ReservedAddr {
    validateBody(body, 'ReservedAddrUpdate');
    return this.mutate(() => {
      const ra = Object.assign(
        this.getReservedAddr(id),
        pick(body, ['description', 'metadata', 'endpoint_configuration_id']),
      );
      this.checkConfigRef(ra.endpoint_configuration_id, 'tcp', 'endpoint_configuration_id');
      return ra;
    });
  }

  deleteReservedAddr(id: string): void {
    this.mutate(() => {
      this.getReservedAddr(id);
      this.state.reserved_addrs = this.state.reserved_addrs.filter((a) => a.id !== id);
    });
  }

  /** A port free on the TCP host right now and not reserved (the OS picks; retried if reserved). */
  private async freePort(): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await new Promise<number>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, this.env.tcpBindHost, () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      if (!this.reservedAddrForPort(port)) return port;
    }
    throw new AdminApiError(503, 'ERR_BURROW_NO_PORT', 'No free TCP port could be reserved.');
  }

  // ---- endpoint configurations ----

  getEndpointConfig(id: string): EndpointConfiguration {
    const ec = this.state.endpoint_configurations.find((x) => x.id === id);
    if (!ec) throw notFound('ERR_BURROW_NOT_FOUND', `Endpoint configuration ${id} not found.`);
    return ec;
  }

  createEndpointConfig(body: Body): EndpointConfiguration {
    validateBody(body, 'EndpointConfigurationCreate');
    return this.mutate(() => {
      const ec = {
        description: '',
        metadata: '',
        ...Object.fromEntries(Object.keys(ENDPOINT_CONFIG_MODULES).map((k) => [k, null])),
        ...pick(body, ['type', 'description', 'metadata', ...Object.keys(ENDPOINT_CONFIG_MODULES)]),
        id: newId('ec'),
        created_at: now(),
      } as EndpointConfiguration;
      this.checkEndpointConfig(ec);
      this.state.endpoint_configurations = [...this.state.endpoint_configurations, ec];
      return ec;
    });
  }

  updateEndpointConfig(id: string, body: Body): EndpointConfiguration {
    validateBody(body, 'EndpointConfigurationUpdate');
    return this.mutate(() => {
      const ec = this.getEndpointConfig(id);
      for (const key of Object.keys(ENDPOINT_CONFIG_MODULES) as EndpointConfigModuleKey[])
        if (body[key] !== undefined) (ec as unknown as Body)[key] = keepSecrets(body[key] as Body | null, ec[key]);
      Object.assign(ec, pick(body, ['description', 'metadata']));
      this.checkEndpointConfig(ec);
      return ec;
    });
  }

  putEndpointConfigModule(id: string, key: EndpointConfigModuleKey, body: Body | null): unknown {
    if (body !== null) validateBody(body, ENDPOINT_CONFIG_DEFS[key]);
    return this.mutate(() => {
      const ec = this.getEndpointConfig(id);
      (ec as unknown as Body)[key] = keepSecrets(body, ec[key]);
      this.checkEndpointConfig(ec);
      return ec[key] ?? null;
    });
  }

  deleteEndpointConfig(id: string): void {
    this.mutate(() => {
      this.getEndpointConfig(id);
      const d = this.state.reserved_domains.find(
        (x) => x.http_endpoint_configuration_id === id || x.https_endpoint_configuration_id === id,
      );
      const a = this.state.reserved_addrs.find((x) => x.endpoint_configuration_id === id);
      if (d || a)
        throw badRequest(
          'ERR_BURROW_IN_USE',
          `The endpoint configuration ${id} is attached to ${d ? `reserved domain ${d.domain}` : `reserved address ${a!.addr}`}: detach it first.`,
        );
      this.state.endpoint_configurations = this.state.endpoint_configurations.filter((x) => x.id !== id);
    });
  }

  private checkEndpointConfig(ec: EndpointConfiguration): void {
    for (const key of Object.keys(ENDPOINT_CONFIG_MODULES) as EndpointConfigModuleKey[]) {
      const allowed = ENDPOINT_CONFIG_MODULES[key] as readonly string[];
      if (ec[key] && !allowed.includes(ec.type))
        throw badRequest(
          'ERR_NGROK_7021',
          `The module ${key} is not valid for ${ec.type} endpoint configurations (only ${allowed.join(', ')}).`,
          { field: key },
        );
    }
    for (const id of ec.ip_policy?.ip_policy_ids ?? []) {
      if (!this.state.ip_policies.some((p) => p.id === id))
        throw badRequest('ERR_NGROK_7007', `The IP Policy ID ${id} specified for the IP Policy module does not exist.`);
    }
    try {
      buildPipeline(endpointConfigOptions(ec), { ipPolicies: this.env.ipPolicies });
    } catch (err) {
      if (err instanceof ModuleConfigError) throw badRequest(err.code, err.message);
      throw err;
    }
  }

  private checkConfigRef(id: string | null | undefined, type: 'http' | 'https' | 'tcp', field: string): void {
    if (!id) return;
    const ec = this.state.endpoint_configurations.find((x) => x.id === id);
    if (!ec) throw badRequest('ERR_BURROW_REFERENCE', `The endpoint configuration ${id} does not exist.`, { field });
    if (ec.type !== type)
      throw badRequest(
        'ERR_BURROW_REFERENCE',
        `${field} needs an endpoint configuration of type ${type}; ${id} is of type ${ec.type}.`,
        { field },
      );
  }

  // ---- reserved domains (called by EdgeService on create/update) ----

  /** Applies and checks the certificate and endpoint-configuration fields of a reserved domain. */
  applyReservedDomain(rd: ReservedDomain, body: Body, created: boolean): void {
    Object.assign(
      rd,
      pick(body, [
        'certificate_id',
        'certificate_management_policy',
        'http_endpoint_configuration_id',
        'https_endpoint_configuration_id',
      ]),
    );
    if (created && body.certificate_management_policy === undefined && !rd.certificate_id && this.env.acme)
      rd.certificate_management_policy = { ...DEFAULT_CERT_POLICY };
    if (rd.certificate_id && rd.certificate_management_policy)
      throw badRequest(
        'ERR_NGROK_434',
        'A reserved domain takes either an uploaded certificate (certificate_id) or a certificate_management_policy, not both.',
      );
    if (!rd.certificate_management_policy) rd.certificate_management_status = null;
    if (rd.certificate_id && !this.state.tls_certificates.some((c) => c.id === rd.certificate_id))
      throw badRequest('ERR_BURROW_REFERENCE', `The TLS certificate ${rd.certificate_id} does not exist.`, {
        field: 'certificate_id',
      });
    this.checkConfigRef(rd.http_endpoint_configuration_id, 'http', 'http_endpoint_configuration_id');
    this.checkConfigRef(rd.https_endpoint_configuration_id, 'https', 'https_endpoint_configuration_id');
  }

  /** ACME progress for a reserved domain (the ACME manager calls this). */
  setCertificateStatus(domain: string, status: CertificateManagementStatus): void {
    const rd = this.state.reserved_domains.find((d) => d.domain === domain);
    if (!rd || !rd.certificate_management_policy) return;
    rd.certificate_management_status = status;
    this.store.commit();
  }

  // ---- tunnel sessions ----

  listSessions(): TunnelSessionEntry[] {
    return this.env.sessions?.list() ?? [];
  }

  getSession(id: string): TunnelSessionEntry {
    const s = this.env.sessions?.get(id);
    if (!s) throw notFound('ERR_BURROW_NOT_FOUND', `Tunnel session ${id} not found.`);
    return s;
  }

  /** ngrok's stop / restart / update of a session: resolves once the agent agreed. */
  async commandSession(id: string, command: 'stop' | 'restart' | 'update'): Promise<void> {
    this.getSession(id);
    const control = this.env.sessions?.control(id);
    if (!control) throw badRequest('ERR_BURROW_UNSUPPORTED', `Tunnel session ${id} cannot be sent commands.`);
    try {
      await control[command]();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const status =
        e.code === 'ERR_BURROW_AGENT_TIMEOUT' ? 504 : e.code === 'ERR_BURROW_AGENT_UNREACHABLE' ? 502 : 400;
      throw new AdminApiError(status, e.code ?? 'ERR_BURROW_INTERNAL', e.message ?? String(err));
    }
  }
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

function checkBundle(certificatePem: string, privateKeyPem: string): void {
  try {
    parseBundle(certificatePem, privateKeyPem);
  } catch (err) {
    if (err instanceof BundleError) throw badRequest(err.code, err.message, { field: err.field });
    throw err;
  }
}

/** A module body sent back with redacted secrets keeps the stored ones (GET then PUT round-trips). */
function keepSecrets(body: Body | null, previous: unknown): Body | null {
  if (!body || !previous || typeof previous !== 'object') return body;
  const out = structuredClone(body);
  const walk = (o: Body, p: Body) => {
    for (const [k, v] of Object.entries(o)) {
      if (v === REDACTED && typeof p[k] === 'string') o[k] = p[k];
      else if (v && typeof v === 'object' && !Array.isArray(v) && p[k] && typeof p[k] === 'object')
        walk(v as Body, p[k] as Body);
    }
  };
  walk(out, previous as Body);
  return out;
}

/** Schema definitions of the endpoint configuration modules (shared with edge routes where equal). */
export const ENDPOINT_CONFIG_DEFS: Record<EndpointConfigModuleKey, string> = {
  circuit_breaker: 'EndpointCircuitBreaker',
  compression: 'EndpointCompression',
  request_headers: 'EndpointRequestHeaders',
  response_headers: 'EndpointResponseHeaders',
  ip_policy: 'EndpointIPPolicy',
  mutual_tls: 'EndpointMutualTLS',
  tls_termination: 'EndpointTLSTermination',
  webhook_validation: 'EndpointWebhookValidation',
  oauth: 'EndpointOAuth',
  oidc: 'EndpointOIDC',
  basic_auth: 'EndpointBasicAuth',
};

/** Route-module renderings reused for the endpoint configuration modules of the same shape. */
const AS_ROUTE_MODULE: Partial<Record<EndpointConfigModuleKey, RouteModuleKey>> = {
  circuit_breaker: 'circuit_breaker',
  compression: 'compression',
  request_headers: 'request_headers',
  response_headers: 'response_headers',
  ip_policy: 'ip_restriction',
  webhook_validation: 'webhook_verification',
  oauth: 'oauth',
  oidc: 'oidc',
};

// ---- read shapes ----

export function renderCertificate(r: Renderer, c: TlsCertificateObject): Json {
  const fields = certificateFields(parseBundle(c.certificate_pem, c.private_key_pem));
  return {
    id: c.id,
    uri: `${r.base}/tls_certificates/${c.id}`,
    created_at: c.created_at,
    description: c.description ?? '',
    metadata: c.metadata ?? '',
    certificate_pem: c.certificate_pem,
    ...fields,
  };
}

export function renderReservedAddr(r: Renderer, a: ReservedAddr): Json {
  return {
    id: a.id,
    uri: `${r.base}/reserved_addrs/${a.id}`,
    created_at: a.created_at,
    description: a.description ?? '',
    metadata: a.metadata ?? '',
    addr: a.addr,
    region: a.region ?? 'global',
    endpoint_configuration: a.endpoint_configuration_id
      ? r.ref('endpoint_configurations', a.endpoint_configuration_id)
      : null,
  };
}

export function renderEndpointConfigModule(r: Renderer, key: EndpointConfigModuleKey, m: unknown): Json | null {
  if (!m) return null;
  const module = m as Json;
  const routeKey = AS_ROUTE_MODULE[key];
  if (routeKey) return r.module(routeKey, module);
  if (key === 'basic_auth')
    return {
      enabled: module.enabled !== false,
      auth_username: module.auth_username ?? '',
      auth_password: module.auth_password ? REDACTED : '',
      allow_options: module.allow_options ?? false,
    };
  return { ...module, enabled: module.enabled !== false };
}

export function renderEndpointConfig(r: Renderer, ec: EndpointConfiguration): Json {
  const out: Json = {
    id: ec.id,
    uri: `${r.base}/endpoint_configurations/${ec.id}`,
    created_at: ec.created_at,
    type: ec.type,
    description: ec.description ?? '',
    metadata: ec.metadata ?? '',
  };
  for (const key of Object.keys(ENDPOINT_CONFIG_MODULES) as EndpointConfigModuleKey[])
    out[key] = renderEndpointConfigModule(r, key, ec[key]);
  out.logging = null;
  out.saml = null;
  return out;
}

export function renderSession(r: Renderer, s: TunnelSessionEntry): Json {
  return {
    id: s.id,
    uri: `${r.base}/tunnel_sessions/${s.id}`,
    agent_version: s.agent_version,
    credential: s.credential_id ? r.ref('credentials', s.credential_id) : null,
    ip: s.ip,
    metadata: s.metadata,
    os: s.os,
    region: s.region,
    started_at: s.started_at,
    transport: s.transport,
    ...(s.hostname ? { hostname: s.hostname } : {}),
    ...(s.extra ?? {}),
  };
}
