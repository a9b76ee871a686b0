// The strict HTTP/1.1 head parser of the raw data path: edge cases by hand, property tests with
// fast-check (round trip, injected smuggling defects), and a differential test against Node's own
// parser (llhttp, through a real http.Server on loopback): whatever this parser accepts, llhttp
// accepts with the same method, target, headers and body framing.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import {
  HeadParseError,
  findHeadEnd,
  headSplitters,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
} from '../../tunnel/src/http1/head';
import { Resources, listen } from '../support/tunnel';

const req = (text: string): RequestHead => {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf);
  assert.ok(end > 0, 'complete head');
  return parseRequestHead(buf.subarray(0, end));
};
const refused = (text: string, pattern: RegExp) =>
  assert.throws(
    () => req(text),
    (e: unknown) => e instanceof HeadParseError && e.code === 'ERR_BURROW_BAD_REQUEST' && pattern.test(e.message),
  );
const res = (text: string, method = 'GET') => {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf.subarray(0, findHeadEnd(buf)), method);
};

describe('http1 head parser: edge cases', () => {
  it('parses a request head, its framing, keep-alive and upgrade', () => {
    const h = req('POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A:  v 1 \r\n\r\nhello');
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/a?b=1');
    assert.deepEqual(h.rawHeaders, ['Host', 'x', 'Content-Length', '5', 'X-A', 'v 1']);
    assert.deepEqual(h.body, { kind: 'length', length: 5 });
    assert.equal(h.keepAlive, true);
    assert.deepEqual(req('GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n').body, { kind: 'chunked' });
    assert.equal(req('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
    assert.equal(req('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive, true);
    assert.equal(req('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').keepAlive, false);
    assert.equal(
      req('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade,
      'websocket',
    );
  });

  it('refuses the smuggling shapes: CL.TE, TE.CL, duplicate CL, obs-fold, bare LF, and their cousins', () => {
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /both/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n', /both/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n', /more than one/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n', /more than one/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n', /invalid Content-Length/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n', /invalid Content-Length/);
    // llhttp takes spaces after the digits but not a tab (found by raw-upstream's differential fuzz).
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\t\r\n\r\n', /invalid Content-Length/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11 \t \r\n\r\n', /invalid Content-Length/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\t\r\nX-A: a\x00b\r\n\r\n', /invalid/);
    assert.deepEqual(req('POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\t11  \r\n\r\n').body, {
      kind: 'length',
      length: 11,
    });
    assert.throws(() => res('HTTP/1.1 200 OK\r\nContent-Length: 11\t\r\n\r\n'), /invalid Content-Length/);
    refused('GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n', /folding/);
    assert.throws(() => findHeadEnd(Buffer.from('GET / HTTP/1.1\nHost: x\r\n\r\n')), /bare LF/);
    assert.throws(() => findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: x\n\n')), /bare LF/);
    refused('GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n', /bare CR/);
    refused(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      /unsupported/,
    );
    refused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /unsupported/);
    refused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n', /unsupported/);
    refused('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', /HTTP\/1.0/);
    refused('GET / HTTP/1.1\r\nHost : x\r\n\r\n', /name/);
    refused('GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', /invalid character/);
    refused('GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n', /name/);
    refused('GET / HTTP/1.1\r\n\r\n', /without Host/);
    refused('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', /more than one Host/);
    refused('GET  / HTTP/1.1\r\nHost: x\r\n\r\n', /request line/);
    refused('GET / HTTP/1.2\r\nHost: x\r\n\r\n', /request line/);
    refused('G(T / HTTP/1.1\r\nHost: x\r\n\r\n', /request line/);
    assert.throws(() => findHeadEnd(Buffer.alloc(70 * 1024, 'a')), /larger than/);
    assert.equal(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n')), -1, 'incomplete');
  });

  it('frames responses: HEAD, 1xx, 204, 304, chunked, length, until close', () => {
    assert.deepEqual(res('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD').body, { kind: 'none' });
    assert.deepEqual(res('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').body, { kind: 'none' });
    assert.deepEqual(res('HTTP/1.1 204 No Content\r\n\r\n').body, { kind: 'none' });
    assert.deepEqual(res('HTTP/1.1 100 Continue\r\n\r\n').body, { kind: 'none' });
    assert.deepEqual(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').body, { kind: 'chunked' });
    // Node's client (llhttp) refuses a repeated Content-Length even with one value: so does the raw path.
    for (const repeated of ['Content-Length: 3\r\nContent-Length: 3', 'Content-Length: 3,3', 'Content-Length: 3, 3'])
      assert.throws(
        () => res(`HTTP/1.1 200 OK\r\n${repeated}\r\n\r\n`),
        (e: unknown) => e instanceof HeadParseError && e.code === 'ERR_NGROK_3004',
        repeated,
      );
    const close = res('HTTP/1.1 200 OK\r\n\r\n');
    assert.deepEqual(close.body, { kind: 'close' });
    assert.equal(close.keepAlive, false);
    const both = res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.deepEqual(both.body, { kind: 'chunked' });
    assert.equal(both.keepAlive, false, 'TE with CL: never reuse the connection');
    assert.equal(res('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').reason, '');
    assert.throws(
      () => res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'),
      (e: unknown) => e instanceof HeadParseError && e.code === 'ERR_NGROK_3004',
    );
    assert.throws(() => res('HTTP/1.1 2000 OK\r\n\r\n'), /status line/);
  });
});

// ---- property tests ----

const tchar = fc.constantFrom(
  ..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split(''),
);
const token = fc.array(tchar, { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const vchar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const fieldValue = fc.array(fc.oneof(vchar, fc.constant(' ')), { maxLength: 20 }).map((a) => a.join('').trim());
const headerName = token.filter(
  (n) => !['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade'].includes(n.toLowerCase()),
);
const validHead = fc.record({
  method: fc.constantFrom(...http.METHODS.filter((m) => m !== 'CONNECT')),
  target: fc.array(vchar, { minLength: 1, maxLength: 30 }).map((a) => `/${a.join('')}`),
  headers: fc.array(fc.tuple(headerName, fieldValue), { maxLength: 8 }),
  length: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
});
type ValidHead = typeof validHead extends fc.Arbitrary<infer T> ? T : never;
const render = (h: ValidHead, extra = ''): string =>
  `${h.method} ${h.target} HTTP/1.1\r\nHost: example.test\r\n${h.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${h.length !== undefined ? `Content-Length: ${h.length}\r\n` : ''}${extra}\r\n`;

describe('http1 head parser: properties (fast-check)', () => {
  it('round-trips every valid head', () => {
    fc.assert(
      fc.property(validHead, (h) => {
        const parsed = req(render(h));
        assert.equal(parsed.method, h.method);
        assert.equal(parsed.target, h.target);
        const expected = ['Host', 'example.test', ...h.headers.flat()];
        if (h.length !== undefined) expected.push('Content-Length', String(h.length));
        assert.deepEqual(parsed.rawHeaders, expected);
        assert.deepEqual(parsed.body, h.length ? { kind: 'length', length: h.length } : { kind: 'none' });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every valid head with a smuggling defect injected', () => {
    const defects = [
      'Transfer-Encoding: chunked\r\nContent-Length: 7\r\n',
      'Content-Length: 7\r\nContent-Length: 8\r\n',
      'X-Fold: a\r\n b\r\n',
      'X-Bad : a\r\n',
      'X-Nul: a\x00\r\n',
      'X-Del: a\x7f\r\n',
      'Transfer-Encoding: chunked, identity\r\n',
      'Host: second.test\r\n',
    ];
    fc.assert(
      fc.property(validHead, fc.constantFrom(...defects), (h, defect) => {
        const text = render({ ...h, length: undefined }, defect);
        assert.throws(() => req(text), HeadParseError);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(validHead, fc.nat(), (h, at) => {
        // A bare LF anywhere inside the head.
        const text = render(h);
        const lines = text.split('\r\n');
        const i = at % (lines.length - 2);
        lines[i] = `${lines[i]}\n`;
        assert.throws(() => findHeadEnd(Buffer.from(lines.join('\r\n'), 'latin1')), HeadParseError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('http1 head parser: the fast field reader agrees with the line-by-line one', () => {
  const special = fc.constantFrom(
    'Host',
    'HOST',
    'content-length',
    'Content-Length',
    'Transfer-Encoding',
    'transfer-encoding',
    'Connection',
    'Upgrade',
    'X-A',
    // Framing names in any case, and names of their lengths one character off (the fast reading
    // compares them by character, folding letters only).
    'hOsT',
    'UPGRADE',
    'cOnNeCtIoN',
    'CONTENT-LENGTH',
    'tRaNsFeR-eNcOdInG',
    'Hos+',
    'Kost',
    'Upgrad^',
    'Connectio~',
    'Content_Length',
    'Content-Lengt|',
    'Content.Length',
    'Transfer-Encodin`',
    'Transfer_Encoding',
  );
  const head = fc.tuple(
    validHead,
    fc.array(fc.tuple(special, fieldValue), { maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x2c, 0x00, 0x7f, 0xa0, 0xff, 0x41)), {
      maxLength: 3,
    }),
  );
  it('same fields, framing values and refusals (random mutations with CR, LF, SP, HT, colon, comma, CTLs, obs-text)', () => {
    let agreedOnAccepted = 0;
    fc.assert(
      fc.property(head, ([h, extra, edits]) => {
        const text = render({ ...h, length: undefined }, extra.map(([n, v]) => `${n}: ${v}\r\n`).join(''));
        const bytes = Buffer.from(text, 'latin1');
        for (const [at, byte] of edits) bytes[at % (bytes.length - 4)] = byte;
        const outcome = (split: (b: Buffer, code: HeadParseError['code']) => unknown) => {
          try {
            return split(bytes, 'ERR_BURROW_BAD_REQUEST');
          } catch (err) {
            assert.ok(err instanceof HeadParseError);
            return `refused: ${err.message}`;
          }
        };
        const fast = outcome(headSplitters.fast);
        const strict = outcome(headSplitters.strict);
        assert.deepEqual(fast, strict, JSON.stringify(bytes.toString('latin1')));
        if (typeof fast !== 'string') agreedOnAccepted++;
        // Handed a head cut short (no blank line at the end), the two still agree.
        const cut = bytes.subarray(0, edits.length ? edits[0][0] % bytes.length : bytes.length - 2);
        const read = (split: (b: Buffer, code: HeadParseError['code']) => unknown) => {
          try {
            return split(cut, 'ERR_BURROW_BAD_REQUEST');
          } catch (err) {
            return `refused: ${(err as Error).message}`;
          }
        };
        assert.deepEqual(read(headSplitters.fast), read(headSplitters.strict), JSON.stringify(cut.toString('latin1')));
      }),
      { numRuns: 3000, seed: Number(process.env.BURROW_FUZZ_SEED ?? 12) },
    );
    assert.ok(agreedOnAccepted > 500, `enough accepted heads compared (${agreedOnAccepted})`);
  });
});

// ---- differential: never accept what Node's llhttp refuses ----

describe('http1 head parser: differential against llhttp', function () {
  this.timeout(60_000);
  const resources = new Resources();
  after(() => resources.closeAll());

  it('whatever it accepts, llhttp accepts the same way (random byte mutations of valid heads)', async () => {
    let seen: { method?: string; url?: string; rawHeaders?: string[]; te?: string; cl?: string } | 'error' | undefined;
    const server = resources.server(
      http.createServer((r, rsp) => {
        seen = {
          method: r.method,
          url: r.url,
          rawHeaders: r.rawHeaders,
          te: r.headers['transfer-encoding'],
          cl: r.headers['content-length'],
        };
        rsp.end();
        r.socket.destroy();
      }),
    );
    server.on('clientError', (_e, s) => {
      seen = 'error';
      s.destroy();
    });
    const port = await listen(server);
    const llhttp = (bytes: Buffer) =>
      new Promise<typeof seen>((resolve) => {
        seen = undefined;
        const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
        s.on('error', () => undefined);
        s.on('close', () => resolve(seen));
        s.resume();
      });
    const mutation = fc.tuple(
      validHead,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
    );
    const samples = fc.sample(mutation, { numRuns: 400, seed: Number(process.env.BURROW_FUZZ_SEED ?? 11) });
    let acceptedByUs = 0;
    for (const [h, edits] of samples) {
      const bytes = Buffer.from(render({ ...h, length: undefined }), 'latin1');
      for (const [at, byte] of edits) bytes[at % (bytes.length - 4)] = byte;
      let ours: RequestHead | undefined;
      try {
        const end = findHeadEnd(bytes);
        if (end !== bytes.length) continue; // the mutation ended the head early or made it longer
        ours = parseRequestHead(bytes);
      } catch (err) {
        if (!(err instanceof HeadParseError)) throw err;
        continue;
      }
      acceptedByUs++;
      const theirs = await llhttp(bytes);
      assert.ok(
        theirs && theirs !== 'error',
        `llhttp refused a head we accept: ${JSON.stringify(bytes.toString('latin1'))}`,
      );
      assert.equal(theirs.method, ours.method);
      assert.equal(theirs.url, ours.target);
      assert.deepEqual(theirs.rawHeaders, ours.rawHeaders);
      assert.equal(theirs.te === undefined && theirs.cl === undefined, ours.body.kind === 'none');
    }
    assert.ok(acceptedByUs > 50, `enough accepted samples to compare (${acceptedByUs})`);
  });
});
