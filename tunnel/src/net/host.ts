// Host header, `:authority` and URL hosts → the one name the edge routes, seals session cookies
// and builds redirect URIs with. Decided once: lower case, port dropped, one trailing dot dropped —
// `Example.COM.:8080` is `example.com`, as DNS treats the rooted name and the relative one alike —
// and an IPv6 literal in brackets (`[::1]`), the form a URL needs.

export interface HostParts {
  /** Lower case, no trailing dot, IPv6 in brackets; '' when there is no usable name. */
  name: string;
  /** The digits after the last colon, '' when there is none. */
  port: string;
}

export function splitHost(host: string): HostParts {
  let h = host.trim().toLowerCase();
  let port = '';
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return { name: '', port: '' };
    return { name: h.slice(0, end + 1), port: h.slice(end + 1).replace(/^:/, '') };
  }
  const colon = h.lastIndexOf(':');
  // Two or more colons without brackets: a bare IPv6 address, which has no port.
  if (colon !== -1 && h.indexOf(':') !== colon) return { name: `[${h}]`, port: '' };
  if (colon !== -1) {
    port = h.slice(colon + 1);
    h = h.slice(0, colon);
  }
  return { name: h.endsWith('.') ? h.slice(0, -1) : h, port };
}

let lastHost = '';
let lastName = '';

/** `Example.COM.:443` → `example.com`, `[::1]:4040` → `[::1]`. */
export function normalizeHost(host: string): string {
  // Routing asks about the same Host several times per request, and again on the next one.
  if (host !== lastHost) {
    lastName = splitHost(host).name;
    lastHost = host;
  }
  return lastName;
}
