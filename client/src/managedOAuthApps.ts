// Managed OAuth apps for the embedded edge ("Burrow: Register OAuth App…"): the user registers one
// OAuth app per provider once, with the embedded edge's one callback URL at the provider; then every
// endpoint with `oauth: {provider: google}` and no client id signs in through it (as ngrok's managed
// apps do). Client id and secret live in SecretStorage only, and reach the agent the extension starts
// through its environment (BURROW_OAUTH_APP_GOOGLE=ID:SECRET, what tunnel/src/modules/oauth/managed.ts
// reads), never its command line, settings or logs. No `vscode` import (unit-testable).
import { OAUTH_PROVIDER_IDS, type OAuthProviderId } from '../../tunnel/src/modules/oauth/providers';
import { MANAGED_CALLBACK_PATH } from '../../tunnel/src/modules/oauth/managed';

export interface ManagedApp {
  clientId: string;
  clientSecret: string;
}
export type ManagedApps = Partial<Record<OAuthProviderId, ManagedApp>>;

/** The part of vscode.SecretStorage used here. */
export interface SecretStore {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

export const managedAppKey = (provider: OAuthProviderId): string => `burrow.oauthApp.${provider}`;

/** Why a client id or secret cannot be registered (the env form is ID:SECRET, one line). */
export function checkManagedApp(clientId: string, clientSecret: string): string | undefined {
  if (!clientId || /[:\s]/.test(clientId)) return 'the client id must not be empty or contain ":" or spaces';
  if (!clientSecret || /[\r\n]/.test(clientSecret)) return 'the client secret must not be empty or span lines';
  return undefined;
}

export async function readManagedApps(secrets: SecretStore): Promise<ManagedApps> {
  const apps: ManagedApps = {};
  for (const provider of OAUTH_PROVIDER_IDS) {
    const raw = await secrets.get(managedAppKey(provider));
    if (!raw) continue;
    try {
      const app = JSON.parse(raw) as ManagedApp;
      if (!checkManagedApp(app.clientId, app.clientSecret)) apps[provider] = app;
    } catch {
      // A value this version did not write: ignored, replaced at the next registration.
    }
  }
  return apps;
}

export async function registerManagedApp(
  secrets: SecretStore,
  provider: OAuthProviderId,
  app: ManagedApp,
): Promise<void> {
  const problem = checkManagedApp(app.clientId, app.clientSecret);
  if (problem) throw new Error(problem);
  await secrets.store(
    managedAppKey(provider),
    JSON.stringify({ clientId: app.clientId, clientSecret: app.clientSecret }),
  );
}

export async function forgetManagedApp(secrets: SecretStore, provider: OAuthProviderId): Promise<void> {
  await secrets.delete(managedAppKey(provider));
}

/** The agent's environment for `apps` (BURROW_OAUTH_APP_<PROVIDER>=ID:SECRET). */
export function managedAppEnv(apps: ManagedApps): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [provider, app] of Object.entries(apps))
    if (app) env[`BURROW_OAUTH_APP_${provider.toUpperCase()}`] = `${app.clientId}:${app.clientSecret}`;
  return env;
}

/**
 * The redirect URI to register at the provider: the embedded edge's managed callback, on the port
 * of the running agent's edge (`edge_url` of its status), else the default (tunnel/src/agent EMBEDDED_PORT).
 */
export function embeddedCallbackUrl(edgeUrl?: string): string {
  let port = 8480;
  try {
    if (edgeUrl) port = Number(new URL(edgeUrl).port) || port;
  } catch {
    // not a URL: the default
  }
  return `http://localhost:${port}${MANAGED_CALLBACK_PATH}`;
}
