// The Tunnels tree as data: AgentState fed with event-stream messages in the API's own shapes
// (as GET /api/tunnels and /api/events send them), then buildTree; plus the tunnel definitions the
// protection commands send.
import assert from 'node:assert/strict';
import type { CaptureJson, TunnelJson } from '../../client/src/agent/api';
import {
  checkBasicAuth,
  definitionFromTunnel,
  generatePassword,
  protectionOf,
  withProtection,
  type TunnelDefinition,
} from '../../client/src/model/definitions';
import { AgentState } from '../../client/src/model/state';
import { PROVIDER_GUIDES, parseAllowList } from '../../client/src/oauthProviders';
import { buildTree, formatDuration, type TreeNode } from '../../client/src/model/tree';

const zero = { count: 0, gauge: 0, rate1: 0, rate5: 0, rate15: 0, p50: 0, p90: 0, p95: 0, p99: 0 };

function tunnel(name: string, extra: Partial<TunnelJson> = {}): TunnelJson {
  return {
    name,
    uri: `/api/tunnels/${name}`,
    public_url: `http://${name}-x.localhost:8480`,
    proto: 'http',
    config: { addr: 'http://127.0.0.1:3000', inspect: true },
    metrics: { conns: { ...zero, count: 7, gauge: 2 }, http: { ...zero, count: 5 } },
    public_urls: [`http://${name}-x.localhost:8480`],
    status: 'online',
    definition: { name, proto: 'http', upstream: '3000', inspect: true },
    ...extra,
  };
}

function response(status: number): NonNullable<CaptureJson['response']> {
  return {
    status: `${status} OK`,
    status_code: status,
    proto: 'HTTP/1.1',
    headers: {},
    body_size: 0,
    body_truncated: false,
  };
}

let seq = 0;
function capture(tunnelName: string, uri: string, status?: number, extra: Partial<CaptureJson> = {}): CaptureJson {
  seq++;
  return {
    id: `ex_${seq}`,
    tunnel_name: tunnelName,
    remote_addr: '127.0.0.1',
    start: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
    duration: status === undefined ? 0 : 12_400_000,
    state: status === undefined ? 'request' : 'complete',
    error: null,
    uri: `/api/requests/http/ex_${seq}`,
    request: { method: 'GET', uri, proto: 'HTTP/1.1', headers: {}, body_size: 0, body_truncated: false },
    response: status === undefined ? null : response(status),
    ...extra,
  };
}

const find = (nodes: TreeNode[], id: string): TreeNode | undefined => {
  for (const n of nodes) {
    if (n.id === id) return n;
    const c = find(n.children ?? [], id);
    if (c) return c;
  }
  return undefined;
};

describe('client tree: state from the event stream', () => {
  it('a snapshot fills tunnels and requests newest first; events update in place', () => {
    const s = new AgentState();
    const old = capture('web', '/old', 200);
    const newer = capture('web', '/new', 404);
    s.apply({
      type: 'snapshot',
      status: { status: 'online', agent_version: '0.1.0', session: { legs: [] } },
      tunnels: [tunnel('web')],
      requests: [newer, old],
    });
    assert.deepEqual(
      s.requestsOf('web').map((r) => r.request.uri),
      ['/new', '/old'],
    );
    const pending = capture('web', '/live');
    s.apply({ type: 'request_started', request: pending });
    assert.equal(s.requestsOf('web')[0].response, null);
    s.apply({
      type: 'request_updated',
      request: { ...pending, state: 'complete', duration: 3_000_000, response: response(201) },
    });
    assert.equal(s.requestsOf('web').length, 3);
    assert.equal(s.requestsOf('web')[0].response?.status_code, 201);
    s.apply({ type: 'request_deleted', id: old.id, reason: 'evicted' });
    assert.deepEqual(
      s.requestsOf('web').map((r) => r.request.uri),
      ['/live', '/new'],
    );
    assert.equal(s.request(old.id), undefined);
    s.apply({ type: 'requests_cleared' });
    assert.equal(s.requestsOf('web').length, 0);
  });

  it('bounds the requests kept per tunnel', () => {
    const s = new AgentState(3);
    s.apply({ type: 'tunnel_started', tunnel: tunnel('web') });
    const all = Array.from({ length: 5 }, (_, i) => capture('web', `/${i}`, 200));
    for (const r of all) s.apply({ type: 'request_started', request: r });
    assert.deepEqual(
      s.requestsOf('web').map((r) => r.request.uri),
      ['/4', '/3', '/2'],
    );
    assert.equal(s.request(all[0].id), undefined, 'dropped captures are forgotten by id too');
  });

  it('counts online tunnels and keeps requests of stopped tunnels', () => {
    const s = new AgentState();
    s.apply({ type: 'tunnel_started', tunnel: tunnel('a') });
    s.apply({ type: 'tunnel_started', tunnel: tunnel('b', { status: 'reconnecting' }) });
    assert.equal(s.onlineCount, 1);
    s.apply({ type: 'request_started', request: capture('a', '/x', 200) });
    s.apply({ type: 'tunnel_stopped', name: 'a' });
    assert.deepEqual(s.stoppedWithRequests, ['a']);
  });

  it('counts arrive as tunnel_metrics events; one for an unknown tunnel changes nothing', () => {
    const s = new AgentState();
    s.apply({ type: 'tunnel_started', tunnel: tunnel('web') });
    const metrics = { conns: { ...zero, count: 9, gauge: 1 }, http: { ...zero, count: 8 } };
    assert.equal(s.apply({ type: 'tunnel_metrics', name: 'web', metrics }), true);
    assert.equal(find(buildTree(s, { requestLimit: () => 5 }), 'tunnel:web:conns')!.description, '9 total · 8 HTTP');
    assert.equal(s.apply({ type: 'tunnel_metrics', name: 'gone', metrics }), false);
  });

  it('a request the edge answered is marked with its module', () => {
    const s = new AgentState();
    s.apply({ type: 'tunnel_started', tunnel: tunnel('web') });
    s.apply({ type: 'request_started', request: capture('web', '/private', 401, { edge_module: 'basic-auth' }) });
    const row = find(buildTree(s, { requestLimit: () => 5 }), 'tunnel:web:requests')!.children![0];
    assert.match(row.description!, /^401 · edge: basic-auth · /);
    assert.match(row.tooltip!, /answered by the edge \(basic-auth\)/);
    assert.equal(row.icon?.id, 'shield');
  });
});

