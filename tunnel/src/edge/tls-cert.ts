/**
 * Certificates for the edge's HTTPS listeners.
 *
 * - `selfSignedCertificate({ hosts })` gives the embedded edge a certificate for local use: EC P-256,
 *   SHA-256, valid 365 days, SANs for every requested host (wildcards such as `*.localhost` allowed;
 *   IP literals become IP SANs) plus `localhost`, `127.0.0.1` and `::1`. Note that clients (Node,
 *   browsers) do not honour a wildcard directly under a TLD: `*.localhost` does not cover
 *   `foo.localhost`, so list such names explicitly (`*.app.localhost` is fine). It is cached per host set in
 *   one PEM file (key + cert, mode 0600, written atomically so concurrent agents never pair a key
 *   with the wrong cert) and regenerated when unreadable, mismatched, or within 7 days of expiry.
 *   A cache that cannot be written (read-only home) is not fatal: the fresh pair is still returned.
 *   Default cache dir: `$XDG_CACHE_HOME/burrow` if set, else the OS cache dir (`~/.cache/burrow`,
 *   `~/Library/Caches/burrow`, `%LOCALAPPDATA%\burrow\Cache`).
 * - `loadCertificate(certPath, keyPath)` reads a user's PEM files and checks the key matches the
 *   certificate, failing with a coded error (`ERR_BURROW_TLS_CERT`) that names the file.
 *   Expiry is not enforced there: that is the user's certificate and the user's choice.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export type TlsCredentials = { cert: string; key: string };

const DAY_MS = 24 * 60 * 60 * 1000;
const VALIDITY_DAYS = 365;
const RENEW_BEFORE_EXPIRY_MS = 7 * DAY_MS;
const ALWAYS_INCLUDED = ['localhost', '127.0.0.1', '::1'];
const HOST_PATTERN = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

export class TlsCertError extends Error {
  readonly code = 'ERR_BURROW_TLS_CERT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsCertError';
  }
}

/** Where Burrow caches generated material on this OS. */
export function defaultCacheDir(): string {
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'burrow');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'burrow');
  if (process.platform === 'win32' && process.env.LOCALAPPDATA)
    return path.join(process.env.LOCALAPPDATA, 'burrow', 'Cache');
  return path.join(os.homedir(), '.cache', 'burrow');
}

/** A cached (or freshly generated) self-signed certificate covering `hosts` and loopback. */
export async function selfSignedCertificate(opts: { hosts: string[]; cacheDir?: string }): Promise<TlsCredentials> {
  const hosts = normalizeHosts(opts.hosts);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const digest = crypto.createHash('sha256').update(hosts.join('\n')).digest('hex').slice(0, 16);
  const cachePath = path.join(cacheDir, `selfsigned-${digest}.pem`);

  const cached = await readCached(cachePath);
  if (cached) return cached;

  const fresh = await generateCertificate(hosts);
  await writeAtomically(cachePath, `${fresh.key.trim()}\n${fresh.cert.trim()}\n`).catch(() => {
    // Caching only saves a regeneration; HTTPS works without it.
  });
  return fresh;
}

/** Read PEM files given by the user; the key must belong to the certificate. */
export async function loadCertificate(certPath: string, keyPath: string): Promise<TlsCredentials> {
  const cert = await readText(certPath, 'certificate');
  const key = await readText(keyPath, 'private key');
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new TlsCertError(`${certPath}: not a PEM certificate (${errorMessage(err)})`, { cause: err });
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new TlsCertError(`${keyPath}: not an unencrypted PEM private key (${errorMessage(err)})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsCertError(`${keyPath}: private key does not match the certificate in ${certPath}`);
  }
  return { cert, key };
}

/** Lower-case, de-duplicate and sort, so the same set always maps to the same cache entry. */
function normalizeHosts(hosts: string[]): string[] {
  const all = new Set<string>(ALWAYS_INCLUDED);
  for (const raw of hosts) {
    const host = raw.trim().toLowerCase().replace(/\.$/, '');
    const ip = host.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(ip)) all.add(ip);
    else if (HOST_PATTERN.test(host) && host.length <= 253) all.add(host);
    else throw new TlsCertError(`invalid host name for a certificate: ${JSON.stringify(raw)}`);
  }
  return [...all].sort();
}

async function generateCertificate(hosts: string[]): Promise<TlsCredentials> {
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000); // tolerate a little clock skew
  const commonName = hosts.find((h) => !net.isIP(h) && h !== 'localhost') ?? 'localhost';
  const pems = await generate(
    [
      { name: 'commonName', value: commonName },
      { name: 'organizationName', value: 'Burrow (local)' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + VALIDITY_DAYS * DAY_MS),
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: hosts.map((h) => (net.isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h })),
        },
      ],
    },
  );
  return { cert: `${pems.cert.trim()}\n`, key: `${pems.private.trim()}\n` };
}

/** The cached pair if it is intact, matching and not close to expiry; otherwise undefined. */
async function readCached(cachePath: string): Promise<TlsCredentials | undefined> {
  let text: string;
  try {
    text = await fs.readFile(cachePath, 'utf8');
  } catch {
    return undefined;
  }
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  const key = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/.exec(text)?.[0];
  if (!cert || !key) return undefined;
  try {
    const x509 = new crypto.X509Certificate(cert);
    if (!x509.checkPrivateKey(crypto.createPrivateKey(key))) return undefined;
    if (Date.parse(x509.validTo) - Date.now() < RENEW_BEFORE_EXPIRY_MS) return undefined;
    if (Date.parse(x509.validFrom) > Date.now()) return undefined;
  } catch {
    return undefined;
  }
  return { cert: `${cert}\n`, key: `${key}\n` };
}

async function writeAtomically(file: string, contents: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(temp, contents, { mode: 0o600 });
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new TlsCertError(`${file}: cannot read TLS ${what} (${errorMessage(err)})`, { cause: err });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
