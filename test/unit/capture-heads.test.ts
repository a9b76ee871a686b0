// The capture store keeps each head as bytes in its pages (a table of line lengths and the lines'
// Latin-1 or UTF-8 text) and decodes it when the API reads it. What the API reads must be exactly
// what the data path recorded, as it was when heads were kept as strings: odd heads (repeated
// headers, obs-text bytes, characters beyond Latin-1, line feeds inside values, lone surrogates,
// thousands of headers, heads larger than a page), real parsers' output for odd wire bytes, and
// bodies that grow in place behind their head or move to segments when other writes interleave.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { CaptureStore, type CaptureStart } from '../../tunnel/src/capture/store';
import { exchangeToNgrokJson } from '../../tunnel/src/capture/ngrok-json';
import { exchangesToHar } from '../../tunnel/src/capture/har';
import { exchangeToCurl } from '../../tunnel/src/capture/curl';
import { parseRequestHead, parseResponseHead } from '../../tunnel/src/http1/head';
import { sendRaw, startCapturingServer } from './capture-support';

interface Head {
  start: CaptureStart;
  status: number;
  statusMessage: string;
  resVersion: string;
  resHeaders: string[];
}

const head = (over: Partial<CaptureStart> = {}, res: Partial<Omit<Head, 'start'>> = {}): Head => ({
  start: {
    tunnelName: 'web',
    remoteAddr: '127.0.0.1:40000',
    method: 'GET',
    uri: '/',
    httpVersion: '1.1',
    rawHeaders: ['Host', 'a.localhost'],
    ...over,
  },
  status: 200,
  statusMessage: 'OK',
  resVersion: '1.1',
  resHeaders: ['Content-Length', '0'],
  ...res,
});

const many = (n: number, value = (i: number) => `v${i}`): string[] =>
  Array.from({ length: n }, (_, i) => [`X-H${i}`, value(i)]).flat();

/** Every byte 0x80–0xFF as the Latin-1 characters a parser gives for obs-text. */
const obsText = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i)).toString('latin1');

const CASES: [string, Head][] = [
  ['a plain GET', head()],
  ['no headers at all', head({ rawHeaders: [] }, { resHeaders: [] })],
  ['an odd-length list', head({ rawHeaders: ['X-Only-Name'] }, { resHeaders: ['Y'] })],
  [
    'repeated headers, in order',
    head(
      { rawHeaders: ['Host', 'a', 'host', 'b', 'Cookie', 'x=1', 'Cookie', 'y=2', 'Host', 'a'] },
      { resHeaders: ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'set-cookie', 'c=3'] },
    ),
  ],
  ['empty names and values', head({ rawHeaders: ['', '', 'X-Empty', '', '', 'no-name'] })],
  [
    'obs-text bytes (Latin-1 characters)',
    head(
      { uri: '/caf\u00e9?q=\u00ff', rawHeaders: ['X-Obs', obsText, `N\u00e4me`, 'v'] },
      { statusMessage: `D\u00e9j\u00e0 vu ${obsText}`, resHeaders: ['X-Obs', obsText] },
    ),
  ],
  [
    'characters beyond Latin-1 (kept as UTF-8)',
    head(
      { uri: '/\u20ac/\u{1f600}', rawHeaders: ['X-Emoji', '\u{1f600} \u4e2d\u6587', 'X-Mixed', `${obsText}\u0100`] },
      { statusMessage: '\u2713 fine', resHeaders: ['X-Euro', '\u20ac'] },
    ),
  ],
  [
    'a lone surrogate (not UTF-8 encodable)',
    head({ rawHeaders: ['X-Bad', 'a\ud800b'] }, { statusMessage: 'x\udc00', resHeaders: ['X', '\udfff'] }),
  ],
  [
    'line feeds, CR and NUL inside values and names',
    head(
      { uri: '/a\nb', rawHeaders: ['X-LF', 'a\nb', 'X\r\nName', 'v\r\n', 'X-Nul', '\u0000\u0000'] },
      { statusMessage: 'A\nB', resHeaders: ['X-LF', '\n', '\n', ''] },
    ),
  ],
  [
    'other versions, methods and addresses',
    head(
      { method: 'M-SEARCH', uri: '*', httpVersion: '1.0', remoteAddr: '[::1]:54321' },
      { status: 101, statusMessage: '', resVersion: '2.0' },
    ),
  ],
  ['256 headers (the raw parser’s limit)', head({ rawHeaders: many(256) }, { resHeaders: many(256) })],
  ['5,000 headers', head({ rawHeaders: many(5000) }, { resHeaders: many(5000) })],
  ['a head longer than a page (70,000 bytes in one value)', head({ rawHeaders: ['X-Big', 'x'.repeat(70_000)] })],
  [
    'more lines than a page holds (20,000 headers)',
    head({ rawHeaders: many(20_000, () => '') }, { resHeaders: many(20_000, () => '') }),
  ],
  ['a long URI', head({ uri: '/' + 'p/'.repeat(3000) + '?q=' + 'z'.repeat(5000) })],
];