describe('client tree: nodes', () => {
  it('a tunnel shows URL, upstream, connections, modules and requests with a bounded list', () => {
    const s = new AgentState();
    const t = tunnel('web', {
      definition: {
        name: 'web',
        proto: 'http',
        upstream: '3000',
        inspect: true,
        edge: { basicAuth: { credentials: ['ann:********'] }, ipRestriction: { allowCidrs: ['10.0.0.0/8'] } },
      },
    });
    s.apply({
      type: 'snapshot',
      status: { status: 'online', agent_version: '0.1.0', session: { legs: [] } },
      tunnels: [t],
      requests: [],
    });
    for (let i = 0; i < 4; i++)
      s.apply({ type: 'request_started', request: capture('web', `/p${i}`, i === 3 ? 500 : 200) });
    const tree = buildTree(s, { requestLimit: () => 2 });
    assert.equal(tree.length, 1);
    const node = tree[0];
    assert.equal(node.description, 'http://web-x.localhost:8480');
    assert.equal(node.contextValue, 'tunnel.online.http.protected.basicauth');
    assert.equal(node.icon?.id, 'lock');
    assert.match(node.tooltip!, /Protected by basic auth \(user ann\)/);
    assert.deepEqual(
      node.children!.map((c) => c.kind),
      ['upstream', 'connections', 'module', 'module', 'requests'],
    );
    assert.equal(find(tree, 'tunnel:web:conns')!.label, '2 open');
    assert.equal(find(tree, 'tunnel:web:conns')!.description, '7 total · 5 HTTP');
    assert.equal(find(tree, 'tunnel:web:module:basicAuth')!.description, 'ann', 'user names only, never the password');
    assert.equal(find(tree, 'tunnel:web:module:ipRestriction')!.description, 'allow 10.0.0.0/8');
    const requests = find(tree, 'tunnel:web:requests')!;
    assert.equal(requests.description, '4');
    assert.deepEqual(
      requests.children!.map((c) => c.label),
      ['GET /p3', 'GET /p2', 'Show more…'],
    );
    assert.match(requests.children![0].description!, /^500 · 12 ms · \d\d:\d\d:\d\d$/);
    assert.equal(requests.children![0].icon?.color, 'testing.iconFailed');
    assert.deepEqual(requests.children![0].command, {
      id: 'burrow.showRequest',
      title: 'Show Request',
      args: [requests.children![0].requestId],
    });
    assert.deepEqual(requests.children![2].command?.args, ['web']);
    // More shown after "Show more…".
    assert.equal(find(buildTree(s, { requestLimit: () => 10 }), 'tunnel:web:requests')!.children!.length, 4);
  });

  it('tcp tunnels have no request list; failing tunnels show their error code', () => {
    const s = new AgentState();
    s.apply({
      type: 'tunnel_started',
      tunnel: tunnel('db', {
        proto: 'tcp',
        public_url: 'tcp://localhost:20001',
        definition: { name: 'db', proto: 'tcp', upstream: '5432', inspect: true },
      }),
    });
    s.apply({
      type: 'tunnel_started',
      tunnel: tunnel('bad', { status: 'error', error: { code: 'ERR_NGROK_334', message: 'taken' } }),
    });
    const tree = buildTree(s, { requestLimit: () => 25 });
    const db = find(tree, 'tunnel:db')!;
    assert.equal(db.contextValue, 'tunnel.online.tcp.open');
    assert.ok(!db.children!.some((c) => c.kind === 'requests'));
    const bad = find(tree, 'tunnel:bad')!;
    assert.equal(bad.description, 'ERR_NGROK_334');
    assert.equal(bad.icon?.id, 'error');
  });

  it('edge routes: absent without an admin API, and an unreachable one says why in the tree', () => {
    const state = new AgentState();
    assert.equal(
      buildTree(state, { requestLimit: () => 25 }).some((n) => n.kind === 'edges'),
      false,
    );
    const broken = buildTree(state, {
      requestLimit: () => 25,
      edgeRoutes: {
        api: 'http://edge.test:4041',
        error: 'the edge admin API at http://edge.test:4041 did not answer: fetch failed',
      },
    });
    assert.equal(broken[0].description, 'unavailable');
    assert.match(broken[0].children![0].label, /did not answer/);
    const empty = buildTree(state, {
      requestLimit: () => 25,
      edgeRoutes: { api: 'http://edge.test:4041', edges: [], backends: new Map() },
    });
    assert.equal(empty[0].children![0].label, 'No HTTPS edges on this edge yet');
  });

  it('formats durations', () => {
    assert.equal(formatDuration(850_000), '850 µs');
    assert.equal(formatDuration(12_400_000), '12 ms');
    assert.equal(formatDuration(1_430_000_000), '1.4 s');
  });
});

