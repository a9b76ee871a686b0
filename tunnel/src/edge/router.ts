// Host → binding lookup: exact names first, then a wildcard one label up (`*.example.test`
// matches `a.example.test`, not `a.b.example.test`), so the most specific name always wins.

import { normalizeHost } from '../net/host';

export class HostRouter<T> {
  private readonly exact = new Map<string, T>();
  /** Keyed by the suffix after `*.`. */
  private readonly wildcard = new Map<string, T>();

  has(host: string): boolean {
    return this.table(host).has(this.key(host));
  }

  /** The entry registered under exactly this name (wildcards included), without matching. */
  get(host: string): T | undefined {
    return this.table(host).get(this.key(host));
  }

  add(host: string, value: T): void {
    this.table(host).set(this.key(host), value);
  }

  delete(host: string): void {
    this.table(host).delete(this.key(host));
  }

  lookup(rawHost: string): T | undefined {
    const host = normalizeHost(rawHost);
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    const dot = host.indexOf('.');
    return dot === -1 ? undefined : this.wildcard.get(host.slice(dot + 1));
  }

  private table(host: string): Map<string, T> {
    return host.startsWith('*.') ? this.wildcard : this.exact;
  }

  private key(host: string): string {
    const h = normalizeHost(host);
    return h.startsWith('*.') ? h.slice(2) : h;
  }
}

/** RFC 1123 host name, optionally with a leading `*.` label. */
export function isValidHostname(host: string): boolean {
  const h = host.startsWith('*.') ? host.slice(2) : host;
  if (h.length === 0 || h.length > 253) return false;
  return h.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}