function record(store: CaptureStore, h: Head, body = Buffer.from('hello')): string {
  const rec = store.begin(h.start);
  rec.requestEnd();
  rec.response(h.status, h.statusMessage, h.resVersion, h.resHeaders);
  rec.responseData(body);
  rec.finish();
  return rec.id;
}

function assertSame(store: CaptureStore, id: string, h: Head, what: string): void {
  const ex = store.get(id);
  assert.ok(ex, `${what}: kept`);
  assert.equal(ex.remoteAddr, h.start.remoteAddr, `${what}: remoteAddr`);
  assert.equal(ex.tunnelName, h.start.tunnelName, `${what}: tunnelName`);
  const req = ex.request;
  assert.deepEqual(
    { method: req.method, uri: req.uri, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders },
    {
      method: h.start.method,
      uri: h.start.uri,
      httpVersion: h.start.httpVersion,
      rawHeaders: h.start.rawHeaders,
    },
    `${what}: request`,
  );
  const res = ex.response!;
  assert.deepEqual(
    { statusCode: res.statusCode, statusMessage: res.statusMessage, httpVersion: res.httpVersion },
    { statusCode: h.status, statusMessage: h.statusMessage, httpVersion: h.resVersion },
    `${what}: response line`,
  );
  assert.deepEqual(res.rawHeaders, h.resHeaders, `${what}: response headers`);
  // Every reader still works on it.
  exchangeToNgrokJson(ex);
  exchangeToCurl(ex);
  exchangesToHar([ex], {});
}

