// Response compression (`--compression`, `compression: true`, EndpointCompression, the
// compress-response action). Picks gzip, deflate or br from the client's Accept-Encoding
// (q-values honoured, ties go to the configured order), streams through zlib with a sync flush
// per chunk so server-sent events and long polls keep flowing, and leaves alone anything the
// upstream already encoded, bodiless responses, known-small bodies and already-compressed media.
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { rawHeader } from '../net/raw-headers';
import { check } from './config-error';
import { VAR } from './request-vars';
import type { HttpModule, ResponseContext } from './types';

export type CompressionAlgorithm = 'gzip' | 'deflate' | 'br';

export interface CompressionConfig {
  /** Allowed encodings in order of preference; default gzip, deflate (ngrok's module). */
  algorithms?: CompressionAlgorithm[];
}

/** Bodies shorter than this (when Content-Length says so) are not worth a compressor. */
export const MIN_COMPRESS_BYTES = 256;
const INCOMPRESSIBLE =
  /^(image\/(?!svg)|video\/|audio\/|font\/woff2|application\/(zip|gzip|x-gzip|x-brotli|zstd|x-7z-compressed|x-rar|pdf))/i;
const KNOWN = new Set<string>(['gzip', 'deflate', 'br']);

export function validateCompression(config: CompressionConfig, field = 'compression'): void {
  const algs = config.algorithms ?? [];
  check(Array.isArray(algs), 'ERR_BURROW_MODULE_CONFIG', `${field}.algorithms must be a list`, ['algorithms']);
  algs.forEach((a, i) =>
    check(
      KNOWN.has(a),
      'ERR_NGROK_2214',
      `${field}: unsupported compression algorithm "${String(a)}"; Burrow offers gzip, deflate and br`,
      ['algorithms', i],
    ),
  );
  algs.forEach((a, i) =>
    check(algs.indexOf(a) === i, 'ERR_NGROK_2231', `${field}.algorithms has duplicates`, ['algorithms', i]),
  );
}

/** The best encoding both sides accept, or undefined. */
export function negotiateEncoding(
  acceptEncoding: string | undefined,
  offered: readonly CompressionAlgorithm[],
): CompressionAlgorithm | undefined {
  if (!acceptEncoding) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp ? Number(qp.slice(2)) : 1;
    q.set(token, Number.isFinite(value) ? value : 0);
  }
  let best: CompressionAlgorithm | undefined;
  let bestQ = 0;
  for (const alg of offered) {
    const v = q.get(alg) ?? (q.has(alg) ? 0 : (q.get('*') ?? 0));
    if (v > bestQ) {
      best = alg;
      bestQ = v;
    }
  }
  return best;
}

export function compressionModule(config: CompressionConfig): HttpModule {
  validateCompression(config);
  const offered = config.algorithms?.length ? config.algorithms : (['gzip', 'deflate'] as CompressionAlgorithm[]);
  return {
    name: 'compression',
    onResponse(ctx) {
      const alg = chooseFor(ctx, offered);
      ctx.vars.set(VAR.compressionAlgorithm, alg ?? 'none');
      if (!alg) return;
      const out: string[] = [];
      let vary = false;
      for (let i = 0; i < ctx.responseHeaders.length; i += 2) {
        const name = ctx.responseHeaders[i].toLowerCase();
        let value = ctx.responseHeaders[i + 1];
        if (name === 'content-length') continue;
        if (name === 'etag' && !value.startsWith('W/')) value = `W/${value}`; // bytes differ now
        if (name === 'vary') {
          vary = true;
          if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(value)) value = `${value}, Accept-Encoding`;
        }
        out.push(ctx.responseHeaders[i], value);
      }
      if (!vary) out.push('Vary', 'Accept-Encoding');
      out.push('Content-Encoding', alg);
      ctx.responseHeaders.length = 0;
      ctx.responseHeaders.push(...out);
    },
    responseBody(ctx) {
      return compressor(ctx.vars.get(VAR.compressionAlgorithm) as string);
    },
  };
}

function chooseFor(ctx: ResponseContext, offered: readonly CompressionAlgorithm[]): CompressionAlgorithm | undefined {
  const status = ctx.statusCode;
  if (ctx.method === 'HEAD' || status < 200 || status === 204 || status === 304) return undefined;
  const encoding = rawHeader(ctx.responseHeaders, 'content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') return undefined;
  const length = rawHeader(ctx.responseHeaders, 'content-length');
  if (length !== undefined && Number(length) < MIN_COMPRESS_BYTES) return undefined;
  if (INCOMPRESSIBLE.test(rawHeader(ctx.responseHeaders, 'content-type') ?? '')) return undefined;
  if (/no-transform/i.test(rawHeader(ctx.responseHeaders, 'cache-control') ?? '')) return undefined;
  const accept = ctx.req.headers['accept-encoding'];
  return negotiateEncoding(Array.isArray(accept) ? accept.join(',') : accept, offered);
}

/** A streaming compressor that flushes every chunk it is given. */
export function compressor(alg: string | undefined): Transform | undefined {
  if (alg === 'gzip') return zlib.createGzip({ flush: zlib.constants.Z_SYNC_FLUSH });
  if (alg === 'deflate') return zlib.createDeflate({ flush: zlib.constants.Z_SYNC_FLUSH });
  if (alg === 'br')
    return zlib.createBrotliCompress({
      flush: zlib.constants.BROTLI_OPERATION_FLUSH,
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 },
    });
  return undefined;
}
