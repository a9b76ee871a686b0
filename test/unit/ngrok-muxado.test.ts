// muxado, the framing under ngrok's agent protocol: the codec (property-based), sessions over a
// real loopback TCP connection (streams, windows, FIN/RST, stream limits) and a fuzz of random
// bytes into a session, which must end with a coded error and never throw.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import {
  FLAG_FIN,
  FLAG_SYN,
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  MuxError,
  MuxadoError,
  encodeFrame,
  encodeGoAway,
  encodeU32Frame,
} from '../../tunnel/src/ngrok-protocol/frames';
import { MuxadoSession, WINDOW, type MuxadoStream } from '../../tunnel/src/ngrok-protocol/session';
import { readJson, readStreamType, field } from '../../tunnel/src/ngrok-protocol/messages';
import { parseAddress, proxyHeader } from '../../tunnel/src/ngrok-protocol/proxy-proto';
import { waitFor } from '../support/tunnel';

const validFrame = fc.oneof(
  fc.record({
    type: fc.constant(FrameType.Data),
    flags: fc.integer({ min: 0, max: 15 }),
    stream: fc.integer({ min: 1, max: 0x7fffffff }),
    payload: fc.uint8Array({ maxLength: 3000 }),
  }),
  fc.record({
    type: fc.constantFrom(FrameType.Rst, FrameType.WndInc),
    flags: fc.constant(0),
    stream: fc.integer({ min: 1, max: 0x7fffffff }),
    payload: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant(FrameType.GoAway),
    flags: fc.constant(0),
    stream: fc.constant(0),
    payload: fc.uint8Array({ minLength: 8, maxLength: 100 }),
  }),
);

