// The heads written straight into one Buffer (raw-http-forwarder.ts serializeHead: the request
// head to the upstream; raw-visitor.ts responseHead + writeResponseHead: the response head to the
// visitor) against the string builders they replaced, kept here as the reference: the same bytes,
// framing and errors for random heads (names, values with obs-text 0x80–0xFF, empty values, many
// duplicates, framing fields in any case, invalid characters), so no framing can drift.
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import fc from 'fast-check';
import { serializeHead, type RawRequestHead } from '../../tunnel/src/agent/raw-http-forwarder';
import { isField, putLatin1 } from '../../tunnel/src/http1/head';
import { rawHeaderValues } from '../../tunnel/src/net/raw-headers';
import { responseHead, responseHeadBytes, writeResponseHead } from '../../tunnel/src/edge/raw-visitor';

// ---- the reference: the string builders as they were (round 6, main b8c200a) ----

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' };
const coded = (code: string, message: string) => Object.assign(new Error(message), { code });
const R_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const R_BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const R_BAD_TARGET = /[^\x21-\xff]/;
const R_NO_BODY_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

function serializeHeadByString(head: RawRequestHead): { bytes: Buffer; framing: Framing; close: boolean } {
  if (!R_TOKEN.test(head.method))
    throw coded('ERR_INVALID_HTTP_TOKEN', `invalid method ${JSON.stringify(head.method)}`);
  if (R_BAD_TARGET.test(head.url))
    throw coded('ERR_UNESCAPED_CHARACTERS', 'request path contains unescaped characters');
  const raw = head.rawHeaders;
  let text = `${head.method} ${head.url} HTTP/1.1\r\n`;
  let length: string | undefined;
  let te: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (!R_TOKEN.test(name)) throw coded('ERR_INVALID_HTTP_TOKEN', `invalid header name ${JSON.stringify(name)}`);
    if (R_BAD_VALUE.test(value)) throw coded('ERR_INVALID_CHAR', `invalid character in header ${name}`);
    const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
    if (lower === 'content-length') {
      if (length !== undefined && length !== value) throw coded('ERR_INVALID_CHAR', 'more than one Content-Length');
      length = value;
    } else if (lower === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
    else if (lower === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    text += name + ': ' + value + '\r\n';
  }
  let framing: Framing;
  if (te !== undefined) {
    if (length !== undefined || te.split(',').at(-1)?.trim().toLowerCase() !== 'chunked')
      throw coded('ERR_INVALID_CHAR', `request framing the upstream could misread: Transfer-Encoding ${te}`);
    framing = { kind: 'chunked' };
  } else if (length !== undefined) {
    if (!/^\d{1,15}$/.test(length)) throw coded('ERR_INVALID_CHAR', `invalid Content-Length ${length}`);
    framing = Number(length) > 0 ? { kind: 'length', left: Number(length) } : { kind: 'none' };
  } else {
    framing = { kind: 'none' };
    if (!R_NO_BODY_BY_DEFAULT.has(head.method)) text += 'Content-Length: 0\r\n';
  }
  let close = false;
  if (connection === undefined) text += 'Connection: keep-alive\r\n\r\n';
  else {
    text += '\r\n';
    for (const t of connection.toLowerCase().split(','))
      if (t.trim() === 'close' || t.trim() === 'upgrade') close = true;
  }
  return { bytes: Buffer.from(text, 'latin1'), framing, close };
}

const V_TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const V_INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const V_CHUNKED_TE = /(?:^|\W)chunked(?:$|\W)/i;
type Req = { method: string; version: '1.0' | '1.1'; rawHeaders: string[]; keepAlive: boolean };

function responseHeadByString(
  req: Req,
  status: number,
  message: string | undefined,
  rawHeaders: readonly string[],
  keepAliveTimeoutMs: number,
  mayKeepAlive: boolean,
  date: string,
) {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new Error(`Invalid status code: ${status}`);
  const reason = message || STATUS_CODES[status] || 'unknown';
  if (V_INVALID_VALUE.test(reason)) throw new Error('Invalid character in statusMessage');
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  let length: number | undefined;
  let hasLength = false;
  let hasDate = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    if (!V_TOKEN.test(name)) throw new Error(`Header name must be a valid HTTP token ["${name}"]`);
    if (value === undefined || V_INVALID_VALUE.test(value))
      throw new Error(`Invalid character in header content ["${name}"]`);
    const lower = name.length === 14 || name.length === 4 ? name.toLowerCase() : '';
    if (lower === 'content-length') {
      hasLength = true;
      length = /^\d+$/.test(value) ? Number(value) : undefined;
    } else if (lower === 'date') hasDate = true;
    text += `${name}: ${value}\r\n`;
  }
  if (!hasDate) text += `Date: ${date}\r\n`;
  const bodiless = req.method === 'HEAD' || status < 200 || status === 204 || status === 304;
  const chunkedByDefault = req.version === '1.1' || V_CHUNKED_TE.test(rawHeaderValues(req.rawHeaders, 'te').join(', '));
  let last = false;
  if (req.keepAlive && mayKeepAlive && (hasLength || chunkedByDefault)) {
    text += 'Connection: keep-alive\r\n';
    if (keepAliveTimeoutMs) text += `Keep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`;
  } else {
    last = true;
    text += 'Connection: close\r\n';
  }
  let chunked = false;
  if (!hasLength && !bodiless) {
    if (chunkedByDefault) {
      text += 'Transfer-Encoding: chunked\r\n';
      chunked = true;
    } else last = true;
  }
  const framing: { text: string; chunked: boolean; last: boolean; bodiless: boolean; length?: number } = {
    text: `${text}\r\n`,
    chunked,
    last,
    bodiless,
  };
  if (hasLength) framing.length = length;
  return framing;
}

