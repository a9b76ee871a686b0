// Capture's raw-bytes entry (Recording.responseBytes, issue 11 round 8): the raw path hands capture
// the response head's bytes as the upstream sent them, kept in one copy and cut into the header
// list when read. Whatever a reader gets (the exchange's fields, ngrok's JSON, HAR, curl, the raw
// message) must be byte for byte what the list entry (Recording.response with the parser's
// rawHeaders) gives for the same head: odd heads by hand and random ones, in a 50 MB store and in a
// 16 KiB one (1 KiB pages: heads larger than a page go to the side object).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CaptureStore, type CapturedExchange } from '../../tunnel/src/capture/store';
import { exchangeToNgrokJson } from '../../tunnel/src/capture/ngrok-json';
import { exchangesToHar } from '../../tunnel/src/capture/har';
import { exchangeToCurl } from '../../tunnel/src/capture/curl';
import { rawMessage } from '../../tunnel/src/capture/http';
import { findHeadEnd, parseResponseHead } from '../../tunnel/src/http1/head';

const obsText = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i)).toString('latin1');
const fields = (n: number, value: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => `X-H${i}: ${value(i)}\r\n`).join('');

const HEADS: [string, string][] = [
  ['a plain 200', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n'],
  ['no fields, no reason', 'HTTP/1.1 204\r\n\r\n'],
  ['an empty reason', 'HTTP/1.0 404 \r\nContent-Length: 5\r\n\r\n'],
  [
    'obs-text in the reason and values',
    `HTTP/1.1 200 \u00c7a ${obsText}\r\nX-Obs: ${obsText}\r\nX-Utf8: \u00c3\u00a9\r\n\r\n`,
  ],
  [
    'values padded with SP, HTAB and NBSP, empty values',
    'HTTP/1.1 200 OK\r\nX-Pad:  \t padded \t value \t \r\nX-Nbsp:\xa0kept\xa0\r\nX-Empty:\r\nX-Spaces:    \r\n\r\n',
  ],
  [
    'repeated fields in any case, in order',
    'HTTP/1.1 302 Found\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\nLocation: /x\r\nLocation: /y\r\n\r\n',
  ],
  ['colons inside values', 'HTTP/1.1 200 OK\r\nX-Url: http://a:1/b:c\r\nX-Colon::\r\n\r\n'],
  ['a 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
  ['256 fields', `HTTP/1.1 200 OK\r\n${fields(256, (i) => `v${i}`)}\r\n`],
  ['a 60,000-byte value', `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(60_000)}\r\nX-After: 1\r\n\r\n`],
  ['a head of 2 KiB (larger than a small store’s page)', `HTTP/1.1 200 OK\r\n${fields(60, () => 'x'.repeat(20))}\r\n`],
];

/** Records one exchange whose response head is `wire`, by the list entry or by the bytes entry. */
function record(store: CaptureStore, wire: Buffer, bytes: boolean, body = Buffer.from('hello')): CapturedExchange {
  const res = parseResponseHead(wire, 'GET');
  const rec = store.begin({
    tunnelName: 'web',
    remoteAddr: '127.0.0.1:40000',
    method: 'GET',
    uri: '/',
    httpVersion: '1.1',
    rawHeaders: ['Host', 'a.localhost'],
  });
  rec.requestEnd();
  if (bytes) rec.responseBytes(res.status, res.reason, res.version, wire);
  else rec.response(res.status, res.reason, res.version, res.rawHeaders);
  rec.responseData(body);
  rec.finish();
  return store.get(rec.id)!;
}

/** What readers get, with the exchange's own id and times left out. */
function readers(ex: CapturedExchange): unknown {
  const r = ex.response!;
  const json = exchangeToNgrokJson(ex) as unknown as Record<string, unknown>;
  const har = exchangesToHar([ex], {}).log.entries[0] as unknown as Record<string, unknown>;
  return {
    state: ex.state,
    response: {
      statusCode: r.statusCode,
      statusMessage: r.statusMessage,
      httpVersion: r.httpVersion,
      rawHeaders: r.rawHeaders,
      body: r.body.bytes().toString('latin1'),
    },
    json: { ...json, uri: '', id: '', start: '', duration: 0 },
    har: { ...har, _id: '', startedDateTime: '', time: 0, timings: undefined },
    curl: exchangeToCurl(ex),
    raw: rawMessage(r).toString('latin1'),
  };
}

function assertSameReadings(wire: Buffer, what: string): void {
  for (const maxTotalBytes of [50 * 1024 * 1024, 16 * 1024]) {
    // A store each: a head larger than the small store evicts whatever came before it.
    const listStore = new CaptureStore({ maxTotalBytes });
    const store = new CaptureStore({ maxTotalBytes });
    const byList = record(listStore, wire, false);
    const byBytes = record(store, wire, true);
    assert.deepEqual(readers(byBytes), readers(byList), `${what} (store of ${maxTotalBytes} B)`);
    const parsed = parseResponseHead(wire, 'GET');
    assert.deepEqual(byBytes.response!.rawHeaders, parsed.rawHeaders, `${what}: the parser's list`);
    // Once evicted, it reads as the list entry's does (empty).
    const list = byList.response!;
    const kept = byBytes.response!;
    store.clear();
    listStore.clear();
    assert.deepEqual(
      [kept.statusCode, kept.rawHeaders, kept.body.bytes().length],
      [list.statusCode, list.rawHeaders, list.body.bytes().length],
    );
  }
}

describe('capture: a response head kept as the bytes the raw path parsed', () => {
  for (const [name, text] of HEADS)
    it(`reads back ${name} as the list entry does`, () => {
      const wire = Buffer.from(text, 'latin1');
      assert.equal(findHeadEnd(wire, 128 * 1024, 'ERR_NGROK_3004'), wire.length, 'one complete head');
      assertSameReadings(wire, name);
    });

  it('reads back random heads as the list entry does (names in any case, values with SP/HTAB/NBSP and obs-text)', () => {
    const tchar = fc.constantFrom(..."!#$%&'*+-.^_`|~09azAZ".split(''));
    const vchar = fc.oneof(
      fc.constantFrom(' ', '\t', '\xa0', ':', ','),
      fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
    );
    const field = fc.tuple(
      fc.array(tchar, { minLength: 1, maxLength: 10 }).map((a) => a.join('')),
      fc.array(vchar, { maxLength: 30 }).map((a) => a.join('')),
    );
    const head = fc.record({
      status: fc.integer({ min: 200, max: 599 }),
      reason: fc.array(vchar, { maxLength: 12 }).map((a) => a.join('')),
      fields: fc.array(field, { maxLength: 30 }),
    });
    fc.assert(
      fc.property(head, (h) => {
        const text = `HTTP/1.1 ${h.status} ${h.reason}\r\n${h.fields.map(([n, v]) => `${n}:${v}\r\n`).join('')}\r\n`;
        assertSameReadings(Buffer.from(text, 'latin1'), JSON.stringify(text));
      }),
      { numRuns: 120, seed: Number(process.env.BURROW_FUZZ_SEED ?? 11) },
    );
  });

  it('ignores interim heads and a second head, as the list entry does; the copy does not alias the caller’s buffer', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const rec = store.begin({
      tunnelName: 'web',
      remoteAddr: '127.0.0.1:1',
      method: 'GET',
      uri: '/',
      httpVersion: '1.1',
      rawHeaders: [],
    });
    rec.responseBytes(100, 'Continue', '1.1', Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1'));
    assert.equal(store.get(rec.id)!.response, null, 'a 100 is not the response');
    const wire = Buffer.from('HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n', 'latin1');
    rec.responseBytes(200, 'OK', '1.1', wire);
    wire.fill(0x41);
    rec.responseBytes(500, 'Oops', '1.1', Buffer.from('HTTP/1.1 500 Oops\r\n\r\n', 'latin1'));
    rec.finish();
    const res = store.get(rec.id)!.response!;
    assert.deepEqual([res.statusCode, res.statusMessage, res.rawHeaders], [200, 'OK', ['X-A', '1']]);
  });
});
