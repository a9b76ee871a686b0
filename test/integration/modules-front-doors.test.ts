/**
 * The config front doors of the edge modules: ngrok.yml keys (v2 tunnels and v3 endpoints, files
 * named by keys) and the local API's POST /api/tunnels with the same keys, through a real agent;
 * secrets stay out of the API's answers.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../tunnel/src/config';
import { request, startRig, startUpstream, throughTunnel, type Rig, type Upstream } from './api-support';

describe('module front doors: ngrok.yml and POST /api/tunnels', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-modcfg-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  it('maps v2 tunnel module keys and v3 traffic policies to the edge options', () => {
    write('policy.yml', 'on_http_request:\n  - actions:\n      - type: deny\n');
    const file = write(
      'ngrok.yml',
      `version: "2"
authtoken: t
tunnels:
  web:
    proto: http
    addr: 3000
    basic_auth: ["alice:correct-horse"]
    ip_restriction: {allow_cidrs: [10.0.0.0/8], deny_cidrs: [10.1.0.0/16]}
    circuit_breaker: 0.3
    compression: true
    verify_webhook: {provider: github, secret: s3cret}
    user_agent_filter: {deny: ["(?i)bot"]}
    request_header: {add: ["x-id: \${.ngrok.request_id}"]}
    traffic_policy:
      on_http_request:
        - expressions: ["req.url.path == '/x'"]
          actions: [{type: deny}]
  ssh:
    proto: tcp
    addr: 22
    ip_restriction: {allow_cidrs: [192.0.2.0/24]}
`,
    );
    const v3 = write(
      'v3.yml',
      `version: "3"
agent: {authtoken: t}
endpoints:
  - name: api
    url: https://api.example.test
    upstream: {url: 8080}
    traffic_policy_file: ${path.join(dir, 'policy.yml')}
`,
    );
    const loaded = loadConfig({ paths: [file, v3], env: {} });
    assert.deepEqual(
      loaded.problems.filter((p) => p.severity === 'error'),
      [],
    );
    const web = loaded.endpoints.find((e) => e.name === 'web')!;
    assert.deepEqual(web.edge, {
      ipRestriction: { allowCidrs: ['10.0.0.0/8'], denyCidrs: ['10.1.0.0/16'] },
      userAgentFilter: { allow: undefined, deny: ['(?i)bot'] },
      circuitBreaker: { errorThreshold: 0.3 },
      webhookVerification: { provider: 'github', secret: 's3cret' },
      basicAuth: { credentials: ['alice:correct-horse'] },
      trafficPolicy: { on_http_request: [{ expressions: ["req.url.path == '/x'"], actions: [{ type: 'deny' }] }] },
      requestHeaders: { add: ['x-id: ${.ngrok.request_id}'], remove: [] },
      compression: {},
    });
    assert.deepEqual(loaded.endpoints.find((e) => e.name === 'ssh')!.edge, {
      ipRestriction: { allowCidrs: ['192.0.2.0/24'], denyCidrs: undefined },
    });
    assert.deepEqual(loaded.endpoints.find((e) => e.name === 'api')!.edge, {
      trafficPolicy: { on_http_request: [{ actions: [{ type: 'deny' }] }] },
    });
  });

  it('reports an unreadable mutual_tls_cas file as a config problem, not a crash', () => {
    const file = write(
      'mtls.yml',
      'version: "2"\nauthtoken: t\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n    mutual_tls_cas: /nonexistent/ca.pem\n',
    );
    const loaded = loadConfig({ paths: [file], env: {} });
    assert.equal(loaded.endpoints.length, 0);
    assert.ok(
      loaded.problems.some(
        (p) => p.severity === 'error' && /mutual_tls_cas/.test(p.message) && /nonexistent/.test(p.message),
      ),
      JSON.stringify(loaded.problems),
    );
  });

  describe('POST /api/tunnels', () => {
    let rig: Rig;
    let up: Upstream;
    before(async () => {
      rig = await startRig();
      up = await startUpstream();
    });
    after(async () => {
      await rig.close();
      await up.close();
    });
    const json = { 'content-type': 'application/json' };

    it('starts a tunnel with module keys, enforces them, and never shows the secrets', async () => {
      const r = await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({
          name: 'guarded',
          proto: 'http',
          addr: up.port,
          basic_auth: ['alice:correct-horse'],
          verify_webhook: { provider: 'stripe', secret: 'whsec_topsecret' },
          ip_restriction: { allow_cidrs: ['127.0.0.0/8'] },
        }),
      });
      assert.equal(r.status, 201, r.text);
      for (const text of [r.text, (await request(rig.apiPort, 'GET', '/api/tunnels')).text]) {
        assert.ok(!text.includes('correct-horse'), 'basic-auth password leaked');
        assert.ok(!text.includes('whsec_topsecret'), 'webhook secret leaked');
        assert.match(text, /alice/);
      }
      // Webhook verification comes before basic auth in the pipeline: an unsigned delivery stops there.
      const unsigned = await throughTunnel(rig, 'guarded', 'POST', '/hook', { body: '{}' });
      assert.equal(unsigned.status, 403);
      assert.equal(unsigned.headers['ngrok-error-code'], 'ERR_NGROK_3204');
    });

    it('answers bad module configs with 400 (schema or module check) without echoing secrets', async () => {
      const weak = await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({ name: 'weak', proto: 'http', addr: up.port, basic_auth: ['bob:short'] }),
      });
      assert.equal(weak.status, 400);
      assert.match(weak.text, /8 to 128/);
      assert.ok(!weak.text.includes('short'), 'the password is not echoed');
      const cidr = await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({
          name: 'cidr',
          proto: 'http',
          addr: up.port,
          ip_restriction: { allow_cidrs: ['10.0.0.0/33'] },
        }),
      });
      assert.equal(cidr.status, 400);
      const policy = await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({
          name: 'pol',
          proto: 'http',
          addr: up.port,
          traffic_policy: { on_http_request: [{ expressions: ['req.method =='], actions: [{ type: 'deny' }] }] },
        }),
      });
      assert.equal(policy.status, 400);
      assert.match(policy.json<{ details: { err: string } }>().details.err, /ERR_NGROK_2200/);
    });
  });
});
