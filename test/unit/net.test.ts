// The shared small helpers in tunnel/src/net: CIDRs, host names, cookies, bounded bodies, raw headers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { parseSetCookie } from 'cookie';
import { checkRuleCidr } from '../../tunnel/src/edge/admin/cidr';
import { ipFilter } from '../../tunnel/src/modules/ip-restriction';
import { CidrSet, ipInCidr, isNetworkAddress, networkAddress, parseCidr, type Cidr } from '../../tunnel/src/net/cidr';
import { cookieJar, cookiePairs, serializeSetCookie, setCookiePair } from '../../tunnel/src/net/cookies';
import { normalizeHost, splitHost } from '../../tunnel/src/net/host';
import { HostRouter } from '../../tunnel/src/edge/router';
import { HostAllowList } from '../../tunnel/src/agent/api/hosts';
import { BodyTooLargeError, readBody } from '../../tunnel/src/net/body';
import {
  filterRawHeaders,
  hasRawHeader,
  rawHeader,
  rawHeadersMap,
  rawHeadersObject,
  rawHeadersText,
  rawHeaderValues,
  removeRawHeaders,
} from '../../tunnel/src/net/raw-headers';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok('cidr' in parsed, `${text}: ${JSON.stringify(parsed)}`);
  return parsed.cidr;
}

