// Edge modules in isolation: config validation codes, the pure decision logic (CIDRs, encodings,
// the breaker's rolling window, webhook signatures against providers' published vectors), CEL
// compilation and the pipeline's construction rules. Through a real tunnel: test/integration/modules.test.ts.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { validateBasicAuth } from '../../tunnel/src/modules/basic-auth';
import { CelUrl, celTrue, compileCel, compileInterpolation, splitTemplate } from '../../tunnel/src/modules/cel';
import { CircuitBreaker } from '../../tunnel/src/modules/circuit-breaker';
import { negotiateEncoding, validateCompression } from '../../tunnel/src/modules/compression';
import { ModuleConfigError } from '../../tunnel/src/modules/config-error';
import { canonicalHeaderName, compileHeaderRules } from '../../tunnel/src/modules/headers';
import { ipFilter, IpPolicyStore } from '../../tunnel/src/modules/ip-restriction';
import { buildPipeline, EDGE_OPTION_KEYS } from '../../tunnel/src/modules/pipeline';
import { compileTrafficPolicy } from '../../tunnel/src/modules/traffic-policy';
import { compileRe2 } from '../../tunnel/src/modules/user-agent-filter';
import { validateWebhookVerification, WEBHOOK_PROVIDERS } from '../../tunnel/src/modules/webhook-verification';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ModuleConfigError, `expected a ModuleConfigError, got ${String(err)}`);
    return `${err.code}`;
  }
  assert.fail('expected an error');
}

const hmacHex = (alg: string, key: string, data: string) => createHmac(alg, key).update(data).digest('hex');
const hmacB64 = (alg: string, key: string, data: string) => createHmac(alg, key).update(data).digest('base64');

describe('modules: pipeline construction', () => {
  it('builds nothing for an endpoint without modules (the proxy keeps its fast path)', () => {
    assert.equal(buildPipeline(undefined), undefined);
    assert.equal(buildPipeline({}), undefined);
  });

  it('refuses unknown options and two authentication modules', () => {
    assert.equal(
      code(() => buildPipeline({ rateLimit: {} } as never)),
      'ERR_BURROW_UNSUPPORTED_OPTION',
    );
    assert.equal(
      code(() => buildPipeline({ basicAuth: { credentials: ['a:12345678'] }, oidc: {} as never })),
      'ERR_NGROK_7079',
    );
  });

  it('orders modules as documented, whatever order the options come in', () => {
    const p = buildPipeline({
      compression: {},
      responseHeaders: { add: ['X-A: 1'], remove: [] },
      requestHeaders: { add: [], remove: ['x'] },
      trafficPolicy: { on_http_request: [{ actions: [{ type: 'deny' }] }] },
      basicAuth: { credentials: ['u:12345678'] },
      webhookVerification: { provider: 'github', secret: 's' },
      circuitBreaker: { errorThreshold: 0.5 },
      userAgentFilter: { deny: ['bot'] },
      ipRestriction: { allowCidrs: ['0.0.0.0/0'] },
    })!;
    assert.deepEqual(
      p.modules.map((m) => m.name),
      [
        'ip-restriction',
        'user-agent-filter',
        'circuit-breaker',
        'webhook-verification',
        'basic-auth',
        'traffic-policy',
        'request-headers',
        'response-headers',
        'compression',
      ],
    );
    assert.ok(EDGE_OPTION_KEYS.indexOf('ipRestriction') < EDGE_OPTION_KEYS.indexOf('mutualTls'));
  });
});

describe('modules: basic auth rules (ngrok ERR_NGROK_359/360/15008)', () => {
  it('accepts several credentials and refuses bad ones with ngrok codes', () => {
    validateBasicAuth({ credentials: ['alice:correct-horse', 'bob:12345678'] });
    assert.equal(
      code(() => validateBasicAuth({ credentials: [] })),
      'ERR_NGROK_359',
    );
    assert.equal(
      code(() => validateBasicAuth({ credentials: [':12345678'] })),
      'ERR_NGROK_359',
    );
    assert.equal(
      code(() => validateBasicAuth({ credentials: ['alice:short'] })),
      'ERR_NGROK_360',
    );
    assert.equal(
      code(() => validateBasicAuth({ credentials: [`alice:${'x'.repeat(129)}`] })),
      'ERR_NGROK_360',
    );
    assert.equal(
      code(() => validateBasicAuth({ credentials: [`${'u'.repeat(129)}:12345678`] })),
      'ERR_NGROK_15008',
    );
  });

  it('never puts a password in an error message', () => {
    try {
      validateBasicAuth({ credentials: ['alice:sekrit'] });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(!(err as Error).message.includes('sekrit'));
    }
  });
});

