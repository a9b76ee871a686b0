// A session message read in parts (a WebSocket message that spanned socket reads, transport.ts) is
// decoded from its parts, not from a joined copy (frames.ts decodeParts): every way of cutting a
// stream of mixed frames must give the session the same messages as one read, DATA payloads must
// stay views of the parts they came in, and a split DATA payload (FLAG_SPLIT) may come in parts.
import assert from 'node:assert/strict';
import {
  FLAG_BINARY,
  FLAG_FIN,
  FLAG_SPLIT,
  FrameType,
  ProtocolError,
  decodeFrames,
  decodeParts,
  encodeFrame,
  encodeJsonFrame,
  type Frame,
} from '../../tunnel/src/protocol/frames';
import { MuxSession, type MuxStream } from '../../tunnel/src/protocol/session';
import type { Transport } from '../../tunnel/src/protocol/transport';
import { rng } from '../support/rng';

function bytes(n: number, seed: number): Buffer {
  const random = rng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
}

/** One message of every frame kind, DATA payloads of 0 B to 20 KiB, some with FIN. */
function mixedMessage(): Buffer {
  const window = Buffer.alloc(4);
  window.writeUInt32BE(65536);
  return Buffer.concat([
    encodeJsonFrame(FrameType.Control, 0, 0, { type: 'bind', id: 1, proto: 'http' }),
    encodeJsonFrame(FrameType.Open, 0, 2, { kind: 'http', method: 'GET', path: '/a', headers: [['host', 'x']] }),
    encodeFrame(FrameType.Open, FLAG_BINARY | FLAG_FIN, 4, bytes(300, 1)),
    encodeFrame(FrameType.Data, 0, 2, bytes(1, 2)),
    encodeFrame(FrameType.Data, 0, 2, bytes(3000, 3)),
    encodeFrame(FrameType.Window, 0, 4, window),
    encodeFrame(FrameType.Data, 0, 6, bytes(20_000, 4)),
    encodeJsonFrame(FrameType.Meta, 0, 6, { status: 200, headers: [['content-type', 'text/plain']] }),
    encodeFrame(FrameType.Ping, 0, 0, bytes(8, 5)),
    encodeFrame(FrameType.Data, FLAG_FIN, 2, bytes(100, 6)),
    encodeFrame(FrameType.Data, FLAG_FIN, 8),
    encodeJsonFrame(FrameType.Reset, 0, 6, { code: 'ERR_X', message: 'gone' }),
    encodeFrame(FrameType.Data, FLAG_FIN, 10, bytes(5000, 7)),
  ]);
}

/**
 * What the session does with the frames: DATA as bytes per stream (pieces of one payload, or
 * consecutive DATA frames of a stream, joined until a FIN), the rest frame by frame.
 */
function messages(frames: Frame[]): string[] {
  const out: { type: number; flags: number; stream: number; payload: Buffer[] }[] = [];
  for (const f of frames) {
    const last = out.at(-1);
    if (
      f.type === FrameType.Data &&
      last?.type === FrameType.Data &&
      last.stream === f.stream &&
      !(last.flags & FLAG_FIN)
    ) {
      last.payload.push(f.payload);
      last.flags = f.flags;
    } else out.push({ type: f.type, flags: f.flags, stream: f.stream, payload: [f.payload] });
  }
  return out.map((m) => `${m.type}/${m.flags}/${m.stream}/${Buffer.concat(m.payload).toString('hex')}`);
}

