// IP restrictions (`--cidr-allow/--cidr-deny`, `ip_restriction:`, the restrict-ips action, the
// EndpointIPPolicy module). Checked against the L4 source address only, never X-Forwarded-For.
// ngrok's rule: allowed only if the IP matches an allowed CIDR and no denied CIDR; with no allow
// entry at all, everything not denied is allowed (current ngrok docs; old agents refused a
// deny-only list with ERR_NGROK_393). Named IP policies are reusable rule sets; the union of
// the endpoint's own CIDRs and all its policies' rules applies.
import { sendEdgeError } from '../edge-errors';
import { type Cidr, CidrSet, parseCidr } from '../net/cidr';
import { check, ModuleConfigError, within } from './config-error';
import { VAR } from './request-vars';
import type { HttpModule } from './types';

export interface IpRestrictionConfig {
  allowCidrs?: string[];
  denyCidrs?: string[];
  /** Ids of named IP policies (`ipp_…` or any name the edge knows). */
  ipPolicies?: string[];
  /** false = record the decision and let the request through. */
  enforce?: boolean;
}

export interface IpPolicyRule {
  cidr: string;
  action: 'allow' | 'deny';
  description?: string;
}

export interface IpPolicy {
  id: string;
  description?: string;
  rules: IpPolicyRule[];
}

/** The edge's named IP policies. `version` grows on every change, so modules re-read lazily. */
export class IpPolicyStore {
  private readonly policies = new Map<string, IpPolicy>();
  version = 0;

  set(policy: IpPolicy): void {
    policy.rules.forEach((r, i) => {
      moduleCidr(r.cidr, `ip policy ${policy.id} rule ${i}`);
      check(
        r.action === 'allow' || r.action === 'deny',
        'ERR_NGROK_1410',
        `ip policy ${policy.id} rule ${i}: action must be "allow" or "deny"`,
      );
    });
    this.policies.set(policy.id, structuredClone(policy));
    this.version++;
  }

  delete(id: string): boolean {
    const had = this.policies.delete(id);
    if (had) this.version++;
    return had;
  }

  get(id: string): IpPolicy | undefined {
    return this.policies.get(id);
  }

  list(): IpPolicy[] {
    return [...this.policies.values()];
  }
}

/** `a.b.c.d/n` or `x::/n` → the range; ERR_NGROK_362 otherwise (a mask is required). */
function moduleCidr(cidr: string, where: string): Cidr {
  const parsed = parseCidr(cidr);
  if ('cidr' in parsed) return parsed.cidr;
  throw new ModuleConfigError(
    'ERR_NGROK_362',
    `${where}: "${String(cidr)}" is not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)`,
  );
}

function cidrSet(cidrs: readonly string[], where: string): CidrSet {
  return new CidrSet(cidrs.map((c, i) => within([i], () => moduleCidr(c, `${where}[${i}]`))));
}

export function validateIpRestriction(
  config: IpRestrictionConfig,
  policies?: IpPolicyStore,
  field = 'ipRestriction',
): void {
  for (const key of ['allowCidrs', 'denyCidrs', 'ipPolicies'] as const) {
    check(
      config[key] === undefined || Array.isArray(config[key]),
      'ERR_BURROW_MODULE_CONFIG',
      `${field}.${key} must be a list`,
      [key],
    );
  }
  within(['allowCidrs'], () => cidrSet(config.allowCidrs ?? [], `${field}.allowCidrs`));
  within(['denyCidrs'], () => cidrSet(config.denyCidrs ?? [], `${field}.denyCidrs`));
  const ids = config.ipPolicies ?? [];
  check(
    ids.length || config.allowCidrs?.length || config.denyCidrs?.length,
    'ERR_NGROK_7025',
    `${field}: give at least one CIDR or IP policy`,
  );
  ids.forEach((id, i) =>
    check(policies?.get(id), 'ERR_NGROK_1801', `${field}: no IP policy "${id}" on this edge`, ['ipPolicies', i]),
  );
}

/** Validates `config` and returns the allow/deny decision for an address (policies re-read when they change). */
export function ipFilter(config: IpRestrictionConfig, policies?: IpPolicyStore): (ip: string) => boolean {
  validateIpRestriction(config, policies);
  let built = -1;
  let allow = new CidrSet();
  let deny = new CidrSet();
  const rebuild = () => {
    const allowCidrs = [...(config.allowCidrs ?? [])];
    const denyCidrs = [...(config.denyCidrs ?? [])];
    for (const id of config.ipPolicies ?? []) {
      // A policy deleted after the bind contributes nothing (ngrok refuses deleting one in use).
      for (const rule of policies?.get(id)?.rules ?? [])
        (rule.action === 'allow' ? allowCidrs : denyCidrs).push(rule.cidr);
    }
    allow = cidrSet(allowCidrs, 'allow');
    deny = cidrSet(denyCidrs, 'deny');
    built = policies?.version ?? 0;
  };
  return (ip) => {
    if (built !== (policies?.version ?? 0)) rebuild();
    return (allow.size === 0 || allow.has(ip)) && !deny.has(ip);
  };
}

export function ipRestrictionModule(config: IpRestrictionConfig, policies?: IpPolicyStore): HttpModule {
  const allowed = ipFilter(config, policies);
  const code = (config.ipPolicies ?? []).length > 0 ? 'ERR_NGROK_3203' : 'ERR_NGROK_3205';
  return {
    name: 'ip-restriction',
    onRequest(ctx) {
      const ok = allowed(ctx.clientIp);
      ctx.vars.set(VAR.ipPolicyDecision, ok ? 'allow' : 'block');
      if (ok || config.enforce === false) return;
      sendEdgeError(ctx.req, ctx.res, code, `${ctx.clientIp} is not allowed`);
      return 'handled';
    },
  };
}
