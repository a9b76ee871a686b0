// Seed 001's account resources on a real `burrow edge` (child process, admin API, state dir):
// uploaded certificate bundles (made with the real openssl) served by SNI for their reserved
// domain, reserved TCP addresses held by `burrow tcp --remote-addr`, endpoint configurations
// attached to and detached from live tunnels, and /tunnel_sessions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../tunnel/src/agent/agent';
import {
  api,
  BIN,
  openssl,
  peerCertificate,
  read,
  startEdge,
  stopEdge,
  TOKEN,
  type EdgeProc,
} from '../support/edge-process';
import { freePort, listen, request, Resources, waitFor } from '../support/tunnel';

const CNF = '[req]\ndistinguished_name=dn\n[dn]\n';

/** Root → intermediate → leaves for shop.example.test, keys in every accepted PEM form. */
function makePki(dir: string): void {
  fs.writeFileSync(path.join(dir, 'c.cnf'), CNF);
  const req = ['req', '-x509', '-config', 'c.cnf', '-days', '30'];
  const ca = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl(dir, [
    ...req,
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-subj',
    '/CN=Burrow Test Root',
    ...ca,
  ]);
  openssl(dir, ['genrsa', '-traditional', '-out', 'int.key', '2048']);
  openssl(dir, [
    ...req,
    '-new',
    '-key',
    'int.key',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-subj',
    '/CN=Burrow Test Intermediate',
    '-out',
    'int.pem',
    ...ca,
  ]);
  const leaf = (key: string, out: string) =>
    openssl(dir, [
      ...req,
      '-new',
      '-key',
      key,
      '-CA',
      'int.pem',
      '-CAkey',
      'int.key',
      '-subj',
      '/CN=shop.example.test',
      '-addext',
      'subjectAltName=DNS:shop.example.test,DNS:*.shop.example.test',
      '-addext',
      'basicConstraints=CA:FALSE',
      '-out',
      out,
    ]);
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec-sec1.key']);
  openssl(dir, ['pkcs8', '-topk8', '-nocrypt', '-in', 'ec-sec1.key', '-out', 'ec-pkcs8.key']);
  openssl(dir, [
    'pkcs8',
    '-topk8',
    '-v2',
    'aes-256-cbc',
    '-passout',
    'pass:secret',
    '-in',
    'ec-sec1.key',
    '-out',
    'ec-enc.key',
  ]);
  leaf('ec-sec1.key', 'leaf-ec.pem');
  openssl(dir, ['genrsa', '-traditional', '-out', 'rsa-pkcs1.key', '2048']);
  leaf('rsa-pkcs1.key', 'leaf-rsa.pem');
}

