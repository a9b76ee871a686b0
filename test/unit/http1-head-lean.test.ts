// The head parser's lean reading (issue 11 round 8): framing names compared by character, field
// lists and framing values without spare arrays, Connection / Transfer-Encoding tokens read as
// flags without token strings, and `fieldsOf` (capture's reader of a head kept as bytes). Checked
// against what they replaced: the strict line-by-line splitter's field list, and the old
// `tokensOf` (kept here as the reference).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  HeadParseError,
  TOKEN_CLOSE,
  TOKEN_KEEP_ALIVE,
  TOKEN_LAST_CHUNKED,
  TOKEN_UPGRADE,
  fieldsOf,
  findHeadEnd,
  headSplitters,
  parseRequestHead,
  parseResponseHead,
  tokenFlags,
} from '../../tunnel/src/http1/head';

/** The reading tokenFlags replaced: trimmed, lower-cased, empty ones left out. */
function tokensOf(values: string[] | undefined): string[] {
  const out: string[] = [];
  for (const v of values ?? [])
    for (const part of v.split(',')) {
      const t = part.trim();
      if (t) out.push(t.toLowerCase());
    }
  return out;
}

// What a field value may hold (validated before tokens are read): HTAB, SP..~, obs-text.
const valueChar = fc.oneof(
  fc.constantFrom(' ', '\t', '\xa0', ',', ',', '-', 'K', 'k', 'C', 'c', '\xff', '\x85', '\xc3'),
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
);
const word = fc.constantFrom(
  'close',
  'CLOSE',
  'Close',
  'keep-alive',
  'Keep-Alive',
  'KEEP-ALIVE',
  'keep_alive',
  'upgrade',
  'Upgrade',
  'chunked',
  'CHUNKED',
  'Chunked',
  'gzip',
  'chunke',
  'chunkedd',
  'clos\xe9',
);
const piece = fc.oneof(
  word,
  fc.array(valueChar, { maxLength: 6 }).map((a) => a.join('')),
);
const value = fc.array(piece, { maxLength: 6 }).map((a) => a.join(''));

