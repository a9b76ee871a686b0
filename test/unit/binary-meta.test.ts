// The binary form of HTTP Opens and response heads (protocol/binary-meta.ts): every field and size
// class round-trips exactly; what the layout cannot carry falls back to JSON; random, truncated and
// corrupted payloads are refused with a coded ProtocolError, never another exception; and a session
// fed such frames ends with a clean GoAway instead of throwing.
import assert from 'node:assert/strict';
import {
  decodeHttpOpen,
  decodeHttpResponseHead,
  encodeBinaryMeta,
  KIND_HTTP_OPEN,
  KIND_HTTP_RESPONSE,
} from '../../tunnel/src/protocol/binary-meta';
import {
  decodeFrames,
  encodeFrame,
  FLAG_BINARY,
  FLAG_FIN,
  FrameType,
  ProtocolError,
  type Frame,
} from '../../tunnel/src/protocol/frames';
import {
  httpResponseHead,
  MESSAGE_MALFORMED,
  streamOpen,
  type HttpOpen,
  type HttpResponseHead,
  type WireError,
} from '../../tunnel/src/protocol/messages';
import { MuxSession } from '../../tunnel/src/protocol/session';
import { createTransportPair } from '../../tunnel/src/protocol/transport';

/** A deterministic pseudo-random generator (xorshift32), so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function frameOf(buf: Buffer | undefined): Frame {
  assert.ok(buf, 'expected a binary frame');
  const frames = decodeFrames(buf);
  assert.equal(frames.length, 1);
  return frames[0];
}

const baseOpen: HttpOpen = {
  kind: 'http',
  binding: 'ep_0123456789abcdef',
  remoteAddr: '203.0.113.7',
  scheme: 'https',
  method: 'POST',
  url: '/api/items?x=1&y=%20',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'a.example.test', 'Content-Length', '5', 'X-Forwarded-For', '203.0.113.7'],
};

function roundTripOpen(open: HttpOpen, fin = false): HttpOpen {
  const frame = frameOf(encodeBinaryMeta(FrameType.Open, fin ? FLAG_FIN : 0, 42, open));
  assert.equal(frame.type, FrameType.Open);
  assert.equal(frame.stream, 42);
  assert.equal(frame.flags, FLAG_BINARY | (fin ? FLAG_FIN : 0));
  assert.equal(frame.payload[0], KIND_HTTP_OPEN);
  const decoded = decodeHttpOpen(frame.payload);
  // The decoded object passes the JSON form's own check: the same type, whichever form carried it.
  streamOpen(decoded, 'open');
  return decoded;
}

function roundTripHead(head: HttpResponseHead): HttpResponseHead {
  const frame = frameOf(encodeBinaryMeta(FrameType.Meta, 0, 7, head));
  assert.equal(frame.type, FrameType.Meta);
  assert.equal(frame.flags, FLAG_BINARY);
  assert.equal(frame.payload[0], KIND_HTTP_RESPONSE);
  const decoded = decodeHttpResponseHead(frame.payload);
  httpResponseHead(decoded, 'meta');
  return decoded;
}

/** Strings of each size class: empty, one, one- and two-byte length boundaries, the largest. */
const SIZES = [0, 1, 127, 255, 256, 4096, 65535];
/** ASCII, Latin-1 (Node's header decoding), two- and three-byte UTF-8, a surrogate pair. */
const ALPHABETS = ['a', 'é', 'ÿ', 'Ж', '€', '😀'];

function sized(n: number, alphabet: string): string {
  // A string of exactly n UTF-16 units (a surrogate pair is two).
  let s = '';
  while (s.length + alphabet.length <= n) s += alphabet;
  return s + 'x'.repeat(n - s.length);
}