describe('net: CIDRs', () => {
  it('parses IPv4 and IPv6 ranges and refuses everything else', () => {
    assert.deepEqual(cidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(cidr(' 2001:db8::/32 '), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
    assert.deepEqual(cidr('::ffff:10.0.0.0/104'), { address: '::ffff:10.0.0.0', prefix: 104, family: 'ipv6' });
    for (const bad of ['10.0.0.0/33', '::/129', '10.1/8', '0x7f.0.0.1/8', '10.0.0.0/8/8', '10.0.0.0/-1', 'x/8', '']) {
      assert.deepEqual(parseCidr(bad), { error: 'invalid' }, bad);
    }
    assert.deepEqual(parseCidr('fe80::1%eth0/64'), { error: 'invalid' }, 'zone ids are not ranges');
    assert.deepEqual(parseCidr(42), { error: 'invalid' });
    assert.deepEqual(parseCidr('10.0.0.1'), { error: 'no-mask', address: '10.0.0.1', family: 'ipv4' });
    assert.deepEqual(parseCidr('::1', 'host'), { cidr: { address: '::1', prefix: 128, family: 'ipv6' } });
  });

  it('finds the network address of a range, v4, v6 and IPv4-mapped', () => {
    assert.equal(networkAddress(cidr('10.1.2.3/16')), '10.1.0.0');
    assert.equal(networkAddress(cidr('2001:db8::1/32')), '2001:db8::');
    assert.equal(networkAddress(cidr('::ffff:10.1.2.3/120')), '::ffff:10.1.2.0');
    assert.equal(isNetworkAddress(cidr('10.0.0.0/8')), true);
    assert.equal(isNetworkAddress(cidr('10.0.0.1/8')), false);
    assert.equal(isNetworkAddress(cidr('2001:0db8:0000::/32')), true, 'any spelling of the same address');
    assert.equal(isNetworkAddress(cidr('::/0')), true);
  });

  it('matches addresses, an IPv4-mapped client against IPv4 ranges and the other way round', () => {
    const set = new CidrSet([cidr('10.0.0.0/8'), cidr('2001:db8::/32'), cidr('::ffff:192.168.0.0/112')]);
    assert.equal(set.has('10.9.8.7'), true);
    assert.equal(set.has('::ffff:10.9.8.7'), true, 'a dual-stack listener reports IPv4 clients this way');
    assert.equal(set.has('::FFFF:a09:807'), true, 'the hex spelling of the same mapped address');
    assert.equal(set.has('192.168.4.5'), true, 'a mapped range covers the plain IPv4 address');
    assert.equal(set.has('11.0.0.1'), false);
    assert.equal(set.has('2001:db8:ffff::1'), true);
    assert.equal(set.has('2001:db9::1'), false);
    assert.equal(set.has('not an ip'), false);
    assert.equal(set.has(''), false);
    assert.equal(set.size, 3);
  });

  it('serves CEL (a bare address is one host) and the ip-restriction module', () => {
    assert.equal(ipInCidr('192.0.2.1', '192.0.2.1'), true);
    assert.equal(ipInCidr('192.0.2.2', '192.0.2.1'), false);
    assert.equal(ipInCidr('::ffff:192.0.2.9', '192.0.2.0/24'), true);
    assert.equal(ipInCidr('192.0.2.9', 'garbage'), false);
    const allowed = ipFilter({ allowCidrs: ['192.0.2.0/24'], denyCidrs: ['192.0.2.128/25'] });
    assert.equal(allowed('::ffff:192.0.2.1'), true);
    assert.equal(allowed('::ffff:192.0.2.200'), false);
    assert.equal(allowed('198.51.100.1'), false);
  });

  it('keeps the admin API wording of ngrok for IP policy rules', () => {
    const message = (c: string) => {
      try {
        checkRuleCidr(c);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    assert.match(message('2001:db8::1/32'), /Did you mean 2001:db8::\/32\?/);
    assert.match(message('10.0.0.1'), /Consider using 10\.0\.0\.1\/32/);
    assert.match(message('::1'), /Consider using ::1\/128/);
    assert.equal(message('::ffff:10.0.0.0/104'), '');
  });

  it('web_allow_hosts takes addresses and ranges through the same parser', () => {
    const hosts = new HostAllowList(['192.0.2.0/24', '[2001:db8::1]', '2001:db8:1::/48']);
    assert.equal(hosts.allows('192.0.2.7:4040'), true);
    assert.equal(hosts.allows('[2001:db8::1]:4040'), true);
    assert.equal(hosts.allows('[2001:db8:1::5]'), true);
    assert.equal(hosts.allows('[::ffff:127.0.0.1]:4040'), true, 'mapped loopback is loopback');
    assert.equal(hosts.allows('198.51.100.1'), false);
    assert.throws(() => new HostAllowList(['192.0.2.0/40']), /not a valid CIDR range/);
  });
});

describe('net: host names', () => {
  it('drops case, port and one trailing dot; keeps IPv6 in brackets', () => {
    assert.equal(normalizeHost('Example.COM.'), 'example.com');
    assert.equal(normalizeHost('Example.COM.:8080'), 'example.com');
    assert.equal(normalizeHost(' api.example.com:443 '), 'api.example.com');
    assert.equal(normalizeHost('[::1]:4040'), '[::1]');
    assert.equal(normalizeHost('[2001:DB8::1]'), '[2001:db8::1]');
    assert.equal(normalizeHost('::1'), '[::1]', 'a bare IPv6 literal has no port to drop');
    assert.equal(normalizeHost('[::1'), '');
    assert.deepEqual(splitHost('Example.COM.:8080'), { name: 'example.com', port: '8080' });
    assert.deepEqual(splitHost('[::1]:4040'), { name: '[::1]', port: '4040' });
    assert.deepEqual(splitHost('example.com'), { name: 'example.com', port: '' });
  });

  it('routes a rooted, upper-case name like the plain one', () => {
    const router = new HostRouter<string>();
    router.add('example.com', 'exact');
    router.add('*.example.net', 'wild');
    assert.equal(router.lookup('Example.COM.'), 'exact');
    assert.equal(router.lookup('EXAMPLE.com.:443'), 'exact');
    assert.equal(router.lookup('A.Example.NET.'), 'wild');
  });
});

describe('net: cookies', () => {
  it('reads every pair of a Cookie header, a repeated name included, values as sent', () => {
    assert.deepEqual(cookiePairs('a=1; b = two ;c=x%20y; flag; =v; a=3'), [
      { name: 'a', value: '1' },
      { name: 'b', value: 'two' },
      { name: 'c', value: 'x%20y' },
      { name: 'a', value: '3' },
    ]);
    assert.deepEqual(cookiePairs(['a=1', 'b=2']), [
      { name: 'a', value: '1' },
      { name: 'b', value: '2' },
    ]);
    assert.deepEqual(cookiePairs(undefined), []);
    assert.deepEqual(cookieJar('s=1; t=2; s=3').get('s'), ['1', '3']);
  });

  it('round-trips Set-Cookie headers through the library', () => {
    const value = 'v1.AbC-_x';
    const header = serializeSetCookie('__Host-s', value, { path: '/', httpOnly: true, sameSite: 'lax', secure: true });
    assert.deepEqual(setCookiePair(header), { name: '__Host-s', value });
    assert.deepEqual(
      { ...parseSetCookie(header) },
      { name: '__Host-s', value, path: '/', httpOnly: true, sameSite: 'lax', secure: true },
    );
    assert.deepEqual(cookiePairs(header.slice(0, header.indexOf(';'))), [{ name: '__Host-s', value }]);
    assert.equal(setCookiePair('no-equals-sign'), undefined);
    assert.throws(() => serializeSetCookie('s', 'a;b', {}), /invalid/, 'an unsafe value is refused, not smuggled');
  });
});

describe('net: bounded bodies', () => {
  it('reads a body up to the cap, byte for byte', async () => {
    const body = await readBody(Readable.from([Buffer.from('ab'), 'cd', Buffer.alloc(6, 1)]), 10);
    assert.deepEqual(body, Buffer.concat([Buffer.from('abcd'), Buffer.alloc(6, 1)]));
    assert.equal((await readBody(Readable.from([]), 0)).length, 0);
  });

  it('refuses one byte over the cap and stops buffering', async () => {
    const stream = new PassThrough();
    const read = readBody(stream, 10);
    stream.write(Buffer.alloc(8));
    stream.write(Buffer.alloc(3));
    await assert.rejects(read, (e: unknown) => e instanceof BodyTooLargeError && e.limit === 10);
    assert.ok(stream.destroyed, 'destroy: the stream ends at once');
  });

  it('drains the rest so a server can still answer on the connection', async () => {
    const server = http.createServer((req, res) => {
      readBody(req, 16, 'drain').then(
        (b) => res.end(`ok ${b.length}`),
        (e: Error) => res.writeHead(413).end(e.message),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const post = (bytes: number) =>
      new Promise<{ status?: number; body: string }>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST' }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        req.on('error', reject);
        req.end(Buffer.alloc(bytes));
      });
    try {
      assert.deepEqual(await post(16), { status: 200, body: 'ok 16' });
      assert.deepEqual(await post(64 * 1024), { status: 413, body: 'body larger than 16 bytes' });
    } finally {
      server.close();
    }
  });
});

describe('net: raw header lists', () => {
  const raw = ['Host', 'a.test', 'Cookie', 'x=1', 'cookie', 'y=2', ':authority', 'b.test', 'X-Id', '7'];

  it('reads values case-insensitively, in order', () => {
    assert.deepEqual(rawHeaderValues(raw, 'COOKIE'), ['x=1', 'y=2']);
    assert.equal(rawHeader(raw, 'x-id'), '7');
    assert.equal(rawHeader(raw, ':authority'), 'b.test');
    assert.equal(rawHeader(raw, 'missing'), undefined);
    assert.equal(hasRawHeader(raw, 'HOST'), true);
    assert.equal(hasRawHeader(['Odd'], 'odd'), false, 'a dangling name has no value');
  });

  it('filters into a copy and removes in place, keeping names as sent', () => {
    assert.deepEqual(
      filterRawHeaders(raw, (n) => n !== 'cookie' && !n.startsWith(':')),
      ['Host', 'a.test', 'X-Id', '7'],
    );
    const edited = [...raw];
    removeRawHeaders(edited, (n, v) => n === 'cookie' && v.startsWith('y'));
    assert.deepEqual(rawHeaderValues(edited, 'cookie'), ['x=1']);
    assert.equal(edited.length, raw.length - 2);
  });

  it('builds the HTTP/2 object, the CEL map and an HTTP/1.1 head', () => {
    assert.deepEqual(rawHeadersObject(raw), {
      host: 'a.test',
      cookie: ['x=1', 'y=2'],
      ':authority': 'b.test',
      'x-id': '7',
    });
    assert.deepEqual(rawHeadersMap(raw), { host: ['a.test'], cookie: ['x=1', 'y=2'], 'x-id': ['7'] });
    assert.equal(rawHeadersText(['Host', 'a', 'X', 'b']), 'Host: a\r\nX: b\r\n');
  });
});
