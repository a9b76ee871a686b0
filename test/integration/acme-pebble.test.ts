// `burrow edge --acme-directory …` against a real ACME server (Debian's pebble, which really
// validates HTTP-01, TLS-ALPN-01 and DNS-01 against the edge's own listeners on loopback):
// issuance for a name an agent just bound, trusted by pebble's root with curl and Node; renewal
// when the clock moves, served without a restart; reserved domains with a certificate policy and
// their status, including an order pebble refuses (problem document, nothing written); a restart
// with the same state dir places no new order; a *.DOMAIN wildcard through --acme-dns-hook; and a
// directory that is down.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../tunnel/src/agent/agent';
import { api, peerCertificate, startEdge, stopEdge, TOKEN, type EdgeProc } from '../support/edge-process';
import { startPebble, type Pebble } from '../support/pebble';
import { freePort, listen, Resources, waitFor } from '../support/tunnel';

const DOMAIN = 'edge.test';

function curl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) =>
      resolve({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
    );
  });
}

/** Log records (json) of the edge with this message. */
function records(edge: EdgeProc, msg: string): Record<string, string>[] {
  return edge
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((r) => r.msg === msg);
}

describe('ACME certificates from a real pebble', function () {
  this.timeout(180_000);
  const res = new Resources();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-acme-'));
  const stateDir = path.join(dir, 'state');
  const clockFile = path.join(dir, 'clock-offset');
  let pebble: Pebble;
  let ports: { http: number; tls: number; admin: number };
  let edge: EdgeProc;
  let upstream: number;
  let root: string;

  const agentOn = async (e: EdgeProc, subdomain: string) => {
    const agent = res.agent(
      new Agent({ edgeUrl: `ws://127.0.0.1:${e.http}/_burrow/session`, authtoken: TOKEN, backoffMinMs: 50 }),
    );
    await agent.start();
    await agent.startTunnel({
      name: subdomain,
      proto: 'http',
      upstream: String(upstream),
      subdomain,
      schemes: ['http', 'https'],
      inspect: false,
    });
    return agent;
  };
  const edgeArgs = (extra: string[] = []) => [
    '--state-dir',
    stateDir,
    '--domain',
    DOMAIN,
    '--acme-directory',
    pebble.directory,
    '--acme-ca',
    pebble.caFile,
    '--acme-email',
    'ops@example.test',
    ...extra,
  ];
  const env = { BURROW_ACME_CHECK_MS: '300', BURROW_ACME_CLOCK_OFFSET_FILE: clockFile };

  before(async function () {
    this.timeout(600_000); // may apt-get install pebble first
    upstream = await listen(res.server(http.createServer((_q, r) => r.end('hello over acme'))));
    ports = { http: await freePort(), tls: await freePort(), admin: await freePort() };
    pebble = await startPebble(path.join(dir, 'pebble'), ports);
    root = await pebble.root();
    fs.writeFileSync(path.join(dir, 'root.pem'), root);
    fs.writeFileSync(clockFile, '0');
    edge = await startEdge(ports, edgeArgs(), env);
  });
  after(async () => {
    await res.closeAll();
    await stopEdge(edge);
    await pebble?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the edge’s own name, and a name an agent just bound, get pebble certificates over HTTP-01', async () => {
    await waitFor(() => records(edge, 'certificate issued').some((r) => r.name === DOMAIN), 60_000, 'the edge’s name');
    assert.ok((await peerCertificate(ports.tls, DOMAIN, root)).authorized);
    await agentOn(edge, 'app');
    assert.ok(
      records(edge, 'serving the self-signed certificate until ACME issues one').some(
        (r) => r.host === `app.${DOMAIN}`,
      ),
    );
    await waitFor(
      () => records(edge, 'certificate issued').some((r) => r.name === `app.${DOMAIN}`),
      60_000,
      'issuance',
    );
    assert.match(
      pebble.log(),
      new RegExp(`Attempting to validate w/ HTTP: http://app\\.${DOMAIN}:${ports.http}/\\.well-known/acme-challenge/`),
    );
    const served = await peerCertificate(ports.tls, `app.${DOMAIN}`, root);
    assert.ok(served.authorized, served.error);
    assert.match(String(served.cert.issuer.CN), /Pebble Intermediate/);
    const r = await curl([
      '--cacert',
      path.join(dir, 'root.pem'),
      '--resolve',
      `app.${DOMAIN}:${ports.tls}:127.0.0.1`,
      `https://app.${DOMAIN}:${ports.tls}/`,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, 'hello over acme');
    const files = fs.readdirSync(path.join(stateDir, 'acme'), { recursive: true }).map(String).sort();
    assert.ok(
      files.some((f) => f.endsWith('account.key')),
      files.join(),
    );
    assert.ok(
      files.some((f) => f.endsWith(`certs/app.${DOMAIN}.json`)),
      files.join(),
    );
    assert.ok(!files.some((f) => f.endsWith('.tmp')));
  });

  it('renews when the clock moves past two thirds of the lifetime, and serves the new certificate without a restart', async () => {
    const before = await peerCertificate(ports.tls, `app.${DOMAIN}`, root);
    const issued = () => records(edge, 'certificate issued').filter((r) => r.name === `app.${DOMAIN}`).length;
    const count = issued();
    fs.writeFileSync(clockFile, String(4 * 365 * 24 * 3600_000)); // pebble certificates last 5 years
    await waitFor(() => issued() > count, 60_000, 'renewal');
    fs.writeFileSync(clockFile, '0');
    const after = await peerCertificate(ports.tls, `app.${DOMAIN}`, root);
    assert.ok(after.authorized, after.error);
    assert.notEqual(after.cert.serialNumber, before.cert.serialNumber);
  });

  it('reserved domains get a certificate policy by default and show their status; a refused order leaves nothing behind', async () => {
    const ok = await api(ports.admin, 'POST', '/reserved_domains', {
      domain: 'shop.example.test',
      certificate_management_policy: { authority: 'letsencrypt', private_key_type: 'rsa' },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const byDefault = await api(ports.admin, 'POST', '/reserved_domains', { domain: 'plain.example.test' });
    assert.deepEqual(byDefault.body.certificate_management_policy, {
      authority: 'letsencrypt',
      private_key_type: 'ecdsa',
    });
    // pebble's DNS sends this name to 127.0.0.2, where nothing listens: pebble refuses the order.
    await pebble.challtest('/add-a', { host: 'refused.example.test', addresses: ['127.0.0.2'] });
    const bad = await api(ports.admin, 'POST', '/reserved_domains', { domain: 'refused.example.test' });
    const status = async (id: string) =>
      (await api(ports.admin, 'GET', `/reserved_domains/${id}`)).body.certificate_management_status;
    let s: Record<string, any> | null = null; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (let i = 0; i < 120 && (s = await status(ok.body.id))?.state !== 'issued'; i++)
      await new Promise((r) => setTimeout(r, 500));
    assert.equal(s?.state, 'issued', JSON.stringify(s));
    assert.match(s!.renews_at, /^\d{4}-/);
    let b: Record<string, any> | null = null; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (let i = 0; i < 120 && (b = await status(bad.body.id))?.state !== 'renewal_error'; i++)
      await new Promise((r) => setTimeout(r, 500));
    assert.equal(b?.state, 'renewal_error', JSON.stringify(b));
    assert.equal(b!.provisioning_job.error_code, 'ERR_BURROW_ACME_CHALLENGE');
    assert.equal(b!.provisioning_job.problem.type, 'urn:ietf:params:acme:error:connection');
    assert.match(b!.provisioning_job.retries_at, /^\d{4}-/);
    const certDir = fs.readdirSync(path.join(stateDir, 'acme'), { recursive: true }).map(String);
    assert.ok(certDir.some((f) => f.endsWith('certs/shop.example.test.json')));
    assert.ok(!certDir.some((f) => f.includes('refused') || f.endsWith('.tmp')), certDir.join());
    const stored = JSON.parse(
      fs.readFileSync(
        path.join(
          stateDir,
          'acme',
          certDir.find((f) => f.endsWith('certs/shop.example.test.json'))!,
        ),
        'utf8',
      ),
    );
    assert.equal(stored.key_type, 'rsa');
    assert.match(stored.private_key_pem, /BEGIN (RSA )?PRIVATE KEY/);
  });

  it('a restart with the same state dir orders nothing for names it has; TLS-ALPN-01 and a DNS-01 wildcard work', async () => {
    await res.closeAll(); // agents of the first edge
    upstream = await listen(res.server(http.createServer((_q, r) => r.end('hello over acme'))));
    await stopEdge(edge);
    const hook = path.join(dir, 'dns-hook.sh');
    fs.writeFileSync(
      hook,
      `#!/bin/sh\n# $1 set|unset, $2 record name, $3 value: put the TXT record into pebble's DNS\n` +
        `if [ "$1" = set ]; then p=set-txt; b="{\\"host\\":\\"$2.\\",\\"value\\":\\"$3\\"}"; else p=clear-txt; b="{\\"host\\":\\"$2.\\"}"; fi\n` +
        `curl -fsS -X POST -d "$b" http://127.0.0.1:${pebble.challPort}/$p\n`,
      { mode: 0o755 },
    );
    edge = await startEdge(ports, edgeArgs(['--acme-challenges', 'tls-alpn-01', '--acme-dns-hook', hook]), env);
    await agentOn(edge, 'app');
    await waitFor(
      () => records(edge, 'certificate issued').some((r) => r.name === `*.${DOMAIN}`),
      60_000,
      'the wildcard',
    );
    assert.ok(
      !records(edge, 'ordering certificate').some((r) => r.name === `app.${DOMAIN}` || r.name === 'shop.example.test'),
    );
    // A random name is covered by the wildcard: no order of its own.
    await agentOn(edge, 'zebra');
    const z = await peerCertificate(ports.tls, `zebra.${DOMAIN}`, root);
    assert.ok(z.authorized, z.error);
    assert.ok(!records(edge, 'ordering certificate').some((r) => r.name === `zebra.${DOMAIN}`));
    // TLS-ALPN-01 for a reserved domain outside the wildcard.
    await api(ports.admin, 'POST', '/reserved_domains', { domain: 'alpn.example.test' });
    await waitFor(
      () => records(edge, 'certificate issued').some((r) => r.name === 'alpn.example.test'),
      60_000,
      'TLS-ALPN-01',
    );
    const challenges = records(edge, 'answering challenge');
    assert.ok(
      challenges.some((r) => r.name === 'alpn.example.test' && r.type === 'tls-alpn-01'),
      JSON.stringify(challenges),
    );
    assert.ok(
      challenges.some((r) => r.name === DOMAIN && r.type === 'dns-01'),
      JSON.stringify(challenges),
    );
    assert.doesNotMatch(pebble.log(), /validate w\/ HTTP: http:\/\/alpn\.example\.test/);
    // Only names without a certificate were ordered (app and shop kept theirs).
    const ordered = new Set(records(edge, 'ordering certificate').map((r) => r.name));
    for (const name of ordered)
      assert.ok(
        [`*.${DOMAIN}`, 'alpn.example.test', 'plain.example.test', 'refused.example.test'].includes(name),
        name,
      );
  });

  it('a directory that is down is a clear error, with nothing written', async () => {
    const state = path.join(dir, 'down-state');
    const p = { http: await freePort(), tls: await freePort(), admin: await freePort() };
    const down = await startEdge(p, [
      '--state-dir',
      state,
      '--domain',
      DOMAIN,
      '--acme-directory',
      `https://127.0.0.1:${await freePort()}/dir`,
    ]);
    try {
      await agentOn(down, 'lonely');
      await waitFor(() => records(down, 'certificate order failed').length > 0, 60_000, 'the failure');
      const failure = records(down, 'certificate order failed')[0];
      assert.equal(failure.code, 'ERR_BURROW_ACME_DIRECTORY');
      assert.match(failure.err, /did not accept the account/);
      assert.ok(!fs.existsSync(path.join(state, 'acme')), 'no account key or certificate written');
      // Still serving: the self-signed certificate, and HTTP.
      const served = await peerCertificate(p.tls, `lonely.${DOMAIN}`);
      assert.equal(served.authorized, false);
    } finally {
      await stopEdge(down);
    }
  });
});
