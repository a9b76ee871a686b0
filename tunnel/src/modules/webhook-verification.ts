// Webhook verification (`--verify-webhook PROVIDER --verify-webhook-secret S`, `verify_webhook:`,
// EndpointWebhookValidation, the verify-webhook action). The edge reads the request body (bounded:
// see MAX_WEBHOOK_BODY), checks the provider's signature scheme with constant-time compares and
// hands the same bytes upstream; a request that fails gets 403 with ERR_NGROK_3204. Twitter/X
// CRC challenges (GET with crc_token) are answered at the edge, as ngrok does.
import {
  createHash,
  createHmac,
  createPublicKey,
  timingSafeEqual,
  verify as verifySignature,
  type KeyObject,
} from 'node:crypto';
import { sendEdgeError } from '../edge-errors';
import { BodyTooLargeError, readBody } from '../net/body';
import { check, ModuleConfigError, within } from './config-error';
import { requestUrl, VAR } from './request-vars';
import type { HttpModule } from './types';

/** Bodies above this are refused (413): the whole body is held in memory until it is verified. */
export const MAX_WEBHOOK_BODY = 2 * 1024 * 1024;
/** Replay window for providers that sign a timestamp (Stripe, Slack, Zoom), as their docs advise. */
export const TIMESTAMP_TOLERANCE_S = 300;

export interface WebhookVerificationConfig {
  provider: string;
  /** Signing secret (SendGrid: the base64 DER public key of the signed event webhook). */
  secret: string;
  enforce?: boolean;
  maxBodyBytes?: number;
  /** Generic `hmac` provider only: header carrying the signature (default X-Signature). */
  header?: string;
  /** Generic `hmac` provider only (default sha256). */
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  /** Generic `hmac` provider only (default hex). */
  encoding?: 'hex' | 'base64';
}

interface Signed {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  url: URL;
  nowS: number;
}

type Verifier = (req: Signed) => boolean;

const hmac = (alg: string, key: string, data: string | Buffer | (string | Buffer)[]): Buffer => {
  const h = createHmac(alg, key);
  for (const part of Array.isArray(data) ? data : [data]) h.update(part);
  return h.digest();
};

/** Constant-time compare of two strings (different lengths compare unequal without a shortcut on content). */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
const fresh = (ts: string, nowS: number): boolean =>
  /^\d+$/.test(ts) && Math.abs(nowS - Number(ts)) <= TIMESTAMP_TOLERANCE_S;

