/**
 * Self-signed certificates for the embedded edge and loading of user certificates: a real https
 * server with the generated cert, real clients that verify it, a real cache directory.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { once } from 'node:events';
import { generate } from 'selfsigned';
import { selfSignedCertificate, loadCertificate, TlsCertError } from '../../tunnel/src/edge/tls-cert';

const DAY_MS = 24 * 60 * 60 * 1000;

function httpsGet(port: number, options: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function expectCode(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TlsCertError);
    assert.equal(err.code, 'ERR_BURROW_TLS_CERT');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('edge/tls-cert', function () {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-tls-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('selfSignedCertificate', function () {
    it('serves HTTPS that a client trusting the cert accepts for foo.localhost, and refuses other names', async () => {
      const { cert, key } = await selfSignedCertificate({
        hosts: ['foo.localhost', '*.app.localhost', '*.localhost'],
        cacheDir: dir,
      });
      const server = https.createServer({ cert, key }, (req, res) => res.end(`ok ${req.headers.host}`));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      try {
        const named = await httpsGet(port, {
          ca: cert,
          servername: 'foo.localhost',
          headers: { host: 'foo.localhost' },
        });
        assert.deepEqual(named, { status: 200, body: 'ok foo.localhost' });
        const wildcard = await httpsGet(port, {
          ca: cert,
          servername: 'web.app.localhost',
          headers: { host: 'web.app.localhost' },
        });
        assert.deepEqual(wildcard, { status: 200, body: 'ok web.app.localhost' });
        // A wildcard directly under a TLD (*.localhost) is in the cert but, like browsers, Node's
        // hostname check will not honour it: callers must list the names they serve.
        await assert.rejects(
          httpsGet(port, { ca: cert, servername: 'bar.localhost' }),
          /ERR_TLS_CERT_ALTNAME_INVALID|does not match/,
        );
        // The loopback IP SAN lets a client verify by address too.
        assert.equal((await httpsGet(port, { ca: cert })).status, 200);
        await assert.rejects(
          httpsGet(port, { ca: cert, servername: 'foo.example.com' }),
          /ERR_TLS_CERT_ALTNAME_INVALID|does not match/,
        );
        // Without trusting it, the cert is (rightly) rejected as self-signed.
        await assert.rejects(httpsGet(port, { servername: 'foo.localhost' }), /self[- ]signed/i);
      } finally {
        server.close();
      }
    });

    it('covers every host plus localhost and loopback IPs, valid about a year, key file 0600', async () => {
      const { cert, key } = await selfSignedCertificate({
        hosts: ['App.Test', '*.localhost', '10.1.2.3'],
        cacheDir: dir,
      });
      const x509 = new crypto.X509Certificate(cert);
      const sans = (x509.subjectAltName ?? '').split(', ').sort();
      assert.deepEqual(sans, [
        'DNS:*.localhost',
        'DNS:app.test',
        'DNS:localhost',
        'IP Address:0:0:0:0:0:0:0:1',
        'IP Address:10.1.2.3',
        'IP Address:127.0.0.1',
      ]);
      assert.ok(x509.checkPrivateKey(crypto.createPrivateKey(key)));
      assert.equal(x509.issuer, x509.subject);
      assert.ok(x509.verify(x509.publicKey), 'signed by its own key');
      const lifetimeDays = (Date.parse(x509.validTo) - Date.now()) / DAY_MS;
      assert.ok(lifetimeDays > 360 && lifetimeDays <= 366, `valid for ${lifetimeDays} days`);
      const files = fs.readdirSync(dir);
      assert.equal(files.length, 1);
      if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(dir, files[0])).mode & 0o777, 0o600);
      assert.ok(!fs.readFileSync(path.join(dir, files[0]), 'utf8').includes('undefined'));
    });

    it('reuses the cached pair for the same host set (any order, any case) and not for another', async () => {
      const first = await selfSignedCertificate({ hosts: ['a.localhost', 'b.localhost'], cacheDir: dir });
      const again = await selfSignedCertificate({
        hosts: ['B.localhost', 'a.localhost', 'a.localhost'],
        cacheDir: dir,
      });
      assert.deepEqual(again, first);
      const other = await selfSignedCertificate({ hosts: ['c.localhost'], cacheDir: dir });
      assert.notEqual(other.cert, first.cert);
      assert.equal(fs.readdirSync(dir).length, 2);
    });

    it('regenerates a cached cert that expires within 7 days, and a corrupt cache file', async () => {
      await selfSignedCertificate({ hosts: ['x.localhost'], cacheDir: dir });
      const [file] = fs.readdirSync(dir);
      const cachePath = path.join(dir, file);
      const nearlyExpired = await generate([{ name: 'commonName', value: 'x.localhost' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        notBeforeDate: new Date(Date.now() - 300 * DAY_MS),
        notAfterDate: new Date(Date.now() + 3 * DAY_MS),
      });
      fs.writeFileSync(cachePath, `${nearlyExpired.private}\n${nearlyExpired.cert}\n`);
      const renewed = await selfSignedCertificate({ hosts: ['x.localhost'], cacheDir: dir });
      assert.notEqual(renewed.cert.trim(), nearlyExpired.cert.trim());
      assert.ok(Date.parse(new crypto.X509Certificate(renewed.cert).validTo) > Date.now() + 300 * DAY_MS);
      assert.ok(fs.readFileSync(cachePath, 'utf8').includes(renewed.cert.trim()), 'renewed pair was cached');

      fs.writeFileSync(cachePath, 'not a pem file');
      const fromCorrupt = await selfSignedCertificate({ hosts: ['x.localhost'], cacheDir: dir });
      assert.ok(new crypto.X509Certificate(fromCorrupt.cert).checkPrivateKey(crypto.createPrivateKey(fromCorrupt.key)));
    });

    it('defaults to $XDG_CACHE_HOME/burrow', async () => {
      const saved = process.env.XDG_CACHE_HOME;
      process.env.XDG_CACHE_HOME = dir;
      try {
        await selfSignedCertificate({ hosts: ['xdg.localhost'] });
      } finally {
        if (saved === undefined) delete process.env.XDG_CACHE_HOME;
        else process.env.XDG_CACHE_HOME = saved;
      }
      assert.equal(fs.readdirSync(path.join(dir, 'burrow')).length, 1);
    });

    it('refuses a host that is not a DNS name or IP with a coded error', async () => {
      await expectCode(
        selfSignedCertificate({ hosts: ['bad host/name'], cacheDir: dir }),
        /invalid host name.*bad host\/name/,
      );
      await expectCode(selfSignedCertificate({ hosts: [''], cacheDir: dir }), /invalid host name/);
    });
  });

  describe('loadCertificate', function () {
    let certPath: string;
    let keyPath: string;
    let otherKeyPath: string;
    beforeEach(async () => {
      const pair = await selfSignedCertificate({ hosts: ['load.localhost'], cacheDir: dir });
      const other = await selfSignedCertificate({ hosts: ['other.localhost'], cacheDir: dir });
      certPath = path.join(dir, 'cert.pem');
      keyPath = path.join(dir, 'key.pem');
      otherKeyPath = path.join(dir, 'other-key.pem');
      fs.writeFileSync(certPath, pair.cert);
      fs.writeFileSync(keyPath, pair.key);
      fs.writeFileSync(otherKeyPath, other.key);
    });

    it('loads a matching pair', async () => {
      const loaded = await loadCertificate(certPath, keyPath);
      assert.equal(loaded.cert, fs.readFileSync(certPath, 'utf8'));
      assert.equal(loaded.key, fs.readFileSync(keyPath, 'utf8'));
    });

    it('refuses a key that does not match the certificate, naming the files', async () => {
      await expectCode(
        loadCertificate(certPath, otherKeyPath),
        new RegExp(`${escape(otherKeyPath)}: private key does not match.*${escape(certPath)}`),
      );
    });

    it('names the file it cannot read or parse', async () => {
      const missing = path.join(dir, 'missing.pem');
      await expectCode(
        loadCertificate(missing, keyPath),
        new RegExp(`^${escape(missing)}: cannot read TLS certificate`),
      );
      await expectCode(
        loadCertificate(certPath, missing),
        new RegExp(`^${escape(missing)}: cannot read TLS private key`),
      );
      await expectCode(loadCertificate(keyPath, keyPath), new RegExp(`^${escape(keyPath)}: not a PEM certificate`));
      await expectCode(
        loadCertificate(certPath, certPath),
        new RegExp(`^${escape(certPath)}: not an unencrypted PEM private key`),
      );
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
