// GitHub Codespaces: inside a codespace, a port reaches the outside only through Codespaces port
// forwarding, at https://$CODESPACE_NAME-PORT.$GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN, and the
// forwarder does not keep the public Host. So the embedded edge gives every HTTP endpoint a port of
// its own (edge.ts `portPerEndpoint`): modules and capture stay in front of the app, whatever Host
// the forwarder sends.

export interface Codespace {
  name: string;
  /** e.g. app.github.dev (read from the environment, never hard-coded). */
  domain: string;
}

/** The codespace this process runs in, or undefined outside one. */
export function detectCodespace(env: NodeJS.ProcessEnv = process.env): Codespace | undefined {
  if (env.CODESPACES !== 'true') return undefined;
  const name = env.CODESPACE_NAME?.trim();
  const domain = env.GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN?.trim();
  if (!name || !domain) return undefined;
  return { name, domain };
}

export function codespaceUrl(cs: Codespace, port: number): string {
  return `https://${cs.name}-${port}.${cs.domain}`;
}

/** The port a forwarded URL of this codespace stands for (codespaceUrl's inverse), else undefined. */
export function codespacePortOf(cs: Codespace, url: string): number | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  const prefix = `${cs.name}-`;
  const suffix = `.${cs.domain}`;
  if (!host.startsWith(prefix) || !host.endsWith(suffix)) return undefined;
  const digits = host.slice(prefix.length, host.length - suffix.length);
  const port = /^\d{1,5}$/.test(digits) ? Number(digits) : NaN;
  return port >= 1 && port <= 65535 ? port : undefined;
}
