// Uploaded certificate bundles (`POST /tls_certificates`), checked the way ngrok documents them:
// the leaf certificate first, then each intermediate in order (each one signs the one before);
// the private key unencrypted in PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) or SEC 1
// (`EC PRIVATE KEY`) PEM, and matching the leaf. Parsing is Node's own (X509Certificate,
// createPrivateKey): no hand-written ASN.1.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

export class BundleError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field: 'certificate_pem' | 'private_key_pem',
  ) {
    super(message);
  }
}

export interface ParsedBundle {
  chain: X509Certificate[];
  key: KeyObject;
  /** `rsa` or `ecdsa` (ngrok's private_key_type values). */
  keyType: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

function blocks(pem: string): { label: string; text: string; headers: boolean }[] {
  return [...pem.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], text: m[0], headers: /^[A-Za-z-]+:/m.test(m[2]) }));
}

export function parseBundle(certificatePem: string, privateKeyPem: string): ParsedBundle {
  const certBlocks = blocks(certificatePem);
  if (certBlocks.length === 0 || certBlocks.some((b) => b.label !== 'CERTIFICATE'))
    throw new BundleError(
      'ERR_BURROW_CERT_PARSE',
      'certificate_pem must hold one or more PEM "CERTIFICATE" blocks: the leaf first, then its intermediates',
      'certificate_pem',
    );
  const chain = certBlocks.map((b, i) => {
    try {
      return new X509Certificate(b.text);
    } catch (err) {
      throw new BundleError(
        'ERR_BURROW_CERT_PARSE',
        `certificate ${i + 1} in certificate_pem does not parse: ${(err as Error).message}`,
        'certificate_pem',
      );
    }
  });
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey))
      throw new BundleError(
        'ERR_BURROW_CERT_CHAIN_ORDER',
        `certificate ${i + 2} in certificate_pem did not issue certificate ${i + 1}: put the leaf first, then each intermediate in order (issuer after subject)`,
        'certificate_pem',
      );
  }
  if (chain.length > 1 && chain[0].ca && !chain[1].ca)
    throw new BundleError('ERR_BURROW_CERT_CHAIN_ORDER', 'the leaf certificate must come first', 'certificate_pem');

  const keyBlocks = blocks(privateKeyPem);
  if (keyBlocks.length !== 1)
    throw new BundleError(
      'ERR_BURROW_CERT_KEY_PARSE',
      'private_key_pem must hold exactly one PEM private key (PKCS#1, PKCS#8 or SEC 1)',
      'private_key_pem',
    );
  const [kb] = keyBlocks;
  if (kb.label === 'ENCRYPTED PRIVATE KEY' || (kb.headers && /Proc-Type:\s*4,ENCRYPTED/.test(kb.text)))
    throw new BundleError(
      'ERR_BURROW_CERT_KEY_ENCRYPTED',
      'private_key_pem is encrypted: upload the key without a passphrase (openssl pkey -in key.pem -out plain.pem)',
      'private_key_pem',
    );
  if (!['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY'].includes(kb.label))
    throw new BundleError(
      'ERR_BURROW_CERT_KEY_PARSE',
      `private_key_pem holds a "${kb.label}" block: expected RSA PRIVATE KEY (PKCS#1), PRIVATE KEY (PKCS#8) or EC PRIVATE KEY (SEC 1)`,
      'private_key_pem',
    );
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: kb.text, format: 'pem' });
  } catch (err) {
    throw new BundleError(
      'ERR_BURROW_CERT_KEY_PARSE',
      `private_key_pem does not parse: ${(err as Error).message}`,
      'private_key_pem',
    );
  }
  if (!chain[0].checkPrivateKey(key))
    throw new BundleError(
      'ERR_BURROW_CERT_KEY_MISMATCH',
      'private_key_pem does not match the leaf (first) certificate in certificate_pem',
      'private_key_pem',
    );
  const type = key.asymmetricKeyType;
  return { chain, key, keyType: type === 'ec' ? 'ecdsa' : (type ?? 'unknown') };
}

const rfc3339 = (d: string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
const cnOf = (dn: string) => /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? '';

/** The read-only fields ngrok's TLSCertificate shows, from the leaf. */
export function certificateFields(b: ParsedBundle) {
  const leaf = b.chain[0];
  const dns: string[] = [];
  const ips: string[] = [];
  for (const entry of (leaf.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ips.push(entry.slice(11));
  }
  return {
    subject_common_name: cnOf(leaf.subject),
    subject_alternative_names: { dns_names: dns, ips: ips.filter((ip) => isIP(ip)) },
    issued_at: null,
    not_before: rfc3339(leaf.validFrom),
    not_after: rfc3339(leaf.validTo),
    key_usages: leaf.keyUsage ?? [],
    extended_key_usages: [],
    private_key_type: b.keyType,
    issuer_common_name: cnOf(leaf.issuer),
    serial_number: leaf.serialNumber.toLowerCase(),
    subject_organization: /(?:^|\n)O=([^\n]*)/.exec(leaf.subject)?.[1] ?? '',
    subject_organizational_unit: '',
    subject_locality: '',
    subject_province: '',
    subject_country: /(?:^|\n)C=([^\n]*)/.exec(leaf.subject)?.[1] ?? '',
  };
}

/** True when the leaf's names cover `host` (exact or one-label wildcard). */
export function coversHost(leaf: X509Certificate, host: string): boolean {
  return leaf.checkHost(host, { wildcards: true, singleLabelSubdomains: false }) !== undefined;
}
