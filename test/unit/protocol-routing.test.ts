/**
 * The pure pieces around the protocol: host routing (exact vs one-label wildcard), upstream address
 * parsing, the edge's header rewriting, edge URLs, upstream error mapping and authtoken sets.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { toAgentUrl } from '../../tunnel/src/agent/agent';
import { upstreamErrorCode } from '../../tunnel/src/agent/http-forwarder';
import { parseUpstream } from '../../tunnel/src/agent/upstream';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../tunnel/src/edge/http-proxy';
import { normalizeHost } from '../../tunnel/src/net/host';
import { HostRouter, isValidHostname } from '../../tunnel/src/edge/router';
import { TokenSet } from '../../tunnel/src/edge/tokens';

describe('protocol: host router', () => {
  it('normalizes case, port and a trailing dot', () => {
    assert.equal(normalizeHost('Swift-Otter.LOCALHOST:8480'), 'swift-otter.localhost');
    assert.equal(normalizeHost('example.test.'), 'example.test');
    assert.equal(normalizeHost('[::1]:443'), '[::1]');
  });

  it('prefers exact names, matches wildcards one label deep only', () => {
    const router = new HostRouter<string>();
    router.add('*.example.test', 'wild');
    router.add('api.example.test', 'exact');
    assert.equal(router.lookup('api.example.test'), 'exact');
    assert.equal(router.lookup('API.example.test:443'), 'exact');
    assert.equal(router.lookup('www.example.test'), 'wild');
    assert.equal(router.lookup('a.b.example.test'), undefined, 'one label deep');
    assert.equal(router.lookup('example.test'), undefined, 'the wildcard does not cover its base');
    assert.equal(router.lookup('other.test'), undefined);
  });

  it('a deeper wildcard wins over a shallower one for its names', () => {
    const router = new HostRouter<string>();
    router.add('*.example.test', 'shallow');
    router.add('*.eu.example.test', 'deep');
    assert.equal(router.lookup('shop.eu.example.test'), 'deep');
    assert.equal(router.lookup('eu.example.test'), 'shallow');
  });

  it('has/get/delete address the registered name, wildcard included', () => {
    const router = new HostRouter<string>();
    router.add('*.example.test', 'wild');
    assert.equal(router.has('*.example.test'), true);
    assert.equal(router.has('x.example.test'), false, 'has() is exact, not a match');
    assert.equal(router.get('*.EXAMPLE.test'), 'wild');
    router.delete('*.example.test');
    assert.equal(router.lookup('x.example.test'), undefined);
  });

  it('validates host names', () => {
    for (const ok of ['a.localhost', 'swift-otter.localhost', '*.example.test', 'x1.y2.z3', 'a'.repeat(63) + '.test'])
      assert.ok(isValidHostname(ok), ok);
    for (const bad of [
      '',
      '-a.test',
      'a-.test',
      'a..test',
      'a b.test',
      'a_b.test',
      '*.',
      'a.*.test',
      'a'.repeat(64) + '.test',
      'é.test',
    ])
      assert.ok(!isValidHostname(bad), bad);
  });
});

describe('protocol: upstream addresses', () => {
  const cases: [string, Parameters<typeof parseUpstream>[1], ReturnType<typeof parseUpstream>][] = [
    ['3000', 'http', { kind: 'http', protocol: 'http:', host: '127.0.0.1', port: 3000, hostPort: '127.0.0.1:3000' }],
    [
      'localhost:8080',
      'http',
      { kind: 'http', protocol: 'http:', host: 'localhost', port: 8080, hostPort: 'localhost:8080' },
    ],
    [
      'http://app.internal',
      'http',
      { kind: 'http', protocol: 'http:', host: 'app.internal', port: 80, hostPort: 'app.internal:80' },
    ],
    [
      'https://app.internal',
      'http',
      { kind: 'http', protocol: 'https:', host: 'app.internal', port: 443, hostPort: 'app.internal:443' },
    ],
    [
      'https://app.internal:8443/some/path',
      'http',
      { kind: 'http', protocol: 'https:', host: 'app.internal', port: 8443, hostPort: 'app.internal:8443' },
    ],
    ['443', 'http', { kind: 'http', protocol: 'https:', host: '127.0.0.1', port: 443, hostPort: '127.0.0.1:443' }],
    [
      'example.com:443',
      'http',
      { kind: 'http', protocol: 'https:', host: 'example.com', port: 443, hostPort: 'example.com:443' },
    ],
    ['[::1]:3000', 'http', { kind: 'http', protocol: 'http:', host: '::1', port: 3000, hostPort: '[::1]:3000' }],
    ['22', 'tcp', { kind: 'tcp', host: '127.0.0.1', port: 22, hostPort: '127.0.0.1:22' }],
    ['tcp://db.internal:5432', 'tcp', { kind: 'tcp', host: 'db.internal', port: 5432, hostPort: 'db.internal:5432' }],
    ['8443', 'tls', { kind: 'tcp', host: '127.0.0.1', port: 8443, hostPort: '127.0.0.1:8443' }],
    ['file:///srv/www', 'http', { kind: 'file', root: '/srv/www' }],
  ];
  for (const [text, proto, expected] of cases) {
    it(`parses ${proto} ${text}`, () => assert.deepEqual(parseUpstream(text, proto), expected));
  }

  for (const [text, proto] of [
    ['0', 'http'],
    ['65536', 'http'],
    ['abc', 'http'],
    ['host:', 'http'],
    ['ftp://x:21', 'http'],
    [':3000', 'http'],
    ['file://relative/path', 'http'],
    ['file:///srv', 'tcp'],
    ['', 'http'],
  ] as const) {
    it(`refuses ${proto} "${text}" with ERR_BURROW_UPSTREAM_ADDR`, () => {
      assert.throws(
        () => parseUpstream(text, proto),
        (err: { code?: string; message: string }) => err.code === 'ERR_BURROW_UPSTREAM_ADDR' && err.message.length > 10,
      );
    });
  }
});

describe('protocol: edge header rewriting', () => {
  function fakeRequest(rawHeaders: string[], extra: Partial<IncomingMessage> = {}): IncomingMessage {
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
    return {
      rawHeaders,
      headers,
      socket: { remoteAddress: '::ffff:192.0.2.7' },
      httpVersion: '1.1',
      ...extra,
    } as unknown as IncomingMessage;
  }

  it('appends forwarding headers after stripping hop-by-hop ones', () => {
    const out = upstreamRequestHeaders(
      fakeRequest([
        'Host',
        'a.localhost',
        'Connection',
        'close, X-Forwarded-Host',
        'X-Forwarded-Host',
        'evil.example',
        'X-Forwarded-For',
        '10.0.0.1',
        'Transfer-Encoding',
        'chunked',
        'Accept',
        '*/*',
      ]),
      'https',
      '192.0.2.7',
      false,
    );
    assert.deepEqual(out, [
      'Host',
      'a.localhost',
      'Accept',
      '*/*',
      'X-Forwarded-For',
      '10.0.0.1, 192.0.2.7',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'a.localhost',
    ]);
  });

  it('adds Host from :authority for HTTP/2 and keeps Upgrade for websockets', () => {
    const h2 = fakeRequest([':method', 'GET', ':authority', 'b.localhost', ':path', '/'], {
      headers: { ':authority': 'b.localhost' },
    } as Partial<IncomingMessage>);
    assert.deepEqual(upstreamRequestHeaders(h2, 'https', '1.2.3.4', false).slice(0, 2), ['Host', 'b.localhost']);
    const ws = upstreamRequestHeaders(
      fakeRequest(['Host', 'c.localhost', 'Connection', 'Upgrade', 'Upgrade', 'websocket']),
      'http',
      '1.2.3.4',
      true,
    );
    assert.deepEqual(ws.slice(-4), ['Connection', 'Upgrade', 'Upgrade', 'websocket']);
  });

  it('drops ngrok-error-code (any case) and hop-by-hop headers from upstream responses', () => {
    assert.deepEqual(
      clientResponseHeaders([
        'Content-Type',
        'text/plain',
        'NGROK-Error-Code',
        'ERR_NGROK_3200',
        'Connection',
        'x-internal',
        'X-Internal',
        '1',
        'Keep-Alive',
        'timeout=5',
      ]),
      ['Content-Type', 'text/plain'],
    );
  });
});