describe('modules: IP restrictions', () => {
  it('allows only matching allow CIDRs and no deny CIDR, v4 and v6', () => {
    const allowed = ipFilter({ allowCidrs: ['10.0.0.0/8', '2001:db8::/32'], denyCidrs: ['10.1.0.0/16'] });
    assert.equal(allowed('10.2.3.4'), true);
    assert.equal(allowed('10.1.2.3'), false);
    assert.equal(allowed('192.0.2.1'), false);
    assert.equal(allowed('2001:db8::1'), true);
    assert.equal(allowed('2001:db9::1'), false);
  });

  it('with only deny CIDRs, allows everything else', () => {
    const allowed = ipFilter({ denyCidrs: ['192.0.2.0/24'] });
    assert.equal(allowed('192.0.2.9'), false);
    assert.equal(allowed('198.51.100.1'), true);
  });

  it('refuses bad CIDRs (ERR_NGROK_362) and unknown policies (ERR_NGROK_1801)', () => {
    assert.equal(
      code(() => ipFilter({ allowCidrs: ['10.0.0.1'] })),
      'ERR_NGROK_362',
    );
    assert.equal(
      code(() => ipFilter({ allowCidrs: ['10.0.0.0/33'] })),
      'ERR_NGROK_362',
    );
    assert.equal(
      code(() => ipFilter({ ipPolicies: ['ipp_missing'] }, new IpPolicyStore())),
      'ERR_NGROK_1801',
    );
  });

  it('applies the union of named IP policies and follows later edits', () => {
    const store = new IpPolicyStore();
    store.set({ id: 'office', rules: [{ cidr: '203.0.113.0/24', action: 'allow' }] });
    store.set({
      id: 'vpn',
      rules: [
        { cidr: '198.51.100.0/24', action: 'allow' },
        { cidr: '198.51.100.66/32', action: 'deny' },
      ],
    });
    const allowed = ipFilter({ ipPolicies: ['office', 'vpn'] }, store);
    assert.equal(allowed('203.0.113.5'), true);
    assert.equal(allowed('198.51.100.5'), true);
    assert.equal(allowed('198.51.100.66'), false);
    assert.equal(allowed('192.0.2.1'), false);
    store.set({ id: 'office', rules: [{ cidr: '192.0.2.0/24', action: 'allow' }] });
    assert.equal(allowed('192.0.2.1'), true);
    assert.equal(allowed('203.0.113.5'), false);
  });
});

describe('modules: compression negotiation', () => {
  it('honours q-values, refusals and the configured order', () => {
    assert.equal(negotiateEncoding('gzip, deflate, br', ['gzip', 'deflate']), 'gzip');
    assert.equal(negotiateEncoding('deflate;q=1, gzip;q=0.5', ['gzip', 'deflate']), 'deflate');
    assert.equal(negotiateEncoding('gzip;q=0, *', ['gzip', 'deflate']), 'deflate');
    assert.equal(negotiateEncoding('identity', ['gzip', 'deflate']), undefined);
    assert.equal(negotiateEncoding(undefined, ['gzip']), undefined);
    assert.equal(negotiateEncoding('br', ['gzip', 'deflate', 'br']), 'br');
    assert.equal(
      code(() => validateCompression({ algorithms: ['compress' as never] })),
      'ERR_NGROK_2214',
    );
  });
});

