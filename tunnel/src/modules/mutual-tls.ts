// Mutual TLS for visitors (`--mutual-tls-cas FILE`, `mutual_tls_cas:`, EndpointMutualTLS, the
// terminate-tls action's CA list) and TLS termination options (minimum version). The edge gives
// an endpoint with these options its own TLS server (tlsServerOptions below) that asks for a
// client certificate and verifies it against the endpoint's CAs; this module then refuses
// requests without a verified certificate (403 ERR_BURROW_CLIENT_CERT) and tells the upstream
// who the client is in X-Tls-Client-Cn / -Serial / -Subject (any such header a client sent is
// dropped first, so they cannot be forged).
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import { sendEdgeError } from '../edge-errors';
import { removeRawHeaders } from '../net/raw-headers';
import { check, ModuleConfigError, within } from './config-error';
import type { HttpModule } from './types';

export interface MutualTlsConfig {
  /** PEM bundles of the CAs whose client certificates are accepted. */
  certificateAuthorities: string[];
}

export interface TlsTerminationConfig {
  /** Lowest TLS version accepted from visitors (default 1.2). */
  minVersion?: '1.2' | '1.3';
}

export const CLIENT_CERT_HEADERS = ['x-tls-client-cn', 'x-tls-client-serial', 'x-tls-client-subject'];

export function validateMutualTls(c: MutualTlsConfig, field = 'mutualTls'): void {
  check(
    c && Array.isArray(c.certificateAuthorities) && c.certificateAuthorities.length > 0,
    'ERR_BURROW_MODULE_CONFIG',
    `${field}: give at least one CA certificate (PEM)`,
  );
  c.certificateAuthorities.forEach((pem, i) =>
    within(['certificateAuthorities', i], () => {
      const blocks =
        typeof pem === 'string' ? pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) : null;
      if (!blocks)
        throw new ModuleConfigError('ERR_NGROK_7072', `${field}.certificateAuthorities[${i}] holds no PEM certificate`);
      for (const block of blocks) {
        try {
          new X509Certificate(block);
        } catch (err) {
          throw new ModuleConfigError(
            'ERR_NGROK_7072',
            `${field}.certificateAuthorities[${i}] is not a valid certificate: ${(err as Error).message}`,
          );
        }
      }
    }),
  );
}

export function validateTlsTermination(c: TlsTerminationConfig, field = 'tlsTermination'): void {
  check(
    c && (c.minVersion === undefined || c.minVersion === '1.2' || c.minVersion === '1.3'),
    'ERR_NGROK_2204',
    `${field}.minVersion must be "1.2" or "1.3"`,
    ['minVersion'],
  );
}

/** TLS server options for an endpoint with mutual TLS and/or a minimum version; undefined when neither. */
export function tlsServerOptions(
  mtls: MutualTlsConfig | undefined,
  term: TlsTerminationConfig | undefined,
): (SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean }) | undefined {
  if (!mtls && !term?.minVersion) return undefined;
  return {
    ...(term?.minVersion ? { minVersion: term.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2' } : {}),
    // The handshake asks for a certificate but does not fail without one: the module answers
    // with a readable 403 instead of a bare handshake error.
    ...(mtls ? { ca: mtls.certificateAuthorities, requestCert: true, rejectUnauthorized: false } : {}),
  };
}

function tlsSocketOf(socket: unknown): TLSSocket | undefined {
  const s = socket as Partial<TLSSocket> | undefined;
  return s && typeof s.getPeerCertificate === 'function' ? (s as TLSSocket) : undefined;
}

export function peerCertificateOf(socket: unknown): PeerCertificate | undefined {
  const tlsSocket = tlsSocketOf(socket);
  const cert = tlsSocket?.getPeerCertificate();
  return cert && Object.keys(cert).length ? cert : undefined;
}

export function mutualTlsModule(config: MutualTlsConfig): HttpModule {
  validateMutualTls(config);
  return {
    name: 'mutual-tls',
    onRequest(ctx) {
      const socket = tlsSocketOf(ctx.req.socket);
      const cert = ctx.peerCertificate;
      if (!socket || !socket.authorized || !cert) {
        const why = !socket
          ? 'this endpoint only accepts https with a client certificate'
          : !cert
            ? 'no client certificate was presented'
            : `the client certificate was not accepted: ${String(socket.authorizationError ?? 'unknown CA')}`;
        sendEdgeError(ctx.req, ctx.res, 'ERR_BURROW_CLIENT_CERT', why);
        return 'handled';
      }
      removeRawHeaders(ctx.upstreamHeaders, (n) => CLIENT_CERT_HEADERS.includes(n));
      const subject = Object.entries(cert.subject ?? {})
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
        .join(',');
      ctx.upstreamHeaders.push(
        'X-Tls-Client-Cn',
        String(cert.subject?.CN ?? ''),
        'X-Tls-Client-Serial',
        cert.serialNumber ?? '',
        'X-Tls-Client-Subject',
        subject,
      );
    },
  };
}