describe('session messages decoded from their parts (frames.ts decodeParts)', () => {
  const message = mixedMessage();
  const expected = messages(decodeFrames(message));

  it('every split point of a message of mixed frames gives the same messages as one read', () => {
    for (let at = 0; at <= message.length; at++) {
      const got = messages(decodeParts([message.subarray(0, at), message.subarray(at)]));
      if (got.join() !== expected.join()) assert.deepEqual(got, expected, `split at byte ${at}`);
    }
  });

  it('random cuts into 3 to 12 parts give the same messages', () => {
    const random = rng(42);
    for (let round = 0; round < 2_000; round++) {
      const cuts = Array.from({ length: 2 + Math.floor(random() * 10) }, () => Math.floor(random() * message.length));
      cuts.sort((a, b) => a - b);
      const parts: Buffer[] = [];
      let from = 0;
      for (const cut of [...cuts, message.length]) {
        parts.push(message.subarray(from, cut));
        from = cut;
      }
      assert.deepEqual(messages(decodeParts(parts)), expected, `cuts ${cuts.join(',')}`);
    }
  });

  it('a DATA payload across parts comes as views of the parts (no copy), FIN on its last piece only', () => {
    const payload = bytes(20_000, 9);
    const frame = encodeFrame(FrameType.Data, FLAG_FIN, 12, payload);
    const parts = [frame.subarray(0, 5_000), frame.subarray(5_000, 12_000), frame.subarray(12_000)];
    const frames = decodeParts(parts);
    assert.equal(frames.length, 3);
    frames.forEach((f, i) => {
      assert.equal(f.payload.buffer, parts[i].buffer, 'a view of its part');
      assert.equal(f.flags & FLAG_FIN, i === 2 ? FLAG_FIN : 0);
      assert.equal(f.stream, 12);
    });
    assert.deepEqual(Buffer.concat(frames.map((f) => f.payload)), payload);
  });

  it('truncated or oversized frames across parts are refused with a coded error', () => {
    const refused = (parts: Buffer[]) =>
      assert.throws(
        () => decodeParts(parts),
        (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_BURROW_FRAME_MALFORMED',
      );
    for (let at = 1; at < message.length; at += 97) {
      const cut = message.subarray(0, message.length - at);
      // Only cuts inside a frame are malformed; cuts between frames are shorter valid messages.
      let valid = true;
      try {
        decodeFrames(cut);
      } catch {
        valid = false;
      }
      if (!valid) refused([cut.subarray(0, cut.length >> 1), cut.subarray(cut.length >> 1)]);
    }
    const split = encodeFrame(FrameType.Data, FLAG_SPLIT, 2);
    split.writeUInt32BE(1000, 6);
    const tail = encodeFrame(FrameType.Ping, 0, 0, bytes(8, 1));
    // A split DATA header must end its message, in parts too.
    assert.throws(() => decodeParts([split.subarray(0, 4), split.subarray(4), tail], undefined, true), ProtocolError);
    const ok = decodeParts(
      [tail.subarray(0, 3), Buffer.concat([tail.subarray(3), split.subarray(0, 6)]), split.subarray(6)],
      undefined,
      true,
    );
    assert.equal(ok.at(-1)!.splitLength, 1000);
  });

  it('a session takes a split DATA payload in parts: the stream gets the bytes, then the FIN', async () => {
    let deliver: (m: Buffer | Buffer[]) => void = () => undefined;
    const transport: Transport = {
      send: () => undefined,
      bufferedAmount: 0,
      onMessage: (l) => (deliver = l),
      onClose: () => undefined,
      close: () => undefined,
    };
    const session = new MuxSession(transport, { role: 'agent', heartbeatIntervalMs: 60_000 });
    try {
      const got: Buffer[] = [];
      const ended = new Promise<void>((resolve) =>
        session.on('stream', (s: MuxStream) => {
          s.on('data', (d: Buffer) => got.push(d));
          s.on('end', resolve);
          s.on('error', () => undefined); // the session's close at the end resets it
        }),
      );
      const payload = bytes(200_000, 3);
      const header = encodeFrame(FrameType.Data, FLAG_SPLIT | FLAG_FIN, 2);
      header.writeUInt32BE(payload.length, 6);
      deliver(Buffer.concat([encodeJsonFrame(FrameType.Open, 0, 2, { kind: 'tcp' }), header]));
      deliver([payload.subarray(0, 65_536), payload.subarray(65_536, 131_072), payload.subarray(131_072)]);
      await ended;
      assert.deepEqual(Buffer.concat(got), payload);
      assert.equal(session.isClosed, false);
    } finally {
      session.close();
    }
  });
});
