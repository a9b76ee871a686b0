// OAuth (google, github, microsoft, gitlab, facebook, linkedin, twitch, amazon) and OpenID Connect
// for visitors: one HttpModule, its typed configs and bind-time checks.
export {
  createOAuthModule,
  CALLBACK_PATH,
  LOGIN_PATH,
  LOGOUT_PATH,
  USER_HEADERS,
  type OAuthModuleDeps,
} from './module';
export {
  validateOAuthConfig,
  redactOAuthConfig,
  oauthCallbackUrl,
  isOidcConfig,
  DEFAULTS as OAUTH_DEFAULTS,
  type OAuthConfig,
  type OidcConfig,
  type AuthModuleConfig,
  type AuthSessionOptions,
} from './config';
export {
  OAUTH_PROVIDER_IDS,
  PROVIDERS as OAUTH_PROVIDERS,
  isOAuthProviderId,
  type OAuthProviderId,
  type Identity,
} from './providers';
