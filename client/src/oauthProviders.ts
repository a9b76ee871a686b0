// Where to create an OAuth app at each provider the OAuth module supports
// (tunnel/src/modules/oauth/providers.ts), for "Protect with OAuth…". No `vscode` import.
import { OAUTH_PROVIDER_IDS, PROVIDERS, type OAuthProviderId } from '../../tunnel/src/modules/oauth/providers';

export interface ProviderGuide {
  id: OAuthProviderId;
  label: string;
  /** The provider's developer console page for a new OAuth app. */
  consoleUrl: string;
  /** What the provider calls the redirect URI field. */
  redirectField: string;
}

const CONSOLES: Record<OAuthProviderId, { url: string; field: string }> = {
  github: { url: 'https://github.com/settings/applications/new', field: 'Authorization callback URL' },
  google: { url: 'https://console.cloud.google.com/apis/credentials/oauthclient', field: 'Authorized redirect URIs' },
  microsoft: {
    url: 'https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade',
    field: 'Redirect URI (Web)',
  },
  gitlab: { url: 'https://gitlab.com/-/user_settings/applications', field: 'Redirect URI' },
  facebook: { url: 'https://developers.facebook.com/apps/', field: 'Valid OAuth Redirect URIs' },
  linkedin: { url: 'https://www.linkedin.com/developers/apps/new', field: 'Authorized redirect URLs' },
  twitch: { url: 'https://dev.twitch.tv/console/apps/create', field: 'OAuth Redirect URLs' },
  amazon: {
    url: 'https://developer.amazon.com/loginwithamazon/console/site/lwa/overview.html',
    field: 'Allowed Return URLs',
  },
};

export const PROVIDER_GUIDES: ProviderGuide[] = OAUTH_PROVIDER_IDS.map((id) => ({
  id,
  label: PROVIDERS[id].displayName,
  consoleUrl: CONSOLES[id].url,
  redirectField: CONSOLES[id].field,
}));

/** Splits "ann@x.com, @example.org example.net" into allowed emails and domains. */
export function parseAllowList(text: string): { emails: string[]; domains: string[] } {
  const emails: string[] = [];
  const domains: string[] = [];
  for (const raw of text.split(/[\s,;]+/)) {
    const item = raw.trim().toLowerCase();
    if (!item) continue;
    if (item.startsWith('@')) domains.push(item.slice(1));
    else if (item.includes('@')) emails.push(item);
    else domains.push(item);
  }
  return { emails: [...new Set(emails)], domains: [...new Set(domains)] };
}
