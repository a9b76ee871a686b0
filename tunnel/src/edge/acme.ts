// Automatic certificates for a public edge (RFC 8555, through `acme-client`: JWS, nonces, orders).
//
// Which names:
//   - the edge's own --domain (agents connect to wss://DOMAIN);
//   - every reserved domain with a certificate_management_policy (key type from the policy);
//     a `*.` domain needs DNS-01, so --acme-dns-hook;
//   - each name an agent binds under the edge's --domain, ordered at bind time (never when a
//     visitor arrives), only while an agent holds it, at most `ordersPerHour` orders an hour;
//   - with --acme-dns-hook, one `*.DOMAIN` certificate (DNS-01) covers every random name instead.
// Challenges: HTTP-01 and TLS-ALPN-01 answered by the edge's own listeners (certs/store.ts), in
// the order of `challenges`; DNS-01 by the hook, called as `CMD set|unset RECORD VALUE`.
// Storage, under --state-dir: acme/<directory-hash>/account.key and certs/<name>.json, each
// written to a temporary file then renamed, and only once the CA said yes: a failed order or an
// unreachable directory leaves nothing behind. A certificate is renewed when a third of its
// lifetime is left; the new one is served at once (SNI contexts follow the store).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import type { CertificateManagementStatus, ReservedDomain } from './admin/types';
import type { CertificateStore } from './certs/store';

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

type ChallengeType = 'http-01' | 'tls-alpn-01';
type KeyType = 'ecdsa' | 'rsa';
type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface AcmeOptions {
  directoryUrl: string;
  email?: string;
  /** Extra PEM roots trusted for the directory's own TLS (private CAs such as step-ca, pebble). */
  caPem?: string;
  stateDir: string;
  /** The edge's base domain: bound names under it get certificates. */
  domain: string;
  challenges?: ChallengeType[];
  dnsHook?: string;
  ordersPerHour?: number;
  /** How often due renewals and retries are looked for. */
  checkIntervalMs?: number;
  /** Test hook: a file holding a clock offset in ms, read at each check ("the clock moved"). */
  clockOffsetFile?: string;
  log: Log;
}

export interface AcmeEnv {
  /** True while an agent binds `host`. */
  isHostBound(host: string): boolean;
  reservedDomains(): readonly ReservedDomain[];
  /** A reserved domain's ACME progress (shown by the admin API). */
  setStatus(domain: string, status: CertificateManagementStatus): void;
}

interface StoredCert {
  names: string[];
  key_type: KeyType;
  certificate_pem: string;
  private_key_pem: string;
  not_before: string;
  not_after: string;
  directory: string;
}

export class AcmeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly problem?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const fileName = (name: string) => `${name.replace(/^\*\./, '_wildcard.')}.json`;

