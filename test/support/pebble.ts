// A real ACME server for tests: Debian's `pebble` (installed with apt when missing) and
// `pebble-challtestsrv` as its DNS server, answering every name with 127.0.0.1, so pebble really
// validates HTTP-01 / TLS-ALPN-01 against the edge's listeners on loopback (its httpPort and
// tlsPort are set to the edge's ports) and DNS-01 against TXT records set through challtestsrv.
// The directory's own TLS certificate is made here with openssl (the Debian package ships none).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { freePort, waitFor } from './tunnel';

export interface Pebble {
  directory: string;
  /** PEM file trusted for the directory's TLS (`--acme-ca`). */
  caFile: string;
  /** challtestsrv's management port (set-txt, add-a, …). */
  challPort: number;
  log: () => string;
  /** Pebble's issuing root (`/roots/0` on its management port). */
  root(): Promise<string>;
  challtest(pathname: string, body: unknown): Promise<void>;
  stop(): Promise<void>;
}

function ensureInstalled(): void {
  try {
    execFileSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv'], { stdio: 'ignore' });
  } catch {
    // Package lists may be missing on a fresh machine: update once, then install.
    execFileSync('sh', ['-c', 'apt-get install -y pebble || (apt-get update && apt-get install -y pebble)'], {
      stdio: 'ignore',
      timeout: 600_000,
    });
  }
}

function post(port: number, pathname: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: pathname,
        headers: { 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${pathname}: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

export async function startPebble(dir: string, ports: { http: number; tls: number }): Promise<Pebble> {
  ensureInstalled();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'c.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-config',
      'c.cnf',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'directory.key',
      '-out',
      'directory.pem',
      '-days',
      '2',
      '-subj',
      '/CN=pebble directory',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const listen = await freePort();
  const management = await freePort();
  const dns = await freePort();
  const challPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: path.join(dir, 'directory.pem'),
        privateKey: path.join(dir, 'directory.key'),
        httpPort: ports.http,
        tlsPort: ports.tls,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let out = '';
  const collect = (c: ChildProcess) => {
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
  };
  const chall = spawn(
    'pebble-challtestsrv',
    [
      '-dns01',
      `127.0.0.1:${dns}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${challPort}`,
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  collect(chall);
  const pebble = spawn('pebble', ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dns}`], {
    // Real validations, no random sleeps, no nonce rejections, a fresh authorization each order.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(pebble);
  const stop = async () => {
    for (const c of [pebble, chall]) {
      if (c.exitCode !== null) continue;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    }
  };
  try {
    await waitFor(
      () => /ACME directory available/.test(out) && /Starting management server/.test(out),
      30_000,
      'pebble',
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${out}`);
  }
  const caFile = path.join(dir, 'directory.pem');
  return {
    directory: `https://127.0.0.1:${listen}/dir`,
    caFile,
    challPort,
    log: () => out,
    root: () =>
      new Promise((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: management, path: '/roots/0', ca: fs.readFileSync(caFile) }, (res) => {
            let t = '';
            res.on('data', (d) => (t += d));
            res.on('end', () => resolve(t));
          })
          .on('error', reject);
      }),
    challtest: (pathname, body) => post(challPort, pathname, body),
    stop,
  };
}