describe('muxado codec', () => {
  it('header layout: u24 length, type<<4|flags, u32 stream (the wire bytes ngrok agents send)', () => {
    // The SDK's first frame: DATA|SYN opening stream 3 with 4 bytes (the heartbeat type).
    const f = encodeFrame(FrameType.Data, FLAG_SYN, 3, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal(f.subarray(0, 8).toString('hex'), '0000041200000003');
    assert.equal(encodeU32Frame(FrameType.WndInc, 2, 65536).toString('hex'), '0000042000000002' + '00010000');
    const g = encodeGoAway(7, MuxError.Protocol, 'bad');
    assert.equal(
      g.toString('hex'),
      '00000b30' + '00000000' + '00000007' + '00000001' + Buffer.from('bad').toString('hex'),
    );
  });

  it('decodes any sequence of valid frames, however the bytes are split (property)', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.stream, Buffer.from(f.payload))));
        const points = [...new Set(cuts.map((c) => (wire.length ? c % wire.length : 0)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder(WINDOW);
        const out = [];
        let last = 0;
        for (const p of [...points, wire.length]) {
          out.push(...decoder.push(wire.subarray(last, p)));
          last = p;
        }
        assert.equal(out.length, frames.length);
        out.forEach((f, i) => {
          assert.equal(f.type, frames[i].type);
          assert.equal(f.flags, frames[i].flags);
          assert.equal(f.stream, frames[i].stream);
          assert.deepEqual(new Uint8Array(f.payload), frames[i].payload);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses malformed headers with coded errors before reading their payload', () => {
    const cases: [Buffer, string, MuxError][] = [
      [header(0, 4, 0, 1), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol], // type 4 does not exist
      [header(5, FrameType.Rst, 0, 1), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.FrameSize],
      [header(4, FrameType.WndInc, 0, 0), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol],
      [header(1, FrameType.Data, 0, 0), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol],
      [header(WINDOW + 1, FrameType.Data, 0, 1), 'ERR_BURROW_MUXADO_FRAME_TOO_LARGE', MuxError.FrameSize],
      [header(7, FrameType.GoAway, 0, 0), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.FrameSize],
      [header(8, FrameType.GoAway, 0, 3), 'ERR_BURROW_MUXADO_MALFORMED', MuxError.Protocol],
    ];
    for (const [bytes, code, mux] of cases) {
      assert.throws(
        () => new FrameDecoder(WINDOW).push(bytes),
        (err: unknown) => err instanceof MuxadoError && err.code === code && err.muxCode === mux,
        bytes.toString('hex'),
      );
    }
  });
});

function header(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUIntBE(length, 0, 3);
  h[3] = (type << 4) | flags;
  h.writeUInt32BE(stream, 4);
  return h;
}

/** A server and a client session over a real loopback TCP connection. */
async function sessionPair(
  serverOptions = {},
): Promise<{ server: MuxadoSession; client: MuxadoSession; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const clientSocket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const serverSocket = await accepted;
  const server = new MuxadoSession(serverSocket, { role: 'server', ...serverOptions });
  const client = new MuxadoSession(clientSocket, { role: 'client' });
  // Streams still open when a test ends are destroyed with the session: not a test failure.
  for (const session of [server, client]) {
    session.on('stream', (st) => st.on('error', () => undefined));
    const open = session.openStream.bind(session);
    session.openStream = () => open().on('error', () => undefined) as MuxadoStream;
  }
  return {
    server,
    client,
    close() {
      clientSocket.destroy();
      serverSocket.destroy();
      listener.close();
    },
  };
}

function nextStream(session: MuxadoSession): Promise<MuxadoStream> {
  return new Promise((r) => session.once('stream', r));
}

function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

describe('muxado sessions over TCP', () => {
  it('client streams are odd, server streams even; bytes arrive intact both ways with FIN half-closes', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const up = randomBytes(3 * 1024 * 1024 + 17);
      const down = randomBytes(2 * 1024 * 1024 + 5);
      const incoming = nextStream(server);
      const c = client.openStream();
      c.end(up);
      const s = await incoming;
      assert.equal(s.id % 2, 1);
      const gotUp = await collect(s);
      assert.ok(gotUp.equals(up));
      const back = collect(c);
      s.end(down);
      assert.ok((await back).equals(down));

      const fromServer = nextStream(client);
      const sOpened = server.openStream();
      sOpened.end(Buffer.from('hello'));
      const cAccepted = await fromServer;
      assert.equal(cAccepted.id % 2, 0);
      assert.equal((await collect(cAccepted)).toString(), 'hello');
    } finally {
      close();
    }
  });

  it('a sender never has more than the 256 KiB window in flight to a reader that does not read', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const incoming = nextStream(server);
      const c = client.openStream();
      const data = randomBytes(1024 * 1024);
      let finished = false;
      c.end(data, () => (finished = true));
      const s = await incoming;
      s.pause();
      await waitFor(() => s.readableLength >= WINDOW - 64 * 1024, 5000, 'the window to fill');
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(s.readableLength <= WINDOW, `buffered ${s.readableLength}`);
      assert.equal(finished, false);
      const digest = createHash('sha256');
      s.on('data', (chunk: Buffer) => digest.update(chunk));
      s.resume();
      await new Promise((r) => s.once('end', r));
      assert.equal(digest.digest('hex'), createHash('sha256').update(data).digest('hex'));
    } finally {
      close();
    }
  });

  it('RST aborts the stream on the other side; the session lives on', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const incoming = nextStream(server);
      const c = client.openStream();
      c.write('x');
      const s = await incoming;
      const err = new Promise<Error & { code?: string }>((r) => s.once('error', r));
      c.destroy();
      assert.equal((await err).code, 'ERR_BURROW_STREAM_RESET');
      const again = nextStream(server);
      client.openStream().end('still up');
      assert.equal((await collect(await again)).toString(), 'still up');
    } finally {
      close();
    }
  });

  it('streams beyond the per-session limit are refused with RST StreamsExhausted', async () => {
    const { server, client, close } = await sessionPair({ maxPeerStreams: 3 });
    try {
      const accepted: MuxadoStream[] = [];
      server.on('stream', (s) => accepted.push(s));
      const opened = Array.from({ length: 4 }, () => {
        const s = client.openStream();
        s.on('error', () => undefined);
        s.write('hi');
        return s;
      });
      const err = new Promise<Error & { muxCode?: number }>((r) => opened[3].once('error', r));
      assert.equal((await err).muxCode, MuxError.StreamsExhausted);
      assert.equal(accepted.length, 3);
    } finally {
      close();
    }
  });

  it('typed streams and one JSON RPC body read incrementally without the peer half-closing', async () => {
    const { server, client, close } = await sessionPair();
    try {
      const incoming = nextStream(server);
      const c = client.openStream();
      const type = Buffer.alloc(4);
      type.writeUInt32BE(1);
      c.write(Buffer.concat([type, Buffer.from('{"Id":"","pRoTo":"ht')]));
      const s = await incoming;
      assert.equal(await readStreamType(s), 1);
      setTimeout(() => c.write('tps"}'), 50);
      const body = await readJson(s);
      assert.equal(field(body, 'Proto'), 'https'); // keys match case-insensitively, as in Go
    } finally {
      close();
    }
  });
});

