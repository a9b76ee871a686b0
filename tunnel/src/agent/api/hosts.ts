// DNS-rebinding defence for the local API (ngrok's `web_allow_hosts`) and the cross-origin check
// for state-changing requests and the event stream.
//
// A Host header is accepted when it is localhost-like (`localhost`, `*.localhost`, 127.0.0.0/8,
// ::1) or matches an entry of `web_allow_hosts`: an IPv4 or IPv6 address, a CIDR range, an exact
// host name, or `.suffix` (the domain and every name under it). The port is ignored. Configured
// entries add to the localhost defaults.

import net from 'node:net';

export class HostAllowList {
  private readonly ips = new net.BlockList();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[] = []) {
    this.ips.addSubnet('127.0.0.0', 8, 'ipv4');
    this.ips.addAddress('::1', 'ipv6');
    this.ips.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
    this.names.add('localhost');
    this.suffixes.push('.localhost');
    for (const raw of entries) this.add(raw);
  }

  /** Throws a readable message for an entry that is none of the accepted forms. */
  private add(raw: string): void {
    const entry = raw.trim().toLowerCase().replace(/\.$/, '');
    const slash = entry.indexOf('/');
    if (slash > 0) {
      const addr = stripBrackets(entry.slice(0, slash));
      const prefix = Number(entry.slice(slash + 1));
      const family = net.isIP(addr);
      if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
        throw new Error(`web_allow_hosts: "${raw}" is not a valid CIDR range`);
      this.ips.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (net.isIP(stripBrackets(entry))) {
      const addr = stripBrackets(entry);
      this.ips.addAddress(addr, net.isIP(addr) === 4 ? 'ipv4' : 'ipv6');
    } else if (entry.startsWith('.') && /^(\.[a-z0-9_-]+)+$/.test(entry)) {
      this.suffixes.push(entry);
    } else if (/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(entry)) {
      this.names.add(entry);
    } else throw new Error(`web_allow_hosts: "${raw}" is not an IP, CIDR, host name or .suffix`);
  }

  /** `host` is a Host header value (port allowed). */
  allows(host: string | undefined): boolean {
    if (!host) return false;
    const name = hostWithoutPort(host);
    if (!name) return false;
    const family = net.isIP(name);
    if (family) return this.ips.check(name, family === 4 ? 'ipv4' : 'ipv6');
    if (this.names.has(name)) return true;
    return this.suffixes.some((s) => name.endsWith(s) || name === s.slice(1));
  }
}

function stripBrackets(s: string): string {
  return s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
}

/** `example.com:4040` → `example.com`, `[::1]:4040` → `::1`; lower case, no trailing dot. */
export function hostWithoutPort(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : '';
  }
  if (net.isIP(h) === 6) return h; // bare IPv6 without brackets or port
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.replace(/\.$/, '');
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
