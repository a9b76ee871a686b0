// HTTPS edges and the edge admin API through real sockets: the built `burrow edge` as a child
// process (admin API, state directory, edge files), real agents with labeled tunnels, real HTTPS
// clients, and seed 004's three curl calls run with the real `curl`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { EdgeAdminApi } from '../../client/src/edgeAdminApi';
import { AgentState } from '../../client/src/model/state';
import { buildTree } from '../../client/src/model/tree';
import { Agent } from '../../tunnel/src/agent/agent';
import type { EndpointSpec } from '../../tunnel/src/model';
import {
  API_KEY,
  api,
  startEdge as startEdgeProcess,
  stopEdge,
  TOKEN,
  type EdgeProc,
  type Json,
} from '../support/edge-process';
import { freePort, listen, Resources } from '../support/tunnel';

// Seed 004's ids, verbatim.
const SEED_EDGE = 'edghts_2cSjzFvGsN6xazdj1TeJTxpF9iv';
const SEED_ROUTE = 'edghtsrt_2cSjzGPpXHjudF63YRbIZ7arna7';

/** An edge on `ports` keeping its admin state in `stateDir`. */
function startEdge(
  stateDir: string,
  ports: { http: number; tls: number; admin: number },
  extra: string[] = [],
): Promise<EdgeProc> {
  return startEdgeProcess(ports, ['--state-dir', stateDir, ...extra]);
}

/** HTTPS to the edge's TLS listener with SNI and Host `host` (self-signed certificate). */
function get(
  port: number,
  host: string,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(
        {
          host: '127.0.0.1',
          port,
          path: p,
          servername: host,
          rejectUnauthorized: false,
          agent: false,
          headers: { host: `${host}:${port}`, ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      )
      .on('error', reject);
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-w', '\n%{http_code}', ...args], (_err, stdout) => {
      const lines = stdout.split('\n');
      resolve({ code: Number(lines.pop()), stdout: lines.join('\n') });
    });
  });
}