/** Provider id → factory of a verifier for one secret. */
const PROVIDERS: Record<string, (secret: string, c: WebhookVerificationConfig) => Verifier> = {
  // X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret, body)); the SHA-1 header as fallback.
  github:
    (secret) =>
    ({ headers, body }) => {
      const sig256 = first(headers['x-hub-signature-256']);
      if (sig256) return safeEqual(sig256, `sha256=${hmac('sha256', secret, body).toString('hex')}`);
      const sig1 = first(headers['x-hub-signature']);
      return sig1 !== '' && safeEqual(sig1, `sha1=${hmac('sha1', secret, body).toString('hex')}`);
    },
  // Stripe-Signature: t=TS,v1=hex(HMAC-SHA256(secret, "TS.body")) (several v1 allowed, e.g. during secret rolls).
  stripe:
    (secret) =>
    ({ headers, body, nowS }) => {
      const parts = first(headers['stripe-signature'])
        .split(',')
        .map((p) => p.trim().split('='));
      const t = parts.find(([k]) => k === 't')?.[1] ?? '';
      if (!fresh(t, nowS)) return false;
      const expected = hmac('sha256', secret, [`${t}.`, body]).toString('hex');
      let ok = false;
      for (const [k, v] of parts) if (k === 'v1' && safeEqual(v ?? '', expected)) ok = true;
      return ok;
    },
  // X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:TS:body")), TS in X-Slack-Request-Timestamp.
  slack:
    (secret) =>
    ({ headers, body, nowS }) => {
      const ts = first(headers['x-slack-request-timestamp']);
      if (!fresh(ts, nowS)) return false;
      return safeEqual(
        first(headers['x-slack-signature']),
        `v0=${hmac('sha256', secret, [`v0:${ts}:`, body]).toString('hex')}`,
      );
    },
  // X-Twilio-Signature: base64(HMAC-SHA1(token, URL + sorted form params as name+value)); JSON
  // bodies sign the URL only and carry bodySHA256 in the query. Twilio may sign with or without the port.
  twilio:
    (secret) =>
    ({ headers, body, url }) => {
      const sig = first(headers['x-twilio-signature']);
      if (!sig) return false;
      const contentType = first(headers['content-type']);
      const candidates = urlVariants(url);
      let ok = false;
      for (const u of candidates) {
        let data = u;
        if (url.searchParams.has('bodySHA256')) {
          if (!safeEqual(url.searchParams.get('bodySHA256') ?? '', createHash('sha256').update(body).digest('hex')))
            continue;
        } else if (/application\/x-www-form-urlencoded/i.test(contentType)) {
          const params = [...new URLSearchParams(body.toString('utf8'))].sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          );
          data += params.map(([k, v]) => k + v).join('');
        }
        if (safeEqual(sig, hmac('sha1', secret, data).toString('base64'))) ok = true;
      }
      return ok;
    },
  // X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, body)).
  shopify:
    (secret) =>
    ({ headers, body }) =>
      safeEqual(first(headers['x-shopify-hmac-sha256']), hmac('sha256', secret, body).toString('base64')),
  // X-Gitlab-Token: the secret token itself.
  gitlab:
    (secret) =>
    ({ headers }) => {
      const token = first(headers['x-gitlab-token']);
      return token !== '' && safeEqual(token, secret);
    },
  // X-Twilio-Email-Event-Webhook-Signature: base64 DER ECDSA P-256/SHA-256 over TS + body.
  sendgrid: (secret) => {
    const key = sendgridKey(secret);
    return ({ headers, body }) => {
      const sig = first(headers['x-twilio-email-event-webhook-signature']);
      const ts = first(headers['x-twilio-email-event-webhook-timestamp']);
      if (!sig || !ts) return false;
      try {
        return verifySignature('sha256', Buffer.concat([Buffer.from(ts), body]), key, Buffer.from(sig, 'base64'));
      } catch {
        return false;
      }
    };
  },
  // x-zm-signature: v0=hex(HMAC-SHA256(secret, "v0:TS:body")), TS in x-zm-request-timestamp.
  zoom:
    (secret) =>
    ({ headers, body, nowS }) => {
      const ts = first(headers['x-zm-request-timestamp']);
      if (!fresh(ts, nowS)) return false;
      return safeEqual(
        first(headers['x-zm-signature']),
        `v0=${hmac('sha256', secret, [`v0:${ts}:`, body]).toString('hex')}`,
      );
    },
  // x-twitter-webhooks-signature: sha256=base64(HMAC-SHA256(consumer secret, body)). CRC GETs are answered in the module.
  twitter:
    (secret) =>
    ({ headers, body }) =>
      safeEqual(
        first(headers['x-twitter-webhooks-signature']),
        `sha256=${hmac('sha256', secret, body).toString('base64')}`,
      ),
  // Burrow's generic HMAC: header (default X-Signature) = [alg=]encode(HMAC-alg(secret, body)).
  hmac: (secret, c) => {
    const header = (c.header ?? 'x-signature').toLowerCase();
    const alg = c.algorithm ?? 'sha256';
    const encoding = c.encoding ?? 'hex';
    return ({ headers, body }) => {
      const sig = first(headers[header]).replace(/^(sha1|sha256|sha512)=/i, '');
      return sig !== '' && safeEqual(sig, hmac(alg, secret, body).toString(encoding));
    };
  },
};
PROVIDERS.x = PROVIDERS.twitter;

export const WEBHOOK_PROVIDERS = Object.keys(PROVIDERS).sort();

function urlVariants(url: URL): string[] {
  const withPort = new URL(url.href);
  const withoutPort = new URL(url.href);
  withoutPort.port = '';
  if (!withPort.port) withPort.port = withPort.protocol === 'https:' ? '443' : '80';
  return [...new Set([url.href, withoutPort.href, withPort.href])];
}