describe('modules: circuit breaker (Hystrix semantics)', () => {
  it('trips at the error threshold once the volume is reached, then lets one trial through', () => {
    let now = 1_000_000;
    const cb = new CircuitBreaker(
      { errorThreshold: 0.5, volumeThreshold: 4, windowMs: 10_000, numBuckets: 10, trippedMs: 5_000 },
      () => now,
    );
    for (let i = 0; i < 3; i++) cb.record(true, false); // 3 failures, below the volume
    assert.equal(cb.admit(), 'allow');
    cb.record(false, false); // 4 requests, 75 % failed
    assert.equal(cb.admit(), 'block');
    now += 4_999;
    assert.equal(cb.admit(), 'block');
    now += 1;
    assert.equal(cb.admit(), 'allow_while_open');
    assert.equal(cb.admit(), 'block', 'only one trial at a time');
    cb.record(true, true); // the trial failed: open again
    assert.equal(cb.admit(), 'block');
    now += 5_000;
    assert.equal(cb.admit(), 'allow_while_open');
    cb.record(false, true); // the trial succeeded: closed, window cleared
    assert.equal(cb.admit(), 'allow');
    assert.deepEqual(cb.totals(), { total: 0, failures: 0 });
  });

  it('forgets outcomes older than the rolling window, bucket by bucket', () => {
    let now = 0;
    const cb = new CircuitBreaker(
      { errorThreshold: 0.5, volumeThreshold: 2, windowMs: 1_000, numBuckets: 4 },
      () => now,
    );
    cb.record(true, false);
    now += 1_100; // the first failure's bucket has rolled out of the window
    cb.record(true, false);
    assert.deepEqual(cb.totals(), { total: 1, failures: 1 });
    assert.equal(cb.admit(), 'allow');
  });

  it('refuses ratios outside 0..1 (ERR_NGROK_361) and bucket counts outside 1..128', () => {
    assert.equal(
      code(() => new CircuitBreaker({ errorThreshold: 1.5 })),
      'ERR_NGROK_361',
    );
    assert.equal(
      code(() => new CircuitBreaker({ errorThreshold: 0.5, numBuckets: 129 })),
      'ERR_NGROK_7018',
    );
  });
});