describe('muxado fuzz', () => {
  /** A session fed `bytes` from a fake socket: how did it end? */
  function feed(bytes: Buffer[]): { error?: { code: string }; closed: boolean; wrote: Buffer } {
    const written: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        written.push(chunk);
        cb();
      },
    });
    const session = new MuxadoSession(socket);
    session.on('stream', (s) => s.on('error', () => undefined));
    const result: { error?: { code: string }; closed: boolean; wrote: Buffer } = {
      closed: false,
      wrote: Buffer.alloc(0),
    };
    session.on('close', (e) => {
      result.closed = true;
      result.error = e;
    });
    for (const b of bytes) socket.emit('data', b);
    result.wrote = Buffer.concat(written);
    session.close();
    return result;
  }

  it('random bytes never throw: the session either carries on or ends with a coded GOAWAY', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const r = feed(chunks.map((c) => Buffer.from(c)));
        if (r.closed && r.error) {
          assert.match(r.error.code, /^ERR_BURROW_/);
          // A GOAWAY carrying a non-zero muxado error code went out.
          const off = lastGoAwayOffset(r.wrote);
          assert.ok(off >= 0, 'a GOAWAY was sent');
          assert.notEqual(r.wrote.readUInt32BE(off + HEADER_BYTES + 4), MuxError.None);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('frames that break the rules end the session with GOAWAY and the muxado code', () => {
    const cases: [Buffer, MuxError][] = [
      [encodeFrame(FrameType.Data, FLAG_SYN, 2, Buffer.from('x')), MuxError.Protocol], // wrong parity
      [encodeFrame(FrameType.Data, FLAG_FIN, 9, Buffer.from('x')), MuxError.Protocol], // never opened
      [
        Buffer.concat([encodeFrame(FrameType.Data, FLAG_SYN, 3), encodeFrame(FrameType.Data, FLAG_SYN, 3)]),
        MuxError.Protocol,
      ],
      [header(WINDOW + 1, FrameType.Data, FLAG_SYN, 1), MuxError.FrameSize],
    ];
    for (const [bytes, mux] of cases) {
      const r = feed([bytes]);
      assert.ok(r.closed && r.error, bytes.toString('hex'));
      const off = lastGoAwayOffset(r.wrote);
      assert.ok(off >= 0);
      assert.equal(r.wrote.readUInt32BE(off + HEADER_BYTES + 4), mux);
    }
  });
});

function lastGoAwayOffset(wire: Buffer): number {
  let found = -1;
  for (let off = 0; off + HEADER_BYTES <= wire.length;) {
    if (wire[off + 3] >> 4 === FrameType.GoAway) found = off;
    off += HEADER_BYTES + wire.readUIntBE(off, 3);
  }
  return found;
}

describe('PROXY protocol headers for ngrok tcp/tls tunnels', () => {
  it('v1 text and v2 binary for IPv4 and IPv6, LOCAL/UNKNOWN without addresses', () => {
    const src = parseAddress('::ffff:10.1.2.3:5555')!;
    assert.deepEqual(src, { ip: '10.1.2.3', port: 5555 });
    const dst = parseAddress('127.0.0.1:443')!;
    assert.equal(proxyHeader(1, src, dst).toString(), 'PROXY TCP4 10.1.2.3 127.0.0.1 5555 443\r\n');
    assert.equal(proxyHeader(1).toString(), 'PROXY UNKNOWN\r\n');
    const v6 = proxyHeader(2, parseAddress('2001:db8::ff00:42:8329:40000'), parseAddress('::1:8443'));
    assert.equal(v6.subarray(12, 16).toString('hex'), '21210024');
    assert.equal(v6.subarray(16, 32).toString('hex'), '20010db8000000000000ff0000428329');
    assert.equal(v6.subarray(32, 48).toString('hex'), '00000000000000000000000000000001');
    assert.equal(v6.readUInt16BE(48), 40000);
    assert.equal(v6.readUInt16BE(50), 8443);
    assert.equal(proxyHeader(2).subarray(12).toString('hex'), '20000000');
  });
});
