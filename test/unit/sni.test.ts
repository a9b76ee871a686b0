/**
 * SNI peeking: real TLS clients (node:tls) against readClientHello on a loopback socket, with the
 * consumed bytes replayed to a real TLS server to prove nothing is lost or reordered.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import fc from 'fast-check';
import { generate } from 'selfsigned';
import { parseClientHelloSni, readClientHello, ClientHelloError, MAX_HELLO_BYTES } from '../../tunnel/src/edge/sni';

const LONG_NAME = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.test`; // 253 chars

let tlsCredentials: { cert: string; key: string };

/** Connect a real TLS client and return the raw bytes of the first record it sent (its ClientHello). */
async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  try {
    const captured = new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket) => {
        let bytes = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk]);
          if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
            resolve(bytes.subarray(0, 5 + bytes.readUInt16BE(3)));
            socket.destroy();
          }
        });
        socket.on('error', reject);
      });
    });
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    client.on('error', () => {}); // we hang up on it on purpose
    const hello = await captured;
    client.destroy();
    return hello;
  } finally {
    server.close();
  }
}

/** Split one handshake record into several records carrying the same handshake bytes. */
function refragment(record: Buffer, sizes: number[]): Buffer {
  const body = record.subarray(5);
  const out: Buffer[] = [];
  let pos = 0;
  for (const size of [...sizes, Infinity]) {
    if (pos >= body.length) break;
    const piece = body.subarray(pos, Math.min(body.length, pos + size));
    const header = Buffer.from([0x16, record[1], record[2], 0, 0]);
    header.writeUInt16BE(piece.length, 3);
    out.push(header, piece);
    pos += piece.length;
  }
  return Buffer.concat(out);
}

/**
 * A tiny passthrough edge: peek the SNI with readClientHello, then replay `head` to a real TLS
 * server and pipe both ways. `transform` may reshape what the client sends before the edge sees it.
 */