describe('protocol: binary Open and response-head metadata', () => {
  it('round-trips an HTTP Open with every flag combination', () => {
    for (const scheme of ['http', 'https'] as const)
      for (const upgrade of [undefined, true])
        for (const logsResponse of [undefined, true])
          for (const fin of [false, true]) {
            const open: HttpOpen = { ...baseOpen, scheme };
            if (upgrade) open.upgrade = true;
            if (logsResponse) open.logsResponse = true;
            assert.deepEqual(roundTripOpen(open, fin), open);
          }
    // false is the same as absent on the wire (JSON senders leave it out too).
    assert.deepEqual(roundTripOpen({ ...baseOpen, upgrade: false as unknown as true }), baseOpen);
  });

  it('round-trips every string field in every size class and alphabet', () => {
    const fields = ['binding', 'remoteAddr', 'method', 'url', 'httpVersion'] as const;
    for (const size of SIZES)
      for (const alphabet of ALPHABETS) {
        const value = sized(size, alphabet);
        for (const field of fields) {
          const open = { ...baseOpen, [field]: value };
          assert.deepEqual(roundTripOpen(open), open, `${field} of ${size} units of ${alphabet}`);
        }
        const headers = { ...baseOpen, rawHeaders: ['X-Name', value, value.slice(0, 1000), 'v'] };
        assert.deepEqual(roundTripOpen(headers), headers);
        const head: HttpResponseHead = { kind: 'http-response', statusCode: 200, statusMessage: value, rawHeaders: [] };
        assert.deepEqual(roundTripHead(head), head);
        const headHeaders: HttpResponseHead = {
          kind: 'http-response',
          statusCode: 200,
          rawHeaders: [value, 'v', 'w', value.slice(0, 1000)],
        };
        assert.deepEqual(roundTripHead(headHeaders), headHeaders);
      }
  });

  it('round-trips header lists from none to many', () => {
    for (const n of [0, 1, 2, 50, 256, 2000]) {
      const rawHeaders: string[] = [];
      for (let i = 0; i < n; i++) rawHeaders.push(`X-H${i}`, `value ${i}`);
      const open = { ...baseOpen, rawHeaders };
      assert.deepEqual(roundTripOpen(open), open);
      const head: HttpResponseHead = {
        kind: 'http-response',
        statusCode: 204,
        statusMessage: 'No Content',
        rawHeaders,
      };
      assert.deepEqual(roundTripHead(head), head);
    }
  });

  it('round-trips every status code size and a head with or without its message', () => {
    for (const statusCode of [0, 100, 101, 200, 255, 256, 304, 599, 999, 65535]) {
      const bare: HttpResponseHead = { kind: 'http-response', statusCode, rawHeaders: ['A', 'b'] };
      assert.deepEqual(roundTripHead(bare), bare);
      const withEmpty: HttpResponseHead = { ...bare, statusMessage: '' };
      assert.deepEqual(roundTripHead(withEmpty), withEmpty);
      const withMessage: HttpResponseHead = { ...bare, statusMessage: 'Whatever It Says' };
      assert.deepEqual(roundTripHead(withMessage), withMessage);
    }
  });

  it('leaves to JSON what the layout does not carry', () => {
    const none = (type: FrameType, meta: unknown, what: string) =>
      assert.equal(encodeBinaryMeta(type, 0, 2, meta), undefined, what);
    none(FrameType.Open, { ...baseOpen, logs: [{ metadata: { a: 1 } }] }, 'policy logs');
    none(FrameType.Open, { ...baseOpen, url: 'x'.repeat(65536) }, 'a string over 65,535 units');
    none(FrameType.Open, { ...baseOpen, rawHeaders: ['X', 'y'.repeat(65536)] }, 'a long header value');
    none(FrameType.Open, { ...baseOpen, rawHeaders: ['odd'] }, 'an odd header list');
    none(FrameType.Open, { ...baseOpen, rawHeaders: Array(65532).fill('a') }, 'more than 65,535 strings');
    none(FrameType.Open, { ...baseOpen, rawHeaders: Array(3000).fill('x'.repeat(100)) }, 'over the frame limit');
    none(FrameType.Open, { ...baseOpen, method: 7 }, 'a non-string field');
    none(FrameType.Open, { ...baseOpen, scheme: 'ftp' }, 'an unknown scheme');
    none(FrameType.Open, { kind: 'tcp', binding: 'b', remoteAddr: 'r' }, 'a TCP open');
    none(FrameType.Meta, baseOpen, 'an HTTP open as Meta');
    none(FrameType.Open, { kind: 'http-response', statusCode: 200, rawHeaders: [] }, 'a head as Open');
    const head = { kind: 'http-response', statusCode: 502, rawHeaders: [] };
    none(FrameType.Meta, { ...head, error: { code: 'ERR_NGROK_8012', message: 'refused' } }, 'an agent error');
    none(FrameType.Meta, { ...head, statusCode: 65536 }, 'a status over 16 bits');
    none(FrameType.Meta, { ...head, statusCode: 200.5 }, 'a fractional status');
    none(FrameType.Meta, { kind: 'policy-logs', logs: [] }, 'policy logs Meta');
    none(FrameType.Meta, null, 'null');
  });

  it('refuses every truncation of a valid payload with a coded error', () => {
    const open = frameOf(encodeBinaryMeta(FrameType.Open, 0, 2, baseOpen)).payload;
    const head = frameOf(
      encodeBinaryMeta(FrameType.Meta, 0, 2, {
        kind: 'http-response',
        statusCode: 200,
        statusMessage: 'OK',
        rawHeaders: ['Content-Type', 'text/plain; charset=€'],
      }),
    ).payload;
    for (const [payload, decode] of [
      [open, decodeHttpOpen],
      [head, decodeHttpResponseHead],
    ] as const) {
      for (let n = 0; n < payload.length; n++) {
        assert.throws(
          () => decode(payload.subarray(0, n)),
          (err: unknown) => err instanceof ProtocolError && err.code === MESSAGE_MALFORMED,
          `prefix of ${n} bytes`,
        );
      }
      // And a byte too many.
      assert.throws(() => decode(Buffer.concat([payload, Buffer.from('z')])), ProtocolError);
    }
  });

  it('refuses wrong kinds, unknown bits and impossible counts by name', () => {
    const open = Buffer.from(frameOf(encodeBinaryMeta(FrameType.Open, 0, 2, baseOpen)).payload);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['kind', (b) => (b[0] = KIND_HTTP_RESPONSE), /not an HTTP request/],
      ['bits', (b) => (b[1] = 0x80), /unknown bits/],
      ['count too small', (b) => b.writeUInt16BE(4, 2), /strings/],
      ['count odd', (b) => b.writeUInt16BE(6, 2), /strings/],
      ['count too large', (b) => b.writeUInt16BE(65535, 2), /cut short/],
    ];
    for (const [what, corrupt, message] of cases) {
      const b = Buffer.from(open);
      corrupt(b);
      assert.throws(
        () => decodeHttpOpen(b),
        (err: unknown) => err instanceof ProtocolError && err.code === MESSAGE_MALFORMED && message.test(err.message),
        what,
      );
    }
    assert.throws(() => decodeHttpResponseHead(open), /not an HTTP response/);
  });

  it('fuzz: random bytes and corrupted payloads decode to a well-shaped value or a coded error, nothing else', () => {
    const next = rng(0x5eed);
    const valid = [
      frameOf(encodeBinaryMeta(FrameType.Open, 0, 2, baseOpen)).payload,
      frameOf(
        encodeBinaryMeta(FrameType.Meta, 0, 2, {
          kind: 'http-response',
          statusCode: 200,
          statusMessage: 'OK',
          rawHeaders: ['A', 'é', 'B', '😀'],
        }),
      ).payload,
    ];
    let refused = 0;
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      let payload: Buffer;
      if (i % 2 === 0) {
        // Random bytes, with a plausible kind and count often enough to reach the string checks.
        payload = Buffer.alloc(next() % 64);
        for (let j = 0; j < payload.length; j++) payload[j] = next() & 0xff;
        if (payload.length > 4 && next() % 2) {
          payload[0] = 1 + (next() % 2);
          payload[1] = next() % 2;
          payload.writeUInt16BE(next() % 12, 2);
        }
      } else {
        // A valid payload with one to three bytes changed.
        payload = Buffer.from(valid[next() % 2]);
        for (let k = 1 + (next() % 3); k > 0; k--) payload[next() % payload.length] = next() & 0xff;
      }
      for (const [decode, check] of [
        [decodeHttpOpen, streamOpen],
        [decodeHttpResponseHead, httpResponseHead],
      ] as const) {
        let value: unknown;
        try {
          value = decode(payload);
        } catch (err) {
          assert.ok(err instanceof ProtocolError && err.code === MESSAGE_MALFORMED, `case ${i}: ${String(err)}`);
          refused++;
          continue;
        }
        (check as (v: unknown, p: string) => unknown)(value, 'fuzz');
        decoded++;
      }
    }
    assert.ok(refused > 1000 && decoded > 100, `refused ${refused}, decoded ${decoded}`);
  });

  it('a session fed random binary Opens and Metas ends with a coded GoAway, never an exception', async () => {
    const next = rng(0xf00d);
    for (let i = 0; i < 300; i++) {
      const [a, b] = createTransportPair();
      const agentSide = new MuxSession(a, { role: 'agent', decodeOpen: decodeHttpOpen });
      // The raw edge: frames written by hand.
      const closed = new Promise<WireError | undefined>((resolve) => agentSide.once('close', resolve));
      const opened: unknown[] = [];
      agentSide.on('stream', (s, meta) => {
        s.on('error', () => undefined); // aborted when the session ends
        opened.push(meta);
      });
      agentSide.on('exchange', (_s, meta) => opened.push(meta));
      const payload = Buffer.alloc(next() % 48);
      for (let j = 0; j < payload.length; j++) payload[j] = next() & 0xff;
      if (payload.length > 4) payload[0] = KIND_HTTP_OPEN;
      const type = i % 3 === 2 ? FrameType.Meta : FrameType.Open;
      const frames = [encodeFrame(FrameType.Open, 0, 2, Buffer.from(JSON.stringify(baseOpen)))];
      frames.push(encodeFrame(type, FLAG_BINARY, type === FrameType.Meta ? 2 : 4, payload));
      b.send(Buffer.concat(frames));
      const outcome = await Promise.race([closed, new Promise((r) => setTimeout(() => r('open'), 20))]);
      if (outcome === 'open') {
        // Decoded: a well-shaped Open came out.
        assert.equal(type, FrameType.Open);
        assert.equal(opened.length, 2);
        streamOpen(opened[1], 'open');
        agentSide.close();
      } else {
        const code = (outcome as WireError | undefined)?.code;
        // A Meta: this side has no binary Meta decoder (FRAME_MALFORMED); an Open: malformed.
        assert.ok(code === MESSAGE_MALFORMED || code === 'ERR_BURROW_FRAME_MALFORMED', `case ${i}: ${code}`);
      }
    }
  });

  it('a binary Open reaches the other session as the same object, and a binary head comes back', async () => {
    const [a, b] = createTransportPair();
    const edge = new MuxSession(a, { role: 'edge', decodeMeta: decodeHttpResponseHead });
    const agent = new MuxSession(b, { role: 'agent', decodeOpen: decodeHttpOpen });
    edge.binaryMeta = agent.binaryMeta = true;
    const head: HttpResponseHead = {
      kind: 'http-response',
      statusCode: 201,
      statusMessage: 'Created',
      rawHeaders: ['A', 'b'],
    };
    const got = new Promise<[unknown, boolean]>((resolve) =>
      agent.once('stream', (stream, meta, decoded) => {
        stream.on('error', () => undefined);
        stream.sendMeta(head);
        resolve([meta, decoded]);
      }),
    );
    const stream = edge.openStream(baseOpen, true);
    stream.on('error', () => undefined);
    const meta = new Promise((resolve) => stream.once('meta', resolve));
    assert.deepEqual(await got, [baseOpen, true]);
    assert.deepEqual(await meta, head);
    edge.close();
    agent.close();
  });
});
