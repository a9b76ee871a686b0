// What account resources do to live traffic (EdgeConfig.account in ../edge.ts):
// - an endpoint configuration attached to a reserved domain (`http_…`/`https_endpoint_configuration_id`)
//   runs its modules on every binding of that name, for that scheme, through the same pipeline
//   code as everything else; its settings win over the agent's for the same module. Attaching or
//   detaching takes effect on the next request (pipelines are cached per binding and config).
// - a reserved address's endpoint configuration (type tcp, ip_policy) filters each connection.
// - a reserved address's port is only ever bound by a bind that names it.
// - a reserved domain's uploaded certificate (`certificate_id`) is what SNI serves for the name.
import type { Binding } from '../edge';
import type { Scheme } from '../../model';
import { ipFilter, type IpPolicyStore } from '../../modules/ip-restriction';
import { buildPipeline, type Pipeline } from '../../modules/pipeline';
import { endpointConfigOptions } from './account';
import type { EdgeStore } from './store';
import type { EndpointConfiguration, ReservedDomain } from './types';

interface Cached {
  key: string;
  pipeline: Pipeline | undefined;
}

export class EndpointConfigOverlay {
  private pipelines = new WeakMap<Binding, Map<Scheme, Cached>>();
  private filters = new WeakMap<Binding, { key: string; allow: (ip: string) => boolean }>();

  constructor(
    private readonly store: EdgeStore,
    private readonly ipPolicies: IpPolicyStore,
  ) {}

  private get state() {
    return this.store.state;
  }

  /** The reserved domain naming `host`: exact, else a `*.parent` one level up. */
  reservedDomainFor(host: string): ReservedDomain | undefined {
    const h = host.toLowerCase();
    const exact = this.state.reserved_domains.find((d) => d.domain === h);
    if (exact) return exact;
    const dot = h.indexOf('.');
    return dot > 0 ? this.state.reserved_domains.find((d) => d.domain === `*${h.slice(dot)}`) : undefined;
  }

  private config(id: string | null | undefined): EndpointConfiguration | undefined {
    return id ? this.state.endpoint_configurations.find((e) => e.id === id) : undefined;
  }

  /** The binding's pipeline with its reserved domain's endpoint configuration on top, if any. */
  pipelineFor(binding: Binding, scheme: Scheme): Pipeline | undefined {
    const rd = binding.hosts[0] ? this.reservedDomainFor(binding.hosts[0]) : undefined;
    const ec = this.config(
      scheme === 'https' ? rd?.https_endpoint_configuration_id : rd?.http_endpoint_configuration_id,
    );
    if (!ec) return binding.pipeline;
    const key = JSON.stringify(ec);
    let perScheme = this.pipelines.get(binding);
    if (!perScheme) this.pipelines.set(binding, (perScheme = new Map()));
    const cached = perScheme.get(scheme);
    if (cached?.key === key) return cached.pipeline;
    const options = endpointConfigOptions(ec);
    let pipeline: Pipeline | undefined;
    try {
      pipeline = buildPipeline({ ...binding.edge, ...options }, { ipPolicies: this.ipPolicies });
    } catch {
      // The agent's own options clash with the configuration's: the configuration alone applies.
      pipeline = buildPipeline(options, { ipPolicies: this.ipPolicies });
    }
    perScheme.set(scheme, { key, pipeline });
    return pipeline;
  }

  /** TCP: the reserved address's ip_policy decides; undefined when none is attached. */
  allowConnection(binding: Binding, ip: string): boolean | undefined {
    if (binding.proto !== 'tcp') return undefined;
    const port = Number(new URL(binding.urls[0]).port);
    const ra = this.state.reserved_addrs.find((a) => Number(a.addr.slice(a.addr.lastIndexOf(':') + 1)) === port);
    const ec = this.config(ra?.endpoint_configuration_id);
    if (!ec?.ip_policy || ec.ip_policy.enabled === false) return undefined;
    const ids = ec.ip_policy.ip_policy_ids ?? [];
    const key = JSON.stringify(ids);
    let f = this.filters.get(binding);
    if (f?.key !== key) {
      f = { key, allow: ipFilter({ ipPolicies: ids }, this.ipPolicies) };
      this.filters.set(binding, f);
    }
    return f.allow(ip);
  }

  /**
   * A TCP bind's requested address: refused (ERR_NGROK_307) unless a reserved address holds that
   * port and, when a host is given, that host. Undefined means allowed.
   */
  checkRemoteAddr(remoteAddr: string): { code: string; message: string } | undefined {
    const colon = remoteAddr.lastIndexOf(':');
    const port = Number(remoteAddr.slice(colon + 1));
    const host = colon > 0 ? remoteAddr.slice(0, colon).toLowerCase() : '';
    const ra = this.state.reserved_addrs.find((a) => Number(a.addr.slice(a.addr.lastIndexOf(':') + 1)) === port);
    if (ra && (!host || ra.addr.slice(0, ra.addr.lastIndexOf(':')).toLowerCase() === host)) return undefined;
    return {
      code: 'ERR_NGROK_307',
      message: `The TCP address ${remoteAddr} is not reserved: reserve it first (POST /reserved_addrs) and bind the addr it returns`,
    };
  }

  /** True when a reserved address holds `port` (random TCP binds must not take it). */
  isReservedPort(port: number): boolean {
    return this.state.reserved_addrs.some((a) => Number(a.addr.slice(a.addr.lastIndexOf(':') + 1)) === port);
  }

  /** The uploaded certificate attached to `host`'s reserved domain, if any. */
  uploadedCertificate(host: string): { id: string; cert: string; key: string } | undefined {
    const rd = this.reservedDomainFor(host);
    const c = rd?.certificate_id ? this.state.tls_certificates.find((x) => x.id === rd.certificate_id) : undefined;
    return c ? { id: c.id, cert: c.certificate_pem, key: c.private_key_pem } : undefined;
  }
}