// ---- random heads ----

/** Characters of values: mostly printable ASCII, obs-text, SP/HTAB. */
const valueChar = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 4, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  { weight: 1, arbitrary: fc.constantFrom(0x09, 0x20) },
);
const text = (maxLength: number, char = valueChar) =>
  fc.array(char, { maxLength, size: 'max' }).map((codes) => String.fromCharCode(...codes));
/** A value with one character that is refused (a control, DEL, above 0xFF). */
const refusedValue = fc
  .tuple(text(30), fc.constantFrom(0x00, 0x0a, 0x0d, 0x7f, 0x100, 0x2028), text(30))
  .map(([a, c, b]) => a + String.fromCharCode(c) + b);
/** Values: short, empty, long (over the writers' short-piece length), numbers, now and then a refused one. */
const value = fc.oneof(
  { weight: 6, arbitrary: text(20) },
  { weight: 1, arbitrary: refusedValue },
  { weight: 2, arbitrary: text(60) },
  { weight: 2, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: text(400) },
  { weight: 2, arbitrary: fc.nat({ max: 100_000 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('chunked', 'gzip, chunked', 'chunked, gzip', 'close', 'keep-alive, Upgrade'),
  },
);
const tokenChar = fc.constantFrom(..."abcXYZ-_.!#$%&'*+^`|~019".split(''));
/** Names: the framing ones in any case, ordinary ones, long ones, now and then an invalid one. */
const name = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Connection', 'Date', 'TE', 'Host', 'Upgrade'),
        fc.boolean(),
      )
      .map(([n, up]) => (up ? n.toUpperCase() : n.toLowerCase())),
  },
  { weight: 6, arbitrary: fc.array(tokenChar, { minLength: 1, maxLength: 12 }).map((c) => c.join('')) },
  { weight: 1, arbitrary: fc.array(tokenChar, { minLength: 49, maxLength: 80 }).map((c) => c.join('')) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a b', 'x:y', 'é', 'a\r\nb', '(x)') },
);
/** Fields: few or many, and many duplicates of one. */
const fields = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.tuple(name, value), { maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(name, fc.array(value, { minLength: 2, maxLength: 40 }))
      .map(([n, values]) => values.map((v) => [n, v] as [string, string])),
  },
  { weight: 1, arbitrary: fc.array(fc.tuple(name, value), { minLength: 40, maxLength: 120 }) },
);
const flat = (pairs: [string, string][]) => pairs.flatMap(([n, v]) => [n, v]);