/** Writes `file` atomically: a temporary file, fsynced, renamed over; removed if anything fails. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export class AcmeManager {
  private readonly dir: string;
  private readonly certs = new Map<string, StoredCert>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, { retryAt: number; attempts: number }>();
  private readonly orderTimes: number[] = [];
  private client?: Promise<acme.Client>;
  private timer?: NodeJS.Timeout;
  private readonly challenges: ChallengeType[];
  /** Orders placed since start (tests and logs). */
  orders = 0;

  constructor(
    private readonly opts: AcmeOptions,
    private readonly store: CertificateStore,
    private readonly env: AcmeEnv,
  ) {
    const hash = createHash('sha256').update(opts.directoryUrl).digest('hex').slice(0, 12);
    this.dir = path.join(opts.stateDir, 'acme', hash);
    this.challenges = opts.challenges?.length ? opts.challenges : ['http-01', 'tls-alpn-01'];
    if (opts.caPem) {
      // acme-client talks through its own axios instance: trust the extra roots there.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: [...tls.rootCertificates, opts.caPem] });
    }
    // Our own check loop retries later; do not hold an order open for long client-side retries.
    const settings = (acme.axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
    settings.retryMaxAttempts = 2;
    settings.retryDefaultDelay = 1;
  }

  /** Loads stored certificates, serves them, and starts the renewal loop. */
  start(): void {
    const certDir = path.join(this.dir, 'certs');
    let files: string[] = [];
    try {
      files = fs.readdirSync(certDir).filter((f) => f.endsWith('.json'));
    } catch {
      // none yet
    }
    for (const f of files) {
      try {
        const c = JSON.parse(fs.readFileSync(path.join(certDir, f), 'utf8')) as StoredCert;
        this.install(c);
      } catch (err) {
        this.opts.log('warn', 'unreadable stored certificate, ignored', { obj: 'acme', file: f, err: String(err) });
      }
    }
    this.opts.log('info', 'acme ready', {
      obj: 'acme',
      directory: this.opts.directoryUrl,
      certificates: this.certs.size,
    });
    const every = this.opts.checkIntervalMs ?? 60 * 60_000;
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The clock renewals are judged by (shifted by the test hook when set). */
  now(): number {
    let offset = 0;
    if (this.opts.clockOffsetFile) {
      try {
        offset = Number(fs.readFileSync(this.opts.clockOffsetFile, 'utf8').trim()) || 0;
      } catch {
        offset = 0;
      }
    }
    return Date.now() + offset;
  }

  private install(c: StoredCert): void {
    for (const n of c.names) this.certs.set(n, c);
    this.store.setManaged(c.names, { cert: c.certificate_pem, key: c.private_key_pem });
  }

  private renewAt(c: StoredCert): number {
    const from = Date.parse(c.not_before);
    const to = Date.parse(c.not_after);
    return to - (to - from) / 3;
  }

  /** A certificate that covers `host` (exact, or the `*.parent` wildcard). */
  private covering(host: string): StoredCert | undefined {
    const dot = host.indexOf('.');
    return this.certs.get(host) ?? (dot > 0 ? this.certs.get(`*${host.slice(dot)}`) : undefined);
  }

  /** The wildcard covering every name under the domain, when DNS-01 is possible. */
  private get wildcard(): string | undefined {
    return this.opts.dnsHook ? `*.${this.opts.domain}` : undefined;
  }

  /** An agent bound `hosts`: names under the domain without a certificate get one now. */
  onBind(hosts: readonly string[]): void {
    for (const host of hosts) {
      if (!host.endsWith(`.${this.opts.domain}`) && host !== this.opts.domain) continue;
      if (this.store.certificateFor(host) && this.covering(host)) continue;
      if (this.wildcard && host.split('.').length === this.opts.domain.split('.').length + 1) {
        this.ensure(this.wildcard, 'ecdsa').catch(() => undefined); // logged by order()
        continue;
      }
      if (this.store.certificateFor(host)) continue; // an uploaded bundle serves it
      this.opts.log('info', 'serving the self-signed certificate until ACME issues one', { obj: 'acme', host });
      this.ensure(host, 'ecdsa').catch(() => undefined); // logged by order()
    }
  }

  /** Due renewals, reserved domains without certificates, retries after failures. */
  async check(): Promise<void> {
    const now = this.now();
    const wanted = new Map<string, KeyType>();
    // The edge's own name: agents connect to wss://DOMAIN.
    if (this.opts.domain !== 'localhost') wanted.set(this.opts.domain, 'ecdsa');
    if (this.wildcard) wanted.set(this.wildcard, 'ecdsa');
    for (const d of this.env.reservedDomains()) {
      if (d.certificate_management_policy && !d.certificate_id)
        wanted.set(d.domain, d.certificate_management_policy.private_key_type ?? 'ecdsa');
    }
    for (const [name, c] of this.certs) {
      if (c.names[0] !== name || wanted.has(name)) continue;
      // Bound names are renewed while an agent still holds them.
      if (this.env.isHostBound(name)) wanted.set(name, c.key_type);
    }
    for (const [name, keyType] of wanted) {
      const c = this.certs.get(name);
      if (c && now < this.renewAt(c)) continue;
      const failed = this.failures.get(name);
      if (failed && now < failed.retryAt) continue;
      await this.ensure(name, keyType).catch(() => undefined);
    }
  }

  /** Orders (or renews) the certificate for one name; concurrent calls share the order. */
  ensure(name: string, keyType: KeyType): Promise<void> {
    let running = this.inFlight.get(name);
    if (!running) {
      running = this.order(name, keyType).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, running);
    }
    return running;
  }

  private isReserved(name: string): boolean {
    return this.env.reservedDomains().some((d) => d.domain === name && d.certificate_management_policy);
  }

  private async order(name: string, keyType: KeyType): Promise<void> {
    const reserved = this.isReserved(name);
    const startedAt = iso(Date.now());
    const status = (s: CertificateManagementStatus) => {
      if (reserved) this.env.setStatus(name, s);
    };
    try {
      if (!reserved && name !== this.wildcard && name !== this.opts.domain && !this.env.isHostBound(name))
        throw new AcmeError('ERR_BURROW_ACME_NOT_HELD', `no agent holds ${name}: not ordering a certificate for it`);
      if (name.startsWith('*.') && !this.opts.dnsHook)
        throw new AcmeError(
          'ERR_BURROW_ACME_WILDCARD',
          `${name} is a wildcard: it needs DNS-01, so run the edge with --acme-dns-hook CMD`,
        );
      const hourAgo = Date.now() - 3600_000;
      while (this.orderTimes.length && this.orderTimes[0] < hourAgo) this.orderTimes.shift();
      if (this.orderTimes.length >= (this.opts.ordersPerHour ?? 30))
        throw new AcmeError(
          'ERR_BURROW_ACME_RATE_LIMIT',
          `more than ${this.opts.ordersPerHour ?? 30} certificate orders in the last hour; ${name} waits for the next check`,
        );
      this.orderTimes.push(Date.now());
      this.orders++;
      status({
        state: 'provisioning',
        renews_at: null,
        provisioning_job: { error_code: null, msg: 'ordering a certificate', started_at: startedAt, retries_at: null },
      });
      this.opts.log('info', 'ordering certificate', { obj: 'acme', name, key: keyType });
      const stored = await this.issue(name, keyType);
      const certDir = path.join(this.dir, 'certs');
      fs.mkdirSync(certDir, { recursive: true, mode: 0o700 });
      writeAtomic(path.join(certDir, fileName(name)), `${JSON.stringify(stored, null, 2)}\n`);
      this.install(stored);
      this.failures.delete(name);
      status({ state: 'issued', renews_at: iso(this.renewAt(stored)), provisioning_job: null });
      this.opts.log('info', 'certificate issued', {
        obj: 'acme',
        name,
        not_after: stored.not_after,
        renews_at: iso(this.renewAt(stored)),
      });
    } catch (err) {
      const e =
        err instanceof AcmeError ? err : new AcmeError('ERR_BURROW_ACME', (err as Error)?.message ?? String(err));
      const previous = this.failures.get(name);
      const attempts = (previous?.attempts ?? 0) + 1;
      // 5, 10, 20, 40, 60 min: under Let's Encrypt's 5 failed validations per name an hour.
      const retryAt = Date.now() + Math.min(60 * 60_000, 5 * 60_000 * 2 ** (attempts - 1));
      this.failures.set(name, { retryAt, attempts });
      status({
        state: 'renewal_error',
        renews_at: null,
        provisioning_job: {
          error_code: e.code,
          msg: e.message,
          started_at: startedAt,
          retries_at: iso(retryAt),
          problem: e.problem ?? null,
        },
      });
      this.opts.log('error', 'certificate order failed', {
        obj: 'acme',
        name,
        code: e.code,
        err: e.message,
        problem: e.problem?.type,
      });
      throw e;
    }
  }

  /** The ACME account for this directory: created once, its key kept only after the CA accepted it. */
  private account(): Promise<acme.Client> {
    if (!this.client) {
      this.client = (async () => {
        const keyFile = path.join(this.dir, 'account.key');
        let key: Buffer;
        let fresh = false;
        try {
          key = fs.readFileSync(keyFile);
        } catch {
          key = await acme.crypto.createPrivateEcdsaKey();
          fresh = true;
        }
        const client = new acme.Client({
          directoryUrl: this.opts.directoryUrl,
          accountKey: key,
          backoffAttempts: 20,
          backoffMin: 500,
          backoffMax: 5000,
        });
        const create = () =>
          client.createAccount({
            termsOfServiceAgreed: true,
            ...(this.opts.email ? { contact: [`mailto:${this.opts.email}`] } : {}),
          });
        try {
          // A stored key looks its account up (the CA may have forgotten it: then a new one).
          if (fresh) await create();
          else await client.createAccount({ onlyReturnExisting: true }).catch(create);
        } catch (err) {
          throw new AcmeError(
            'ERR_BURROW_ACME_DIRECTORY',
            `the ACME directory ${this.opts.directoryUrl} did not accept the account: ${(err as Error).message}`,
          );
        }
        if (fresh) {
          fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
          writeAtomic(keyFile, key.toString());
        }
        return client;
      })();
      // A failed attempt is tried again at the next order.
      this.client.catch(() => {
        this.client = undefined;
      });
    }
    return this.client;
  }

  private async issue(name: string, keyType: KeyType): Promise<StoredCert> {
    const client = await this.account();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] }).catch((err: Error) => {
      throw new AcmeError('ERR_BURROW_ACME_ORDER', `the CA refused the order for ${name}: ${err.message}`);
    });
    const authorizations = await client.getAuthorizations(order);
    try {
      for (const authz of authorizations) {
        if (authz.status === 'valid') continue;
        await this.authorize(client, authz);
      }
    } catch (err) {
      // The CA's problem document for the failed challenge, when it gave one.
      const again = await client.getAuthorizations(order).catch(() => authorizations);
      const problem = again.flatMap((a) => a.challenges).find((c) => (c as { error?: unknown }).error) as
        { error?: Record<string, unknown> } | undefined;
      throw new AcmeError(
        'ERR_BURROW_ACME_CHALLENGE',
        `the CA could not validate ${name}: ${(problem?.error?.detail as string | undefined) ?? (err as Error).message}`,
        problem?.error,
      );
    }
    const key =
      keyType === 'rsa' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey();
    const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, key);
    const finalized = await client.finalizeOrder(order, csr).catch((err: Error) => {
      throw new AcmeError('ERR_BURROW_ACME_ORDER', `the CA refused to finalize ${name}: ${err.message}`);
    });
    const chain = await client.getCertificate(finalized);
    const leaf = new X509Certificate(chain);
    return {
      names: [name],
      key_type: keyType,
      certificate_pem: chain,
      private_key_pem: key.toString(),
      not_before: new Date(leaf.validFrom).toISOString(),
      not_after: new Date(leaf.validTo).toISOString(),
      directory: this.opts.directoryUrl,
    };
  }

  private async authorize(client: acme.Client, authz: acme.Authorization): Promise<void> {
    const host = authz.identifier.value;
    const types: string[] = authz.wildcard ? ['dns-01'] : this.challenges;
    const challenge = types.map((t) => authz.challenges.find((c) => c.type === t)).find((c) => c);
    if (!challenge) throw new Error(`the CA offers none of ${types.join(', ')} for ${host}`);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    this.opts.log('info', 'answering challenge', { obj: 'acme', name: host, type: challenge.type });
    const record = `_acme-challenge.${host}`;
    // acme-client's types list http-01 and dns-01 only; tls-alpn-01 has the same fields.
    const type = challenge.type as string;
    if (type === 'http-01') this.store.setHttpToken(challenge.token, keyAuthorization);
    else if (type === 'tls-alpn-01') {
      const [key, cert] = await acme.crypto.createAlpnCertificate(
        authz,
        keyAuthorization,
        await acme.crypto.createPrivateEcdsaKey(),
      );
      this.store.setAlpnCertificate(host, { key: key.toString(), cert: cert.toString() });
    } else await this.dnsHook('set', record, keyAuthorization);
    try {
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    } finally {
      if (type === 'http-01') this.store.deleteHttpToken(challenge.token);
      else if (type === 'tls-alpn-01') this.store.deleteAlpnCertificate(host);
      else await this.dnsHook('unset', record, keyAuthorization).catch(() => undefined);
    }
  }

  private dnsHook(action: 'set' | 'unset', record: string, value: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // The command is the operator's (it may carry its own arguments); ours follow as "$@".
      execFile(
        '/bin/sh',
        ['-c', `${this.opts.dnsHook} "$@"`, 'acme-dns-hook', action, record, value],
        { timeout: 120_000 },
        (err, _stdout, stderr) =>
          err
            ? reject(new Error(`--acme-dns-hook ${action} ${record} failed: ${stderr.trim() || err.message}`))
            : resolve(),
      );
    });
  }
}
