// The ACME manager's guards, without a CA: names no agent holds are refused, orders are limited
// per hour, and nothing reaches the state dir when the directory cannot be reached. Plus the
// ClientHello ALPN reader that sends `acme-tls/1` validations to their own TLS server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { AcmeManager } from '../../tunnel/src/edge/acme';
import { CertificateStore } from '../../tunnel/src/edge/certs/store';
import { alpnProtocols, readClientHello } from '../../tunnel/src/edge/sni';
import { freePort } from '../support/tunnel';

describe('ACME manager guards', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-acme-unit-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses names no agent holds and limits orders per hour, writing nothing', async () => {
    const logs: string[] = [];
    const bound = new Set(['a.edge.test', 'b.edge.test']);
    const manager = new AcmeManager(
      {
        directoryUrl: `https://127.0.0.1:${await freePort()}/dir`,
        stateDir: dir,
        domain: 'edge.test',
        ordersPerHour: 1,
        log: (_level, msg, fields) => logs.push(`${msg} ${String(fields?.code ?? '')}`),
      },
      new CertificateStore(),
      { isHostBound: (h) => bound.has(h), reservedDomains: () => [], setStatus: () => undefined },
    );
    await assert.rejects(manager.ensure('visitor.edge.test', 'ecdsa'), { code: 'ERR_BURROW_ACME_NOT_HELD' });
    await assert.rejects(manager.ensure('a.edge.test', 'ecdsa'), { code: 'ERR_BURROW_ACME_DIRECTORY' });
    await assert.rejects(manager.ensure('b.edge.test', 'ecdsa'), { code: 'ERR_BURROW_ACME_RATE_LIMIT' });
    assert.equal(manager.orders, 1);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.ok(logs.some((l) => l.startsWith('certificate order failed ERR_BURROW_ACME_NOT_HELD')));
  });
});

describe('alpnProtocols', () => {
  it('reads the ALPN list of a real ClientHello', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const got = new Promise<Buffer>((resolve) =>
      server.once('connection', (s) => {
        readClientHello(s, 5000).then(
          ({ head }) => {
            resolve(head);
            s.destroy();
          },
          () => s.destroy(),
        );
      }),
    );
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'x.edge.test', ALPNProtocols: ['acme-tls/1'] });
    client.on('error', () => undefined);
    const head = await got;
    client.destroy();
    server.close();
    assert.deepEqual(alpnProtocols(head), ['acme-tls/1']);
    assert.equal(alpnProtocols(Buffer.from('GET / HTTP/1.1\r\n')), undefined);
  });
});