describe('client tree: definitions for restart and protection', () => {
  const base: TunnelDefinition = {
    name: 'web',
    proto: 'http',
    addr: 3000,
    auth: 'a:bbbbbbbb',
    domain: 'web.localhost',
  };

  it('applies and removes basic auth and OAuth', () => {
    assert.deepEqual(withProtection(base, { kind: 'basic-auth', username: 'u', password: 'p4ssword!' }), {
      name: 'web',
      proto: 'http',
      addr: 3000,
      domain: 'web.localhost',
      basic_auth: ['u:p4ssword!'],
    });
    assert.deepEqual(
      withProtection(base, {
        kind: 'oauth',
        provider: 'google',
        clientId: 'id',
        clientSecret: 's',
        allowDomains: ['example.com'],
      }).oauth,
      { provider: 'google', client_id: 'id', client_secret: 's', allow_domains: ['example.com'] },
    );
    assert.deepEqual(withProtection({ ...base, oauth: { provider: 'x' } }, { kind: 'none' }), {
      name: 'web',
      proto: 'http',
      addr: 3000,
      domain: 'web.localhost',
    });
  });

  it('generates strong passwords the basic-auth module accepts', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = generatePassword();
      assert.equal(p.length, 24);
      assert.match(p, /^[A-Za-z0-9_-]+$/);
      assert.equal(checkBasicAuth('burrow', p), undefined);
      seen.add(p);
    }
    assert.equal(seen.size, 50);
    assert.match(checkBasicAuth('a:b', 'longenough')!, /user name/);
    assert.match(checkBasicAuth('a', 'short')!, /8 to 128/);
  });

  it('rebuilds a definition from the API, keeping the URL and naming what cannot be carried over', () => {
    const t = tunnel('web', {
      definition: {
        name: 'web',
        proto: 'http',
        upstream: '3000',
        inspect: false,
        edge: {
          basicAuth: { credentials: ['ann:********'] },
          ipRestriction: { allowCidrs: ['10.0.0.0/8'] },
          circuitBreaker: { errorThreshold: 0.5 },
        },
      },
    });
    const { def, lost } = definitionFromTunnel(t);
    assert.deepEqual(def, {
      name: 'web',
      proto: 'http',
      addr: '3000',
      domain: 'web-x.localhost',
      inspect: false,
      ip_restriction: { allow_cidrs: ['10.0.0.0/8'] },
    });
    assert.deepEqual(lost, ['basic auth (password not readable from the agent)', 'Circuit breaker']);
    assert.equal(protectionOf(t.definition), 'basic-auth');
    assert.equal(
      protectionOf({
        name: 'x',
        proto: 'http',
        upstream: '1',
        inspect: true,
        edge: { trafficPolicy: { on_http_request: [{ actions: [{ type: 'oauth' }] }] } },
      }),
      'oauth',
    );
    assert.equal(protectionOf({ name: 'x', proto: 'http', upstream: '1', inspect: true }), undefined);
  });
});

describe('client tree: OAuth setup helpers', () => {
  it('splits an allow list into emails and domains', () => {
    assert.deepEqual(parseAllowList(' Ann@Example.com, @example.org example.net;bob@x.io ann@example.com'), {
      emails: ['ann@example.com', 'bob@x.io'],
      domains: ['example.org', 'example.net'],
    });
    assert.deepEqual(parseAllowList(''), { emails: [], domains: [] });
  });

  it('has a console page for every provider the OAuth module supports', () => {
    assert.deepEqual(PROVIDER_GUIDES.map((g) => g.id).sort(), [
      'amazon',
      'facebook',
      'github',
      'gitlab',
      'google',
      'linkedin',
      'microsoft',
      'twitch',
    ]);
    for (const g of PROVIDER_GUIDES) assert.match(g.consoleUrl, /^https:\/\//);
  });
});