describe('http1 head parser: tokens as flags', () => {
  it('tokenFlags agrees with the token list it replaced (random values: words in any case, commas, SP/HTAB/NBSP, obs-text)', () => {
    let withTokens = 0;
    fc.assert(
      fc.property(fc.option(fc.array(value, { minLength: 1, maxLength: 4 }), { nil: undefined }), (values) => {
        const tokens = tokensOf(values);
        const flags = tokenFlags(values);
        assert.equal(flags >> 4, tokens.length, 'count');
        assert.equal((flags & TOKEN_CLOSE) !== 0, tokens.includes('close'));
        assert.equal((flags & TOKEN_KEEP_ALIVE) !== 0, tokens.includes('keep-alive'));
        assert.equal((flags & TOKEN_UPGRADE) !== 0, tokens.includes('upgrade'));
        assert.equal((flags & TOKEN_LAST_CHUNKED) !== 0, tokens.at(-1) === 'chunked');
        if (tokens.length) withTokens++;
      }),
      { numRuns: 5000, seed: Number(process.env.BURROW_FUZZ_SEED ?? 8) },
    );
    assert.ok(withTokens > 2000, `enough values with tokens (${withTokens})`);
  });

  it('framing read from the flags, by hand', () => {
    const req = (t: string) => parseRequestHead(Buffer.from(t, 'latin1'));
    assert.equal(req('GET / HTTP/1.1\r\nHost: x\r\nConnection: \xa0Close\xa0\r\n\r\n').keepAlive, false);
    assert.equal(req('GET / HTTP/1.0\r\nConnection: ,KEEP-ALIVE,\r\n\r\n').keepAlive, true);
    assert.equal(req('GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n').keepAlive, false);
    assert.equal(req('GET / HTTP/1.1\r\nHost: x\r\nConnection: up, UPGRADE\r\nUpgrade: ws\r\n\r\n').upgrade, 'ws');
    assert.equal(req('GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrades\r\nUpgrade: ws\r\n\r\n').upgrade, undefined);
    assert.deepEqual(req('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , Chunked ,\r\n\r\n').body, {
      kind: 'chunked',
    });
    assert.throws(() => req('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'), /Transfer/);
    assert.throws(() => req('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n'), /Transfer/);
    const res = (t: string) => parseResponseHead(Buffer.from(t, 'latin1'), 'GET');
    assert.deepEqual(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n').body, { kind: 'chunked' });
    assert.deepEqual(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n').body, { kind: 'close' });
    assert.deepEqual(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: , \r\n\r\n').body, { kind: 'close' });
    assert.equal(res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: x, cLoSe\r\n\r\n').keepAlive, false);
  });
});

// Heads of random fields (names of the framing fields' lengths in any case, near misses, values with
// inner and outer SP/HTAB/NBSP and obs-text), some mutated by a byte.
const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const name = fc.oneof(
  fc.constantFrom('Host', 'x-a', 'Accept', 'Content-Type', 'Upgrade', 'Connection', 'Transfer-Encoding'),
  fc.array(fc.constantFrom(...tchars.split('')), { minLength: 1, maxLength: 18 }).map((a) => a.join('')),
);
const fieldValue = fc.array(fc.oneof(valueChar, fc.constantFrom(' ', '\t')), { maxLength: 24 }).map((a) => a.join(''));
const head = fc.record({
  fields: fc.array(fc.tuple(name, fieldValue), { maxLength: 12 }),
  edit: fc.option(fc.tuple(fc.nat(), fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0xa0)), { nil: undefined }),
  response: fc.boolean(),
});

describe('http1 head parser: the field list', () => {
  it('a parsed head gives the strict splitter’s field list (random fields, near-miss framing names, mutations)', () => {
    let parsed = 0;
    fc.assert(
      fc.property(head, ({ fields, edit, response }) => {
        const start = response ? 'HTTP/1.1 200 OK' : 'GET / HTTP/1.0';
        const text = `${start}\r\n${fields.map(([n, v]) => `${n}:${v}\r\n`).join('')}\r\n`;
        const bytes = Buffer.from(text, 'latin1');
        if (edit) bytes[start.length + 2 + (edit[0] % Math.max(1, bytes.length - start.length - 6))] = edit[1];
        let strict: { rawHeaders: unknown } | undefined;
        try {
          strict = headSplitters.strict(bytes, 'ERR_BURROW_BAD_REQUEST') as { rawHeaders: unknown };
        } catch (err) {
          assert.ok(err instanceof HeadParseError);
        }
        let h: { rawHeaders: string[] } | undefined;
        try {
          h = response ? parseResponseHead(bytes, 'GET') : parseRequestHead(bytes);
        } catch (err) {
          assert.ok(err instanceof HeadParseError);
        }
        if (!h) return;
        assert.ok(strict, 'parsed only what the strict splitter accepts');
        parsed++;
        const raw = h.rawHeaders;
        assert.deepEqual(raw, strict.rawHeaders);
      }),
      { numRuns: 3000, seed: Number(process.env.BURROW_FUZZ_SEED ?? 9) },
    );
    assert.ok(parsed > 1000, `enough heads parsed (${parsed})`);
  });

  it('fieldsOf reads a kept head’s text as the parser does', () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nA:\t x \xa0 \t\r\nB:\r\nC-D: \xff,  e\r\n\r\n', 'latin1');
    const h = parseResponseHead(bytes.subarray(0, findHeadEnd(bytes)), 'GET');
    const text = bytes.toString('latin1');
    assert.deepEqual(fieldsOf(text, text.indexOf('\r\n') + 2, 3), ['A', 'x \xa0', 'B', '', 'C-D', '\xff,  e']);
    assert.deepEqual(h.rawHeaders, ['A', 'x \xa0', 'B', '', 'C-D', '\xff,  e']);
  });
});