async function startEdge(): Promise<{
  port: number;
  outcomes: Array<Promise<{ serverName: string; head: Buffer }>>;
  sockets: net.Socket[];
  close(): Promise<void>;
}> {
  const upstream = tls.createServer(tlsCredentials, (socket) => {
    socket.on('error', () => {});
    socket.end(`hello ${socket.servername ?? '-'}`);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const outcomes: Array<Promise<{ serverName: string; head: Buffer }>> = [];
  const sockets: net.Socket[] = [];
  const edge = net.createServer((socket) => {
    sockets.push(socket);
    const outcome = readClientHello(socket, 2000);
    outcomes.push(outcome);
    outcome.then(
      ({ head }) => {
        socket.on('error', () => {});
        const up = net.connect(upstreamPort, '127.0.0.1', () => {
          up.write(head);
          socket.pipe(up).pipe(socket);
        });
        up.on('error', () => socket.destroy());
      },
      () => socket.destroy(),
    );
  });
  edge.listen(0, '127.0.0.1');
  await once(edge, 'listening');
  return {
    port: (edge.address() as net.AddressInfo).port,
    outcomes,
    sockets,
    async close() {
      edge.close();
      upstream.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** Full TLS round trip through the edge; resolves with what the upstream said. */
async function tlsThroughEdge(port: number, servername: string | undefined): Promise<string> {
  const client = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  await once(client, 'end');
  client.destroy();
  return Buffer.concat(chunks).toString();
}

function rejection(promise: Promise<unknown>): Promise<ClientHelloError> {
  return promise.then(
    () => assert.fail('expected readClientHello to reject'),
    (err: unknown) => {
      assert.ok(err instanceof ClientHelloError, `expected ClientHelloError, got ${String(err)}`);
      return err;
    },
  );
}

describe('edge/sni', function () {
  before(async function () {
    const pems = await generate([{ name: 'commonName', value: 'upstream.test' }], {
      keySize: 2048,
      algorithm: 'sha256',
    });
    tlsCredentials = { cert: pems.cert, key: pems.private };
  });

  describe('readClientHello with real TLS clients', function () {
    let edge: Awaited<ReturnType<typeof startEdge>>;
    beforeEach(async () => {
      edge = await startEdge();
    });
    afterEach(() => edge.close());

    for (const [servername, expected] of [
      ['app.localhost', 'app.localhost'],
      ['a.b.c.example.com', 'a.b.c.example.com'],
      ['xn--bcher-kva.example', 'xn--bcher-kva.example'], // bücher.example as an A-label
      ['Mixed.Case.LOCALHOST', 'mixed.case.localhost'],
      [LONG_NAME, LONG_NAME],
    ] as const) {
      it(`reads SNI ${servername.length > 40 ? `(${servername.length} chars)` : servername} and replays the hello intact`, async () => {
        const reply = await tlsThroughEdge(edge.port, servername);
        const { serverName, head } = await edge.outcomes[0];
        assert.equal(serverName, expected);
        assert.equal(head[0], 0x16);
        // The upstream completed a handshake from the replayed bytes and saw the same SNI.
        assert.equal(reply, `hello ${servername}`);
      });
    }

    it('rejects a client without SNI (connecting by IP) with ERR_TLS_NO_SNI, keeping the bytes', async () => {
      const client = tls.connect({ host: '127.0.0.1', port: edge.port, rejectUnauthorized: false });
      client.on('error', () => {});
      while (edge.outcomes.length === 0) await new Promise((r) => setTimeout(r, 5));
      const err = await rejection(edge.outcomes[0]);
      assert.equal(err.code, 'ERR_TLS_NO_SNI');
      assert.equal(parseClientHelloSni(err.head).kind, 'ok');
      client.destroy();
    });

    it('leaves the socket paused with no listeners of its own', async () => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        servername: 'paused.localhost',
        rejectUnauthorized: false,
      });
      client.on('error', () => {});
      const [socket] = (await once(server, 'connection')) as [net.Socket];
      const events = ['data', 'end', 'close', 'error', 'readable'] as const;
      const before = events.map((e) => socket.listenerCount(e));
      const { serverName } = await readClientHello(socket, 2000);
      assert.equal(serverName, 'paused.localhost');
      assert.equal(socket.isPaused(), true);
      assert.deepEqual(
        events.map((e) => socket.listenerCount(e)),
        before,
      );
      assert.equal(socket.destroyed, false);
      client.destroy();
      socket.destroy();
      server.close();
    });
  });

  describe('readClientHello with hand-written bytes', function () {
    let server: net.Server;
    let port: number;
    let accepted: Array<Promise<{ serverName: string; head: Buffer }>>;
    let sockets: net.Socket[];
    beforeEach(async () => {
      accepted = [];
      sockets = [];
      server = net.createServer((socket) => {
        sockets.push(socket);
        accepted.push(readClientHello(socket, 300));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as net.AddressInfo).port;
    });
    afterEach(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });

    async function connect(): Promise<{ client: net.Socket; outcome: Promise<{ serverName: string; head: Buffer }> }> {
      const client = net.connect(port, '127.0.0.1');
      client.setNoDelay(true);
      client.on('error', () => {});
      await once(client, 'connect');
      while (accepted.length === 0) await new Promise((r) => setTimeout(r, 2));
      return { client, outcome: accepted[0] };
    }

    it('handles a ClientHello written one byte at a time, and returns exactly the bytes sent', async () => {
      const hello = await captureClientHello({ servername: 'bytewise.localhost' });
      const { client, outcome } = await connect();
      for (const byte of hello) {
        client.write(Buffer.from([byte]));
        await new Promise((r) => setImmediate(r));
      }
      const { serverName, head } = await outcome;
      assert.equal(serverName, 'bytewise.localhost');
      assert.ok(head.equals(hello));
      client.destroy();
    });

    it('handles a ClientHello fragmented over several records, sent with trailing bytes', async () => {
      const hello = refragment(await captureClientHello({ servername: 'frag.localhost' }), [3, 50, 1]);
      const trailing = Buffer.from([0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb]);
      const { client, outcome } = await connect();
      client.write(Buffer.concat([hello, trailing]));
      const { serverName, head } = await outcome;
      assert.equal(serverName, 'frag.localhost');
      // head holds whatever arrived; it must start with the hello, in order.
      assert.ok(head.subarray(0, hello.length).equals(hello));
      client.destroy();
    });

    it('rejects garbage (an HTTP request) at once with ERR_TLS_BAD_HELLO', async () => {
      const { client, outcome } = await connect();
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const err = await rejection(outcome);
      assert.equal(err.code, 'ERR_TLS_BAD_HELLO');
      assert.match(err.message, /not a TLS handshake/);
      client.destroy();
    });

    it('rejects a truncated hello followed by close with ERR_TLS_BAD_HELLO', async () => {
      const hello = await captureClientHello({ servername: 'cut.localhost' });
      const { client, outcome } = await connect();
      client.end(hello.subarray(0, hello.length - 10));
      const err = await rejection(outcome);
      assert.equal(err.code, 'ERR_TLS_BAD_HELLO');
      assert.equal(err.head.length, hello.length - 10);
    });

    it('times out on a truncated hello left open with ERR_TLS_HELLO_TIMEOUT', async () => {
      const hello = await captureClientHello({ servername: 'slow.localhost' });
      const { client, outcome } = await connect();
      client.write(hello.subarray(0, 20));
      const err = await rejection(outcome);
      assert.equal(err.code, 'ERR_TLS_HELLO_TIMEOUT');
      client.destroy();
    });
  });

  describe('parseClientHelloSni', function () {
    let hello: Buffer;
    before(async () => {
      hello = await captureClientHello({ servername: 'parse.localhost' });
    });

    it('answers incomplete for every proper prefix and ok for the whole hello', () => {
      for (let n = 0; n < hello.length; n++) {
        assert.deepEqual(parseClientHelloSni(hello.subarray(0, n)), { kind: 'incomplete' }, `prefix ${n}`);
      }
      assert.deepEqual(parseClientHelloSni(hello), { kind: 'ok', serverName: 'parse.localhost' });
    });

    it('reassembles a hello spread over many records, including 1-byte records', () => {
      const fragmented = refragment(hello, Array(40).fill(1));
      assert.deepEqual(parseClientHelloSni(fragmented), { kind: 'ok', serverName: 'parse.localhost' });
      assert.equal(parseClientHelloSni(fragmented.subarray(0, fragmented.length - 1)).kind, 'incomplete');
    });

    it('reports ok with no name for a hello without SNI', async () => {
      const noSni = await captureClientHello({});
      assert.deepEqual(parseClientHelloSni(noSni), { kind: 'ok', serverName: undefined });
    });

    it('rejects non-handshake records, SSLv2 hellos, bad versions and non-ClientHello messages', () => {
      assert.equal(parseClientHelloSni(Buffer.from([0x17])).kind, 'invalid');
      assert.equal(parseClientHelloSni(Buffer.from([0x80, 0x2e, 0x01])).kind, 'invalid');
      assert.equal(parseClientHelloSni(Buffer.from([0x16, 0x09, 0x01, 0x00])).kind, 'invalid');
      const serverHello = Buffer.from(hello);
      serverHello[5] = 0x02;
      assert.match(reasonOf(parseClientHelloSni(serverHello)), /not ClientHello/);
    });

    it('rejects inconsistent inner lengths instead of reading past them', () => {
      // Make the extensions block claim one byte more than the message holds.
      const broken = Buffer.from(hello);
      const extensionsLengthAt = locateExtensionsLength(broken);
      broken.writeUInt16BE(broken.readUInt16BE(extensionsLengthAt) + 1, extensionsLengthAt);
      assert.match(reasonOf(parseClientHelloSni(broken)), /truncated/);
    });

    it('refuses hellos larger than the cap, declared or actual', () => {
      const huge = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x10, 0x00, 0x00]); // 1 MiB message
      assert.match(reasonOf(parseClientHelloSni(huge)), /larger than/);
      // A plausible hello dribbled in 1-byte records never completes within the cap.
      const record = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x00]);
      const start = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x3f, 0x00]);
      const dribble = Buffer.concat([start, ...Array(Math.ceil(MAX_HELLO_BYTES / record.length) + 1).fill(record)]);
      assert.match(reasonOf(parseClientHelloSni(dribble)), /larger than/);
      assert.equal(parseClientHelloSni(dribble.subarray(0, MAX_HELLO_BYTES - 1)).kind, 'incomplete');
    });

    it('never throws on arbitrary bytes (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
          const result = parseClientHelloSni(Buffer.from(bytes));
          assert.ok(['ok', 'incomplete', 'invalid'].includes(result.kind));
        }),
        { numRuns: 2000 },
      );
    });

    it('never throws on a real hello with random bytes overwritten (property)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
          fc.nat(),
          (edits, cut) => {
            const mutated = Buffer.from(hello);
            for (const [at, value] of edits) mutated[at % mutated.length] = value;
            const result = parseClientHelloSni(mutated.subarray(0, cut % (mutated.length + 1)));
            if (result.kind === 'ok' && result.serverName !== undefined) {
              assert.match(result.serverName, /^[\x21-\x7e]+$/);
            }
          },
        ),
        { numRuns: 3000 },
      );
    });
  });
});

function reasonOf(result: ReturnType<typeof parseClientHelloSni>): string {
  assert.equal(result.kind, 'invalid');
  return result.kind === 'invalid' ? result.reason : '';
}

/** Offset of the 2-byte extensions length in a single-record ClientHello. */
function locateExtensionsLength(record: Buffer): number {
  let pos = 5 + 4 + 2 + 32;
  pos += 1 + record[pos]; // session id
  pos += 2 + record.readUInt16BE(pos); // cipher suites
  pos += 1 + record[pos]; // compression methods
  return pos;
}
