// /api/endpoints on the agent's local API: ngrok's v3 endpoint JSON, as pyngrok (config_version 3)
// posts and reads it: POST {name, url?, upstream: {url, protocol}} → {name, url, upstream, uri};
// GET lists {endpoints: […]}; DELETE /api/endpoints/NAME stops it.
import assert from 'node:assert/strict';
import { request, startRig, startUpstream, throughTunnel, type Rig, type Upstream } from './api-support';

describe('local API: /api/endpoints (ngrok v3 JSON)', function () {
  this.timeout(20_000);
  let rig: Rig;
  let upstream: Upstream;
  before(async () => {
    rig = await startRig();
    upstream = await startUpstream();
  });
  after(async () => {
    await rig.close();
    await upstream.close();
  });

  const post = (path: string, body: unknown) =>
    request(rig.apiPort, 'POST', path, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('starts, lists, reads and stops a v3 endpoint the way pyngrok does', async () => {
    const created = await post('/api/endpoints', {
      name: 'web-v3',
      upstream: { url: `http://localhost:${upstream.port}`, protocol: 'http1' },
      metadata: 'pyngrok',
    });
    assert.equal(created.status, 201, created.text);
    const ep = created.json<{ name: string; url: string; uri: string; upstream: { url: string; protocol: string } }>();
    assert.equal(ep.name, 'web-v3');
    assert.match(ep.url, /^https?:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.equal(ep.uri, '/api/endpoints/web-v3');
    assert.equal(ep.upstream.url, `http://localhost:${upstream.port}`);
    assert.equal(ep.upstream.protocol, 'http1');

    const through = await throughTunnel(rig, 'web-v3', 'GET', '/hello');
    assert.equal(through.status, 200);

    const list = (await request(rig.apiPort, 'GET', '/api/endpoints')).json<{
      endpoints: { name: string; url: string }[];
    }>();
    assert.deepEqual(
      list.endpoints.map((e) => [e.name, e.url]),
      [['web-v3', ep.url]],
    );
    const one = (await request(rig.apiPort, 'GET', '/api/endpoints/web-v3')).json<{ url: string; metadata: string }>();
    assert.equal(one.url, ep.url);
    assert.equal(one.metadata, 'pyngrok');
    // the same tunnel in the v2 view
    const tunnels = (await request(rig.apiPort, 'GET', '/api/tunnels')).json<{ tunnels: { public_url: string }[] }>();
    assert.equal(tunnels.tunnels[0].public_url, ep.url);

    assert.equal((await request(rig.apiPort, 'DELETE', '/api/endpoints/web-v3')).status, 204);
    assert.equal((await request(rig.apiPort, 'GET', '/api/endpoints/web-v3')).status, 404);
  });

  it('refuses a v2 key or a missing upstream with ngrok error 102', async () => {
    for (const body of [
      { name: 'bad1', addr: upstream.port, proto: 'http' },
      { name: 'bad2', url: 'https://bad2.localhost' },
    ]) {
      const r = await post('/api/endpoints', body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json<{ error_code: number }>().error_code, 102);
    }
  });
});
