// ngrok's own API client (@ngrok/ngrok-api 0.11.0) against the edge admin API, unchanged but for the
// base URL: every supported resource's create/get/list/update/delete, route modules
// replace/get/delete (seed 004: replacing a route's OAuth module) and multi-page lists.
import assert from 'node:assert/strict';
import { Ngrok } from '@ngrok/ngrok-api';
import { AdminApi, createHttpsEdges } from '../../tunnel/src/edge/admin';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { IpPolicyStore } from '../../tunnel/src/modules/ip-restriction';

const API_KEY = 'client-test-key-0123456789';

/**
 * `delete()`: the admin API answers 204 with no body, as ngrok's API documents; client 0.11 still
 * calls `.json()` on it, which node-fetch refuses ("invalid json response body"), so the promise
 * rejects after a successful delete, as it does against api.ngrok.com. Accept exactly that.
 */
async function deleted(call: Promise<unknown>): Promise<void> {
  await call.catch((err: Error) => {
    if (!(err instanceof SyntaxError)) throw err;
  });
}

describe('@ngrok/ngrok-api against the edge admin API', function () {
  this.timeout(30_000);
  let admin: AdminApi;
  let ngrok: Ngrok;

  before(async () => {
    const edges = createHttpsEdges({ domain: 'localhost', ipPolicies: new IpPolicyStore(), tokens: new TokenSet([]) });
    admin = new AdminApi({ service: edges.service, router: edges.router, apiKey: API_KEY, host: '127.0.0.1', port: 0 });
    await admin.start();
    ngrok = new Ngrok({ apiToken: API_KEY, baseUrl: `http://127.0.0.1:${admin.port}` });
  });
  after(() => admin.close());

  it('HTTPS edges: create, get, list, update, delete', async () => {
    const edge = await ngrok.edges.edgesHttps.create({ description: 'web', hostports: ['client-a.localhost:443'] });
    assert.match(edge.id, /^edghts_/);
    assert.deepEqual(edge.hostports, ['client-a.localhost:443']);
    assert.equal((await ngrok.edges.edgesHttps.get(edge.id)).description, 'web');
    const updated = await ngrok.edges.edgesHttps.update({ id: edge.id, description: 'web 2', metadata: 'm' });
    assert.equal(updated.description, 'web 2');
    assert.equal(updated.metadata, 'm');
    assert.ok((await ngrok.edges.edgesHttps.list()).some((e) => e.id === edge.id));
    await deleted(ngrok.edges.edgesHttps.delete(edge.id));
    await assert.rejects(ngrok.edges.edgesHttps.get(edge.id), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  it("routes and their modules; seed 004's use case: replace a route's OAuth module", async () => {
    const edge = await ngrok.edges.edgesHttps.create({ hostports: ['client-b.localhost:443'] });
    const route = await ngrok.edges.edgesHttpsRoutes.create({ edgeId: edge.id, matchType: 'path_prefix', match: '/' });
    assert.match(route.id, /^edghtsrt_/);
    assert.equal(route.edgeId, edge.id);
    const moved = await ngrok.edges.edgesHttpsRoutes.update({
      edgeId: edge.id,
      id: route.id,
      matchType: 'path_prefix',
      match: '/app',
      description: 'app',
    });
    assert.equal(moved.match, '/app');
    assert.equal((await ngrok.edges.edgesHttpsRoutes.get({ edgeId: edge.id, id: route.id })).description, 'app');

    const oauth = await ngrok.edgeModules.edgeRouteOAuthModule.replace({
      edgeId: edge.id,
      id: route.id,
      module: {
        enabled: true,
        optionsPassthrough: false,
        cookiePrefix: 'ngrok.',
        inactivityTimeout: 3600,
        maximumDuration: 86400,
        authCheckInterval: 3600,
        provider: {
          google: {
            clientId: 'id-1',
            clientSecret: 'secret-1',
            scopes: [],
            emailAddresses: [],
            emailDomains: ['example.com'],
          },
        },
      },
    });
    assert.equal(oauth.enabled, true);
    assert.deepEqual(oauth.provider?.google?.emailDomains, ['example.com']);
    const got = await ngrok.edgeModules.edgeRouteOAuthModule.get({ edgeId: edge.id, id: route.id });
    assert.equal(got.provider?.google?.clientId, 'id-1');
    assert.notEqual(got.provider?.google?.clientSecret, 'secret-1', 'the secret is never shown');
    await deleted(ngrok.edgeModules.edgeRouteOAuthModule.delete({ edgeId: edge.id, id: route.id }));
    const routeAfter = await ngrok.edges.edgesHttpsRoutes.get({ edgeId: edge.id, id: route.id });
    assert.ok(!routeAfter.oauth);

    const cb = await ngrok.edgeModules.edgeRouteCircuitBreakerModule.replace({
      edgeId: edge.id,
      id: route.id,
      module: {
        errorThresholdPercentage: 0.5,
        trippedDuration: 10,
        rollingWindow: 10,
        numBuckets: 10,
        volumeThreshold: 5,
      },
    });
    assert.equal(cb.errorThresholdPercentage, 0.5);
    const comp = await ngrok.edgeModules.edgeRouteCompressionModule.replace({
      edgeId: edge.id,
      id: route.id,
      module: { enabled: true },
    });
    assert.equal(comp.enabled, true);
    const tls = await ngrok.edgeModules.httpsEdgeTlsTerminationModule.replace({
      id: edge.id,
      module: { enabled: true },
    });
    assert.equal(tls.enabled, true);
    assert.equal((await ngrok.edgeModules.httpsEdgeTlsTerminationModule.get(edge.id)).enabled, true);

    await deleted(ngrok.edges.edgesHttpsRoutes.delete({ edgeId: edge.id, id: route.id }));
    await deleted(ngrok.edges.edgesHttps.delete(edge.id));
  });

  it('backends, reserved domains, IP policies and rules, credentials: create, get, list, update, delete', async () => {
    const tg = await ngrok.backends.tunnelGroupBackends.create({ labels: new Map([['team', 'web']]) });
    assert.equal(
      (
        await ngrok.backends.tunnelGroupBackends.update({
          id: tg.id,
          description: 'tg',
          labels: new Map([['team', 'web']]),
        })
      ).description,
      'tg',
    );
    assert.ok((await ngrok.backends.tunnelGroupBackends.list()).some((b) => b.id === tg.id));
    const hr = await ngrok.backends.httpResponseBackends.create({ body: 'hi', headers: new Map(), statusCode: 200 });
    assert.equal((await ngrok.backends.httpResponseBackends.update({ id: hr.id, body: 'hello' })).body, 'hello');
    const fo = await ngrok.backends.failoverBackends.create({ backends: [tg.id, hr.id] });
    assert.equal((await ngrok.backends.failoverBackends.get(fo.id)).backends.length, 2);
    assert.equal(
      (await ngrok.backends.failoverBackends.update({ id: fo.id, metadata: 'x', backends: [hr.id] })).metadata,
      'x',
    );
    const wd = await ngrok.backends.weightedBackends.create({ backends: new Map([[tg.id, 1]]) });
    assert.equal(
      (await ngrok.backends.weightedBackends.update({ id: wd.id, description: 'w', backends: new Map([[tg.id, 1]]) }))
        .description,
      'w',
    );
    for (const [svc, id] of [
      [ngrok.backends.weightedBackends, wd.id],
      [ngrok.backends.failoverBackends, fo.id],
      [ngrok.backends.httpResponseBackends, hr.id],
      [ngrok.backends.tunnelGroupBackends, tg.id],
    ] as const)
      await deleted((svc as { delete(id: string): Promise<void> }).delete(id));

    const rd = await ngrok.reservedDomains.create({ domain: 'client-c.localhost', region: '' });
    assert.equal((await ngrok.reservedDomains.update({ id: rd.id, description: 'rd' })).description, 'rd');
    assert.ok((await ngrok.reservedDomains.list()).some((d) => d.id === rd.id));
    assert.equal((await ngrok.reservedDomains.get(rd.id)).domain, 'client-c.localhost');
    await deleted(ngrok.reservedDomains.delete(rd.id));

    const pol = await ngrok.ipPolicies.create({ description: 'office' });
    assert.equal((await ngrok.ipPolicies.update({ id: pol.id, description: 'office 2' })).description, 'office 2');
    const rule = await ngrok.ipPolicyRules.create({ ipPolicyId: pol.id, cidr: '10.0.0.0/8', action: 'allow' });
    assert.equal((await ngrok.ipPolicyRules.update({ id: rule.id, cidr: '10.1.0.0/16' })).cidr, '10.1.0.0/16');
    assert.ok((await ngrok.ipPolicyRules.list()).some((r) => r.id === rule.id));
    assert.equal((await ngrok.ipPolicyRules.get(rule.id)).ipPolicy.id, pol.id);
    await deleted(ngrok.ipPolicyRules.delete(rule.id));
    assert.ok((await ngrok.ipPolicies.list()).some((p) => p.id === pol.id));
    await deleted(ngrok.ipPolicies.delete(pol.id));

    const cred = await ngrok.credentials.create({ description: 'ci', acl: ['bind:*.localhost'] });
    assert.ok(cred.token, 'the token is shown once, on create');
    const cred2 = await ngrok.credentials.update({ id: cred.id, description: 'ci 2' });
    assert.equal(cred2.description, 'ci 2');
    assert.ok(!cred2.token);
    assert.ok((await ngrok.credentials.list()).some((c) => c.id === cred.id));
    await deleted(ngrok.credentials.delete(cred.id));
  });

  it('multi-page list(): the client follows next_page_uri with its beforeId key', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await ngrok.ipPolicies.create({ description: `p${i}` })).id);
    const all = await ngrok.ipPolicies.list(undefined, '3');
    assert.deepEqual(
      all.map((p) => p.id).filter((id) => made.includes(id)),
      [...made].sort().reverse(),
    );
    const older = await ngrok.ipPolicies.list([...made].sort()[4], '2');
    assert.deepEqual(
      older.map((p) => p.id),
      [...made].sort().slice(0, 4).reverse(),
    );
    for (const id of made) await deleted(ngrok.ipPolicies.delete(id));
  });

  it('an id in the body that differs from the path is refused, not applied', async () => {
    const pol = await ngrok.ipPolicies.create({ description: 'a' });
    const res = await fetch(`http://127.0.0.1:${admin.port}/ip_policies/${pol.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${API_KEY}`, 'ngrok-version': '2', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ipp_other', description: 'b' }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error_code: string }).error_code, 'ERR_NGROK_214');
    assert.equal((await ngrok.ipPolicies.get(pol.id)).description, 'a');
    await deleted(ngrok.ipPolicies.delete(pol.id));
  });
});
