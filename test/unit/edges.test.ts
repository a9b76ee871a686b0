// Edge pieces without sockets: bind ACLs, IP policy CIDR rules, the edge JSON schema (conventions
// and ngrok codes), ngrok-style ids, the API-module → pipeline mapping, route precedence through
// the service and router, and labeled tunnels from ngrok.yml.
import assert from 'node:assert/strict';
import schema from '../../schemas/edge-api.schema.json';
import { checkAcl, invalidAclRule } from '../../tunnel/src/edge/admin/acl';
import { checkRuleCidr } from '../../tunnel/src/edge/admin/cidr';
import { AdminApiError } from '../../tunnel/src/edge/admin/errors';
import { newId, stableId } from '../../tunnel/src/edge/admin/ids';
import { routeEdgeOptions } from '../../tunnel/src/edge/admin/modules';
import { validateBody } from '../../tunnel/src/edge/admin/schema';
import { EdgeService } from '../../tunnel/src/edge/admin/operations';
import { EdgeStore } from '../../tunnel/src/edge/admin/store';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { tunnelToSpec } from '../../tunnel/src/config/normalize';
import { IpPolicyStore } from '../../tunnel/src/modules/ip-restriction';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as AdminApiError).code;
  }
}

describe('edge bind ACLs', () => {
  it('allows everything with no rules or a * rule', () => {
    assert.equal(checkAcl([], { proto: 'http' }), undefined);
    assert.equal(checkAcl(['*'], { proto: 'tcp' }), undefined);
  });

  it("matches names, wildcard names, addresses and labels with ngrok's codes", () => {
    const acl = [
      'bind:app.example.com',
      'bind:*.dev.example.com',
      'bind:1.tcp.example.com:20000',
      'bind:team=web',
      'bind:*=shared',
      'bind:env=*',
    ];
    assert.equal(checkAcl(acl, { proto: 'http', host: 'app.example.com' }), undefined);
    assert.equal(checkAcl(acl, { proto: 'http', host: 'a.dev.example.com' }), undefined);
    assert.equal(checkAcl(acl, { proto: 'http', host: 'dev.example.com' })?.code, 'ERR_NGROK_316');
    assert.equal(checkAcl(acl, { proto: 'http', host: 'evil.com' })?.code, 'ERR_NGROK_316');
    assert.equal(checkAcl(acl, { proto: 'http' })?.code, 'ERR_NGROK_316');
    assert.equal(checkAcl(acl, { proto: 'tcp', remoteAddr: '1.tcp.example.com:20000' }), undefined);
    assert.equal(checkAcl(acl, { proto: 'tcp', remoteAddr: '1.tcp.example.com:20001' })?.code, 'ERR_NGROK_308');
    assert.equal(checkAcl(acl, { proto: 'tcp' })?.code, 'ERR_NGROK_356');
    assert.equal(checkAcl(acl, { proto: 'http', labels: { team: 'web' } }), undefined);
    assert.equal(checkAcl(acl, { proto: 'http', labels: { anything: 'shared', env: 'prod' } }), undefined);
    assert.equal(checkAcl(acl, { proto: 'http', labels: { team: 'web', tier: 'db' } })?.code, 'ERR_NGROK_399');
  });

  it('refuses malformed rules (ERR_NGROK_600 in the service)', () => {
    assert.equal(
      invalidAclRule(['*', 'bind:a.example.com', 'bind:*.b.com', 'bind:k=v', 'bind:*=v', 'bind:h.com:80']),
      undefined,
    );
    for (const bad of ['allow:x', 'bind:', 'bind:a=b=c', 'bind:bad host', 'bind:=v'])
      assert.equal(invalidAclRule([bad]), bad, bad);
  });

  it('a TokenSet grants file tokens everything and credentials their ACL, from a live source', () => {
    const creds: { sha256: Buffer; grant: { credentialId: string; acl: string[] } }[] = [];
    const tokens = new TokenSet(['file-token']).addSource({ grants: () => creds });
    assert.deepEqual(tokens.grantFor('file-token'), { acl: [] });
    assert.equal(tokens.grantFor('cred-token'), undefined);
    creds.push({
      sha256: require('node:crypto').createHash('sha256').update('cred-token').digest(),
      grant: { credentialId: 'cr_1', acl: ['bind:x=y'] },
    });
    assert.deepEqual(tokens.grantFor('cred-token'), { credentialId: 'cr_1', acl: ['bind:x=y'] });
    assert.equal(tokens.size, 2);
    assert.equal(tokens.accepts(undefined), false);
  });
});

