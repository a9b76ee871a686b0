// The endpoint's modules cross the wire in their own declared shape (protocol/edge-options.ts):
// every option, with every field set, survives agent → JSON → the edge's check → edge unchanged.
import assert from 'node:assert/strict';
import type { EdgeOptions } from '../../tunnel/src/model';
import { EDGE_OPTION_KEYS } from '../../tunnel/src/modules/pipeline';
import { wireEdgeOptions } from '../../tunnel/src/protocol/edge-options';
import { ShapeError } from '../../tunnel/src/protocol/shape';
import { fromWireEdgeOptions, toWireEdgeOptions } from '../../tunnel/src/wire-options';

const auth = {
  clientId: 'id',
  clientSecret: 'secret',
  scopes: ['email'],
  allowEmails: ['a@example.test'],
  allowDomains: ['example.test'],
  authzUrlParams: { prompt: 'select_account' },
  authCheckIntervalMs: 1000,
  inactivityTimeoutMs: 2000,
  maxDurationMs: 3000,
  optionsPassthrough: true,
  cookiePrefix: 'x.',
  authId: 'one',
};

/** Every option the edge knows, every field set (the oauth/oidc pair cannot share an endpoint; the wire does not care). */
const everything: Required<EdgeOptions> = {
  ipRestriction: { allowCidrs: ['10.0.0.0/8'], denyCidrs: ['10.1.0.0/16'], ipPolicies: ['ipp_1'], enforce: false },
  mutualTls: { certificateAuthorities: ['-----BEGIN CERTIFICATE-----'] },
  tlsTermination: { minVersion: '1.3' },
  userAgentFilter: { allow: ['curl/.*'], deny: ['bot'] },
  circuitBreaker: {
    errorThreshold: 0.5,
    volumeThreshold: 5,
    windowMs: 1000,
    trippedMs: 2000,
    numBuckets: 4,
    enforce: true,
  },
  webhookVerification: {
    provider: 'hmac',
    secret: 's',
    enforce: true,
    maxBodyBytes: 1024,
    header: 'X-Sig',
    algorithm: 'sha512',
    encoding: 'base64',
  },
  basicAuth: { credentials: ['user:password1'], realm: 'r', enforce: true },
  oauth: {
    ...auth,
    provider: 'github',
    endpoints: {
      authorizationUrl: 'https://a',
      tokenUrl: 'https://t',
      userinfoUrl: 'https://u',
      emailsUrl: 'https://e',
    },
  },
  oidc: { ...auth, issuerUrl: 'https://issuer.example.test', clientId: 'oidc-id', clientSecret: 'oidc-secret' },
  trafficPolicy: {
    on_http_request: [
      { name: 'n', expressions: ['req.method == "GET"'], actions: [{ type: 'deny', config: { status_code: 403 } }] },
    ],
    on_http_response: [{ actions: [{ type: 'add-headers', config: { headers: { a: 'b' } } }] }],
    on_tcp_connect: [{ actions: [{ type: 'restrict-ips', config: { allow: ['10.0.0.0/8'] } }] }],
    inbound: [{ actions: [{ type: 'deny' }] }],
    outbound: [{ actions: [{ type: 'deny' }] }],
  },
  requestHeaders: { add: ['X-A: 1'], remove: ['X-B'] },
  responseHeaders: { add: ['X-C: 1'], remove: ['X-D'] },
  compression: { algorithms: ['br', 'gzip'] },
};

describe('wire options: the modules as a bind carries them', () => {
  it('the sample sets every option the edge knows', () => {
    assert.deepEqual(Object.keys(everything).sort(), [...EDGE_OPTION_KEYS].sort());
  });

  it('survive agent → JSON → the wire check → edge unchanged, every field', () => {
    const onTheWire = JSON.parse(JSON.stringify(toWireEdgeOptions(everything))) as unknown;
    assert.deepEqual(fromWireEdgeOptions(wireEdgeOptions(onTheWire, 'edge')), everything);
  });

  it('leave out what is not set (the edge tells options apart by their keys)', () => {
    const wire = toWireEdgeOptions({ basicAuth: { credentials: ['u:password1'] }, compression: undefined });
    assert.deepEqual(wire, { basicAuth: { credentials: ['u:password1'] } });
    assert.deepEqual(Object.keys(fromWireEdgeOptions({ ipRestriction: { allowCidrs: ['1.2.3.4/32'] } })), [
      'ipRestriction',
    ]);
  });

  it('keep an option this edge does not know, for the pipeline to refuse by name', () => {
    const edge = fromWireEdgeOptions(wireEdgeOptions({ teleport: { to: 'mars' } }, 'edge'));
    assert.deepEqual(edge, { teleport: { to: 'mars' } });
  });

  it('refuse a known option of the wrong shape, naming the path', () => {
    assert.throws(
      () => wireEdgeOptions({ circuitBreaker: { errorThreshold: '0.5' } }, 'edge'),
      (e: unknown) => e instanceof ShapeError && e.path === 'edge.circuitBreaker.errorThreshold',
    );
    assert.throws(
      () => wireEdgeOptions({ oidc: { issuerUrl: 'https://i', clientId: 'c' } }, 'edge'),
      (e: unknown) => e instanceof ShapeError && e.path === 'edge.oidc.clientSecret',
    );
  });
});
