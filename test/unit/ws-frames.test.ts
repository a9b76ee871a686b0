// The hand-written RFC 6455 frame codec of the agent↔edge link (tunnel/src/protocol/ws-frames.ts):
// every length class, every split, masks, fragments, control frames and each violation's close code.
import assert from 'node:assert/strict';
import {
  FrameReader,
  MAX_FRAGMENTS,
  Opcode,
  WsProtocolError,
  closePayload,
  encodeFrame,
  type FrameHandlers,
  type MaskMode,
} from '../../tunnel/src/protocol/ws-frames';

type Event = [kind: 'message' | 'text' | 'ping' | 'pong', data: string] | ['close', number, string];

function reader(masked: boolean, maxPayload = 4 * 1024 * 1024): { r: FrameReader; events: Event[] } {
  const events: Event[] = [];
  const on: FrameHandlers = {
    message: (data, binary) => events.push([binary ? 'message' : 'text', data.toString('hex')]),
    ping: (p) => events.push(['ping', p.toString('hex')]),
    pong: (p) => events.push(['pong', p.toString('hex')]),
    close: (code, reason) => events.push(['close', code, reason]),
  };
  return { r: new FrameReader({ masked, maxPayload }, on), events };
}

/** A deterministic byte pattern (so a misplaced byte shows). */
function pattern(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const frame = (op: Opcode, payload: Buffer, mask: MaskMode, fin = true) =>
  Buffer.concat(encodeFrame(op, payload, mask, fin));

function expectError(masked: boolean, bytes: Buffer, code: number, message: RegExp, maxPayload?: number): void {
  const { r } = reader(masked, maxPayload);
  assert.throws(
    () => r.push(bytes),
    (err: unknown) => err instanceof WsProtocolError && err.closeCode === code && message.test(err.message),
  );
}

describe('ws-frames: the hand-written WebSocket codec', () => {
  const sizes = [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000, 1024 * 1024];

  for (const mask of ['none', 'zero', 'random'] as const) {
    it(`every length class (7, 16 and 64 bits) round-trips, mask ${mask}`, () => {
      const { r, events } = reader(mask !== 'none');
      for (const n of sizes) {
        const payload = pattern(n, n);
        const bytes = frame(Opcode.Binary, payload, mask);
        const lengthBits = n > 65535 ? 127 : n > 125 ? 126 : n;
        assert.equal(bytes[0], 0x82);
        assert.equal(bytes[1] & 0x7f, lengthBits);
        assert.equal(bytes[1] & 0x80, mask === 'none' ? 0 : 0x80);
        const header = 2 + (n > 65535 ? 8 : n > 125 ? 2 : 0) + (mask === 'none' ? 0 : 4);
        assert.equal(bytes.length, header + n);
        if (mask === 'zero') assert.equal(bytes.readUInt32BE(header - 4), 0);
        if (mask === 'random' && n >= 16) assert.notDeepEqual(bytes.subarray(header), payload, 'payload is masked');
        r.push(bytes);
        assert.deepEqual(events.pop(), ['message', payload.toString('hex')], `length ${n}`);
      }
    });
  }

  it('the payload given to encode is never changed (a random mask XORs a copy)', () => {
    const payload = pattern(70_000);
    const copy = Buffer.from(payload);
    encodeFrame(Opcode.Binary, payload, 'random');
    assert.deepEqual(payload, copy);
  });

  it('random masks differ frame to frame', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++)
      keys.add(frame(Opcode.Binary, Buffer.alloc(4), 'random').subarray(2, 6).toString('hex'));
    assert.ok(keys.size > 190, `${keys.size} distinct keys in 200 frames`);
  });

  it('a stream of frames split at every byte boundary reads the same', () => {
    const stream = Buffer.concat([
      frame(Opcode.Binary, pattern(10, 1), 'random'),
      frame(Opcode.Ping, Buffer.from('hi'), 'random'),
      frame(Opcode.Binary, pattern(300, 2), 'random'),
      frame(Opcode.Binary, pattern(0), 'random'),
      frame(Opcode.Binary, pattern(70_000, 3), 'random', false),
      frame(Opcode.Pong, Buffer.from('p'), 'random'),
      frame(Opcode.Continuation, pattern(5, 4), 'random'),
      frame(Opcode.Close, closePayload(1000, 'bye'), 'random'),
    ]);
    // Masked payloads are unmasked in place (socket chunks belong to the reader): push copies.
    const whole = reader(true);
    whole.r.push(Buffer.from(stream));
    assert.equal(whole.events.length, 7);
    assert.deepEqual(whole.events.at(-1), ['close', 1000, 'bye']);
    // Two cuts: every first cut through the headers and small frames, a second one further on.
    for (let a = 0; a <= 400; a++) {
      for (const b of [a + 1, a + 7, 70_350]) {
        if (b < a || b > stream.length) continue;
        const split = reader(true);
        split.r.push(Buffer.from(stream.subarray(0, a)));
        split.r.push(Buffer.from(stream.subarray(a, b)));
        split.r.push(Buffer.from(stream.subarray(b)));
        assert.deepEqual(split.events, whole.events, `cut at ${a}, ${b}`);
      }
    }
    // Every single cut across the whole stream, byte by byte through its headers.
    for (let a = 0; a <= stream.length; a += a < 400 || a > stream.length - 400 ? 1 : 997) {
      const split = reader(true);
      split.r.push(Buffer.from(stream.subarray(0, a)));
      split.r.push(Buffer.from(stream.subarray(a)));
      assert.deepEqual(split.events, whole.events, `cut at ${a}`);
    }
  });

  it('one byte per read, through 16- and 64-bit headers and a payload copied into a growing buffer', () => {
    const payloads = [pattern(200, 5), pattern(100_000, 6), pattern(3, 7)];
    const stream = Buffer.concat(payloads.map((p) => frame(Opcode.Binary, p, 'zero')));
    const { r, events } = reader(true);
    for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1));
    assert.deepEqual(
      events,
      payloads.map((p) => ['message', p.toString('hex')]),
    );
  });

  it('fuzzed: random messages, fragments and control frames under random splits', () => {
    for (let round = 0; round < 60; round++) {
      const random = rng(round + 1);
      const masked = round % 2 === 0;
      const mask: MaskMode = masked ? (round % 4 === 0 ? 'random' : 'zero') : 'none';
      const parts: Buffer[] = [];
      const expected: Event[] = [];
      for (let m = 0; m < 25; m++) {
        const kind = random();
        if (kind < 0.15) {
          const p = pattern(Math.floor(random() * 126), m);
          parts.push(frame(Opcode.Ping, p, mask));
          expected.push(['ping', p.toString('hex')]);
          continue;
        }
        const size = [0, 5, 125, 126, 4000, 65536, 200_000][Math.floor(random() * 7)];
        const payload = pattern(size, round * 100 + m);
        const fragments = 1 + Math.floor(random() * 4);
        let at = 0;
        for (let f = 0; f < fragments; f++) {
          const end = f === fragments - 1 ? size : Math.min(size, at + Math.floor(random() * (size + 1)));
          parts.push(
            frame(f === 0 ? Opcode.Binary : Opcode.Continuation, payload.subarray(at, end), mask, f === fragments - 1),
          );
          at = end;
          // A pong between fragments (control frames may interleave).
          if (f < fragments - 1 && random() < 0.5) {
            parts.push(frame(Opcode.Pong, Buffer.from([f]), mask));
            expected.push(['pong', Buffer.from([f]).toString('hex')]);
          }
        }
        expected.push(['message', payload.toString('hex')]);
      }
      const stream = Buffer.concat(parts);
      const { r, events } = reader(masked);
      for (let at = 0; at < stream.length;) {
        const n = random() < 0.3 ? 1 + Math.floor(random() * 16) : Math.floor(random() * 70_000);
        r.push(stream.subarray(at, at + n));
        at += n;
      }
      assert.deepEqual(events, expected, `round ${round}`);
    }
  });

  it('text messages are delivered as text; close frames with no code, a code, and a reason', () => {
    const { r, events } = reader(false);
    r.push(frame(Opcode.Text, Buffer.from('héllo'), 'none'));
    r.push(frame(Opcode.Close, Buffer.alloc(0), 'none'));
    assert.deepEqual(events, [
      ['text', Buffer.from('héllo').toString('hex')],
      ['close', 1005, ''],
    ]);
    const second = reader(false);
    second.r.push(frame(Opcode.Close, closePayload(4002, 'ERR_X: ünïcode'), 'none'));
    assert.deepEqual(second.events, [['close', 4002, 'ERR_X: ünïcode']]);
  });

  it('close reasons are cut to 123 bytes on a character boundary', () => {
    const p = closePayload(1000, 'é'.repeat(100));
    assert.ok(p.length <= 125);
    assert.equal(p.subarray(2).toString('utf8'), 'é'.repeat(61));
  });

  describe('violations throw the close code to send', () => {
    const masked = (b: number[], payload = Buffer.alloc(0)) =>
      Buffer.concat([Buffer.from(b), Buffer.alloc(4), payload]);
    const cases: [string, boolean, Buffer, number, RegExp][] = [
      ['reserved bit 1', true, masked([0xc2, 0x80]), 1002, /reserved bits/],
      ['reserved bit 3', false, Buffer.from([0x92, 0x00]), 1002, /reserved bits/],
      ['opcode 3', true, masked([0x83, 0x80]), 1002, /unknown opcode 3/],
      ['opcode 11', true, masked([0x8b, 0x80]), 1002, /unknown opcode 11/],
      ['a control frame over 125 bytes', true, masked([0x89, 0x80 | 126, 0, 126]), 1002, /longer than 125/],
      ['a fragmented control frame', true, masked([0x09, 0x80]), 1002, /fragmented control/],
      ['an unmasked client frame', true, Buffer.from([0x82, 0x01, 0x61]), 1002, /unmasked frame from a client/],
      ['a masked server frame', false, masked([0x82, 0x80]), 1002, /masked frame from the server/],
      ['a continuation without a message', true, masked([0x80, 0x80]), 1002, /continuation frame without/],
      [
        'a new message inside a fragmented one',
        true,
        Buffer.concat([masked([0x02, 0x80]), masked([0x82, 0x80])]),
        1002,
        /before the last fragment/,
      ],
      [
        'a 64-bit length with its top bit set',
        false,
        Buffer.from([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]),
        1002,
        /top bit/,
      ],
      ['a close frame with one byte', false, Buffer.from([0x88, 1, 3]), 1002, /1-byte payload/],
      ['close code 1005 on the wire', false, Buffer.from([0x88, 2, 0x03, 0xed]), 1002, /invalid close code 1005/],
      ['close code 2000', false, Buffer.from([0x88, 2, 0x07, 0xd0]), 1002, /invalid close code 2000/],
      ['a close reason that is not UTF-8', false, Buffer.from([0x88, 3, 0x03, 0xe8, 0xff]), 1007, /UTF-8/],
      ['a text message that is not UTF-8', false, Buffer.from([0x81, 2, 0xc3, 0x28]), 1007, /UTF-8/],
    ];
    for (const [name, isServer, bytes, code, message] of cases) {
      it(`${name}: ${code}`, () => expectError(isServer, bytes, code, message));
    }

    it('a message over maxPayload: 1009, from its header alone (16- and 64-bit lengths)', () => {
      expectError(false, Buffer.from([0x82, 126, 0x04, 0x01]), 1009, /larger than 1024/, 1024);
      expectError(false, Buffer.from([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]), 1009, /larger than/);
    });

    it('a fragmented message over maxPayload in total: 1009 at the fragment that crosses it', () => {
      const first = frame(Opcode.Binary, Buffer.alloc(600), 'none', false);
      const second = frame(Opcode.Continuation, Buffer.alloc(600), 'none');
      const { r } = reader(false, 1024);
      r.push(first);
      assert.throws(
        () => r.push(second),
        (e: unknown) => e instanceof WsProtocolError && e.closeCode === 1009,
      );
    });

    it(`a message in more than ${MAX_FRAGMENTS} fragments: 1009`, () => {
      const { r } = reader(false);
      const empty = frame(Opcode.Continuation, Buffer.alloc(0), 'none', false);
      r.push(frame(Opcode.Binary, Buffer.alloc(1), 'none', false));
      assert.throws(
        () => {
          for (let i = 0; i < MAX_FRAGMENTS; i++) r.push(empty);
        },
        (e: unknown) => e instanceof WsProtocolError && e.closeCode === 1009,
      );
    });

    it('after stop() nothing more is read', () => {
      const { r, events } = reader(false);
      r.stop();
      r.push(frame(Opcode.Binary, Buffer.from('x'), 'none'));
      assert.deepEqual(events, []);
    });
  });
});
