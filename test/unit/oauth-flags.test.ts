/**
 * ngrok.yml `oauth:` / `oidc:` keys and `burrow http` OAuth/OIDC flags (ngrok's names) → EdgeOptions, checked with the module's own
 * validation before anything starts; secrets never appear in the errors.
 */
import assert from 'node:assert/strict';
import { endpointFromFlags, UsageError } from '../../tunnel/src/cli/endpoint-flags';
import { tunnelToSpec } from '../../tunnel/src/config/normalize';
import type { TunnelV2 } from '../../tunnel/src/config/types';
import { validateOAuthConfig } from '../../tunnel/src/modules/oauth/config';

describe('oauth: CLI flags', () => {
  it('maps --oauth and its options', () => {
    const spec = endpointFromFlags('http', '3000', {
      oauth: 'google',
      'oauth-client-id': 'cid',
      'oauth-client-secret': 'csecret',
      'oauth-allow-email': ['a@example.com'],
      'oauth-allow-domain': ['example.org'],
      'oauth-scope': ['https://www.googleapis.com/auth/calendar.readonly'],
    });
    assert.deepEqual(spec.edge?.oauth, {
      provider: 'google',
      clientId: 'cid',
      clientSecret: 'csecret',
      scopes: ['https://www.googleapis.com/auth/calendar.readonly'],
      allowEmails: ['a@example.com'],
      allowDomains: ['example.org'],
    });
  });

  it('maps --oidc and its options', () => {
    const spec = endpointFromFlags('http', '3000', {
      oidc: 'https://id.example.com/realms/dev',
      'oidc-client-id': 'c',
      'oidc-client-secret': 's',
      'oidc-scope': ['groups'],
      'oauth-allow-domain': ['example.com'],
    });
    assert.deepEqual(spec.edge?.oidc, {
      issuerUrl: 'https://id.example.com/realms/dev',
      clientId: 'c',
      clientSecret: 's',
      scopes: ['groups'],
      allowDomains: ['example.com'],
    });
  });

  it("refuses bad combinations with the module's codes, without echoing the secret", () => {
    const fails = (flags: Parameters<typeof endpointFromFlags>[2], pattern: RegExp) => {
      assert.throws(
        () => endpointFromFlags('http', '3000', flags),
        (e: Error) => e instanceof UsageError && pattern.test(e.message) && !e.message.includes('csecret'),
      );
    };
    fails({ oauth: 'myspace', 'oauth-client-id': 'i', 'oauth-client-secret': 'csecret' }, /ERR_NGROK_365/);
    fails({ oauth: 'github', 'oauth-client-secret': 'csecret' }, /ERR_NGROK_383/);
    fails(
      {
        oauth: 'google',
        'oauth-client-id': 'i',
        'oauth-client-secret': 'csecret',
        'oauth-allow-email': ['not-an-address'],
      },
      /ERR_NGROK_7043/,
    );
    fails({ oidc: 'https://id.example.com', 'oidc-client-id': 'i' }, /ERR_NGROK_386/);
    fails(
      { oidc: 'http://id.example.com', 'oidc-client-id': 'i', 'oidc-client-secret': 'csecret' },
      /ERR_BURROW_OIDC_INSECURE_ISSUER/,
    );
    fails({ 'oauth-allow-email': ['a@example.com'] }, /needs --oauth/);
    fails({ 'oidc-client-id': 'x' }, /needs --oidc/);
    fails({ oauth: 'google', oidc: 'https://id.example.com' }, /cannot be used together/);
    fails({ oidc: 'https://id.example.com', 'oauth-client-id': 'x' }, /belongs to --oauth/);
    fails(
      { oauth: 'google', 'oauth-client-id': 'i', 'oauth-client-secret': 'csecret', 'basic-auth': ['user:password1'] },
      /ERR_NGROK_7079/,
    );
    assert.throws(() => endpointFromFlags('tcp', '22', { oauth: 'google' }), /only applies to http endpoints/);
  });
});

describe('oauth: ngrok.yml v2 keys', () => {
  it('maps `oauth:` and `oidc:` to the module configs', () => {
    const web = tunnelToSpec(
      'web',
      {
        proto: 'http',
        addr: 3000,
        oauth: {
          provider: 'github',
          allow_emails: ['me@example.com'],
          allow_domains: ['example.org'],
          scopes: ['read:org'],
          client_id: 'i',
          client_secret: 's',
        },
      } as TunnelV2,
      true,
    );
    assert.deepEqual(web?.edge?.oauth, {
      provider: 'github',
      clientId: 'i',
      clientSecret: 's',
      scopes: ['read:org'],
      allowEmails: ['me@example.com'],
      allowDomains: ['example.org'],
    });
    assert.equal(validateOAuthConfig(web!.edge!.oauth!), undefined);
    const sso = tunnelToSpec(
      'sso',
      {
        proto: 'http',
        addr: 3000,
        oidc: { issuer_url: 'https://id.example.com', client_id: 'i', client_secret: 's' },
      } as TunnelV2,
      true,
    );
    assert.deepEqual(sso?.edge?.oidc, { issuerUrl: 'https://id.example.com', clientId: 'i', clientSecret: 's' });
    // ngrok's managed-app form loads, and the edge refuses it at bind time with a clear code.
    const managed = tunnelToSpec('m', { proto: 'http', addr: 3000, oauth: { provider: 'google' } } as TunnelV2, true);
    assert.equal(validateOAuthConfig(managed!.edge!.oauth!, 'oauth', false)?.code, 'ERR_NGROK_7166');
  });
});
