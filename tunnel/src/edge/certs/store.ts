// The certificates the edge serves by SNI, beyond its configured or self-signed one (EdgeConfig.certificates):
//   1. a reserved domain's uploaded bundle (`certificate_id`, /tls_certificates), then
//   2. a certificate ACME issued for the name (exact, or a `*.parent` wildcard).
// It also answers ACME challenges on the edge's own listeners: HTTP-01 under
// /.well-known/acme-challenge/ on the HTTP listener, TLS-ALPN-01 (ALPN `acme-tls/1`) on the TLS one.
// Swapping a certificate needs no restart: SNI contexts are rebuilt when `version` changes.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { CertificateHooks } from '../edge';
import { alpnProtocols } from '../sni';

export interface CertificatePair {
  cert: string;
  key: string;
}

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
const versionOf = (p: CertificatePair) => createHash('sha256').update(p.cert).digest('hex').slice(0, 16);

export class CertificateStore implements CertificateHooks {
  private readonly managed = new Map<string, CertificatePair & { version: string }>();
  private readonly httpTokens = new Map<string, string>();
  private readonly alpnContexts = new Map<string, tls.SecureContext>();
  private readonly alpnServer = new tls.Server({
    ALPNProtocols: ['acme-tls/1'],
    SNICallback: (name, cb) => cb(null, this.alpnContexts.get(name.toLowerCase())),
  });

  constructor(private readonly uploaded?: (host: string) => (CertificatePair & { id: string }) | undefined) {
    // The validation server only needs the handshake: close once it is done.
    this.alpnServer.on('secureConnection', (s) => s.end());
    this.alpnServer.on('tlsClientError', () => undefined);
  }

  /** Installs (or replaces) the certificate for `names` (exact names or `*.parent`). */
  setManaged(names: string[], pair: CertificatePair): void {
    const entry = { ...pair, version: versionOf(pair) };
    for (const n of names) this.managed.set(n.toLowerCase(), entry);
  }

  hasManaged(host: string): boolean {
    return !!this.managedFor(host);
  }

  private managedFor(host: string): (CertificatePair & { version: string }) | undefined {
    const h = host.toLowerCase();
    const dot = h.indexOf('.');
    return this.managed.get(h) ?? (dot > 0 ? this.managed.get(`*${h.slice(dot)}`) : undefined);
  }

  certificateFor(host: string): { cert: string; key: string; version: string } | undefined {
    const up = this.uploaded?.(host);
    if (up) return { cert: up.cert, key: up.key, version: `${up.id}:${versionOf(up)}` };
    return this.managedFor(host);
  }

  // ---- ACME challenges ----

  setHttpToken(token: string, keyAuthorization: string): void {
    this.httpTokens.set(token, keyAuthorization);
  }

  deleteHttpToken(token: string): void {
    this.httpTokens.delete(token);
  }

  setAlpnCertificate(host: string, pair: CertificatePair): void {
    this.alpnContexts.set(host.toLowerCase(), tls.createSecureContext(pair));
  }

  deleteAlpnCertificate(host: string): void {
    this.alpnContexts.delete(host.toLowerCase());
  }

  handleHttp(
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): boolean {
    const url = req.url ?? '';
    if (!url.startsWith(CHALLENGE_PREFIX) || req.method !== 'GET') return false;
    const answer = this.httpTokens.get(url.slice(CHALLENGE_PREFIX.length));
    if (answer === undefined) return false; // not ours: the endpoint (if any) answers
    (res as http.ServerResponse)
      .writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) })
      .end(answer);
    return true;
  }

  handleTls(socket: net.Socket, head: Buffer, serverName: string): boolean {
    if (!this.alpnContexts.has(serverName) || !alpnProtocols(head)?.includes('acme-tls/1')) return false;
    socket.unshift(head);
    this.alpnServer.emit('connection', socket);
    return true;
  }
}
