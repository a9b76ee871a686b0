// A throwaway CA and a leaf it signed, made with openssl in `dir` (ca.crt, edge.crt, edge.key): the
// ngrok SDK pins the CA it is given, and rustls refuses a self-signed certificate used directly as
// the server's, so edges that ngrok agents dial need a real chain.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Writes the CA and a leaf for `dnsNames` (and 127.0.0.1) into `dir`; returns the CA's PEM. */
export function makeTestCa(dir: string, dnsNames: string[]): string {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  ossl('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Burrow test CA');
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'edge.key');
  ossl('req', '-new', '-key', 'edge.key', '-out', 'edge.csr', '-subj', `/CN=${dnsNames[0]}`);
  const san = [...dnsNames.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  ossl(
    'x509',
    '-req',
    '-in',
    'edge.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'edge.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  return fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8');
}