describe('protocol: agent helpers', () => {
  it('turns edge addresses into agent endpoint URLs', () => {
    assert.equal(toAgentUrl('https://edge.example.com'), 'wss://edge.example.com/_burrow/session');
    assert.equal(toAgentUrl('http://127.0.0.1:8480'), 'ws://127.0.0.1:8480/_burrow/session');
    assert.equal(toAgentUrl('edge.example.com:9000'), 'ws://edge.example.com:9000/_burrow/session');
    assert.equal(toAgentUrl('wss://edge.example.com/custom'), 'wss://edge.example.com/custom');
    assert.throws(
      () => toAgentUrl('ftp://edge'),
      (e: { code?: string }) => e.code === 'ERR_BURROW_EDGE_URL',
    );
  });

  it('maps upstream failures to edge error codes', () => {
    const code = (c: string) => upstreamErrorCode(Object.assign(new Error(c), { code: c }));
    assert.equal(code('ECONNREFUSED'), 'ERR_NGROK_8012');
    assert.equal(code('ENOTFOUND'), 'ERR_NGROK_8012');
    assert.equal(code('HPE_INVALID_CONSTANT'), 'ERR_NGROK_3004');
    assert.equal(code('ERR_BURROW_UPSTREAM_TIMEOUT'), 'ERR_NGROK_3007');
    assert.equal(code('ERR_SSL_WRONG_VERSION_NUMBER'), 'ERR_NGROK_3002');
  });

  it('accepts only known authtokens', () => {
    const tokens = new TokenSet(['alpha', 'beta', '']);
    assert.equal(tokens.size, 2);
    assert.equal(tokens.accepts('alpha'), true);
    assert.equal(tokens.accepts('beta'), true);
    assert.equal(tokens.accepts('alph'), false);
    assert.equal(tokens.accepts(''), false);
    assert.equal(tokens.accepts(undefined), false);
    assert.equal(new TokenSet([]).accepts('alpha'), false);
    assert.equal(TokenSet.load({ env: ' one , two ' }).accepts('two'), true);
  });
});
