// The agent↔edge link over real sockets: WebSocketTransport (hand-written RFC 6455 frames and
// handshake) against the real `ws` library both ways, over ws:// and wss://, and the close code each
// protocol violation gets. The handshake's refusals: ws-handshake.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import type https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import type { WebSocketTransport } from '../../tunnel/src/protocol/transport';
import { Opcode, encodeFrame } from '../../tunnel/src/protocol/ws-frames';
import { openWebSocket } from '../../tunnel/src/protocol/ws-handshake';
import { makeTestCa } from '../support/test-ca';
import { within } from '../support/tunnel';
import { linkServer } from '../support/ws-link';

/** A transport's messages and its close reason, collected. */
function watch(t: WebSocketTransport) {
  const messages: (Buffer | string)[] = [];
  const waiters: (() => void)[] = [];
  t.onMessage((m) => {
    // A message that spanned socket reads comes in its parts (the session decodes them so).
    messages.push(Array.isArray(m) ? Buffer.concat(m) : m);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<string>((resolve) => t.onClose(resolve));
  const next = (count: number) =>
    within(
      10_000,
      `${count} messages`,
      new Promise<void>(function check(resolve) {
        if (messages.length >= count) resolve();
        else waiters.push(() => check(resolve));
      }),
    );
  return { messages, closed: within(10_000, 'close', closed), next };
}

type Server = { port: number; accepted: Promise<WebSocketTransport>; close(): void };

/** Our hand-framed server end: the edge's handshake (acceptLink) on an http(s) server. */
async function ourServer(tlsOptions?: https.ServerOptions): Promise<Server> {
  let accept!: (t: WebSocketTransport) => void;
  const accepted = new Promise<WebSocketTransport>((resolve) => (accept = resolve));
  const server = await linkServer(accept, tlsOptions);
  return { port: server.port, accepted, close: () => server.close() };
}

/** Our client end: the agent's handshake (openWebSocket). */
function ourClient(url: string, options: { zeroMask?: boolean; ca?: Buffer } = {}): Promise<WebSocketTransport> {
  return openWebSocket(url, {
    timeoutMs: 10_000,
    zeroMask: options.zeroMask,
    maxPayload: 8 << 20,
    tls: options.ca ? { ca: options.ca } : undefined,
  });
}

function wsClient(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 8 * 1024 * 1024, ...options });
  return within(
    10_000,
    'open',
    once(ws, 'open').then(() => ws),
  );
}

function wsMessages(ws: WebSocket) {
  const got: Buffer[] = [];
  ws.on('message', (data) => got.push(data as Buffer));
  const until = (count: number) =>
    within(
      10_000,
      `${count} messages`,
      new Promise<void>((resolve) => {
        const check = () => (got.length >= count ? resolve() : setTimeout(check, 5));
        check();
      }),
    );
  return { got, until };
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return within(
    10_000,
    'close',
    once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) })),
  );
}

function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

const SIZES = [0, 1, 125, 126, 65535, 65536, 3 * 1024 * 1024];