function outcome<T>(fn: () => T): { ok: T } | { error: string } {
  try {
    return { ok: fn() };
  } catch (err) {
    return { error: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}` };
  }
}

describe('head writers: the same bytes as the string builders they replaced', () => {
  it('serializeHead: random request heads give the same bytes, framing and close, or the same coded error', () => {
    const method = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE') },
      { weight: 1, arbitrary: fc.array(tokenChar, { minLength: 1, maxLength: 60 }).map((c) => c.join('')) },
      { weight: 1, arbitrary: fc.constantFrom('', 'G T', 'GÉT') },
    );
    const url = fc.oneof(
      { weight: 6, arbitrary: text(30, fc.integer({ min: 0x21, max: 0x7e })).map((t) => `/${t}`) },
      { weight: 2, arbitrary: text(200, fc.integer({ min: 0x21, max: 0xff })).map((t) => `/${t}`) },
      { weight: 1, arbitrary: text(20).map((t) => `/${t}`) },
    );
    let compared = 0;
    let refused = 0;
    fc.assert(
      fc.property(method, url, fields, (m, u, pairs) => {
        const head = { method: m, url: u, rawHeaders: flat(pairs) };
        const want = outcome(() => serializeHeadByString(head));
        const got = outcome(() => serializeHead(head));
        if ('error' in want) {
          refused++;
          assert.deepEqual(got, want);
          return;
        }
        compared++;
        assert.ok('ok' in got, `refused: ${'error' in got ? got.error : ''}`);
        assert.equal(got.ok.bytes.toString('latin1'), want.ok.bytes.toString('latin1'));
        assert.ok(got.ok.bytes.equals(want.ok.bytes));
        assert.deepEqual(got.ok.framing, want.ok.framing);
        assert.equal(got.ok.close, want.ok.close);
      }),
      { numRuns: 4000, seed: 11_7 },
    );
    // Both kinds were exercised, not just one.
    assert.ok(compared > 500 && refused > 500, `${compared} written, ${refused} refused`);
  });

  it('serializeHead: the framing cases by hand (CL, chunked, none with and without an added length, Connection)', () => {
    const cases: [RawRequestHead, string][] = [
      [
        { method: 'GET', url: '/', rawHeaders: ['Host', 'a'] },
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n',
      ],
      [
        { method: 'POST', url: '/p', rawHeaders: ['Host', 'a'] },
        'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n',
      ],
      [
        { method: 'POST', url: '/p', rawHeaders: ['content-length', '5', 'Connection', 'close'] },
        'POST /p HTTP/1.1\r\ncontent-length: 5\r\nConnection: close\r\n\r\n',
      ],
      [
        {
          method: 'PUT',
          url: '/é',
          rawHeaders: ['Transfer-Encoding', 'chunked', 'X-Empty', '', 'X-O', 'caf\u00e9\u00ff'],
        },
        'PUT /é HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Empty: \r\nX-O: caf\u00e9\u00ff\r\nConnection: keep-alive\r\n\r\n',
      ],
    ];
    for (const [head, wire] of cases) {
      const got = serializeHead(head);
      assert.ok(got.bytes.equals(Buffer.from(wire, 'latin1')), JSON.stringify(got.bytes.toString('latin1')));
      assert.ok(got.bytes.equals(serializeHeadByString(head).bytes));
    }
    assert.deepEqual(serializeHead(cases[2][0]).framing, { kind: 'length', left: 5 });
    assert.equal(serializeHead(cases[2][0]).close, true);
    assert.deepEqual(serializeHead(cases[3][0]).framing, { kind: 'chunked' });
  });

  it('responseHead: random response heads give the same bytes and framing, or the same error', () => {
    const req = fc.record({
      method: fc.constantFrom('GET', 'HEAD', 'POST'),
      version: fc.constantFrom('1.0' as const, '1.1' as const),
      rawHeaders: fc.constantFrom<string[]>([], ['TE', 'chunked'], ['te', 'trailers'], ['Host', 'x']),
      keepAlive: fc.boolean(),
    });
    const status = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(100, 101, 103, 200, 201, 204, 206, 301, 304, 404, 500, 502, 599) },
      { weight: 2, arbitrary: fc.integer({ min: 100, max: 999 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 99, 1000, 200.5, -1) },
    );
    const message = fc.oneof(fc.constant(undefined), fc.constant(''), text(30));
    let compared = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        req,
        status,
        message,
        fields,
        fc.constantFrom(0, 999, 5000, 65_000),
        fc.boolean(),
        (r, s, m, pairs, keepAliveMs, may) => {
          const raw = flat(pairs);
          for (;;) {
            const date = new Date(Math.floor(Date.now() / 1000) * 1000).toUTCString();
            const want = outcome(() => responseHeadByString(r, s, m, raw, keepAliveMs, may, date));
            const got = outcome(() => {
              const f = responseHead(r, s, m, raw, keepAliveMs, may);
              return { f, bytes: responseHeadBytes(f) };
            });
            // The Date line of the string builder is this second's: try again if the second turned.
            if (new Date(Math.floor(Date.now() / 1000) * 1000).toUTCString() !== date) continue;
            if ('error' in want) {
              refused++;
              assert.deepEqual(got, want);
              return;
            }
            compared++;
            assert.ok('ok' in got, `refused: ${'error' in got ? got.error : ''}`);
            const { f, bytes } = got.ok;
            assert.equal(bytes.toString('latin1'), want.ok.text);
            assert.equal(bytes.length, f.headLength);
            assert.equal(f.chunked, want.ok.chunked);
            assert.equal(f.last, want.ok.last);
            assert.equal(f.bodiless, want.ok.bodiless);
            assert.equal('length' in f, 'length' in want.ok);
            assert.equal(f.length, want.ok.length);
            return;
          }
        },
      ),
      { numRuns: 4000, seed: 11_7 },
    );
    assert.ok(compared > 500 && refused > 500, `${compared} written, ${refused} refused`);
  });

  it('writeResponseHead writes at an offset, exactly headLength bytes, leaving the rest of the Buffer alone', () => {
    const f = responseHead(
      { method: 'GET', version: '1.1', rawHeaders: [], keepAlive: true },
      200,
      undefined,
      ['Content-Length', '2', 'X-Long', 'v'.repeat(100), 'Date', 'x'],
      5000,
    );
    const out = Buffer.alloc(f.headLength + 10, 0x2a);
    assert.equal(writeResponseHead(f, out, 3), 3 + f.headLength);
    assert.equal(out.subarray(0, 3).toString(), '***');
    assert.equal(out.subarray(3 + f.headLength).toString(), '*******');
    assert.equal(
      out.subarray(3, 3 + f.headLength).toString('latin1'),
      `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Long: ${'v'.repeat(100)}\r\nDate: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`,
    );
  });

  it('isField is a case-insensitive comparison of a token name with a lower-case one', () => {
    const lowers = ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date'];
    fc.assert(
      fc.property(name, fc.constantFrom(...lowers), (n, lower) => {
        assert.equal(isField(n, lower), n.toLowerCase() === lower);
      }),
      { numRuns: 2000, seed: 11_7 },
    );
    assert.equal(isField('KEEP-alive', 'keep-alive'), true);
    assert.equal(isField('Connection', 'keep-alive'), false);
  });

  it('putLatin1 writes short and long strings (loop and native call) as latin1', () => {
    for (const s of ['', 'a', '\u00e9\u00ff\u0080', 'x'.repeat(24), 'y'.repeat(24) + '\u00fe', 'z'.repeat(5000)]) {
      const out = Buffer.alloc(s.length + 2, 1);
      assert.equal(putLatin1(out, s, 1), s.length + 1);
      assert.ok(out.subarray(1, s.length + 1).equals(Buffer.from(s, 'latin1')));
      assert.equal(out[0], 1);
      assert.equal(out[s.length + 1], 1);
    }
  });
});