describe("modules: webhook signatures (providers' published vectors and documented schemes)", () => {
  const url = new URL('https://hooks.example.test/hook');
  const verify = (
    provider: string,
    secret: string,
    headers: Record<string, string>,
    body: string,
    opts: { url?: URL; nowS?: number } = {},
  ) =>
    validateWebhookVerification({ provider, secret })({
      headers,
      body: Buffer.from(body),
      url: opts.url ?? url,
      nowS: opts.nowS ?? Math.floor(Date.now() / 1000),
    });

  it('GitHub: the example in "Validating webhook deliveries" (docs.github.com)', () => {
    const sig = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    assert.equal(verify('github', "It's a Secret to Everybody", { 'x-hub-signature-256': sig }, 'Hello, World!'), true);
    assert.equal(
      verify('github', "It's a Secret to Everybody", { 'x-hub-signature-256': sig }, 'Hello, World?'),
      false,
    );
    assert.equal(verify('github', 'another secret', { 'x-hub-signature-256': sig }, 'Hello, World!'), false);
  });

  it('Slack: the worked example in "Verifying requests from Slack" (api.slack.com)', () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const headers = {
      'x-slack-request-timestamp': '1531420618',
      'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    };
    assert.equal(verify('slack', '8f742231b10e8888abcd99yyyzzz85a5', headers, body, { nowS: 1531420618 + 60 }), true);
    assert.equal(
      verify('slack', '8f742231b10e8888abcd99yyyzzz85a5', headers, body, { nowS: 1531420618 + 301 }),
      false,
      'replayed after 5 minutes',
    );
  });

  it('Twilio: the example in "Webhooks security" (twilio.com/docs/usage/security)', () => {
    const body = 'CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212';
    const headers = {
      'x-twilio-signature': '0/KCTR6DLpKmkAf8muzZqo1nDgQ=',
      'content-type': 'application/x-www-form-urlencoded',
    };
    assert.equal(
      verify('twilio', '12345', headers, body, { url: new URL('https://mycompany.com/myapp.php?foo=1&bar=2') }),
      true,
    );
    assert.equal(
      verify('twilio', '12345', headers, body.replace('1234&', '9999&'), {
        url: new URL('https://mycompany.com/myapp.php?foo=1&bar=2'),
      }),
      false,
    );
  });

  it('SendGrid: the signed event webhook fixture of sendgrid-python (test/unit/test_eventwebhook.py)', () => {
    const publicKey =
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==';
    const payload =
      '[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n';
    const headers = {
      'x-twilio-email-event-webhook-signature':
        'MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=',
      'x-twilio-email-event-webhook-timestamp': '1600112502',
    };
    assert.equal(verify('sendgrid', publicKey, headers, payload), true);
    assert.equal(
      verify('sendgrid', publicKey, { ...headers, 'x-twilio-email-event-webhook-timestamp': '1600112503' }, payload),
      false,
    );
    assert.equal(
      code(() => validateWebhookVerification({ provider: 'sendgrid', secret: 'not a key' })),
      'ERR_NGROK_379',
    );
  });

  it('Stripe: Stripe-Signature t=…,v1=… per "Verify signatures manually" (docs.stripe.com/webhooks), 5-minute tolerance', () => {
    const secret = 'whsec_test_secret';
    const body = '{"id":"evt_test_webhook","object":"event"}';
    const t = 1_700_000_000;
    const v1 = hmacHex('sha256', secret, `${t}.${body}`);
    assert.equal(
      verify('stripe', secret, { 'stripe-signature': `t=${t},v1=${v1},v0=ignored` }, body, { nowS: t + 10 }),
      true,
    );
    assert.equal(
      verify('stripe', secret, { 'stripe-signature': `t=${t},v1=deadbeef,v1=${v1}` }, body, { nowS: t }),
      true,
      'any v1 may match (secret rolls)',
    );
    assert.equal(verify('stripe', secret, { 'stripe-signature': `t=${t},v1=${v1}` }, body, { nowS: t + 400 }), false);
    assert.equal(verify('stripe', secret, { 'stripe-signature': `t=${t + 1},v1=${v1}` }, body, { nowS: t }), false);
  });

  it('Shopify, GitLab, Zoom, Twitter/X and generic HMAC per their documented schemes', () => {
    const body = '{"ok":true}';
    assert.equal(verify('shopify', 'shpss', { 'x-shopify-hmac-sha256': hmacB64('sha256', 'shpss', body) }, body), true);
    assert.equal(
      verify('shopify', 'shpss', { 'x-shopify-hmac-sha256': hmacB64('sha256', 'other', body) }, body),
      false,
    );
    assert.equal(verify('gitlab', 'glpat-token', { 'x-gitlab-token': 'glpat-token' }, body), true);
    assert.equal(verify('gitlab', 'glpat-token', { 'x-gitlab-token': 'glpat-tokeN' }, body), false);
    const ts = String(Math.floor(Date.now() / 1000));
    assert.equal(
      verify(
        'zoom',
        'zsecret',
        { 'x-zm-request-timestamp': ts, 'x-zm-signature': `v0=${hmacHex('sha256', 'zsecret', `v0:${ts}:${body}`)}` },
        body,
      ),
      true,
    );
    assert.equal(verify('zoom', 'zsecret', { 'x-zm-request-timestamp': ts, 'x-zm-signature': 'v0=00' }, body), false);
    assert.equal(
      verify(
        'twitter',
        'consumer',
        { 'x-twitter-webhooks-signature': `sha256=${hmacB64('sha256', 'consumer', body)}` },
        body,
      ),
      true,
    );
    assert.equal(verify('hmac', 'k', { 'x-signature': `sha256=${hmacHex('sha256', 'k', body)}` }, body), true);
    assert.equal(verify('hmac', 'k', { 'x-signature': hmacHex('sha256', 'k', `${body} `) }, body), false);
  });

  it('SendGrid verification works with a freshly made key pair too (ECDSA P-256, SHA-256)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const signature = sign('sha256', Buffer.from('123{"a":1}'), privateKey).toString('base64');
    assert.equal(
      verify(
        'sendgrid',
        der,
        { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': '123' },
        '{"a":1}',
      ),
      true,
    );
  });

  it('refuses unknown providers (ERR_NGROK_364) and a missing secret (ERR_NGROK_2032)', () => {
    assert.ok(WEBHOOK_PROVIDERS.includes('github') && WEBHOOK_PROVIDERS.includes('x'));
    assert.equal(
      code(() => validateWebhookVerification({ provider: 'myspace', secret: 's' })),
      'ERR_NGROK_364',
    );
    assert.equal(
      code(() => validateWebhookVerification({ provider: 'github', secret: '' })),
      'ERR_NGROK_2032',
    );
  });
});

