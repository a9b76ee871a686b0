// DNS-rebinding defence for the local API (ngrok's `web_allow_hosts`) and the cross-origin check
// for state-changing requests and the event stream.
//
// A Host header is accepted when it is localhost-like (`localhost`, `*.localhost`, 127.0.0.0/8,
// ::1) or matches an entry of `web_allow_hosts`: an IPv4 or IPv6 address, a CIDR range, an exact
// host name, or `.suffix` (the domain and every name under it). The port is ignored. Configured
// entries add to the localhost defaults.

import { CidrSet, ipFamily, parseCidr } from '../../net/cidr';
import { normalizeHost } from '../../net/host';

export class HostAllowList {
  private readonly ips = new CidrSet();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[] = []) {
    this.ips.add({ address: '127.0.0.0', prefix: 8, family: 'ipv4' }); // ::ffff:127.x too (CidrSet)
    this.ips.add({ address: '::1', prefix: 128, family: 'ipv6' });
    this.names.add('localhost');
    this.suffixes.push('.localhost');
    for (const raw of entries) this.add(raw);
  }

  /** Throws a readable message for an entry that is none of the accepted forms. */
  private add(raw: string): void {
    const entry = raw.trim().toLowerCase().replace(/\.$/, '');
    const slash = entry.indexOf('/');
    if (slash > 0) {
      const parsed = parseCidr(`${stripBrackets(entry.slice(0, slash))}${entry.slice(slash)}`);
      if (!('cidr' in parsed)) throw new Error(`web_allow_hosts: "${raw}" is not a valid CIDR range`);
      this.ips.add(parsed.cidr);
    } else if (ipFamily(stripBrackets(entry))) {
      const parsed = parseCidr(stripBrackets(entry), 'host');
      if ('cidr' in parsed) this.ips.add(parsed.cidr);
    } else if (entry.startsWith('.') && /^(\.[a-z0-9_-]+)+$/.test(entry)) {
      this.suffixes.push(entry);
    } else if (/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(entry)) {
      this.names.add(entry);
    } else throw new Error(`web_allow_hosts: "${raw}" is not an IP, CIDR, host name or .suffix`);
  }

  /** `host` is a Host header value (port allowed). */
  allows(host: string | undefined): boolean {
    if (!host) return false;
    const name = normalizeHost(host);
    if (!name) return false;
    if (name.startsWith('[') || ipFamily(name)) return this.ips.has(stripBrackets(name));
    if (this.names.has(name)) return true;
    return this.suffixes.some((s) => name.endsWith(s) || name === s.slice(1));
  }
}

function stripBrackets(s: string): string {
  return s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
}

/**
 * True when a browser says the request comes from another site: an Origin whose host:port differs
 * from the Host header (or the opaque origin "null"), or Sec-Fetch-Site: cross-site. Scripts and the
 * VS Code extension host send neither header and pass.
 */
export function isCrossOrigin(headers: { origin?: string; host?: string; 'sec-fetch-site'?: string }): boolean {
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = headers.origin;
  if (origin === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return true;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return true;
  return url.host.toLowerCase() !== (headers.host ?? '').toLowerCase();
}
