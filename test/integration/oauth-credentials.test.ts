// Refused application credentials at a real OpenID Provider (oidc-provider): the token endpoint
// answers 401 invalid_client with a WWW-Authenticate challenge; Burrow reports ngrok's credentials
// error (ERR_NGROK_3125 "verify the client ID and secret"), not a dead session (3151). A right
// secret with a bad code stays a sign-in error.
import assert from 'node:assert/strict';
import { ProviderClient, ProviderError } from '../../tunnel/src/modules/oauth/client';
import { startTestIdp, type TestIdp } from './oauth-support';

describe('oauth: refused client credentials at a real OpenID Provider', function () {
  this.timeout(20_000);
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ redirectUris: ['http://app.localhost/ngrok/callback'], accounts: [] });
  });
  after(() => idp.close());

  const exchange = async (clientSecret: string): Promise<ProviderError> => {
    const client = await ProviderClient.create({ issuerUrl: idp.issuer, clientId: idp.clientId, clientSecret });
    const err = await client
      .exchange(
        new URL(`http://app.localhost/ngrok/callback?code=not-a-code&state=s1&iss=${encodeURIComponent(idp.issuer)}`),
        {
          state: 's1',
          codeVerifier: 'v'.repeat(43),
          nonce: 'n1',
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof ProviderError, String(err));
    return err;
  };

  it('a wrong client secret is ERR_NGROK_3125, and the secret is never in the message', async () => {
    const err = await exchange('not-the-secret-at-all');
    assert.equal(err.code, 'ERR_NGROK_3125');
    assert.equal(err.revoked, false);
    assert.ok(!err.message.includes('not-the-secret-at-all'));
  });

  it('the right secret with an unknown code is a refused code (ERR_NGROK_3163)', async () => {
    assert.equal((await exchange(idp.clientSecret)).code, 'ERR_NGROK_3163');
  });
});