describe('modules: user-agent patterns, header rules and templates', () => {
  it('compiles RE2 flag groups and refuses bad patterns with ERR_NGROK_2090', () => {
    assert.equal(compileRe2('(?i)googlebot', 'p').test('Mozilla GoogleBot/2.1'), true);
    assert.equal(
      code(() => compileRe2('(unclosed', 'p')),
      'ERR_NGROK_2090',
    );
  });

  it('canonicalises added names as Go does and refuses bad rules with ngrok codes', () => {
    assert.equal(canonicalHeaderName('x-request-id'), 'X-Request-Id');
    assert.equal(canonicalHeaderName('CONTENT-type'), 'Content-Type');
    const rules = compileHeaderRules({ add: ['x-foo: a:b'], remove: ['X-Bar'] }, 'request');
    assert.equal(rules.add[0].name, 'X-Foo');
    assert.ok(rules.remove.has('x-bar'));
    assert.equal(
      code(() => compileHeaderRules({ add: ['no-colon'], remove: [] }, 'request')),
      'ERR_NGROK_370',
    );
    assert.equal(
      code(() => compileHeaderRules({ add: ['no-colon'], remove: [] }, 'response')),
      'ERR_NGROK_371',
    );
    assert.equal(
      code(() => compileHeaderRules({ add: ['bad name: x'], remove: [] }, 'request')),
      'ERR_NGROK_372',
    );
    assert.equal(
      code(() => compileHeaderRules({ add: ['X-A: ${.no.such.var}'], remove: [] }, 'request')),
      'ERR_NGROK_2213',
    );
  });

  it('splits templates with nested braces and quotes', () => {
    assert.deepEqual(splitTemplate("a ${x.y} b ${'}' + z} c"), [
      'a ',
      { expr: 'x.y' },
      ' b ',
      { expr: "'}' + z" },
      ' c',
    ]);
    assert.equal(
      compileInterpolation('ip=${conn.client_ip}', 't')({ conn: { client_ip: '192.0.2.1' } }),
      'ip=192.0.2.1',
    );
    assert.equal(
      code(() => compileInterpolation('${req.', 't')),
      'ERR_NGROK_2224',
    );
  });
});

