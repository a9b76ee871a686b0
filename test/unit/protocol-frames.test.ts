/**
 * The frame codec: round trips, batching, and every malformed input it must refuse with a coded
 * ProtocolError (never another exception, never a crash).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FLAG_FIN,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_FRAME_PAYLOAD,
  ProtocolError,
  decodeFrames,
  decodeParts,
  encodeFrame,
  encodeJsonFrame,
  parseJsonPayload,
} from '../../tunnel/src/protocol/frames';

const TYPES = [
  FrameType.Control,
  FrameType.Ping,
  FrameType.Pong,
  FrameType.GoAway,
  FrameType.Open,
  FrameType.Meta,
  FrameType.Data,
  FrameType.Window,
  FrameType.Reset,
];

function rejectsWith(code: string, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code);
}

describe('protocol: frames', () => {
  it('encodes the 10-byte header: type, flags, stream u32be, length u32be', () => {
    const frame = encodeFrame(FrameType.Data, FLAG_FIN, 0x01020304, Buffer.from('abc'));
    assert.equal(frame.length, FRAME_HEADER_BYTES + 3);
    assert.deepEqual([...frame.subarray(0, 10)], [0x12, 0x01, 1, 2, 3, 4, 0, 0, 0, 3]);
    assert.equal(frame.subarray(10).toString(), 'abc');
  });

  it('round-trips every frame type, empty payloads and the largest stream id', () => {
    for (const type of TYPES) {
      const [decoded] = decodeFrames(encodeFrame(type, 0, 0xffffffff));
      assert.deepEqual(
        { ...decoded, payload: [...decoded.payload] },
        { type, flags: 0, stream: 0xffffffff, payload: [] },
      );
    }
  });

  it('decodes several frames batched in one message, payloads as views', () => {
    const message = Buffer.concat([
      encodeJsonFrame(FrameType.Control, 0, 0, { type: 'hello' }),
      encodeFrame(FrameType.Data, 0, 3, Buffer.from('x'.repeat(1000))),
      encodeFrame(FrameType.Data, FLAG_FIN, 3),
    ]);
    const frames = decodeFrames(message);
    assert.deepEqual(
      frames.map((f) => [f.type, f.flags, f.stream, f.payload.length]),
      [
        [FrameType.Control, 0, 0, 16],
        [FrameType.Data, 0, 3, 1000],
        [FrameType.Data, FLAG_FIN, 3, 0],
      ],
    );
    assert.deepEqual(parseJsonPayload(frames[0]), { type: 'hello' });
    assert.equal(frames[1].payload.buffer, message.buffer, 'no copy');
  });

  it('accepts a payload of exactly MAX_FRAME_PAYLOAD and refuses one byte more', () => {
    assert.equal(
      decodeFrames(encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(MAX_FRAME_PAYLOAD)))[0].payload.length,
      MAX_FRAME_PAYLOAD,
    );
    rejectsWith('ERR_BURROW_FRAME_TOO_LARGE', () =>
      decodeFrames(encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(MAX_FRAME_PAYLOAD + 1))),
    );
    rejectsWith('ERR_BURROW_FRAME_TOO_LARGE', () =>
      decodeFrames(encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(11)), 10),
    );
  });

  it('refuses an announced length far beyond the message before reading it', () => {
    const frame = encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(4));
    frame.writeUInt32BE(0xffffffff, 6);
    rejectsWith('ERR_BURROW_FRAME_TOO_LARGE', () => decodeFrames(frame));
  });

  it('refuses truncated headers, truncated payloads and unknown types', () => {
    const good = encodeFrame(FrameType.Data, 0, 1, Buffer.from('hello'));
    for (let cut = 1; cut < FRAME_HEADER_BYTES; cut++)
      rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => decodeFrames(good.subarray(0, cut)));
    for (let cut = FRAME_HEADER_BYTES; cut < good.length; cut++)
      rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => decodeFrames(good.subarray(0, cut)));
    // A good frame followed by a partial one is refused as a whole.
    rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => decodeFrames(Buffer.concat([good, good.subarray(0, 4)])));
    for (const type of [0x00, 0x05, 0x0f, 0x15, 0x7f, 0xff]) {
      rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => decodeFrames(encodeFrame(type as FrameType, 0, 0)));
    }
  });

  it('decodes a message given as parts (in process): a DATA header alone, its payload the next part, no copy', () => {
    const payload = Buffer.from('body bytes, not copied');
    const header = encodeFrame(FrameType.Data, FLAG_FIN, 7);
    header.writeUInt32BE(payload.length, 6);
    const batch = Buffer.concat([
      encodeJsonFrame(FrameType.Meta, 0, 7, { a: 1 }),
      encodeFrame(FrameType.Window, 0, 7, Buffer.alloc(4)),
    ]);
    const frames = decodeParts([batch, header, payload, encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(8))]);
    assert.deepEqual(
      frames.map((f) => f.type),
      [FrameType.Meta, FrameType.Window, FrameType.Data, FrameType.Ping],
    );
    assert.equal(frames[2].payload, payload, 'the very buffer that was written');
    assert.equal(frames[2].flags, FLAG_FIN);
    assert.equal(frames[2].stream, 7);
    const refused = (parts: Buffer[], pattern: RegExp) =>
      assert.throws(
        () => decodeParts(parts),
        (e: unknown) => e instanceof ProtocolError && pattern.test(e.message),
      );
    refused([header], /payload truncated/);
    refused([header, payload.subarray(1)], /payload truncated/);
    const big = Buffer.from(header);
    big.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 6);
    refused([big, Buffer.alloc(MAX_FRAME_PAYLOAD + 1)], /exceeds/);
  });

  it('decodes an empty message as no frames', () => {
    assert.deepEqual(decodeFrames(Buffer.alloc(0)), []);
  });

  it('refuses invalid JSON payloads with a coded error', () => {
    const [frame] = decodeFrames(encodeFrame(FrameType.Control, 0, 0, Buffer.from('{"type":')));
    rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => parseJsonPayload(frame));
  });

  it('round-trips arbitrary frame sequences (property)', () => {
    const frameArb = fc.record({
      type: fc.constantFrom(...TYPES),
      flags: fc.integer({ min: 0, max: 255 }),
      stream: fc.integer({ min: 0, max: 0xffffffff }),
      payload: fc.uint8Array({ maxLength: 2048 }),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), (frames) => {
        const message = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.stream, f.payload)));
        const decoded = decodeFrames(message);
        assert.deepEqual(
          decoded.map((f) => ({ ...f, payload: new Uint8Array(f.payload) })),
          frames.map((f) => ({ ...f })),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but a ProtocolError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeFrames(Buffer.from(bytes), 64);
        } catch (err) {
          assert.ok(err instanceof ProtocolError, String(err));
          assert.match(err.code, /^ERR_BURROW_FRAME_(MALFORMED|TOO_LARGE)$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('checks the type byte: exactly the nine frame types decode, every other value is refused', () => {
    for (let type = 0; type < 256; type++) {
      const message = encodeFrame(FrameType.Data, 0, 1);
      message[0] = type;
      if (TYPES.includes(type)) assert.equal(decodeFrames(message)[0].type, type);
      else rejectsWith('ERR_BURROW_FRAME_MALFORMED', () => decodeFrames(message));
    }
  });

  it('encodes JSON straight into the frame: the same bytes as encoding the JSON first (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.jsonValue(),
        fc.string({ unit: 'grapheme' }),
        (type, flags, stream, value, text) => {
          for (const v of [value, { text, value }]) {
            const frame = encodeJsonFrame(type, flags, stream, v);
            assert.deepEqual(frame, encodeFrame(type, flags, stream, Buffer.from(JSON.stringify(v))));
            const [decoded] = decodeFrames(frame);
            assert.deepEqual(parseJsonPayload(decoded), JSON.parse(JSON.stringify(v)));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
