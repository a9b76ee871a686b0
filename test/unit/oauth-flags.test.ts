/**
 * `burrow http` OAuth/OIDC flags (ngrok's names) → EdgeOptions, checked with the module's own
 * validation before anything starts; secrets never appear in the errors.
 */
import assert from 'node:assert/strict';
import { endpointFromFlags, UsageError } from '../../tunnel/src/cli/endpoint-flags';

describe('oauth: CLI flags', () => {
  it('maps --oauth and its options', () => {
    const spec = endpointFromFlags('http', '3000', {
      oauth: 'google', 'oauth-client-id': 'cid', 'oauth-client-secret': 'csecret',
      'oauth-allow-email': ['a@example.com'], 'oauth-allow-domain': ['example.org'], 'oauth-scope': ['https://www.googleapis.com/auth/calendar.readonly'],
    });
    assert.deepEqual(spec.edge?.oauth, {
      provider: 'google', clientId: 'cid', clientSecret: 'csecret', scopes: ['https://www.googleapis.com/auth/calendar.readonly'],
      allowEmails: ['a@example.com'], allowDomains: ['example.org'],
    });
  });

  it('maps --oidc and its options', () => {
    const spec = endpointFromFlags('http', '3000', { oidc: 'https://id.example.com/realms/dev', 'oidc-client-id': 'c', 'oidc-client-secret': 's', 'oidc-scope': ['groups'], 'oauth-allow-domain': ['example.com'] });
    assert.deepEqual(spec.edge?.oidc, { issuerUrl: 'https://id.example.com/realms/dev', clientId: 'c', clientSecret: 's', scopes: ['groups'], allowDomains: ['example.com'] });
  });

  it('refuses bad combinations with the module\'s codes, without echoing the secret', () => {
    const fails = (flags: Parameters<typeof endpointFromFlags>[2], pattern: RegExp) => {
      assert.throws(() => endpointFromFlags('http', '3000', flags), (e: Error) => e instanceof UsageError && pattern.test(e.message) && !e.message.includes('csecret'));
    };
    fails({ oauth: 'myspace', 'oauth-client-id': 'i', 'oauth-client-secret': 'csecret' }, /ERR_NGROK_365/);
    fails({ oauth: 'github' }, /ERR_NGROK_7166.*client id and secret/);
    fails({ oauth: 'github', 'oauth-client-secret': 'csecret' }, /ERR_NGROK_383/);
    fails({ oauth: 'google', 'oauth-client-id': 'i', 'oauth-client-secret': 'csecret', 'oauth-allow-email': ['not-an-address'] }, /ERR_NGROK_7043/);
    fails({ oidc: 'https://id.example.com', 'oidc-client-id': 'i' }, /ERR_NGROK_386/);
    fails({ oidc: 'http://id.example.com', 'oidc-client-id': 'i', 'oidc-client-secret': 'csecret' }, /ERR_BURROW_OIDC_INSECURE_ISSUER/);
    fails({ 'oauth-allow-email': ['a@example.com'] }, /needs --oauth/);
    fails({ 'oidc-client-id': 'x' }, /needs --oidc/);
    fails({ oauth: 'google', oidc: 'https://id.example.com' }, /cannot be used together/);
    fails({ oidc: 'https://id.example.com', 'oauth-client-id': 'x' }, /belongs to --oauth/);
    fails({ oauth: 'google', 'oauth-client-id': 'i', 'oauth-client-secret': 'csecret', 'basic-auth': ['user:password1'] }, /ERR_NGROK_7079/);
    assert.throws(() => endpointFromFlags('tcp', '22', { oauth: 'google' }), /only applies to http endpoints/);
  });
});