describe('modules: traffic policy compilation (CEL via @marcbachmann/cel-js)', () => {
  it('evaluates ngrok-style expressions and macros', () => {
    const vars = {
      req: { method: 'POST', url: { path: '/api/x' }, headers: { 'x-token': ['t'] } },
      conn: { client_ip: '10.1.2.3' },
    };
    assert.equal(
      celTrue(compileCel("req.url.path.startsWith('/api') && req.method in ['GET','POST']", 'e'), vars),
      true,
    );
    assert.equal(celTrue(compileCel("hasReqHeader('X-Token') && getReqHeader('x-token')[0] == 't'", 'e'), vars), true);
    assert.equal(celTrue(compileCel("inCidrRange(conn.client_ip, '10.0.0.0/8')", 'e'), vars), true);
    assert.equal(celTrue(compileCel("inCidrRanges(conn.client_ip, ['192.0.2.0/24'])", 'e'), vars), false);
    assert.equal(celTrue(compileCel('req.headers.nope[0] == 1', 'e'), vars), false, 'evaluation errors count as false');
  });

  it('req.url is the whole URL and the map of its parts, as in ngrok', () => {
    const raw = 'https://app.example.com/admin/users?page=2';
    const url = new CelUrl({ raw, path: '/admin/users', host: 'app.example.com', query_params: { page: ['2'] } });
    const vars = { req: { method: 'GET', url } };
    const yes = (expr: string) => celTrue(compileCel(expr, 'e'), vars);
    assert.equal(yes("req.url.contains('/admin')"), true);
    assert.equal(yes("req.url.contains('/nope')"), false);
    assert.equal(yes("req.url.startsWith('https://app.')"), true);
    assert.equal(yes("req.url.endsWith('page=2')"), true);
    assert.equal(yes("req.url.matches('^https://[a-z.]+/admin')"), true);
    assert.equal(yes(`req.url == '${raw}'`), true);
    assert.equal(yes("req.url != 'x'"), true);
    assert.equal(yes(`size(req.url) == ${raw.length}`), true);
    assert.equal(yes("req.url.path == '/admin/users' && req.url.host == 'app.example.com'"), true);
    assert.equal(yes("req.url.query_params['page'][0] == '2'"), true);
    assert.equal(compileInterpolation('${req.url}|${req.url.path}', 't')(vars), `${raw}|/admin/users`);
  });

  it('refuses variables ngrok does not have, as ngrok does (ERR_NGROK_2200), with the likely one', () => {
    assert.throws(
      () => compileCel("req.path.startsWith('/greetings')", 'e'),
      (e: ModuleConfigError) =>
        e.code === 'ERR_NGROK_2200' && /unknown variable "req.path".*did you mean "req.url.path"\?/.test(e.message),
    );
    assert.throws(() => compileCel('request.method == "GET"', 'e'), /unknown variable "request"/);
    // Maps, macros' bound names, namespaced functions and open objects are fine.
    for (const ok of [
      "req.headers['x'].exists(h, h == 'y')",
      'vars.anything.at_all == 1',
      "actions.ngrok.oauth.identity.email != ''",
      'conn.client_ip.is_tor_node',
      'req.url.query_params.map(k, k).size() > 0',
      "has(req.url.path) && time.now > timestamp('2020-01-01T00:00:00Z')",
    ])
      compileCel(ok, 'e');
  });

  it('refuses bad expressions, unknown and misplaced actions, unreachable actions', () => {
    assert.equal(
      code(() =>
        compileTrafficPolicy({ on_http_request: [{ expressions: ['req.url.path =='], actions: [{ type: 'deny' }] }] }),
      ),
      'ERR_NGROK_2200',
    );
    assert.match(
      String(
        (() => {
          try {
            compileTrafficPolicy({ on_http_request: [{ actions: [{ type: 'add-request-headers' }] }] });
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      ),
      /add-request-headers/,
    );
    assert.equal(
      code(() => compileTrafficPolicy({ on_http_request: [{ actions: [{ type: 'teleport' }] }] })),
      'ERR_NGROK_2201',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [{ actions: [{ type: 'jwt-validation', config: {} }] }],
        }),
      ),
      'ERR_NGROK_2201',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [
            { actions: [{ type: 'forward-internal', config: { url: 'https://x.internal', on_error: 'maybe' } }] },
          ],
        }),
      ),
      'ERR_NGROK_2204',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({ on_http_response: [{ actions: [{ type: 'redirect', config: { to: '/x' } }] }] }),
      ),
      'ERR_NGROK_2202',
    );
    assert.equal(
      code(() => compileTrafficPolicy({ on_http_request: [{ actions: [] }] })),
      'ERR_NGROK_2206',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [{ actions: [{ type: 'deny' }, { type: 'add-headers', config: { headers: { a: 'b' } } }] }],
        }),
      ),
      'ERR_NGROK_2207',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [
            { actions: [{ type: 'basic-auth', config: { credentials: ['a:12345678'] } }] },
            { actions: [{ type: 'basic-auth', config: { credentials: ['b:12345678'] } }] },
          ],
        }),
      ),
      'ERR_NGROK_2239',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [{ actions: [{ type: 'basic-auth', config: { credentials: ['a:short'] } }] }],
        }),
      ),
      'ERR_NGROK_360',
    );
    assert.equal(
      code(() =>
        compileTrafficPolicy({
          on_http_request: [
            {
              actions: [
                {
                  type: 'rate-limit',
                  config: {
                    name: 'r',
                    algorithm: 'sliding_window',
                    capacity: 0,
                    rate: '60s',
                    bucket_key: ['conn.client_ip'],
                  },
                },
              ],
            },
          ],
        }),
      ),
      'ERR_NGROK_2215',
    );
  });

  it('accepts the legacy inbound/outbound phase names', () => {
    const compiled = compileTrafficPolicy({
      inbound: [{ actions: [{ type: 'deny' }] }],
      outbound: [{ actions: [{ type: 'remove-headers', config: { headers: ['server'] } }] }],
    });
    assert.equal(compiled.request.length, 1);
    assert.equal(compiled.response.length, 1);
  });
});
