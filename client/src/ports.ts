// Port targets for "Expose Port…": what the Ports view passes, what "Other…" accepts. Discovery of
// the listening ports is shared with the language server (tunnel/src/config/listening-ports.ts).
export * from '../../tunnel/src/config/listening-ports';

/** A target from the Ports view's context menu (its row object) or a plain port number. */
export function portFromArg(arg: unknown): number | undefined {
  if (typeof arg === 'number' && Number.isInteger(arg)) return arg;
  if (arg && typeof arg === 'object') {
    const o = arg as Record<string, unknown>;
    for (const key of ['port', 'remotePort', 'localPort']) if (typeof o[key] === 'number') return o[key] as number;
    const addr = o.localAddress ?? o.remoteAddress;
    if (typeof addr === 'string') {
      const m = /:(\d+)$/.exec(addr);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}

/** Accepts `3000`, `host:port`, `http(s)://…`, `file:///abs`. */
export function validateUpstream(text: string): string | undefined {
  const t = text.trim();
  if (/^\d{1,5}$/.test(t)) return Number(t) >= 1 && Number(t) <= 65535 ? undefined : 'a port is 1 to 65535';
  if (/^[\w.-]+:\d{1,5}$/.test(t) || /^\[[0-9a-f:]+\]:\d{1,5}$/i.test(t)) return undefined;
  if (/^(https?|file):\/\/\S+$/.test(t)) return undefined;
  return 'give a port (3000), host:port, http(s)://host:port or file:///path';
}

/** The port a URL points at (http://x.localhost:8480 → 8480, https://x.example.com → 443). */
export function portOfUrl(url: string): number | undefined {
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
