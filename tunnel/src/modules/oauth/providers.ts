// The OAuth providers ngrok offers (`--oauth google`, `oauth.provider`, the `oauth` action), with
// their public endpoints and how each one's user-info answer maps to Burrow's identity. Every
// endpoint can be overridden in the config (a GitHub Enterprise host, a Microsoft tenant, a
// self-managed GitLab). Generic OpenID Connect issuers are not listed here: they are found by
// discovery (oidc.ts).

export const OAUTH_PROVIDER_IDS = [
  'amazon',
  'facebook',
  'github',
  'gitlab',
  'google',
  'linkedin',
  'microsoft',
  'twitch',
] as const;
export type OAuthProviderId = (typeof OAUTH_PROVIDER_IDS)[number];

/** Who signed in, as the upstream sees it (Ngrok-Auth-User-Id/-Name/-Email). */
export interface Identity {
  id: string;
  name: string;
  /** Only a verified address; '' when the provider gave none (or an unverified one). */
  email: string;
}

export interface ProviderEndpoints {
  authorizationUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
  /** GitHub only: the list of the user's addresses (the profile shows only a public one). */
  emailsUrl?: string;
}

export interface ProviderSpec extends ProviderEndpoints {
  id: OAuthProviderId;
  displayName: string;
  /**
   * Set for providers that answer the `openid` scope with an ID token: it must carry this
   * issuer and our nonce. Providers without it are plain OAuth 2.0 (identity from user info only).
   */
  issuer?: string;
  /** Scopes always requested; the config's `scopes` are added to these. */
  scopes: string[];
  /** Extra headers for the user-info call (Twitch wants the client id). */
  userinfoHeaders?(clientId: string): Record<string, string>;
  /** Maps the user-info JSON to an identity; `emails` is GitHub's address list when fetched. */
  identity(profile: Record<string, unknown>, emails?: unknown): Identity;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
/** OIDC-style claims: an address the provider marks unverified does not count. */
const verifiedEmail = (p: Record<string, unknown>): string =>
  p.email_verified === false || p.email_verified === 'false' ? '' : str(p.email);
const oidcIdentity = (p: Record<string, unknown>): Identity => ({
  id: str(p.sub),
  name: str(p.name) || str(p.preferred_username),
  email: verifiedEmail(p),
});

export const PROVIDERS: Record<OAuthProviderId, ProviderSpec> = {
  amazon: {
    id: 'amazon',
    displayName: 'Amazon',
    authorizationUrl: 'https://www.amazon.com/ap/oa',
    tokenUrl: 'https://api.amazon.com/auth/o2/token',
    userinfoUrl: 'https://api.amazon.com/user/profile',
    scopes: ['profile'],
    // Login with Amazon only returns confirmed addresses.
    identity: (p) => ({ id: str(p.user_id), name: str(p.name), email: str(p.email) }),
  },
  facebook: {
    id: 'facebook',
    displayName: 'Facebook',
    authorizationUrl: 'https://www.facebook.com/v19.0/dialog/oauth',
    tokenUrl: 'https://graph.facebook.com/v19.0/oauth/access_token',
    userinfoUrl: 'https://graph.facebook.com/v19.0/me?fields=id,name,email',
    scopes: ['email', 'public_profile'],
    // The Graph API returns `email` only when it is confirmed.
    identity: (p) => ({ id: str(p.id), name: str(p.name), email: str(p.email) }),
  },
  github: {
    id: 'github',
    displayName: 'GitHub',
    authorizationUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    userinfoUrl: 'https://api.github.com/user',
    emailsUrl: 'https://api.github.com/user/emails',
    scopes: ['read:user', 'user:email'],
    identity: (p, emails) => {
      // The primary address, and only when GitHub has verified it.
      const list = Array.isArray(emails) ? (emails as Record<string, unknown>[]) : [];
      const primary = list.find((e) => e && e.primary === true && e.verified === true);
      return { id: str(p.id), name: str(p.name) || str(p.login), email: primary ? str(primary.email) : '' };
    },
  },
  gitlab: {
    id: 'gitlab',
    displayName: 'GitLab',
    authorizationUrl: 'https://gitlab.com/oauth/authorize',
    tokenUrl: 'https://gitlab.com/oauth/token',
    userinfoUrl: 'https://gitlab.com/oauth/userinfo',
    issuer: 'https://gitlab.com',
    scopes: ['openid', 'email', 'profile'],
    identity: oidcIdentity,
  },
  google: {
    id: 'google',
    displayName: 'Google',
    authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    userinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
    issuer: 'https://accounts.google.com',
    scopes: ['openid', 'email', 'profile'],
    identity: oidcIdentity,
  },
  linkedin: {
    id: 'linkedin',
    displayName: 'LinkedIn',
    authorizationUrl: 'https://www.linkedin.com/oauth/v2/authorization',
    tokenUrl: 'https://www.linkedin.com/oauth/v2/accessToken',
    userinfoUrl: 'https://api.linkedin.com/v2/userinfo',
    issuer: 'https://www.linkedin.com/oauth',
    // "Sign In with LinkedIn using OpenID Connect" replaced r_liteprofile/r_emailaddress in 2023.
    scopes: ['openid', 'profile', 'email'],
    identity: oidcIdentity,
  },
  microsoft: {
    id: 'microsoft',
    displayName: 'Microsoft',
    // The multi-tenant `common` authority issues ID tokens whose issuer names the user's tenant,
    // so identity comes from Microsoft Graph instead. Allow-listing by address trusts Graph's
    // `mail`, which a tenant admin sets: override the URLs with your tenant id to pin one tenant.
    authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
    tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    userinfoUrl: 'https://graph.microsoft.com/v1.0/me',
    scopes: ['User.Read', 'offline_access'],
    identity: (p) => ({ id: str(p.id), name: str(p.displayName), email: str(p.mail) }),
  },
  twitch: {
    id: 'twitch',
    displayName: 'Twitch',
    authorizationUrl: 'https://id.twitch.tv/oauth2/authorize',
    tokenUrl: 'https://id.twitch.tv/oauth2/token',
    userinfoUrl: 'https://api.twitch.tv/helix/users',
    scopes: ['user:read:email'],
    userinfoHeaders: (clientId) => ({ 'client-id': clientId }),
    identity: (p) => {
      const user = (Array.isArray(p.data) ? p.data[0] : undefined) as Record<string, unknown> | undefined;
      return { id: str(user?.id), name: str(user?.display_name) || str(user?.login), email: str(user?.email) };
    },
  },
};

export function isOAuthProviderId(id: unknown): id is OAuthProviderId {
  return typeof id === 'string' && (OAUTH_PROVIDER_IDS as readonly string[]).includes(id);
}
