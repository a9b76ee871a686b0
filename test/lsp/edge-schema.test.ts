// The language server validates edge JSON with the real schemas/edge-api.schema.json (the same
// file the edge's admin API checks bodies with).
import assert from 'node:assert/strict';
import path from 'node:path';
import { LspClient, REPO, underlined } from './harness';

describe('edge JSON with schemas/edge-api.schema.json', function () {
  this.timeout(30_000);
  let client: LspClient;
  before(async () => {
    client = await LspClient.start({ validationDelayMs: 0 }, { BURROW_SCHEMAS_DIR: path.join(REPO, 'schemas') });
  });
  after(async () => client?.stop());

  it('reports wrong types and unknown keys in an HTTPS edge file, and accepts a valid one', async () => {
    const uri = 'file:///work/edges/shop-edge.json';
    const bad =
      '{\n  "hostports": ["shop.example.com:443"],\n  "description": 42,\n  "routes": [{"match_type": "exact_path", "match": "/", "colour": "red"}]\n}\n';
    const diags = await client.open(uri, bad, { languageId: 'json' });
    const texts = diags.map((d) => underlined(bad, d.range));
    assert.ok(texts.includes('42'), JSON.stringify(diags));
    assert.ok(
      texts.some((t) => t.includes('colour')),
      JSON.stringify(diags),
    );
    await client.close(uri);
    const good = JSON.stringify(
      {
        hostports: ['shop.example.com:443'],
        routes: [{ match_type: 'path_prefix', match: '/', compression: { enabled: true } }],
      },
      null,
      2,
    );
    assert.deepEqual(await client.open('file:///work/edges/ok-edge.json', good, { languageId: 'json' }), []);
  });

  it('validates the account resources of an edge bundle (endpoint configurations, reserved addresses)', async () => {
    const bad = JSON.stringify(
      {
        endpoint_configurations: [
          {
            type: 'https',
            ip_policy: { ip_policy_ids: ['ipp_1'], colour: 'red' },
            basic_auth: { auth_password: 'short' },
          },
        ],
        reserved_addrs: [{ addr: '127.0.0.1:2222', endpoint_configuration_id: 42 }],
      },
      null,
      2,
    );
    const diags = await client.open('file:///work/edges/account.json', bad, { languageId: 'json' });
    const texts = diags.map((d) => underlined(bad, d.range));
    assert.ok(
      texts.some((t) => t.includes('colour')),
      JSON.stringify(diags),
    );
    assert.ok(
      texts.some((t) => t.includes('short')),
      JSON.stringify(diags),
    );
    assert.ok(texts.includes('42'), JSON.stringify(diags));
    await client.close('file:///work/edges/account.json');
    const good = JSON.stringify(
      {
        endpoint_configurations: [
          { id: 'ec_1', type: 'http', ip_policy: { ip_policy_ids: ['ipp_1'] }, compression: { enabled: true } },
        ],
        reserved_addrs: [{ id: 'ra_1', addr: 'edge.example.com:2222', endpoint_configuration_id: null }],
      },
      null,
      2,
    );
    assert.deepEqual(await client.open('file:///work/edges/account-ok.json', good, { languageId: 'json' }), []);
  });
});
