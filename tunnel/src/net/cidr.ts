// CIDR ranges, parsed in one place for every caller: the ip-restriction module, CEL's
// inCidrRange/isPrivateIp, the edge admin API's IP policy rules and the local API's
// web_allow_hosts. Addresses are validated strictly by node:net (no `10.1` or `0x7f.1` shorthands,
// no zone ids), network addresses come from ipaddr.js, and matching is net.BlockList's, which also
// matches an IPv4-mapped IPv6 client (`::ffff:10.1.2.3`, as a dual-stack listener reports it)
// against IPv4 ranges and the other way round.
import net from 'node:net';
import ipaddr from 'ipaddr.js';

export type IpFamily = 'ipv4' | 'ipv6';

export interface Cidr {
  address: string;
  prefix: number;
  family: IpFamily;
}

/** The family of a literal address (IPv6 without brackets), or undefined for anything else. */
export function ipFamily(ip: unknown): IpFamily | undefined {
  if (typeof ip !== 'string' || ip.includes('%')) return undefined;
  const v = net.isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** A parsed range, or why the text is not one. */
export type CidrParse = { cidr: Cidr } | { error: 'invalid' } | { error: 'no-mask'; address: string; family: IpFamily };

/**
 * `a.b.c.d/n` or `x::/n`. With `bare: 'host'` an address without a mask is the single host
 * (/32 or /128); otherwise it is the `no-mask` error, which callers word as they need.
 */
export function parseCidr(text: unknown, bare: 'host' | 'error' = 'error'): CidrParse {
  if (typeof text !== 'string') return { error: 'invalid' };
  const [address, bits, extra] = text.trim().split('/');
  const family = ipFamily(address);
  if (!family || extra !== undefined) return { error: 'invalid' };
  const max = family === 'ipv4' ? 32 : 128;
  if (bits === undefined)
    return bare === 'host' ? { cidr: { address, prefix: max, family } } : { error: 'no-mask', address, family };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return { error: 'invalid' };
  return { cidr: { address, prefix: Number(bits), family } };
}

/** The lowest address of the range (`10.1.2.3/16` → `10.1.0.0`). */
export function networkAddress({ address, prefix, family }: Cidr): string {
  if (family === 'ipv4') return ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefix}`).toString();
  const low = ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`);
  return low.isIPv4MappedAddress() ? `::ffff:${low.toIPv4Address().toString()}` : low.toString();
}

/** The address is the lowest of its range (`10.0.0.0/8`, not `10.0.0.1/8`). */
export function isNetworkAddress(cidr: Cidr): boolean {
  return networkAddress(cidr) === networkAddress({ ...cidr, prefix: cidr.family === 'ipv4' ? 32 : 128 });
}

/** A set of ranges; `has` answers for any literal address (false for anything that is not one). */
export class CidrSet {
  private readonly list = new net.BlockList();
  private count = 0;

  constructor(cidrs: Iterable<Cidr> = []) {
    for (const c of cidrs) this.add(c);
  }

  add({ address, prefix, family }: Cidr): this {
    this.list.addSubnet(address, prefix, family);
    this.count++;
    return this;
  }

  get size(): number {
    return this.count;
  }

  has(ip: string): boolean {
    const family = ipFamily(ip);
    return family !== undefined && this.list.check(ip, family);
  }
}

/** `ip` is inside `cidr` (a bare address counts as one host); false when either is not valid. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const parsed = parseCidr(cidr, 'host');
  return 'cidr' in parsed && new CidrSet([parsed.cidr]).has(ip);
}
