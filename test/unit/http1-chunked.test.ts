// The streaming chunked decoder of the raw data path: by hand (extensions, trailers, what follows
// the body), round trips with fast-check over random chunkings and random read boundaries, and
// injected defects (bare LF/CR, bad sizes, missing CRLF) that must be refused, never guessed.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkedDecoder, encodeChunk, lastChunk } from '../../tunnel/src/http1/chunked';
import { HeadParseError } from '../../tunnel/src/http1/head';

/** Decodes `wire` fed in pieces cut at `cuts`; returns the body and how many bytes were the body's. */
function decode(wire: Buffer, cuts: number[] = []): { body: Buffer; used: number; done: boolean } {
  const decoder = new ChunkedDecoder();
  const pieces: Buffer[] = [];
  let used = 0;
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => Math.min(c, wire.length)))].sort((a, b) => a - b).concat(wire.length)) {
    if (cut <= at) continue;
    const part = wire.subarray(at, cut);
    if (!decoder.done) used += decoder.write(part, (p) => pieces.push(Buffer.from(p)));
    at = cut;
  }
  return { body: Buffer.concat(pieces), used, done: decoder.done };
}

const refused = (text: string, pattern: RegExp) =>
  assert.throws(
    () => decode(Buffer.from(text, 'latin1')),
    (e: unknown) => e instanceof HeadParseError && e.code === 'ERR_NGROK_3004' && pattern.test(e.message),
  );

describe('http1 chunked decoder: edge cases', () => {
  it('decodes sizes in either case, extensions, trailers, and stops where the body ends', () => {
    const wire = Buffer.from(
      '5;a=b\r\nhello\r\nA;x;y=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200 OK\r\n',
      'latin1',
    );
    const r = decode(wire);
    assert.equal(r.body.toString(), 'hello0123456789');
    assert.ok(r.done);
    assert.equal(wire.subarray(r.used).toString(), 'HTTP/1.1 200 OK\r\n', 'the next message is not eaten');
    assert.equal(decode(Buffer.from('000\r\n\r\n')).done, true);
    assert.equal(decode(Buffer.from('0010\r\n0123456789abcdef\r\n0\r\n\r\n')).body.length, 16);
    const partial = decode(Buffer.from('5\r\nhel'));
    assert.equal(partial.body.toString(), 'hel');
    assert.equal(partial.done, false);
  });

  it('refuses bare LF or CR, bad sizes, missing CRLF after data, bad trailers, overlong lines', () => {
    refused('5\nhello\r\n0\r\n\r\n', /bare LF/);
    refused('5\r\nhello\n0\r\n\r\n', /CRLF/);
    refused('5\r\nhelloXY0\r\n\r\n', /CRLF/);
    refused('5\r\r\nhello\r\n0\r\n\r\n', /bare CR/);
    refused('0\r\n\n', /bare LF/);
    refused('-5\r\nhello\r\n0\r\n\r\n', /size/);
    refused('+5\r\nhello\r\n0\r\n\r\n', /size/);
    refused('0x5\r\nhello\r\n0\r\n\r\n', /size/);
    refused(' 5\r\nhello\r\n0\r\n\r\n', /size/);
    refused('\r\nhello\r\n0\r\n\r\n', /size/);
    refused('5 5\r\nhello\r\n0\r\n\r\n', /size/);
    // Chunk extensions as Node's llhttp reads them: a name after each `;`, no whitespace around it.
    refused('2;\r\nhi\r\n0\r\n\r\n', /size/);
    refused('2 ;a\r\nhi\r\n0\r\n\r\n', /size/);
    refused('2;=b\r\nhi\r\n0\r\n\r\n', /size/);
    refused('2;a=\r\nhi\r\n0\r\n\r\n', /size/);
    refused('fffffffffffffff\r\n', /size/); // over 13 significant digits: not a safe size
    refused('0\r\nX T: 1\r\n\r\n', /trailer/);
    refused('0\r\n folded\r\n\r\n', /trailer/);
    refused('0\r\nX-T: a\x01b\r\n\r\n', /trailer/);
    refused(`5;${'x'.repeat(5000)}\r\n`, /too long/);
    refused(`0\r\n${'X-T: 1234567890\r\n'.repeat(4000)}\r\n`, /trailer section too large/);
  });

  it('encodes: one sized chunk per piece, nothing for an empty piece, a last chunk', () => {
    assert.equal(Buffer.concat(encodeChunk(Buffer.from('hello world!'))).toString(), 'c\r\nhello world!\r\n');
    assert.deepEqual(encodeChunk(Buffer.alloc(0)), []);
    assert.equal(lastChunk().toString(), '0\r\n\r\n');
  });
});

describe('http1 chunked decoder: properties (fast-check)', () => {
  const pieces = fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 12 });
  const cuts = fc.array(fc.nat(4000), { maxLength: 12 });

  it('decodes every encoding back to its body, whatever the read boundaries', () => {
    fc.assert(
      fc.property(pieces, cuts, fc.boolean(), (chunks, at, upper) => {
        const body = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        const parts: Buffer[] = [];
        for (const c of chunks) {
          if (c.length === 0) continue;
          const size = c.length.toString(16);
          parts.push(Buffer.from(`${upper ? size.toUpperCase() : size}\r\n`), Buffer.from(c), Buffer.from('\r\n'));
        }
        const next = Buffer.from('NEXT');
        const wire = Buffer.concat([...parts, lastChunk(), next]);
        const r = decode(wire, at);
        assert.ok(r.done);
        assert.deepEqual(r.body, body);
        assert.equal(r.used, wire.length - next.length);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every encoding with a framing defect injected (never reads a different body silently)', () => {
    const defects: Array<(wire: string) => string> = [
      (w) => w.replace('\r\n', '\n'), // bare LF in the first size line
      (w) => w.replace(/\r\n0\r\n/, '\n0\r\n'), // bare LF after the data
      (w) => w.replace(/^([0-9a-f]+)/, '$1 x'), // junk after the size
      (w) => w.replace(/^([0-9a-f]+)/, '-$1'),
      (w) => w.replace(/\r\n0\r\n/, 'X\r\n0\r\n'), // data longer than its size
    ];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(defects.length - 1), cuts, (data, d, at) => {
        const wire = `${data.length.toString(16)}\r\n${Buffer.from(data).toString('latin1')}\r\n0\r\n\r\n`;
        const broken = Buffer.from(defects[d](wire), 'latin1');
        assert.throws(() => decode(broken, at), HeadParseError);
      }),
      { numRuns: 300 },
    );
  });
});