describe('IP policy rule CIDRs', () => {
  it('need a mask and the network address, v4 and v6', () => {
    for (const ok of [
      '10.0.0.0/8',
      '192.168.1.0/24',
      '0.0.0.0/0',
      '1.2.3.4/32',
      '2001:db8::/32',
      '::/0',
      '::1/128',
      'fe80::/10',
    ])
      assert.equal(
        codeOf(() => checkRuleCidr(ok)),
        undefined,
        ok,
      );
    assert.equal(
      codeOf(() => checkRuleCidr('10.0.0.1/8')),
      'ERR_NGROK_1409',
    );
    assert.equal(
      codeOf(() => checkRuleCidr('2001:db8::1/32')),
      'ERR_NGROK_1409',
    );
    assert.equal(
      codeOf(() => checkRuleCidr('10.0.0.1')),
      'ERR_NGROK_1413',
    );
    assert.equal(
      codeOf(() => checkRuleCidr('10.0.0.0/33')),
      'ERR_NGROK_1406',
    );
    assert.equal(
      codeOf(() => checkRuleCidr('nope/8')),
      'ERR_NGROK_1406',
    );
    assert.match(
      String(
        (() => {
          try {
            checkRuleCidr('10.1.2.3/16');
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      ),
      /Did you mean 10\.1\.0\.0\/16\?/,
    );
  });
});

describe('schemas/edge-api.schema.json', () => {
  type S = Record<string, unknown>;
  function walk(node: unknown, where: string, visit: (s: S, where: string) => void): void {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}/${i}`, visit));
    if (typeof node !== 'object' || node === null) return;
    visit(node as S, where);
    for (const [k, v] of Object.entries(node))
      if (k !== 'enum' && k !== 'const' && k !== 'default') walk(v, `${where}/${k}`, visit);
  }

  it('follows the schema conventions: every property described, unknown keys refused', () => {
    walk(schema, '', (s, where) => {
      if (/\/(if|then|else)(\/|$)/.test(where)) return;
      if (s.properties && where !== '') assert.equal(s.additionalProperties, false, `${where} allows unknown keys`);
      for (const [key, p] of Object.entries((s.properties ?? {}) as Record<string, S>)) {
        assert.equal(typeof p.markdownDescription, 'string', `${where}/properties/${key} has no markdownDescription`);
      }
    });
  });

  it('accepts an exported edge and a bundle, refuses unknown keys with ERR_NGROK_214', () => {
    validateBody({
      id: 'edghts_x',
      hostports: ['a.localhost:443'],
      routes: [
        { match_type: 'exact_path', match: '/', backend: { enabled: true, backend: { id: 'bkdtg_1', uri: 'u' } } },
      ],
    });
    validateBody({
      https_edges: [],
      tunnel_group_backends: [{ labels: { a: 'b' } }],
      ip_policies: [{ description: 'x' }],
    });
    assert.equal(
      codeOf(() => validateBody({ hostports: [], colour: 1 })),
      'ERR_NGROK_214',
    );
    assert.equal(
      codeOf(() => validateBody({ https_edges: [], colour: 1 })),
      'ERR_NGROK_214',
    );
    assert.equal(
      codeOf(() => validateBody({ match_type: 'exact_path' }, 'HTTPSEdgeRouteCreate')),
      'ERR_NGROK_7123',
    );
    assert.equal(
      codeOf(() => validateBody({ match_type: 'exact', match: '/' }, 'HTTPSEdgeRouteCreate')),
      'ERR_NGROK_7130',
    );
    assert.equal(
      codeOf(() => validateBody({ description: 'x'.repeat(256) }, 'HTTPSEdgeCreate')),
      'ERR_NGROK_7073',
    );
    assert.equal(
      codeOf(() => validateBody({ oauth: { provider: { google: { client_id: 5 } } } }, 'HTTPSEdgeRouteUpdate')),
      'ERR_NGROK_7033',
    );
  });
});

describe('edge ids', () => {
  it('are ngrok-shaped, time-ordered and stable when derived', () => {
    const a = newId('edghts', Date.UTC(2024, 0, 1));
    const b = newId('edghts', Date.UTC(2025, 0, 1));
    assert.match(a, /^edghts_[0-9A-Za-z]{27}$/);
    assert.ok(a < b);
    assert.equal(stableId('cr', 'f#1'), stableId('cr', 'f#1'));
    assert.notEqual(stableId('cr', 'f#1'), stableId('cr', 'f#2'));
  });
});

describe('route modules → pipeline options', () => {
  it("maps ngrok API v2 module objects to the modules' configs (seconds → ms, off when disabled)", () => {
    const options = routeEdgeOptions({
      ip_restriction: { ip_policy_ids: ['ipp_1'] },
      circuit_breaker: {
        error_threshold_percentage: 0.25,
        tripped_duration: 5,
        rolling_window: 20,
        num_buckets: 4,
        volume_threshold: 7,
      },
      request_headers: { add: { 'x-a': '1' }, remove: ['x-b'] },
      response_headers: { enabled: false, add: { 'x-c': '2' } },
      compression: { enabled: true },
      user_agent_filter: { deny: ['bot'] },
      webhook_verification: { provider: 'github', secret: 's' },
      oauth: {
        provider: { github: null, google: { client_id: 'i', client_secret: 's', email_domains: ['example.com'] } },
        inactivity_timeout: 60,
        auth_check_interval: 0,
      },
      traffic_policy: { value: 'on_http_request:\n  - actions:\n      - type: deny\n' },
      websocket_tcp_converter: null,
    });
    assert.deepEqual(options, {
      ipRestriction: { ipPolicies: ['ipp_1'] },
      userAgentFilter: { deny: ['bot'] },
      circuitBreaker: { errorThreshold: 0.25, trippedMs: 5000, windowMs: 20000, numBuckets: 4, volumeThreshold: 7 },
      webhookVerification: { provider: 'github', secret: 's' },
      oauth: {
        provider: 'google',
        clientId: 'i',
        clientSecret: 's',
        allowDomains: ['example.com'],
        inactivityTimeoutMs: 60000,
      },
      trafficPolicy: { on_http_request: [{ actions: [{ type: 'deny' }] }] },
      requestHeaders: { add: ['x-a: 1'], remove: ['x-b'] },
      compression: {},
    });
    assert.throws(() => routeEdgeOptions({ saml: { enabled: true } }), /SAML is not supported/);
    assert.throws(
      () => routeEdgeOptions({ oauth: { provider: {} } }),
      (e: { code?: string }) => e.code === 'ERR_NGROK_7037',
    );
  });
});

describe('edge store transactions', () => {
  it('commits a change that passes, and restores the state (no commit) when the change throws', () => {
    const store = EdgeStore.memory();
    let commits = 0;
    store.on('change', () => commits++);
    store.transact(() => store.state.ip_policies.push({ id: 'ipp_1' } as never));
    assert.equal(commits, 1);
    assert.throws(
      () =>
        store.transact(() => {
          store.state.ip_policies.push({ id: 'ipp_2' } as never);
          throw new Error('a failed check');
        }),
      /a failed check/,
    );
    assert.equal(commits, 1, 'nothing committed');
    assert.deepEqual(
      store.state.ip_policies.map((p) => p.id),
      ['ipp_1'],
    );
  });
});

describe('edge service', () => {
  function service(): EdgeService {
    return new EdgeService(EdgeStore.memory(), { domain: 'localhost', ipPolicies: new IpPolicyStore() });
  }

  it('refuses a second sign-in route on one edge (ERR_NGROK_7155) and duplicate matches (7126), changing nothing', () => {
    const svc = service();
    const edge = svc.createEdge({ hostports: ['a.localhost:443'] });
    const oauth = { provider: { google: { client_id: 'i', client_secret: 's' } } };
    svc.createRoute(edge.id, { match_type: 'path_prefix', match: '/admin', oauth });
    assert.equal(
      codeOf(() => svc.createRoute(edge.id, { match_type: 'path_prefix', match: '/other', oauth })),
      'ERR_NGROK_7155',
    );
    assert.equal(
      codeOf(() => svc.createRoute(edge.id, { match_type: 'exact_path', match: '/admin' })),
      'ERR_NGROK_7126',
    );
    assert.equal(svc.getEdge(edge.id).routes.length, 1);
  });

  it('needs reserved domains outside the base domain, and refuses deleting one in use (446)', () => {
    const svc = service();
    assert.equal(
      codeOf(() => svc.createEdge({ hostports: ['shop.example.com:443'] })),
      'ERR_NGROK_7117',
    );
    const rd = svc.createReservedDomain({ domain: '*.example.com' });
    svc.createEdge({ hostports: ['shop.example.com:443'] });
    assert.equal(
      codeOf(() => svc.createEdge({ hostports: ['a.b.example.com:443'] })),
      'ERR_NGROK_7117',
    );
    assert.equal(
      codeOf(() => svc.deleteReservedDomain(rd.id)),
      'ERR_NGROK_446',
    );
    assert.equal(svc.getReservedDomain(rd.id).domain, '*.example.com');
  });

  it('refuses backend loops and deleting a backend still referenced', () => {
    const svc = service();
    const tg = svc.createBackend('tunnel_group', { labels: { a: 'b' } });
    const fo = svc.createBackend('failover', { backends: [tg.id] });
    const wd = svc.createBackend('weighted', { backends: { [fo.id]: 1 } });
    assert.equal(
      codeOf(() => svc.updateBackend('failover', fo.id, { backends: [wd.id] })),
      'ERR_NGROK_6525',
    );
    assert.equal(
      codeOf(() => svc.deleteBackend('tunnel_group', tg.id)),
      'ERR_NGROK_6502',
    );
    svc.deleteBackend('weighted', wd.id);
    svc.deleteBackend('failover', fo.id);
    svc.deleteBackend('tunnel_group', tg.id);
  });

  it('loads an edge file twice without duplicates (stable ids)', () => {
    const svc = service();
    const doc = {
      tunnel_group_backends: [{ labels: { app: 'x' } }],
      https_edges: [{ hostports: ['f.localhost:443'], routes: [{ match_type: 'path_prefix', match: '/' }] }],
    };
    svc.importDocument(doc, '/tmp/f.json');
    svc.importDocument(doc, '/tmp/f.json');
    assert.equal(svc.listEdges().length, 1);
    assert.equal(svc.listEdges()[0].routes.length, 1);
    assert.equal(svc.listBackends('tunnel_group').length, 1);
  });
});

describe('labeled tunnels in ngrok.yml v2', () => {
  it('become http endpoint specs carrying their labels', () => {
    const spec = tunnelToSpec('edge', { labels: ['team=web', 'edge=edghts_1'], addr: 3000 } as never, true);
    assert.deepEqual(spec, {
      name: 'edge',
      proto: 'http',
      upstream: '3000',
      inspect: true,
      labels: { team: 'web', edge: 'edghts_1' },
    });
  });
});
