// The extension's settings (package.json `contributes.configuration`), read in one place.
import vscode = require('vscode');

export interface BurrowSettings {
  /** Standalone edge (wss://…); empty = the embedded loopback edge. */
  edgeUrl: string;
  /** That edge's admin API (http://host:port), for the routes in the tree; empty = none. */
  edgeApiUrl: string;
  /** Local API address to attach to or start on. */
  webAddr: string;
  /** Domain suggested in Expose Port… (e.g. app.example.com or a base like example.com). */
  defaultDomain: string;
  inspectDbSize: number;
  maxBodyBytes: number;
  keepRunning: boolean;
  /** Codespaces: visibility to publish the edge port with. */
  codespacesVisibility: 'private' | 'org' | 'public';
}

export function readSettings(): BurrowSettings {
  const c = vscode.workspace.getConfiguration('burrow');
  return {
    edgeUrl: (c.get<string>('edgeUrl') ?? '').trim(),
    edgeApiUrl: (c.get<string>('edgeApiUrl') ?? '').trim(),
    webAddr: (c.get<string>('webAddr') ?? '127.0.0.1:4040').trim() || '127.0.0.1:4040',
    defaultDomain: (c.get<string>('defaultDomain') ?? '').trim(),
    inspectDbSize: c.get<number>('capture.inspectDbSize') ?? 0,
    maxBodyBytes: c.get<number>('capture.maxBodyBytes') ?? 10 * 1024 * 1024,
    keepRunning: c.get<boolean>('keepRunning') ?? false,
    codespacesVisibility: c.get<'private' | 'org' | 'public'>('codespaces.visibility') ?? 'private',
  };
}

/** SecretStorage keys. Nothing secret is ever written to settings. */
export const SECRET_KEYS = {
  authtoken: 'burrow.authtoken',
  edgeApiKey: 'burrow.edgeApiKey',
  oauthClientSecret: (provider: string, clientId: string): string => `burrow.oauth.${provider}.${clientId}`,
  /** `user:password` of a tunnel this window protected with basic auth ("Copy Credentials"). */
  basicAuth: (tunnel: string): string => `burrow.basicAuth.${tunnel}`,
} as const;
