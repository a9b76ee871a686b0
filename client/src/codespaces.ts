// GitHub Codespaces port sharing. Inside a codespace the embedded edge gives each HTTP tunnel a
// port of its own (tunnel/src/agent/codespaces.ts); this publishes that port through Codespaces
// port forwarding with the chosen visibility, using the only scriptable way there is
// (`gh codespace ports visibility PORT:VIS -c NAME`; no VS Code API sets visibility).
import { execFile } from 'node:child_process';
import { codespaceUrl, type Codespace } from '../../tunnel/src/agent/codespaces';

export { codespacePortOf, codespaceUrl, detectCodespace, type Codespace } from '../../tunnel/src/agent/codespaces';

export type PortVisibility = 'private' | 'org' | 'public';
export const PORT_VISIBILITIES: readonly PortVisibility[] = ['private', 'org', 'public'];

export class CodespacesError extends Error {
  constructor(
    readonly code:
      'ERR_BURROW_CODESPACES_GH_MISSING' | 'ERR_BURROW_CODESPACES_GH_FAILED' | 'ERR_BURROW_CODESPACES_PORT',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sets the forwarded port's visibility with `gh` and resolves with its URL. `gh` comes from PATH
 * (the codespace image has it, authenticated by GITHUB_TOKEN).
 */
export function publishPort(
  cs: Codespace,
  port: number,
  visibility: PortVisibility,
  opts: { env?: NodeJS.ProcessEnv; gh?: string; timeoutMs?: number } = {},
): Promise<string> {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return Promise.reject(new CodespacesError('ERR_BURROW_CODESPACES_PORT', `not a port: ${port}`));
  const args = ['codespace', 'ports', 'visibility', `${port}:${visibility}`, '-c', cs.name];
  return new Promise((resolve, reject) => {
    execFile(
      opts.gh ?? 'gh',
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, windowsHide: true },
      (err, _stdout, stderr) => {
        if (!err) return resolve(codespaceUrl(cs, port));
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(
            new CodespacesError(
              'ERR_BURROW_CODESPACES_GH_MISSING',
              'the GitHub CLI (gh) is not on PATH; install it or set the port visibility in the Ports view',
            ),
          );
        }
        const detail = String(stderr).trim().split('\n').slice(-3).join(' ') || err.message;
        reject(
          new CodespacesError(
            'ERR_BURROW_CODESPACES_GH_FAILED',
            `gh codespace ports visibility ${port}:${visibility} failed: ${detail}`,
          ),
        );
      },
    );
  });
}