function sendgridKey(secret: string): KeyObject {
  try {
    const pem = secret.includes('BEGIN PUBLIC KEY');
    return pem
      ? createPublicKey(secret)
      : createPublicKey({ key: Buffer.from(secret, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new ModuleConfigError(
      'ERR_NGROK_379',
      'webhookVerification: the SendGrid secret must be the base64 ECDSA public key of your signed event webhook',
    );
  }
}

export function validateWebhookVerification(c: WebhookVerificationConfig, field = 'webhookVerification'): Verifier {
  check(
    c && typeof c.provider === 'string' && c.provider !== '',
    'ERR_NGROK_363',
    `${field}: a provider is required (${WEBHOOK_PROVIDERS.join(', ')})`,
    ['provider'],
  );
  const provider = c.provider.toLowerCase();
  check(
    Object.hasOwn(PROVIDERS, provider),
    'ERR_NGROK_364',
    `${field}: webhook provider "${c.provider}" is not supported by Burrow; supported: ${WEBHOOK_PROVIDERS.join(', ')}`,
    ['provider'],
  );
  check(
    typeof c.secret === 'string' && c.secret !== '',
    'ERR_NGROK_2032',
    `${field}: the "${provider}" provider needs a secret`,
    ['secret'],
  );
  check(
    c.maxBodyBytes === undefined || (Number.isInteger(c.maxBodyBytes) && c.maxBodyBytes > 0),
    'ERR_BURROW_MODULE_CONFIG',
    `${field}.maxBodyBytes must be a positive integer`,
    ['maxBodyBytes'],
  );
  check(
    c.algorithm === undefined || ['sha1', 'sha256', 'sha512'].includes(c.algorithm),
    'ERR_BURROW_MODULE_CONFIG',
    `${field}.algorithm must be sha1, sha256 or sha512`,
    ['algorithm'],
  );
  check(
    c.encoding === undefined || ['hex', 'base64'].includes(c.encoding),
    'ERR_BURROW_MODULE_CONFIG',
    `${field}.encoding must be hex or base64`,
    ['encoding'],
  );
  return within(['secret'], () => PROVIDERS[provider](c.secret, c));
}

export function webhookVerificationModule(config: WebhookVerificationConfig, now: () => number = Date.now): HttpModule {
  const verifier = validateWebhookVerification(config);
  const provider = config.provider.toLowerCase();
  const limit = config.maxBodyBytes ?? MAX_WEBHOOK_BODY;
  return {
    name: 'webhook-verification',
    async onRequest(ctx) {
      const url = requestUrl(ctx);
      if ((provider === 'twitter' || provider === 'x') && ctx.method === 'GET' && url.searchParams.has('crc_token')) {
        // Twitter/X CRC: prove we hold the consumer secret.
        const token = url.searchParams.get('crc_token') ?? '';
        const body = JSON.stringify({
          response_token: `sha256=${hmac('sha256', config.secret, token).toString('base64')}`,
        });
        ctx.vars.set(VAR.webhookDecision, 'allow');
        ctx.res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        });
        ctx.res.end(body);
        return 'handled';
      }
      // The signature covers the raw bytes, so the body is read whole (drained past the limit).
      const body = await readBody(ctx.req, limit, 'drain').catch((err: unknown) => {
        if (err instanceof BodyTooLargeError) return undefined;
        throw err;
      });
      if (!body) {
        sendEdgeError(
          ctx.req,
          ctx.res,
          'ERR_BURROW_BODY_TOO_LARGE',
          `webhook bodies are verified up to ${limit} bytes`,
        );
        return 'handled';
      }
      ctx.requestBody = body;
      const ok = verifier({ headers: ctx.req.headers, body, url, nowS: Math.floor(now() / 1000) });
      ctx.vars.set(VAR.webhookDecision, ok ? 'allow' : 'block');
      if (ok || config.enforce === false) return;
      sendEdgeError(ctx.req, ctx.res, 'ERR_NGROK_3204', `the ${provider} signature did not verify`);
      return 'handled';
    },
  };
}