describe('ws link: hand-framed WebSocket transport against the `ws` library', function () {
  this.timeout(60_000);
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });

  describe('our server, a `ws` client', () => {
    async function connect() {
      const server = await ourServer();
      cleanup.push(() => server.close());
      const client = await wsClient(`ws://127.0.0.1:${server.port}/`);
      cleanup.push(() => client.terminate());
      const transport = await within(10_000, 'accept', server.accepted);
      return { server, client, transport, seen: watch(transport), received: wsMessages(client) };
    }

    it('binary messages of every length class both ways, in order and intact', async () => {
      const { client, transport, seen, received } = await connect();
      for (const [i, n] of SIZES.entries()) client.send(pattern(n, i), { binary: true });
      for (const [i, n] of SIZES.entries()) transport.send(pattern(n, i + 100));
      await seen.next(SIZES.length);
      await received.until(SIZES.length);
      for (const [i, n] of SIZES.entries()) {
        assert.deepEqual(seen.messages[i], pattern(n, i), `client → server, ${n} bytes`);
        assert.deepEqual(received.got[i], pattern(n, i + 100), `server → client, ${n} bytes`);
      }
    });

    it('a fragmented message from the client arrives joined; a ping between fragments is answered', async () => {
      const { client, seen } = await connect();
      const pong = within(10_000, 'pong', once(client, 'pong'));
      client.send(Buffer.from('frag-1:'), { binary: true, fin: false });
      client.ping(Buffer.from('are you there'));
      client.send(pattern(70_000, 3), { binary: true, fin: false });
      client.send(Buffer.from(':end'), { binary: true, fin: true });
      assert.deepEqual(String((await pong)[0]), 'are you there');
      await seen.next(1);
      assert.deepEqual(
        seen.messages[0],
        Buffer.concat([Buffer.from('frag-1:'), pattern(70_000, 3), Buffer.from(':end')]),
      );
    });

    it('a text message is handed on as a string (the session refuses it with a coded GoAway)', async () => {
      const { client, seen } = await connect();
      client.send('{"type":"hello"}');
      await seen.next(1);
      assert.equal(seen.messages[0], '{"type":"hello"}');
    });

    it('the client closing with a code: the transport hears its reason, the client gets the code echoed', async () => {
      const { client, seen } = await connect();
      const closed = closeOf(client);
      client.close(4001, 'client leaves');
      assert.equal(await seen.closed, 'client leaves');
      assert.deepEqual(await closed, { code: 4001, reason: '' });
    });

    it('the transport closing with a code: the client sees the code and the reason', async () => {
      const { client, transport, seen } = await connect();
      const closed = closeOf(client);
      transport.close(4002, 'ERR_BURROW_X: bye');
      assert.deepEqual(await closed, { code: 4002, reason: 'ERR_BURROW_X: bye' });
      assert.equal(await seen.closed, 'ERR_BURROW_X: bye'); // `ws` echoes code and reason
      transport.send(Buffer.from('after close')); // dropped, no throw
    });

    it('a client that vanishes (socket destroyed) ends the transport with 1006', async () => {
      const { client, seen } = await connect();
      client.terminate();
      assert.equal(await seen.closed, 'websocket closed (1006)');
    });

    describe('each protocol violation from the client gets its close code', () => {
      // Raw bytes written on the `ws` client's socket (a client must mask: the mask bit and key).
      const maskedHeader = (b0: number, length: number) => Buffer.from([b0, 0x80 | length, 0, 0, 0, 0]);
      const cases: [string, Buffer, number, RegExp][] = [
        ['reserved bits set', maskedHeader(0xc2, 0), 1002, /reserved bits/],
        ['an unknown opcode', maskedHeader(0x83, 0), 1002, /unknown opcode 3/],
        [
          'a control frame over 125 bytes',
          Buffer.from([0x89, 0x80 | 126, 0, 200, 0, 0, 0, 0]),
          1002,
          /longer than 125/,
        ],
        ['a fragmented ping', maskedHeader(0x09, 0), 1002, /fragmented control/],
        ['an unmasked frame', Buffer.from([0x82, 0x01, 0x61]), 1002, /unmasked frame from a client/],
        ['a continuation without a message', maskedHeader(0x80, 0), 1002, /continuation/],
        [
          'a message over maxPayload (4 MiB)',
          Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0]),
          1009,
          /larger than 4194304/,
        ],
      ];
      for (const [name, bytes, code, message] of cases) {
        it(`${name}: ${code}`, async () => {
          const { client, seen } = await connect();
          const closed = closeOf(client);
          (client as unknown as { _socket: net.Socket })._socket.write(bytes);
          assert.equal((await closed).code, code);
          assert.match(await seen.closed, new RegExp(`^websocket protocol error \\(${code}\\): .*${message.source}`));
        });
      }

      it('a message over maxPayload sent by `ws` (5 MiB in one frame): 1009', async () => {
        const { client, seen } = await connect();
        const closed = closeOf(client);
        client.send(Buffer.alloc(5 * 1024 * 1024));
        assert.equal((await closed).code, 1009);
        assert.match(await seen.closed, /\(1009\)/);
      });
    });

    it('a client that pings without reading gets no more than a bounded backlog of pongs', async () => {
      const { client, transport } = await connect();
      const socket = (client as unknown as { _socket: net.Socket })._socket;
      socket.pause(); // never reads our pongs
      const ping = Buffer.concat([Buffer.from([0x89, 0x80 | 125, 1, 2, 3, 4]), Buffer.alloc(125)]);
      const burst = Buffer.concat(Array.from({ length: 2000 }, () => ping));
      // 80,000 pings (10 MiB of pongs): more than the kernel's socket buffers hold on loopback.
      for (let i = 0; i < 40; i++) {
        if (!socket.write(burst)) await within(10_000, 'drain', once(socket, 'drain'));
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(transport.bufferedAmount < 256 * 1024, `${transport.bufferedAmount} bytes of pongs buffered`);
    });
  });

  describe('a `ws` server, our client', () => {
    async function connect(zeroMask: boolean) {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 8 << 20 });
      await within(10_000, 'listening', once(wss, 'listening'));
      cleanup.push(() => wss.close());
      const serverWs = within(
        10_000,
        'connection',
        once(wss, 'connection').then(([ws]) => ws as WebSocket),
      );
      const transport = await ourClient(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, { zeroMask });
      const server = await serverWs;
      cleanup.push(() => server.terminate());
      return { server, transport, seen: watch(transport), received: wsMessages(server) };
    }

    for (const zeroMask of [false, true]) {
      it(`binary messages of every length class both ways (${zeroMask ? 'zero' : 'random'} masks)`, async () => {
        const { server, transport, seen, received } = await connect(zeroMask);
        for (const [i, n] of SIZES.entries()) transport.send(pattern(n, i));
        for (const [i, n] of SIZES.entries()) server.send(pattern(n, i + 50), { binary: true });
        await received.until(SIZES.length);
        await seen.next(SIZES.length);
        for (const [i, n] of SIZES.entries()) {
          assert.deepEqual(received.got[i], pattern(n, i), `client → server, ${n} bytes`);
          assert.deepEqual(seen.messages[i], pattern(n, i + 50), `server → client, ${n} bytes`);
        }
      });
    }

    it('the frames on the wire are masked with random keys by default, the zero key when asked', async () => {
      for (const zeroMask of [false, true]) {
        const { server, transport, received } = await connect(zeroMask);
        const socket = (server as unknown as { _socket: net.Socket })._socket;
        const raw: Buffer[] = [];
        socket.prependListener('data', (chunk: Buffer) => raw.push(Buffer.from(chunk)));
        transport.send(Buffer.from('abcdefgh'));
        await received.until(1);
        const frame = Buffer.concat(raw);
        assert.equal(frame[1], 0x80 | 8);
        const key = frame.readUInt32BE(2);
        if (zeroMask) assert.equal(key, 0);
        else assert.notDeepEqual(frame.subarray(6, 14), Buffer.from('abcdefgh'));
        assert.deepEqual(received.got[0], Buffer.from('abcdefgh'));
      }
    });

    it('a fragmented message from the server arrives joined; our pong answers its ping', async () => {
      const { server, seen } = await connect(false);
      const pong = within(10_000, 'pong', once(server, 'pong'));
      server.send(pattern(100_000, 1), { binary: true, fin: false });
      server.ping(Buffer.from('ping!'));
      server.send(pattern(10, 2), { binary: true, fin: true });
      assert.equal(String((await pong)[0]), 'ping!');
      await seen.next(1);
      assert.deepEqual(seen.messages[0], Buffer.concat([pattern(100_000, 1), pattern(10, 2)]));
    });

    it('close codes both ways', async () => {
      const a = await connect(false);
      const serverClosed = closeOf(a.server);
      a.transport.close(4002, 'ERR_BURROW_HEARTBEAT_TIMEOUT: no frame');
      assert.deepEqual(await serverClosed, { code: 4002, reason: 'ERR_BURROW_HEARTBEAT_TIMEOUT: no frame' });
      await a.seen.closed;

      const b = await connect(false);
      b.server.close(1001, 'edge going away');
      assert.equal(await b.seen.closed, 'edge going away');
    });

    it('a masked frame from the server: 1002', async () => {
      const { server, seen } = await connect(false);
      (server as unknown as { _socket: net.Socket })._socket.write(
        Buffer.concat(encodeFrame(Opcode.Binary, Buffer.from('x'), 'random')),
      );
      assert.match(await seen.closed, /^websocket protocol error \(1002\): masked frame from the server/);
    });
  });

  describe('over TLS (wss://)', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-wslink-'));
      makeTestCa(dir, ['localhost']);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('our server and our client carry messages of every size, fragments, ping and close', async () => {
      const server = await ourServer({
        cert: fs.readFileSync(path.join(dir, 'edge.crt')),
        key: fs.readFileSync(path.join(dir, 'edge.key')),
      });
      cleanup.push(() => server.close());
      const ca = fs.readFileSync(path.join(dir, 'ca.crt'));
      const client = await ourClient(`wss://127.0.0.1:${server.port}/`, { ca, zeroMask: true });
      const edge = await within(10_000, 'accept', server.accepted);
      const atEdge = watch(edge);
      const atClient = watch(client);
      for (const [i, n] of SIZES.entries()) client.send(pattern(n, i));
      for (const [i, n] of SIZES.entries()) edge.send(pattern(n, i + 9));
      await atEdge.next(SIZES.length);
      await atClient.next(SIZES.length);
      for (const [i, n] of SIZES.entries()) {
        assert.deepEqual(atEdge.messages[i], pattern(n, i));
        assert.deepEqual(atClient.messages[i], pattern(n, i + 9));
      }
      client.close(4002, 'ERR_BURROW_X: tls bye');
      assert.equal(await atEdge.closed, 'ERR_BURROW_X: tls bye');
      assert.equal(await atClient.closed, 'websocket closed (4002)');
    });

    it('a `ws` client over TLS: fragments, ping and a violation closed with 1002', async () => {
      const server = await ourServer({
        cert: fs.readFileSync(path.join(dir, 'edge.crt')),
        key: fs.readFileSync(path.join(dir, 'edge.key')),
      });
      cleanup.push(() => server.close());
      const client = await wsClient(`wss://127.0.0.1:${server.port}/`, {
        ca: fs.readFileSync(path.join(dir, 'ca.crt')),
      });
      cleanup.push(() => client.terminate());
      const seen = watch(await within(10_000, 'accept', server.accepted));
      const pong = within(10_000, 'pong', once(client, 'pong'));
      client.send(Buffer.from('a'), { binary: true, fin: false });
      client.ping(Buffer.from('tls ping'));
      client.send(Buffer.from('b'), { binary: true, fin: true });
      assert.equal(String((await pong)[0]), 'tls ping');
      await seen.next(1);
      assert.deepEqual(seen.messages[0], Buffer.from('ab'));
      const closed = closeOf(client);
      (client as unknown as { _socket: net.Socket })._socket.write(Buffer.from([0xc2, 0x80, 0, 0, 0, 0]));
      assert.equal((await closed).code, 1002);
      assert.match(await seen.closed, /reserved bits/);
    });
  });
});