describe('account resources: TLS certificates, reserved addresses, endpoint configurations, tunnel sessions', function () {
  this.timeout(90_000);
  const res = new Resources();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-account-'));
  const stateDir = path.join(dir, 'state');
  let edge: EdgeProc;
  let upstream: number;
  let agent: Agent;

  before(async () => {
    makePki(dir);
    upstream = await listen(res.server(http.createServer((_q, r) => r.end('hello from upstream'))));
    edge = await startEdge({ http: await freePort(), tls: await freePort(), admin: await freePort() }, [
      '--state-dir',
      stateDir,
      '--domain',
      'edge.example.test',
    ]);
    agent = res.agent(
      new Agent({ edgeUrl: `ws://127.0.0.1:${edge.http}/_burrow/session`, authtoken: TOKEN, backoffMinMs: 50 }),
    );
    await agent.start();
  });
  after(async () => {
    await res.closeAll();
    await stopEdge(edge);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('/tls_certificates', () => {
    const bundle = (leaf: string, key: string) => ({
      certificate_pem: read(dir, leaf) + read(dir, 'int.pem'),
      private_key_pem: read(dir, key),
      description: 'shop',
    });

    it('accepts SEC 1, PKCS#8 and PKCS#1 keys and shows the parsed fields, never the key', async () => {
      for (const [leaf, key, type] of [
        ['leaf-ec.pem', 'ec-sec1.key', 'ecdsa'],
        ['leaf-ec.pem', 'ec-pkcs8.key', 'ecdsa'],
        ['leaf-rsa.pem', 'rsa-pkcs1.key', 'rsa'],
      ]) {
        const r = await api(edge.admin, 'POST', '/tls_certificates', bundle(leaf, key));
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.match(r.body.id, /^cert_/);
        assert.equal(r.body.private_key_type, type);
        assert.equal(r.body.subject_common_name, 'shop.example.test');
        assert.equal(r.body.issuer_common_name, 'Burrow Test Intermediate');
        assert.deepEqual(r.body.subject_alternative_names, {
          dns_names: ['shop.example.test', '*.shop.example.test'],
          ips: [],
        });
        assert.match(r.body.not_after, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.match(r.body.serial_number, /^[0-9a-f]+$/);
        assert.ok(!JSON.stringify(r.body).includes('PRIVATE KEY'));
        assert.equal(r.body.private_key_pem, undefined);
      }
      const list = await api(edge.admin, 'GET', '/tls_certificates?limit=2');
      assert.equal(list.body.tls_certificates.length, 2);
      assert.ok(list.body.next_page_uri);
      assert.ok(!JSON.stringify(list.body).includes('PRIVATE KEY'));
      // The key is kept only in the state file (mode 0600).
      assert.equal(fs.statSync(path.join(stateDir, 'edge-state.json')).mode & 0o777, 0o600);
    });

    it('refuses bad bundles with a coded error naming the field', async () => {
      const cases: [Record<string, string>, string, string][] = [
        [
          { ...bundle('leaf-ec.pem', 'ec-sec1.key'), certificate_pem: read(dir, 'int.pem') + read(dir, 'leaf-ec.pem') },
          'ERR_BURROW_CERT_CHAIN_ORDER',
          'certificate_pem',
        ],
        [bundle('leaf-ec.pem', 'rsa-pkcs1.key'), 'ERR_BURROW_CERT_KEY_MISMATCH', 'private_key_pem'],
        [bundle('leaf-ec.pem', 'ec-enc.key'), 'ERR_BURROW_CERT_KEY_ENCRYPTED', 'private_key_pem'],
        [
          { ...bundle('leaf-ec.pem', 'ec-sec1.key'), certificate_pem: 'not a pem' },
          'ERR_BURROW_CERT_PARSE',
          'certificate_pem',
        ],
        [{ certificate_pem: read(dir, 'leaf-ec.pem') } as Record<string, string>, 'ERR_NGROK_215', 'private_key_pem'],
      ];
      const before = (await api(edge.admin, 'GET', '/tls_certificates')).body.tls_certificates.length;
      for (const [body, code, field] of cases) {
        const r = await api(edge.admin, 'POST', '/tls_certificates', body);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error_code, code, JSON.stringify(r.body));
        assert.equal(r.body.details.field, field);
        assert.equal(typeof r.body.msg, 'string');
        assert.match(r.body.details.operation_id, /^op_/);
      }
      assert.equal((await api(edge.admin, 'GET', '/tls_certificates')).body.tls_certificates.length, before);
    });

    it('terminates a reserved domain with its uploaded bundle, live, and refuses deleting it while attached', async () => {
      const cert = await api(edge.admin, 'POST', '/tls_certificates', bundle('leaf-ec.pem', 'ec-sec1.key'));
      const rd = await api(edge.admin, 'POST', '/reserved_domains', {
        domain: 'shop.example.test',
        certificate_id: cert.body.id,
      });
      assert.equal(rd.status, 201, JSON.stringify(rd.body));
      assert.equal(rd.body.certificate.id, cert.body.id);
      await agent.startTunnel({
        name: 'shop',
        proto: 'http',
        upstream: String(upstream),
        domain: 'shop.example.test',
        schemes: ['https'],
        inspect: false,
      });
      const root = read(dir, 'root.pem');
      const served = await peerCertificate(edge.tls, 'shop.example.test', root);
      assert.equal(served.cert.serialNumber.toLowerCase(), cert.body.serial_number);
      assert.ok(served.authorized, served.error);
      // Node's HTTPS client trusting only the test root gets the upstream's answer.
      const body = await new Promise<string>((resolve, reject) => {
        const q = https.get(
          {
            host: '127.0.0.1',
            port: edge.tls,
            servername: 'shop.example.test',
            ca: root,
            headers: { host: 'shop.example.test' },
          },
          (r) => {
            let t = '';
            r.on('data', (c) => (t += c));
            r.on('end', () => resolve(t));
          },
        );
        q.on('error', reject);
      });
      assert.equal(body, 'hello from upstream');
      const del = await api(edge.admin, 'DELETE', `/tls_certificates/${cert.body.id}`);
      assert.equal(del.status, 400);
      assert.equal(del.body.error_code, 'ERR_BURROW_IN_USE');
      // Detached: the edge falls back to its self-signed certificate at once.
      await api(edge.admin, 'PATCH', `/reserved_domains/${rd.body.id}`, { certificate_id: null });
      const after = await peerCertificate(edge.tls, 'shop.example.test', root);
      assert.notEqual(after.cert.serialNumber.toLowerCase(), cert.body.serial_number);
      assert.equal(after.authorized, false);
      assert.equal((await api(edge.admin, 'DELETE', `/tls_certificates/${cert.body.id}`)).status, 204);
    });
  });

  describe('/endpoint_configurations', () => {
    it('an IP policy attached to a reserved domain blocks live traffic, detached it unblocks', async () => {
      const policy = await api(edge.admin, 'POST', '/ip_policies', { description: 'no loopback' });
      await api(edge.admin, 'POST', '/ip_policy_rules', {
        ip_policy_id: policy.body.id,
        cidr: '127.0.0.0/8',
        action: 'deny',
      });
      const ec = await api(edge.admin, 'POST', '/endpoint_configurations', {
        type: 'http',
        description: 'deny loopback',
        ip_policy: { enabled: true, ip_policy_ids: [policy.body.id] },
        response_headers: { add: { 'x-endpoint-config': 'on' } },
      });
      assert.equal(ec.status, 201, JSON.stringify(ec.body));
      assert.match(ec.body.id, /^ec_/);
      assert.equal(ec.body.ip_policy.ip_policies[0].id, policy.body.id);
      const rd = await api(edge.admin, 'POST', '/reserved_domains', { domain: 'app.example.test' });
      await agent.startTunnel({
        name: 'app',
        proto: 'http',
        upstream: String(upstream),
        domain: 'app.example.test',
        inspect: false,
      });
      const open1 = await request(edge.http, 'app.example.test');
      assert.equal(open1.status, 200);
      assert.equal(open1.headers['x-endpoint-config'], undefined);

      const attach = await api(edge.admin, 'PATCH', `/reserved_domains/${rd.body.id}`, {
        http_endpoint_configuration_id: ec.body.id,
      });
      assert.equal(attach.status, 200, JSON.stringify(attach.body));
      assert.equal(attach.body.http_endpoint_configuration.id, ec.body.id);
      const blocked = await request(edge.http, 'app.example.test');
      assert.equal(blocked.status, 403);
      assert.equal(blocked.headers['ngrok-error-code'], 'ERR_NGROK_3203');

      // Loosen the policy in place: the live tunnel follows the configuration's new modules.
      await api(edge.admin, 'PUT', `/endpoint_configurations/${ec.body.id}/ip_policy`, {
        enabled: false,
        ip_policy_ids: [policy.body.id],
      });
      const through = await request(edge.http, 'app.example.test');
      assert.equal(through.status, 200);
      assert.equal(through.headers['x-endpoint-config'], 'on');
      await api(edge.admin, 'PUT', `/endpoint_configurations/${ec.body.id}/ip_policy`, {
        ip_policy_ids: [policy.body.id],
      });
      assert.equal((await request(edge.http, 'app.example.test')).status, 403);

      const inUse = await api(edge.admin, 'DELETE', `/endpoint_configurations/${ec.body.id}`);
      assert.equal(inUse.body.error_code, 'ERR_BURROW_IN_USE');
      await api(edge.admin, 'PATCH', `/reserved_domains/${rd.body.id}`, { http_endpoint_configuration_id: null });
      const unblocked = await request(edge.http, 'app.example.test');
      assert.equal(unblocked.status, 200);
      assert.equal(unblocked.body.toString(), 'hello from upstream');
    });

    it('checks module types and references with coded errors', async () => {
      const mtls = await api(edge.admin, 'POST', '/endpoint_configurations', {
        type: 'tcp',
        compression: { enabled: true },
      });
      assert.equal(mtls.body.error_code, 'ERR_NGROK_7021');
      const missing = await api(edge.admin, 'POST', '/endpoint_configurations', {
        type: 'http',
        ip_policy: { ip_policy_ids: ['ipp_doesnotexist'] },
      });
      assert.equal(missing.body.error_code, 'ERR_NGROK_7007');
      const noType = await api(edge.admin, 'POST', '/endpoint_configurations', { description: 'x' });
      assert.equal(noType.body.error_code, 'ERR_NGROK_215');
      const https = await api(edge.admin, 'POST', '/endpoint_configurations', {
        type: 'https',
        basic_auth: { auth_username: 'ann', auth_password: 'correct-horse' },
      });
      assert.equal(https.status, 201, JSON.stringify(https.body));
      assert.equal(https.body.basic_auth.auth_password, '**redacted**');
      const wrongType = await api(edge.admin, 'POST', '/reserved_domains', {
        domain: 'typed.example.test',
        http_endpoint_configuration_id: https.body.id,
      });
      assert.equal(wrongType.body.error_code, 'ERR_BURROW_REFERENCE');
    });
  });

  describe('/reserved_addrs', () => {
    it('burrow tcp --remote-addr holds a reserved address; unreserved ports are refused (ERR_NGROK_307)', async () => {
      const ra = await api(edge.admin, 'POST', '/reserved_addrs', { description: 'ssh' });
      assert.equal(ra.status, 201, JSON.stringify(ra.body));
      assert.match(ra.body.id, /^ra_/);
      assert.match(ra.body.addr, /^127\.0\.0\.1:\d+$/);
      assert.equal(ra.body.endpoint_configuration, null);
      const echo = await listen(res.server(net.createServer((s) => s.pipe(s))));
      const child = spawn(
        process.execPath,
        [
          BIN,
          'tcp',
          String(echo),
          '--remote-addr',
          ra.body.addr,
          '--edge',
          `ws://127.0.0.1:${edge.http}/_burrow/session`,
          '--authtoken',
          TOKEN,
          '--log',
          'stdout',
          '--log-format',
          'json',
          '--web-addr',
          'false',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      res.add(child, (c) => c.kill('SIGTERM'));
      await waitFor(() => /started tunnel/.test(out), 15_000, `the tcp tunnel to start:\n${out}`);
      assert.ok(out.includes(`tcp://${ra.body.addr}`), out);
      const port = Number(ra.body.addr.split(':')[1]);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.end('ping'));
        let t = '';
        s.on('data', (d) => (t += d));
        s.on('end', () => resolve(t));
        s.on('error', reject);
      });
      assert.equal(reply, 'ping');
      // Another agent may neither take the port nor bind an address nobody reserved.
      await assert.rejects(
        agent.startTunnel({
          name: 'steal',
          proto: 'tcp',
          upstream: String(echo),
          remoteAddr: ra.body.addr,
          inspect: false,
        }),
        (e: { code?: string }) => e.code === 'ERR_NGROK_334',
      );
      await assert.rejects(
        agent.startTunnel({
          name: 'free',
          proto: 'tcp',
          upstream: String(echo),
          remoteAddr: `127.0.0.1:${await freePort()}`,
          inspect: false,
        }),
        (e: { code?: string }) => e.code === 'ERR_NGROK_307',
      );
    });
  });

  describe('/reserved_addrs with ngrok.yml and a tcp endpoint configuration', () => {
    it('ngrok.yml remote_addr binds the reserved address; its ip_policy closes and, detached, opens connections', async () => {
      const policy = await api(edge.admin, 'POST', '/ip_policies', {});
      await api(edge.admin, 'POST', '/ip_policy_rules', {
        ip_policy_id: policy.body.id,
        cidr: '127.0.0.0/8',
        action: 'deny',
      });
      const ec = await api(edge.admin, 'POST', '/endpoint_configurations', {
        type: 'tcp',
        ip_policy: { ip_policy_ids: [policy.body.id] },
      });
      assert.equal(ec.status, 201, JSON.stringify(ec.body));
      const ra = await api(edge.admin, 'POST', '/reserved_addrs', { endpoint_configuration_id: ec.body.id });
      assert.equal(ra.body.endpoint_configuration.id, ec.body.id);
      const echo = await listen(res.server(net.createServer((c) => c.pipe(c))));
      const config = path.join(dir, 'ngrok.yml');
      fs.writeFileSync(
        config,
        `version: "2"\nauthtoken: ${TOKEN}\ntunnels:\n  db:\n    proto: tcp\n    addr: ${echo}\n    remote_addr: ${ra.body.addr}\n`,
      );
      const child = spawn(
        process.execPath,
        [
          BIN,
          'start',
          'db',
          '--config',
          config,
          '--edge',
          `ws://127.0.0.1:${edge.http}/_burrow/session`,
          '--log',
          'stdout',
          '--log-format',
          'json',
          '--web-addr',
          'false',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      res.add(child, (c) => c.kill('SIGTERM'));
      await waitFor(() => /started tunnel/.test(out), 15_000, `the tcp tunnel to start:\n${out}`);
      assert.ok(out.includes(`tcp://${ra.body.addr}`), out);
      const port = Number(ra.body.addr.split(':')[1]);
      const exchange = () =>
        new Promise<string>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => s.end('ping'));
          let t = '';
          s.on('data', (d) => (t += d));
          s.on('close', () => resolve(t));
          s.on('error', () => undefined);
        });
      assert.equal(await exchange(), '', 'the ip_policy closes loopback connections');
      await api(edge.admin, 'PATCH', `/reserved_addrs/${ra.body.id}`, { endpoint_configuration_id: null });
      assert.equal(await exchange(), 'ping');
      const inUse = await api(edge.admin, 'DELETE', `/ip_policies/${policy.body.id}`);
      assert.equal(inUse.body.error_code, 'ERR_NGROK_1420');
    });
  });

  describe('/tunnel_sessions', () => {
    it('lists live agent sessions in ngrok shape', async () => {
      const r = await api(edge.admin, 'GET', '/tunnel_sessions');
      assert.equal(r.status, 200);
      assert.ok(r.body.tunnel_sessions.length >= 1, JSON.stringify(r.body));
      const s = r.body.tunnel_sessions[0];
      assert.match(s.id, /^ts_/);
      for (const k of ['agent_version', 'os', 'ip', 'region', 'started_at', 'transport', 'metadata', 'uri'])
        assert.ok(k in s, k);
      assert.equal(s.transport, 'burrow/ws');
      assert.equal((await api(edge.admin, 'GET', `/tunnel_sessions/${s.id}`)).body.id, s.id);
      assert.equal((await api(edge.admin, 'GET', '/tunnel_sessions/ts_nope')).status, 404);
    });
  });
});
