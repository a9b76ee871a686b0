// GitHub Codespaces port sharing. Inside a codespace the embedded edge's port is published through
// Codespaces port forwarding with the chosen visibility, using the only scriptable way there is
// (`gh codespace ports visibility PORT:VIS -c NAME`; no VS Code API sets visibility), and the
// forwarded URL is https://$CODESPACE_NAME-PORT.$GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN.
import { execFile } from 'node:child_process';

export interface Codespace {
  name: string;
  /** e.g. app.github.dev (read from the environment, never hard-coded). */
  domain: string;
}

export type PortVisibility = 'private' | 'org' | 'public';
export const PORT_VISIBILITIES: readonly PortVisibility[] = ['private', 'org', 'public'];

export class CodespacesError extends Error {
  constructor(
    readonly code: 'ERR_BURROW_CODESPACES_GH_MISSING' | 'ERR_BURROW_CODESPACES_GH_FAILED' | 'ERR_BURROW_CODESPACES_PORT',
    message: string,
  ) {
    super(message);
  }
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

/** The port a public URL of the embedded edge is served on (http://x.localhost:8480 → 8480). */
export function portOfUrl(url: string): number | undefined {
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets the forwarded port's visibility with `gh` and resolves with its URL. `gh` comes from PATH
 * (the codespace image has it, authenticated by GITHUB_TOKEN).
 */
export function publishPort(cs: Codespace, port: number, visibility: PortVisibility, opts: { env?: NodeJS.ProcessEnv; gh?: string; timeoutMs?: number } = {}): Promise<string> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.reject(new CodespacesError('ERR_BURROW_CODESPACES_PORT', `not a port: ${port}`));
  const args = ['codespace', 'ports', 'visibility', `${port}:${visibility}`, '-c', cs.name];
  return new Promise((resolve, reject) => {
    execFile(opts.gh ?? 'gh', args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, windowsHide: true }, (err, _stdout, stderr) => {
      if (!err) return resolve(codespaceUrl(cs, port));
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new CodespacesError('ERR_BURROW_CODESPACES_GH_MISSING', 'the GitHub CLI (gh) is not on PATH; install it or set the port visibility in the Ports view'));
      }
      const detail = String(stderr).trim().split('\n').slice(-3).join(' ') || err.message;
      reject(new CodespacesError('ERR_BURROW_CODESPACES_GH_FAILED', `gh codespace ports visibility ${port}:${visibility} failed: ${detail}`));
    });
  });
}