describe('HTTPS edges and the edge admin API', function () {
  this.timeout(60_000);
  const res = new Resources();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-edge-state-'));
  const edgeFile = path.join(stateDir, '..', `${path.basename(stateDir)}-edges.json`);
  let edge: EdgeProc;
  let ports: { http: number; tls: number; admin: number };
  const agents: Agent[] = [];
  let upstreamA: number;
  let upstreamB: number;

  /** An agent on the edge with `token`, one labeled tunnel to `upstream`. */
  async function labeledAgent(labels: Record<string, string>, upstream: number, token = TOKEN): Promise<Agent> {
    const agent = res.agent(
      new Agent({
        edgeUrl: `ws://127.0.0.1:${edge.http}/_burrow/session`,
        authtoken: token,
        backoffMinMs: 50,
        backoffMaxMs: 200,
      }),
    );
    agents.push(agent);
    await agent.start();
    const spec: EndpointSpec = {
      name: `lbl-${Object.values(labels).join('-')}-${agents.length}`,
      proto: 'http',
      upstream: String(upstream),
      inspect: false,
      labels,
    };
    await agent.startTunnel(spec);
    return agent;
  }

  async function tunnelGroup(labels: Record<string, string>): Promise<string> {
    const r = await api(edge.admin, 'POST', '/backends/tunnel_group', { labels });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }

  async function edgeWithRoute(host: string, route: Json): Promise<{ edgeId: string; routeId: string }> {
    const e = await api(edge.admin, 'POST', '/edges/https', { hostports: [`${host}:443`], description: host });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    const r = await api(edge.admin, 'POST', `/edges/https/${e.body.id}/routes`, {
      match_type: 'path_prefix',
      match: '/',
      ...route,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return { edgeId: e.body.id, routeId: r.body.id };
  }

  before(async () => {
    const serve = (name: string) =>
      http.createServer((req, reply) => {
        const body = req.url!.startsWith('/static') ? `${name}:${req.url}:`.padEnd(4096, 'x') : `${name}:${req.url}`;
        reply.writeHead(200, {
          'content-type': req.url!.startsWith('/static') ? 'application/javascript' : 'text/plain',
          'x-served-by': name,
        });
        reply.end(body);
      });
    upstreamA = await listen(res.server(serve('A')));
    upstreamB = await listen(res.server(serve('B')));
    ports = { http: await freePort(), tls: await freePort(), admin: await freePort() };
    // Seed 004 needs its edge and route ids to exist: an edge file names them.
    fs.writeFileSync(
      edgeFile,
      JSON.stringify({
        id: SEED_EDGE,
        description: 'seed 004',
        hostports: ['seed.localhost:443'],
        routes: [{ id: SEED_ROUTE, match_type: 'path_prefix', match: '/' }],
      }),
    );
    edge = await startEdge(stateDir, ports, ['--edges', edgeFile]);
  });

  after(async () => {
    await res.closeAll();
    if (edge) await stopEdge(edge);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(edgeFile, { force: true });
  });

  it("runs seed 004's three curl calls verbatim (host aside) with the documented shapes", async () => {
    const base = `http://127.0.0.1:${edge.admin}`;
    const put = await curl([
      '-X',
      'PUT',
      '-H',
      `Authorization: Bearer ${API_KEY}`,
      '-H',
      'Content-Type: application/json',
      '-H',
      'Ngrok-Version: 2',
      '-d',
      '{"enabled":true,"provider":{"google":{"client_id":"client-id","client_secret":"client-secret","email_addresses":["alan@example.com"],"scopes":["profile","email","https://www.googleapis.com/auth/userinfo.email"]}}}',
      `${base}/edges/https/${SEED_EDGE}/routes/${SEED_ROUTE}/oauth`,
    ]);
    assert.equal(put.code, 200, put.stdout);
    const documented = {
      enabled: true,
      provider: {
        github: null,
        facebook: null,
        microsoft: null,
        google: {
          client_id: 'client-id',
          client_secret: '**redacted**',
          scopes: ['profile', 'email', 'https://www.googleapis.com/auth/userinfo.email'],
          email_addresses: ['alan@example.com'],
          email_domains: [],
        },
        linkedin: null,
        gitlab: null,
        twitch: null,
        amazon: null,
      },
      options_passthrough: false,
      cookie_prefix: 'ngrok.',
      inactivity_timeout: 0,
      maximum_duration: 0,
      auth_check_interval: 0,
    };
    // The documented response with one difference by design: secrets are redacted in API output.
    assert.deepEqual(JSON.parse(put.stdout), documented);
    const got = await curl([
      '-X',
      'GET',
      '-H',
      `Authorization: Bearer ${API_KEY}`,
      '-H',
      'Ngrok-Version: 2',
      `${base}/edges/https/${SEED_EDGE}/routes/${SEED_ROUTE}/oauth`,
    ]);
    assert.equal(got.code, 200);
    assert.deepEqual(JSON.parse(got.stdout), documented);
    // The route now signs visitors in with Google, with the secret as given (not the redaction).
    const state = JSON.parse(fs.readFileSync(path.join(stateDir, 'edge-state.json'), 'utf8'));
    assert.equal(state.https_edges[0].routes[0].oauth.provider.google.client_secret, 'client-secret');
    const del = await curl([
      '-X',
      'DELETE',
      '-H',
      `Authorization: Bearer ${API_KEY}`,
      '-H',
      'Ngrok-Version: 2',
      `${base}/edges/https/${SEED_EDGE}/routes/${SEED_ROUTE}/oauth`,
    ]);
    assert.equal(del.code, 204);
    assert.equal(del.stdout, '');
    const after = await api(edge.admin, 'GET', `/edges/https/${SEED_EDGE}`);
    assert.equal(after.body.routes[0].oauth, null);
    assert.equal(after.body.uri, `http://127.0.0.1:${edge.admin}/edges/https/${SEED_EDGE}`);
  });

  it("routes per path: OAuth on /admin redirects to the provider with this edge's callback, compression only on /static", async () => {
    await labeledAgent({ app: 'paths' }, upstreamA);
    const group = await tunnelGroup({ app: 'paths' });
    const host = 'paths.localhost';
    const e = await api(edge.admin, 'POST', '/edges/https', { hostports: [`${host}:443`] });
    const add = (route: Json) =>
      api(edge.admin, 'POST', `/edges/https/${e.body.id}/routes`, { backend: { backend_id: group }, ...route });
    assert.equal(
      (await add({ match_type: 'path_prefix', match: '/static', compression: { enabled: true } })).status,
      201,
    );
    const admin = await add({
      match_type: 'path_prefix',
      match: '/admin',
      oauth: {
        provider: {
          google: {
            client_id: 'burrow-test-client',
            client_secret: 'burrow-test-secret',
            email_domains: ['example.com'],
          },
        },
      },
    });
    assert.equal(admin.status, 201, JSON.stringify(admin.body));
    assert.equal((await add({ match_type: 'path_prefix', match: '/' })).status, 201);

    const stat = await get(edge.tls, host, '/static/app.js', { 'accept-encoding': 'gzip' });
    assert.equal(stat.status, 200);
    assert.equal(stat.headers['content-encoding'], 'gzip');
    assert.match(zlib.gunzipSync(stat.body).toString(), /^A:\/static\/app\.js:x+$/);

    const root = await get(edge.tls, host, '/index.html', { 'accept-encoding': 'gzip' });
    assert.equal(root.status, 200);
    assert.equal(root.headers['content-encoding'], undefined);
    assert.equal(root.body.toString(), 'A:/index.html');

    const login = await get(edge.tls, host, '/admin/users', { accept: 'text/html' });
    assert.equal(login.status, 302, login.body.toString());
    const location = new URL(String(login.headers.location));
    assert.equal(location.origin + location.pathname, 'https://accounts.google.com/o/oauth2/v2/auth');
    assert.equal(location.searchParams.get('client_id'), 'burrow-test-client');
    assert.equal(location.searchParams.get('redirect_uri'), `https://${host}:${edge.tls}/ngrok/callback`);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    // The callback path is served by the sign-in route although its match is /admin.
    const callback = await get(edge.tls, host, '/ngrok/callback?state=forged&code=x');
    assert.notEqual(callback.status, 200);
    assert.notEqual(callback.headers['x-served-by'], 'A');
  });

  it('a tunnel group spreads traffic over every labeled agent that matches', async () => {
    await labeledAgent({ team: 'web', env: 'prod' }, upstreamA);
    await labeledAgent({ team: 'web', env: 'prod' }, upstreamB);
    await labeledAgent({ team: 'web', env: 'dev' }, upstreamB); // env differs: never chosen
    const group = await tunnelGroup({ team: 'web', env: 'prod' });
    await edgeWithRoute('group.localhost', { backend: { backend_id: group } });
    const seen = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const r = await get(edge.tls, 'group.localhost', `/n${i}`);
      assert.equal(r.status, 200);
      const by = String(r.headers['x-served-by']);
      seen.set(by, (seen.get(by) ?? 0) + 1);
    }
    assert.deepEqual([...seen.entries()].sort(), [
      ['A', 4],
      ['B', 4],
    ]);
    const backend = await api(edge.admin, 'GET', `/backends/tunnel_group/${group}`);
    assert.equal(backend.body.tunnels.length, 2);
  });

  it("the extension's Edge routes tree reads edges, routes and backends from this admin API", async () => {
    await labeledAgent({ app: 'tree', env: 'prod' }, upstreamA);
    const group = await tunnelGroup({ app: 'tree', env: 'prod' });
    const idle = await tunnelGroup({ app: 'tree', env: 'nobody' });
    const { edgeId } = await edgeWithRoute('tree.localhost', {
      backend: { backend_id: group },
      compression: { enabled: true },
    });
    const exact = await api(edge.admin, 'POST', `/edges/https/${edgeId}/routes`, {
      match_type: 'exact_path',
      match: '/health',
      backend: { backend_id: idle },
    });
    assert.equal(exact.status, 201, JSON.stringify(exact.body));

    const routes = await new EdgeAdminApi(`http://127.0.0.1:${edge.admin}/`, API_KEY).routes();
    const root = buildTree(new AgentState(), { requestLimit: () => 25, edgeRoutes: routes }).at(-1)!;
    assert.equal(root.kind, 'edges');
    assert.equal(root.description, `http://127.0.0.1:${edge.admin}`);
    const node = root.children!.find((n) => n.id === `edge:${edgeId}`)!;
    assert.equal(node.label, 'tree.localhost');
    assert.equal(node.icon?.color, 'testing.iconPassed', 'a route with a tunnel online makes the edge online');
    assert.deepEqual(
      node.children!.map((r) => [r.label, r.description]),
      [
        ['= /health', 'tunnels app=tree,env=nobody (0 online)'],
        ['/*', 'tunnels app=tree,env=prod (1 online) · compression'],
      ],
    );
    assert.deepEqual(
      node.children!.map((r) => r.icon?.color),
      [undefined, 'testing.iconPassed'],
    );

    // A wrong key is shown as the admin API's own coded answer, not as an empty list.
    await assert.rejects(new EdgeAdminApi(`http://127.0.0.1:${edge.admin}`, 'wrong-key').routes(), {
      code: 'ERR_NGROK_203',
    });
    const down = await freePort();
    await assert.rejects(new EdgeAdminApi(`http://127.0.0.1:${down}`, API_KEY).routes(), {
      code: 'ERR_BURROW_EDGE_API_UNREACHABLE',
    });
  });

  it('failover takes the first backend that can serve; weighted splits by weight; http_response answers itself', async () => {
    const primary = await tunnelGroup({ role: 'primary' });
    const secondary = await tunnelGroup({ role: 'secondary' });
    const fixed = await api(edge.admin, 'POST', '/backends/http_response', {
      body: 'maintenance',
      status_code: 418,
      headers: { 'x-fixed': 'yes' },
    });
    assert.equal(fixed.status, 201);
    const failover = await api(edge.admin, 'POST', '/backends/failover', {
      backends: [primary, secondary, fixed.body.id],
    });
    assert.equal(failover.status, 201, JSON.stringify(failover.body));
    await edgeWithRoute('failover.localhost', { backend: { backend_id: failover.body.id } });

    let r = await get(edge.tls, 'failover.localhost', '/');
    assert.deepEqual([r.status, r.headers['x-fixed'], r.body.toString()], [418, 'yes', 'maintenance']);
    await labeledAgent({ role: 'secondary' }, upstreamB);
    r = await get(edge.tls, 'failover.localhost', '/');
    assert.equal(r.headers['x-served-by'], 'B');
    const primaryAgent = await labeledAgent({ role: 'primary' }, upstreamA);
    r = await get(edge.tls, 'failover.localhost', '/');
    assert.equal(r.headers['x-served-by'], 'A');
    await primaryAgent.close();
    for (
      let i = 0;
      i < 100 && (await api(edge.admin, 'GET', `/backends/tunnel_group/${primary}`)).body.tunnels.length;
      i++
    )
      await new Promise((w) => setTimeout(w, 50));
    r = await get(edge.tls, 'failover.localhost', '/');
    assert.equal(r.headers['x-served-by'], 'B');

    const weighted = await api(edge.admin, 'POST', '/backends/weighted', {
      backends: { [secondary]: 1, [fixed.body.id]: 1 },
    });
    assert.equal(weighted.status, 201, JSON.stringify(weighted.body));
    await edgeWithRoute('weighted.localhost', { backend: { backend_id: weighted.body.id } });
    const statuses = new Set<number>();
    for (let i = 0; i < 40; i++) statuses.add((await get(edge.tls, 'weighted.localhost', '/')).status);
    assert.deepEqual([...statuses].sort(), [200, 418]);
    await api(edge.admin, 'PATCH', `/backends/weighted/${weighted.body.id}`, {
      backends: { [secondary]: 0, [fixed.body.id]: 5 },
    });
    for (let i = 0; i < 10; i++) assert.equal((await get(edge.tls, 'weighted.localhost', '/')).status, 418);

    // A route whose backend cannot serve answers ERR_NGROK_6528.
    const lonely = await tunnelGroup({ role: 'nobody' });
    await edgeWithRoute('lonely.localhost', { backend: { backend_id: lonely } });
    r = await get(edge.tls, 'lonely.localhost', '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_6528');
  });

  it('credentials: a token from the API authenticates agents and its bind ACL refuses binds outside it', async () => {
    const cr = await api(edge.admin, 'POST', '/credentials', {
      description: 'web team',
      acl: ['bind:team=acl', 'bind:*.acl.localhost'],
    });
    assert.equal(cr.status, 201, JSON.stringify(cr.body));
    assert.match(cr.body.id, /^cr_[A-Za-z0-9]{27}$/);
    const token = cr.body.token as string;
    assert.ok(token.length > 40);
    const listed = await api(edge.admin, 'GET', `/credentials/${cr.body.id}`);
    assert.equal(listed.body.token, null);
    assert.ok(
      !fs.readFileSync(path.join(stateDir, 'edge-state.json'), 'utf8').includes(token),
      'the token itself is never stored',
    );

    await labeledAgent({ team: 'acl' }, upstreamA, token);
    const agent = res.agent(new Agent({ edgeUrl: `ws://127.0.0.1:${edge.http}/_burrow/session`, authtoken: token }));
    await agent.start();
    const refused = async (spec: Partial<EndpointSpec>) => {
      const err = await agent
        .startTunnel({ name: `x${Math.random()}`, proto: 'http', upstream: String(upstreamA), inspect: false, ...spec })
        .then(
          () => undefined,
          (e: { code?: string }) => e,
        );
      return err?.code;
    };
    assert.equal(await refused({ labels: { team: 'db' } }), 'ERR_NGROK_399');
    assert.equal(await refused({ domain: 'other.localhost' }), 'ERR_NGROK_316');
    assert.equal(await refused({}), 'ERR_NGROK_316'); // a random name cannot match a bind: rule
    assert.equal(await refused({ domain: 'api.acl.localhost' }), undefined);
    // An edge's hostport is the edge's: agents may not bind it directly.
    const fileAgent = res.agent(
      new Agent({ edgeUrl: `ws://127.0.0.1:${edge.http}/_burrow/session`, authtoken: TOKEN }),
    );
    await fileAgent.start();
    const err = await fileAgent
      .startTunnel({
        name: 'direct',
        proto: 'http',
        upstream: String(upstreamA),
        inspect: false,
        domain: 'group.localhost',
      })
      .then(
        () => undefined,
        (e: { code?: string }) => e,
      );
    assert.equal(err?.code, 'ERR_NGROK_381');
    // And an edge cannot take a name an agent binds directly.
    const clash = await api(edge.admin, 'POST', '/edges/https', { hostports: ['api.acl.localhost:443'] });
    assert.deepEqual([clash.status, clash.body.error_code], [400, 'ERR_NGROK_7132']);

    assert.equal((await api(edge.admin, 'DELETE', `/credentials/${cr.body.id}`)).status, 204);
    const late = res.agent(
      new Agent({
        edgeUrl: `ws://127.0.0.1:${edge.http}/_burrow/session`,
        authtoken: token,
        backoffMinMs: 50,
        backoffMaxMs: 100,
      }),
    );
    const fatal = new Promise<{ code: string }>((r) => late.once('fatal', r));
    late.start().catch(() => undefined);
    assert.equal((await fatal).code, 'ERR_NGROK_107');
  });

  it("requires the API key and Ngrok-Version: 2, with ngrok's codes", async () => {
    const codes = async (headers: Record<string, string>) => {
      const r = await api(edge.admin, 'GET', '/edges/https', undefined, headers);
      return [r.status, r.body.error_code];
    };
    assert.deepEqual(await codes({ 'ngrok-version': '2' }), [401, 'ERR_NGROK_200']);
    assert.deepEqual(await codes({ authorization: 'Token abc', 'ngrok-version': '2' }), [401, 'ERR_NGROK_201']);
    assert.deepEqual(await codes({ authorization: 'Bearer wrong-key', 'ngrok-version': '2' }), [401, 'ERR_NGROK_203']);
    assert.deepEqual(await codes({ authorization: `Bearer ${API_KEY}` }), [400, 'ERR_NGROK_218']);
    assert.deepEqual(await codes({ authorization: `Bearer ${API_KEY}`, 'ngrok-version': '1' }), [400, 'ERR_NGROK_217']);
    const ok = await api(edge.admin, 'GET', '/edges/https?limit=1');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.https_edges.length, 1);
    assert.match(ok.body.next_page_uri, /before_id=edghts_/);
    const next = await api(
      edge.admin,
      'GET',
      new URL(ok.body.next_page_uri).pathname + new URL(ok.body.next_page_uri).search,
    );
    assert.notEqual(next.body.https_edges[0].id, ok.body.https_edges[0].id);
  });

  it("checks every body against the schema and ngrok's rules, answering {error_code, status_code, msg, details}", async () => {
    const e = await api(edge.admin, 'POST', '/edges/https', { hostports: ['checks.localhost:443'] });
    const routes = `/edges/https/${e.body.id}/routes`;
    const cases: [string, string, unknown, string][] = [
      ['POST', '/edges/https', { hostports: ['checks2.localhost:443'], colour: 'red' }, 'ERR_NGROK_214'],
      ['POST', '/edges/https', { hostports: ['checks2.localhost:80'] }, 'ERR_NGROK_7116'],
      ['POST', '/edges/https', { hostports: ['no-port'] }, 'ERR_NGROK_7104'],
      ['POST', '/edges/https', { hostports: ['shop.example.com:443'] }, 'ERR_NGROK_7117'],
      ['POST', '/edges/https', { hostports: ['checks.localhost:443'] }, 'ERR_NGROK_7122'],
      ['POST', routes, { match_type: 'regex', match: '/' }, 'ERR_NGROK_7130'],
      ['POST', routes, { match_type: 'exact_path' }, 'ERR_NGROK_7123'],
      ['POST', routes, { match_type: 'exact_path', match: 'no-slash' }, 'ERR_NGROK_7131'],
      [
        'POST',
        routes,
        { match_type: 'path_prefix', match: '/', backend: { backend_id: 'bkdtg_missing' } },
        'ERR_NGROK_6501',
      ],
      [
        'POST',
        routes,
        { match_type: 'path_prefix', match: '/', circuit_breaker: { error_threshold_percentage: 1.5 } },
        'ERR_NGROK_7011',
      ],
      [
        'POST',
        routes,
        {
          match_type: 'path_prefix',
          match: '/',
          oauth: {
            provider: {
              google: { client_id: 'a', client_secret: 'b' },
              github: { client_id: 'c', client_secret: 'd' },
            },
          },
        },
        'ERR_NGROK_7036',
      ],
      [
        'POST',
        routes,
        { match_type: 'path_prefix', match: '/', oauth: { provider: { google: {} } } },
        'ERR_NGROK_7166',
      ],
      [
        'POST',
        routes,
        { match_type: 'path_prefix', match: '/', webhook_verification: { provider: 'nosuch', secret: 's' } },
        'ERR_NGROK_364',
      ],
      [
        'POST',
        routes,
        { match_type: 'path_prefix', match: '/', ip_restriction: { ip_policy_ids: ['ipp_nosuch'] } },
        'ERR_NGROK_7007',
      ],
      [
        'POST',
        routes,
        {
          match_type: 'path_prefix',
          match: '/',
          traffic_policy: { value: '{"on_http_request":[{"actions":[{"type":"no-such-action"}]}]}' },
        },
        'ERR_NGROK_2201',
      ],
      ['POST', '/credentials', { acl: ['allow:everything'] }, 'ERR_NGROK_600'],
      ['POST', '/backends/weighted', { backends: { bkdtg_x: 20000 } }, 'ERR_NGROK_6512'],
      ['POST', '/backends/tunnel_group', { labels: { 'a=b': 'c' } }, 'ERR_NGROK_6531'],
      ['POST', '/ip_policy_rules', { cidr: '10.0.0.0/8', action: 'allow' }, 'ERR_NGROK_1405'],
    ];
    for (const [method, p, body, code] of cases) {
      const r = await api(edge.admin, method, p, body);
      assert.equal(r.body.error_code, code, `${method} ${p} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.status_code, r.status);
      assert.ok(r.status >= 400 && r.status < 500);
      assert.equal(typeof r.body.msg, 'string');
      assert.equal(typeof r.body.details.operation_id, 'string');
    }
    const policy = await api(edge.admin, 'POST', '/ip_policies', { description: 'office' });
    assert.match(policy.body.id, /^ipp_/);
    const rule = (cidr: string) =>
      api(edge.admin, 'POST', '/ip_policy_rules', { ip_policy_id: policy.body.id, cidr, action: 'allow' });
    assert.equal((await rule('10.1.2.3/8')).body.error_code, 'ERR_NGROK_1409');
    assert.equal((await rule('10.1.2.3')).body.error_code, 'ERR_NGROK_1413');
    assert.equal((await rule('2001:db8::1/32')).body.error_code, 'ERR_NGROK_1409');
    const good = await rule('127.0.0.0/8');
    assert.equal(good.status, 201);
    assert.deepEqual(good.body.ip_policy, {
      id: policy.body.id,
      uri: `http://127.0.0.1:${edge.admin}/ip_policies/${policy.body.id}`,
    });
    const notJson = await new Promise<Json>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: edge.admin,
          method: 'POST',
          path: '/edges/https',
          headers: { authorization: `Bearer ${API_KEY}`, 'ngrok-version': '2', 'content-type': 'application/json' },
        },
        (r) => {
          let d = '';
          r.on('data', (c) => {
            d += c;
          });
          r.on('end', () => resolve(JSON.parse(d)));
        },
      );
      req.end('{not json');
    });
    assert.equal(notJson.error_code, 'ERR_NGROK_213');
    assert.equal((await api(edge.admin, 'GET', `/edges/https/edghts_nosuch`)).body.error_code, 'ERR_NGROK_7000');
    assert.equal((await api(edge.admin, 'GET', `${routes}/edghtsrt_nosuch`)).body.error_code, 'ERR_NGROK_7124');
  });

  it('keeps its state across a restart (edges, routes, backends, credentials); agents come back', async () => {
    const cr = await api(edge.admin, 'POST', '/credentials', { description: 'survivor', acl: ['bind:phase=restart'] });
    const group = await tunnelGroup({ phase: 'restart' });
    await edgeWithRoute('restart.localhost', { backend: { backend_id: group } });
    const before = await api(edge.admin, 'GET', '/edges/https');
    await stopEdge(edge);
    edge = await startEdge(stateDir, ports, ['--edges', edgeFile]);
    const after = await api(edge.admin, 'GET', '/edges/https');
    assert.deepEqual(after.body, before.body);
    assert.deepEqual((await api(edge.admin, 'GET', `/credentials/${cr.body.id}`)).body.acl, ['bind:phase=restart']);
    // The credential's token still authenticates (with its ACL) and the new agent serves its group.
    await labeledAgent({ phase: 'restart' }, upstreamA, cr.body.token);
    const r = await get(edge.tls, 'restart.localhost', '/again');
    assert.equal(r.body.toString(), 'A:/again');
    // Agents of the old edge process reconnect on their own and their groups serve again.
    let old = await get(edge.tls, 'group.localhost', '/back');
    for (let i = 0; i < 100 && old.status !== 200; i++) {
      await new Promise((w) => setTimeout(w, 50));
      old = await get(edge.tls, 'group.localhost', '/back');
    }
    assert.match(old.body.toString(), /^[AB]:\/back$/);
  });
});