describe('capture heads kept as bytes', () => {
  for (const [name, h] of CASES) {
    it(`gives back ${name} exactly`, () => {
      // A 50 MB store (64 KiB pages) and a 16 KiB one (1 KiB pages: most heads take the other way).
      for (const maxTotalBytes of [50 * 1024 * 1024, 16 * 1024]) {
        const store = new CaptureStore({ maxTotalBytes });
        const id = record(store, h);
        assertSame(store, id, h, `${name} (store of ${maxTotalBytes} B)`);
        assert.equal(store.get(id)!.response!.body.bytes().toString(), 'hello');
        assert.ok(store.size <= maxTotalBytes || store.count === 1, 'within the cap, or the only exchange');
      }
    });
  }

  it('gives back every head when exchanges interleave and the store evicts', () => {
    const store = new CaptureStore({ maxTotalBytes: 256 * 1024 });
    // The heads of a few KiB at most (the huge ones would take the whole store).
    const cases = CASES.filter(([, h]) => h.start.rawHeaders.length < 1000 && h.start.uri.length < 1000);
    const recs = cases.map(([, h]) => ({ h, rec: store.begin(h.start) }));
    for (const { h, rec } of [...recs].reverse()) {
      rec.requestEnd();
      rec.response(h.status, h.statusMessage, h.resVersion, h.resHeaders);
    }
    for (const { rec } of recs) {
      rec.responseData(Buffer.from(rec.id));
      rec.finish();
    }
    for (const [i, { h, rec }] of recs.entries()) {
      if (!store.get(rec.id)) continue; // evicted to make room: fine, as long as the rest reads right
      assertSame(store, rec.id, h, cases[i][0]);
      assert.equal(store.get(rec.id)!.response!.body.bytes().toString(), rec.id);
    }
    assert.equal(store.count, cases.length, 'all kept');
    // Thousands more through a full store: pages are reused and every kept head still reads right.
    const extra: [string, Head][] = [];
    for (let i = 0; i < 3000; i++) {
      const h = cases[i % cases.length][1];
      extra.push([record(store, h, Buffer.from(`body ${i}`)), h]);
    }
    for (const [id, h] of extra.slice(-200)) if (store.get(id)) assertSame(store, id, h, `exchange ${id}`);
    assert.ok(store.size <= 256 * 1024);
  });

  it('keeps times with the head: start, wait and duration', async () => {
    const byName = (prefix: string) => CASES.find(([name]) => name.startsWith(prefix))![1];
    for (const h of [byName('a plain GET'), byName('a head longer than a page')]) {
      const store = new CaptureStore({ maxTotalBytes: 1e6 });
      const before = Date.now();
      const rec = store.begin(h.start);
      const ex = store.get(rec.id)!;
      assert.ok(ex.startedAt >= before && ex.startedAt <= Date.now(), 'start');
      assert.equal(ex.waitNs, 0);
      assert.equal(ex.durationNs, 0);
      await new Promise((r) => setTimeout(r, 3));
      rec.response(200, 'OK', '1.1', []);
      assert.ok(ex.waitNs >= 2e6, `wait ${ex.waitNs}`);
      assert.equal(ex.durationNs, 0, 'no duration before the finish');
      await new Promise((r) => setTimeout(r, 3));
      rec.finish();
      assert.ok(ex.durationNs >= ex.waitNs + 2e6, `duration ${ex.durationNs}`);
      assert.equal(ex.state, 'complete');
    }
  });

  it('keeps bodies exact whether they grow in place behind the head or move to segments', () => {
    const store = new CaptureStore({ maxTotalBytes: 4 * 1024 * 1024, maxBodyBytes: 100_000 });
    const a = store.begin(head().start);
    const b = store.begin(head().start);
    const sentA: Buffer[] = [];
    const sentB: Buffer[] = [];
    const sentRes: Buffer[] = [];
    // A's first chunks follow its head; B's head then sits behind them, so A's next chunk moves
    // A's body to segments; B's body grows in place until A writes again.
    for (const [rec, sent, chunk] of [
      [a, sentA, randomBytes(100)],
      [a, sentA, randomBytes(50)],
      [b, sentB, randomBytes(10)],
      [a, sentA, randomBytes(70_000)],
      [b, sentB, randomBytes(20)],
      [b, sentB, randomBytes(5)],
      [a, sentA, randomBytes(40_000)], // over the cap: truncated at 100,000
    ] as const) {
      rec.requestData(chunk);
      sent.push(chunk);
    }
    a.requestEnd();
    a.response(200, 'OK', '1.1', ['Content-Type', 'application/octet-stream']);
    for (let i = 0; i < 5; i++) {
      const chunk = randomBytes(1000 * (i + 1));
      a.responseData(chunk);
      sentRes.push(chunk);
      if (i === 2) {
        b.requestData(Buffer.from('!'));
        sentB.push(Buffer.from('!'));
      }
    }
    a.finish();
    b.finish();
    const exA = store.get(a.id)!;
    const allA = Buffer.concat(sentA);
    assert.ok(exA.request.body.bytes().equals(allA.subarray(0, 100_000)));
    assert.equal(exA.request.body.stored, 100_000);
    assert.equal(exA.request.body.size, allA.length);
    assert.equal(exA.request.body.truncated, true);
    assert.equal(exA.request.body.complete, true);
    assert.ok(exA.response!.body.bytes().equals(Buffer.concat(sentRes)));
    assert.equal(exA.response!.body.truncated, false);
    const exB = store.get(b.id)!;
    assert.ok(exB.request.body.bytes().equals(Buffer.concat(sentB)));
    assert.equal(exB.request.body.size, Buffer.concat(sentB).length);
    // A reader's body view empties when its exchange is evicted (its pages are reused).
    const view = exB.request.body;
    store.delete(b.id);
    assert.equal(view.stored, 0);
    assert.equal(view.bytes().length, 0);
  });

  it('gives back what real parsers make of odd wire bytes (Node’s llhttp and the raw path’s parser)', async () => {
    const requests = [
      'GET /dup HTTP/1.1\r\nHost: a.localhost\r\nAccept: a\r\naccept: b\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n',
      `GET /obs-text HTTP/1.1\r\nHost: a.localhost\r\nX-Obs: ${obsText}\r\nX-Utf8: ${Buffer.from('\u00e9\u20ac', 'utf8').toString('latin1')}\r\n\r\n`,
      'GET /fold HTTP/1.1\r\nHost: a.localhost\r\nX-Fold: first\r\n  second\r\n\tthird\r\nX-After: 1\r\n\r\n',
      'GET /spaces HTTP/1.1\r\nHost: a.localhost\r\nX-Pad:   padded value \t \r\nX-Empty:\r\n\r\n',
      `GET /many HTTP/1.1\r\nHost: a.localhost\r\n${Array.from({ length: 200 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`,
    ];
    const responses = [
      `HTTP/1.1 200 \u00c7a va\r\nContent-Length: 0\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Obs: ${obsText}\r\n\r\n`,
      'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.0 204 No Content\r\nX-Fold: a\r\n b\r\n\r\n',
    ];
    let parsed = 0;
    // The raw path's parser, on the same bytes.
    for (const wire of requests)
      for (const res of responses) {
        let q, r;
        try {
          q = parseRequestHead(Buffer.from(wire, 'latin1'));
          r = parseResponseHead(Buffer.from(res, 'latin1'), q.method);
        } catch {
          continue; // refused (obs-fold): nothing to capture
        }
        parsed++;
        const store = new CaptureStore({ maxTotalBytes: 1e6 });
        const h = head(
          { method: q.method, uri: q.target, httpVersion: q.version, rawHeaders: q.rawHeaders },
          { status: r.status, statusMessage: r.reason, resVersion: r.version, resHeaders: r.rawHeaders },
        );
        assertSame(store, record(store, h), h, `raw parser: ${wire.split('\r\n')[0]} / ${res.split('\r\n')[0]}`);
      }
    assert.ok(parsed >= 8, `${parsed} pairs parsed`);
    // Node's parser behind a real socket: the capture shows what the server was given.
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const server = await startCapturingServer(store, () => ({ status: 200, headers: ['X-Ok', '1'], chunks: [] }));
    try {
      let answered = 0;
      for (const wire of requests) {
        const reply = (
          await sendRaw(server.port, wire.replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'))
        ).toString('latin1');
        if (reply.startsWith('HTTP/1.1 200')) answered++;
      }
      const kept = await server.waitFor(answered);
      assert.equal(kept.length, server.seen.length);
      for (const [i, ex] of kept.entries()) {
        const seen = server.seen[i];
        assert.deepEqual(
          [ex.request.method, ex.request.uri, ex.request.httpVersion, ex.request.rawHeaders],
          [seen.method, seen.url, seen.httpVersion, seen.rawHeaders],
          `llhttp: ${seen.url}`,
        );
        assert.equal(ex.remoteAddr, '127.0.0.1');
        assert.deepEqual(ex.response!.rawHeaders, ['X-Ok', '1']);
        assert.equal(ex.response!.statusMessage, http.STATUS_CODES[200]);
      }
      assert.ok(answered >= 4, `${answered} answered`);
    } finally {
      await server.close();
    }
  });
});
