// The link's WebSocket opening handshake (protocol/ws-handshake.ts), done by Burrow at both ends:
// interop with the real `ws` library both ways, every refusal of the edge (status, coded JSON, no
// stack), every bad answer the agent's end refuses (wrong Accept, non-101, timeout), bytes that
// come with the handshake, and TLS against a real edge.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { EdgeClient } from '../../tunnel/src/agent/edge-client';
import { PEER_PATH, PeerPool, PeerServer } from '../../tunnel/src/edge/cluster/peers';
import { ClusterSecret, PEER_AUTH_HEADER } from '../../tunnel/src/edge/cluster/secret';
import type { WireError } from '../../tunnel/src/protocol/messages';
import { MuxSession } from '../../tunnel/src/protocol/session';
import type { WebSocketTransport } from '../../tunnel/src/protocol/transport';
import { Opcode, encodeFrame } from '../../tunnel/src/protocol/ws-frames';
import { acceptValue, openWebSocket, WebSocketOpenError } from '../../tunnel/src/protocol/ws-handshake';
import { PROTOCOL_VERSION } from '../../tunnel/src/protocol/frames';
import { makeTestCa } from '../support/test-ca';
import { EDGE_TOKEN, Resources, startEdge, within } from '../support/tunnel';
import { linkServer } from '../support/ws-link';

/** Writes `request` on a raw connection and resolves with everything the server sent until it closed. */
async function rawExchange(port: number, request: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(request);
  await within(10_000, 'the server closing the connection', once(socket, 'close'));
  return Buffer.concat(chunks).toString('latin1');
}

function parse(answer: string): { status: number; headers: Map<string, string>; body: string } {
  const [head, body] = answer.split('\r\n\r\n', 2);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = new Map(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** A server that answers any request with what `answer` makes of the client's key. */
async function answeringServer(res: Resources, answer: (key: string) => string | undefined) {
  const requests: string[] = [];
  const server = net.createServer((s) => {
    let head = '';
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return; // frames after the handshake: not read here
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      requests.push(head);
      const text = answer(/^sec-websocket-key: (.*)$/im.exec(head)?.[1] ?? '');
      if (text !== undefined) s.write(text, 'latin1');
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  res.add(server, (srv) => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { port: (server.address() as net.AddressInfo).port, requests };
}

const good101 = (key: string, extra = '') =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(key)}\r\n${extra}\r\n`;

async function openError(url: string, timeoutMs = 10_000): Promise<WebSocketOpenError> {
  const err = await openWebSocket(url, { timeoutMs }).then(
    (t) => {
      t.close(1000, '');
      throw new Error('the link opened');
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof WebSocketOpenError, String(err));
  return err;
}

const KEY = Buffer.from('0123456789abcdef').toString('base64');
const upgradeRequest = (port: number, lines: string[], method = 'GET') =>
  `${method} /_burrow/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;

describe('ws handshake: the link opened by Burrow at both ends', function () {
  this.timeout(60_000);
  let res: Resources;
  beforeEach(() => (res = new Resources()));
  afterEach(() => res.closeAll());

  describe("the edge's end", () => {
    it('the RFC 6455 example: the key "dGhlIHNhbXBsZSBub25jZQ==" is answered "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="', () => {
      assert.equal(acceptValue('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    });

    it('a `ws` client opens a session at a real edge (its Accept checked by `ws`); an offered subprotocol is echoed', async () => {
      const edge = await startEdge(res);
      const ws = new WebSocket(`ws://127.0.0.1:${edge.httpPort}/_burrow/session`, ['burrow.v1', 'other'], {
        perMessageDeflate: false,
      });
      res.add(ws, (w) => w.terminate());
      await within(10_000, 'open', once(ws, 'open'));
      assert.equal(ws.protocol, 'burrow.v1');
      // The edge's session is behind it: a text message is refused with the protocol's close code.
      const closed = within(10_000, 'close', once(ws, 'close'));
      ws.send('{"type":"hello"}');
      assert.equal((await closed)[0], 4002);
    });

    it('frames written in the same packet as the request head are read (the upgrade `head`)', async () => {
      let accept!: (t: WebSocketTransport) => void;
      const accepted = new Promise<WebSocketTransport>((r) => (accept = r));
      const server = await linkServer(accept);
      res.add(server, (s) => s.close());
      const socket = net.connect(server.port, '127.0.0.1');
      res.add(socket, (s) => s.destroy());
      const frame = Buffer.concat(encodeFrame(Opcode.Binary, Buffer.from('with the head'), 'random'));
      socket.write(
        Buffer.concat([
          Buffer.from(
            upgradeRequest(server.port, [
              'Upgrade: websocket',
              'Connection: Upgrade',
              `Sec-WebSocket-Key: ${KEY}`,
              'Sec-WebSocket-Version: 13',
            ]),
          ),
          frame,
        ]),
      );
      const transport = await within(10_000, 'accept', accepted);
      const message = new Promise<Buffer | Buffer[] | string>((r) => transport.onMessage(r));
      assert.deepEqual(await within(10_000, 'message', message), Buffer.from('with the head'));
    });

    const good = [
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${KEY}`,
      'Sec-WebSocket-Version: 13',
    ];
    const without = (prefix: string, ...add: string[]) => [...good.filter((l) => !l.startsWith(prefix)), ...add];
    const refusals: { name: string; lines: string[]; method?: string; status: number; code: string; detail: RegExp }[] =
      [
        {
          name: 'a 15-byte key',
          lines: without('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${Buffer.alloc(15, 1).toString('base64')}`),
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Sec-WebSocket-Key must be 16 bytes/,
        },
        {
          name: 'a 17-byte key',
          lines: without('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${Buffer.alloc(17, 1).toString('base64')}`),
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Sec-WebSocket-Key/,
        },
        {
          name: 'a key that is not base64',
          lines: without('Sec-WebSocket-Key', 'Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=='),
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Sec-WebSocket-Key/,
        },
        {
          name: 'no key',
          lines: without('Sec-WebSocket-Key'),
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Sec-WebSocket-Key/,
        },
        {
          name: 'no version',
          lines: without('Sec-WebSocket-Version'),
          status: 426,
          code: 'ERR_BURROW_WS_VERSION',
          detail: /must be 13/,
        },
        {
          name: 'version 8 (a draft)',
          lines: without('Sec-WebSocket-Version', 'Sec-WebSocket-Version: 8'),
          status: 426,
          code: 'ERR_BURROW_WS_VERSION',
          detail: /must be 13/,
        },
        {
          name: 'POST',
          lines: [...good, 'Content-Length: 0'],
          method: 'POST',
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /GET, not POST/,
        },
        {
          name: 'another upgrade (h2c)',
          lines: without('Upgrade:', 'Upgrade: h2c'),
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Upgrade: websocket/,
        },
        {
          name: 'an invalid subprotocol list',
          lines: [...good, 'Sec-WebSocket-Protocol: a b, c'],
          status: 400,
          code: 'ERR_BURROW_WS_HANDSHAKE',
          detail: /Sec-WebSocket-Protocol/,
        },
      ];
    for (const r of refusals) {
      it(`refuses ${r.name}: ${r.status} ${r.code}, JSON, no stack, connection closed`, async () => {
        const edge = await startEdge(res);
        const answer = parse(await rawExchange(edge.httpPort, upgradeRequest(edge.httpPort, r.lines, r.method)));
        assert.equal(answer.status, r.status);
        assert.equal(answer.headers.get('ngrok-error-code'), r.code);
        assert.equal(answer.headers.get('connection'), 'close');
        if (r.status === 426) assert.equal(answer.headers.get('sec-websocket-version'), '13');
        const body = JSON.parse(answer.body) as { error_code: string; status_code: number; details: { err: string } };
        assert.equal(body.error_code, r.code);
        assert.equal(body.status_code, r.status);
        assert.match(body.details.err, r.detail);
        assert.doesNotMatch(answer.body, /\n\s+at |\.ts:\d/);
        // The edge still takes a good handshake afterwards.
        const t = await openWebSocket(`ws://127.0.0.1:${edge.httpPort}/_burrow/session`, { timeoutMs: 10_000 });
        t.close(1000, 'bye');
      });
    }
  });

  describe("the agent's end", () => {
    it('opens a link to a `ws` WebSocketServer (which checks our key and version) and carries messages both ways', async () => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
      await within(10_000, 'listening', once(wss, 'listening'));
      res.add(wss, (w) => w.close());
      const headers = new Promise<Record<string, string | string[] | undefined>>((r) =>
        wss.once('connection', (ws, req) => {
          ws.on('message', (m) => ws.send(Buffer.concat([Buffer.from('echo:'), m as Buffer])));
          r(req.headers);
        }),
      );
      const t = await openWebSocket(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/x?y=1`, {
        timeoutMs: 10_000,
      });
      res.add(t, (x) => x.close(1000, 'done'));
      const got = new Promise<Buffer | Buffer[] | string>((r) => t.onMessage(r));
      t.send(Buffer.from('hi'));
      assert.deepEqual(await within(10_000, 'echo', got), Buffer.from('echo:hi'));
      const h = await headers;
      assert.equal(h['sec-websocket-version'], '13');
      assert.equal(Buffer.from(String(h['sec-websocket-key']), 'base64').length, 16);
      assert.equal(h['sec-websocket-extensions'], undefined);
    });

    it('sends GET, Upgrade, Connection, version 13 and a fresh 16-byte key per attempt', async () => {
      const server = await answeringServer(res, (key) => good101(key));
      for (let i = 0; i < 2; i++) {
        const t = await openWebSocket(`ws://127.0.0.1:${server.port}/_burrow/session`, { timeoutMs: 10_000 });
        t.close(1000, '');
      }
      const keys = server.requests.map((r) => {
        assert.match(r, /^GET \/_burrow\/session HTTP\/1\.1\r\n/);
        assert.match(r, /^upgrade: websocket\r$/im);
        assert.match(r, /^connection: upgrade\r$/im);
        assert.match(r, /^sec-websocket-version: 13\r$/im);
        return /^sec-websocket-key: (.*)\r$/im.exec(r)![1];
      });
      assert.equal(keys.length, 2);
      assert.notEqual(keys[0], keys[1]);
      for (const k of keys) assert.equal(Buffer.from(k, 'base64').length, 16);
    });

    it('reads frames that come in the same packet as the 101', async () => {
      const frame = Buffer.concat(encodeFrame(Opcode.Binary, Buffer.from('right behind the 101'), 'none'));
      const server = await answeringServer(res, (key) => good101(key) + frame.toString('latin1'));
      const t = await openWebSocket(`ws://127.0.0.1:${server.port}/`, { timeoutMs: 10_000 });
      res.add(t, (x) => x.close(1000, ''));
      // Listening a little later still gets it: reading starts with onMessage.
      await new Promise((r) => setTimeout(r, 50));
      const got = new Promise<Buffer | Buffer[] | string>((r) => t.onMessage(r));
      assert.deepEqual(await within(10_000, 'message', got), Buffer.from('right behind the 101'));
    });

    const bad: { name: string; answer: (key: string) => string; message: RegExp; status?: number; code?: string }[] = [
      {
        name: 'a wrong Sec-WebSocket-Accept',
        answer: (key) => good101(key).replace(acceptValue(key), acceptValue(KEY)),
        message: /wrong Sec-WebSocket-Accept/,
      },
      {
        name: 'no Sec-WebSocket-Accept',
        answer: (key) => good101(key).replace(/Sec-WebSocket-Accept: .*\r\n/, ''),
        message: /wrong Sec-WebSocket-Accept/,
      },
      {
        name: 'a 101 without `Upgrade: websocket`',
        answer: (key) => good101(key).replace('Upgrade: websocket\r\n', ''),
        message: /no `Upgrade: websocket`/,
      },
      {
        name: 'an extension that was not asked for',
        answer: (key) => good101(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'),
        message: /extension/,
      },
      {
        name: 'a subprotocol that was not asked for',
        answer: (key) => good101(key, 'Sec-WebSocket-Protocol: chat\r\n'),
        message: /subprotocol/,
      },
      {
        name: 'a 503 with an ngrok-error-code',
        answer: () =>
          'HTTP/1.1 503 Service Unavailable\r\nngrok-error-code: ERR_BURROW_EDGE_DRAINING\r\ncontent-length: 0\r\n\r\n',
        message: /^HTTP 503$/,
        status: 503,
        code: 'ERR_BURROW_EDGE_DRAINING',
      },
      {
        name: 'a 200',
        answer: () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
        message: /^HTTP 200$/,
        status: 200,
      },
      { name: 'something that is not HTTP', answer: () => 'SSH-2.0-OpenSSH_9.6\r\n\r\n', message: /Parse Error/ },
    ];
    for (const b of bad) {
      it(`refuses ${b.name}: a handshake error`, async () => {
        const server = await answeringServer(res, b.answer);
        const err = await openError(`ws://127.0.0.1:${server.port}/`);
        assert.equal(err.kind, 'handshake');
        assert.match(err.message, b.message);
        assert.equal(err.status, b.status);
        assert.equal(err.errorCode, b.code);
      });
    }

    it('gives up on a server that never answers after the timeout ("Opening handshake has timed out")', async () => {
      const server = await answeringServer(res, () => undefined);
      const started = Date.now();
      const err = await openError(`ws://127.0.0.1:${server.port}/`, 300);
      assert.equal(err.kind, 'unreachable');
      assert.equal(err.message, 'Opening handshake has timed out');
      assert.ok(Date.now() - started >= 250);
      assert.equal(server.requests.length, 1);
    });

    it('a URL that is not ws(s) or not a URL at all is refused without a connection', async () => {
      assert.match((await openError('ftp://127.0.0.1/')).message, /not a ws\(s\) URL: ftp:/);
      assert.match((await openError('127.0.0.1:80')).message, /not a ws\(s\) URL|not a URL/);
      assert.match((await openError('::nope')).message, /not a URL: ::nope/);
    });

    it('a refused connection is unreachable', async () => {
      const server = await answeringServer(res, () => undefined);
      const port = server.port;
      await res.closeAll();
      const err = await openError(`ws://127.0.0.1:${port}/`);
      assert.equal(err.kind, 'unreachable');
      assert.match(err.message, /ECONNREFUSED/);
    });

    it('the agent (EdgeClient) reports each failure with its code and keeps retrying', async () => {
      const cases: [(key: string) => string, string, RegExp][] = [
        [
          (key) => good101(key).replace(acceptValue(key), acceptValue(KEY)),
          'ERR_BURROW_EDGE_HANDSHAKE',
          /^edge answered a bad handshake \(wrong Sec-WebSocket-Accept\) instead of a websocket$/,
        ],
        [
          () =>
            'HTTP/1.1 503 Service Unavailable\r\nngrok-error-code: ERR_BURROW_EDGE_DRAINING\r\ncontent-length: 0\r\n\r\n',
          'ERR_BURROW_EDGE_HANDSHAKE',
          /^edge answered HTTP 503 \(ERR_BURROW_EDGE_DRAINING\) instead of a websocket$/,
        ],
        [
          () => 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n',
          'ERR_BURROW_EDGE_HANDSHAKE',
          /^edge answered HTTP 404 instead/,
        ],
      ];
      for (const [answer, code, message] of cases) {
        const server = await answeringServer(res, answer);
        const client = res.add(
          new EdgeClient({ url: `ws://127.0.0.1:${server.port}/_burrow/session`, backoffMinMs: 50, backoffMaxMs: 50 }),
          (c) => c.close(),
        );
        const errors: WireError[] = [];
        client.on('offline', (e) => errors.push(e));
        void client.start().catch(() => undefined);
        await within(
          10_000,
          'two attempts',
          new Promise<void>(function check(resolve) {
            if (errors.length >= 2) resolve();
            else setTimeout(() => check(resolve), 20);
          }),
        );
        client.close();
        assert.equal(errors[0].code, code);
        assert.match(errors[0].message, message);
      }
      // Nothing listening: unreachable, with the URL in the message.
      const client = res.add(new EdgeClient({ url: 'ws://127.0.0.1:1/_burrow/session', backoffMinMs: 50 }), (c) =>
        c.close(),
      );
      const offline = within(10_000, 'offline', once(client, 'offline'));
      void client.start().catch(() => undefined);
      const [error] = (await offline) as [WireError];
      assert.equal(error.code, 'ERR_BURROW_EDGE_UNREACHABLE');
      assert.match(error.message, /^ws:\/\/127\.0\.0\.1:1\/_burrow\/session: connect ECONNREFUSED/);
    });
  });

  describe('cluster peer links (the same handshake, behind the cluster secret)', () => {
    it('a node links to another and carries a stream; a bad handshake with a good token gets its coded 426, no token 401', async () => {
      const secret = new ClusterSecret('peer-handshake-secret');
      const streams: string[] = [];
      const server = new PeerServer({
        secret,
        host: '127.0.0.1',
        port: 0,
        health: () => ({ status: 200, body: {} }),
        onStream: (stream, meta) => {
          streams.push(meta.proto);
          stream.end();
        },
      });
      await server.start();
      res.add(server, (s) => s.close());
      const pool = res.add(new PeerPool(secret), (p) => p.close());
      const link = await within(10_000, 'peer link', pool.get(`127.0.0.1:${server.port}`));
      link.openStream({ kind: 'peer', proto: 'tcp', remoteAddr: '127.0.0.1', port: 1 }).end();
      await within(
        10_000,
        'stream at the peer',
        new Promise<void>(function check(resolve) {
          if (streams.length) resolve();
          else setTimeout(() => check(resolve), 20);
        }),
      );
      assert.deepEqual(streams, ['tcp']);

      const request = (lines: string[]) =>
        `GET ${PEER_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
      const noVersion = parse(
        await rawExchange(
          server.port,
          request([
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${KEY}`,
            `${PEER_AUTH_HEADER}: ${secret.peerToken()}`,
          ]),
        ),
      );
      assert.equal(noVersion.status, 426);
      assert.equal(noVersion.headers.get('ngrok-error-code'), 'ERR_BURROW_WS_VERSION');
      const noToken = parse(
        await rawExchange(
          server.port,
          request([
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${KEY}`,
            'Sec-WebSocket-Version: 13',
          ]),
        ),
      );
      assert.equal(noToken.status, 401);
      assert.equal(noToken.headers.get('ngrok-error-code'), 'ERR_BURROW_CLUSTER_AUTH');
    });
  });

  describe('over TLS (wss://) to a real edge', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-wshandshake-'));
      makeTestCa(dir, ['localhost']);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function tlsEdge() {
      return startEdge(res, {
        tls: { host: '127.0.0.1', port: 0 },
        certificate: {
          cert: fs.readFileSync(path.join(dir, 'edge.crt'), 'utf8'),
          key: fs.readFileSync(path.join(dir, 'edge.key'), 'utf8'),
        },
      });
    }

    it('opens with the CA and servername, says hello and is welcomed', async () => {
      const edge = await tlsEdge();
      const transport = await openWebSocket(`wss://127.0.0.1:${edge.tlsPort}/_burrow/session`, {
        timeoutMs: 10_000,
        zeroMask: true,
        tls: { ca: fs.readFileSync(path.join(dir, 'ca.crt')), servername: 'localhost' },
      });
      const session = res.add(new MuxSession(transport, { role: 'agent' }), (s) => s.close());
      const answer = new Promise<string>((resolve) => {
        session.on('control', (m) => resolve(m.type));
        session.on('close', (e) => resolve(e?.code ?? 'closed'));
      });
      session.sendControl({
        type: 'hello',
        version: PROTOCOL_VERSION,
        authtoken: EDGE_TOKEN,
        clientId: 'wss-client-0001',
        agent: { version: 'test', os: 'test' },
      });
      assert.equal(await within(10_000, 'welcome', answer), 'welcome');
    });

    it('refuses a certificate it cannot verify (unreachable), unless told not to check it', async () => {
      const edge = await tlsEdge();
      const url = `wss://127.0.0.1:${edge.tlsPort}/_burrow/session`;
      const err = await openError(url);
      assert.equal(err.kind, 'unreachable');
      assert.match(err.message, /certificate/);
      const t = await openWebSocket(url, { timeoutMs: 10_000, tls: { rejectUnauthorized: false } });
      t.close(1000, '');
      // A refusal over TLS is the same coded answer.
      const bad = await openWebSocket(`wss://127.0.0.1:${edge.tlsPort}/_burrow/session`, {
        timeoutMs: 10_000,
        headers: { 'Sec-WebSocket-Protocol': 'a b' },
        tls: { ca: fs.readFileSync(path.join(dir, 'ca.crt')), servername: 'localhost' },
      }).then(
        () => undefined,
        (e: WebSocketOpenError) => e,
      );
      assert.equal(bad?.status, 400);
      assert.equal(bad?.errorCode, 'ERR_BURROW_WS_HANDSHAKE');
    });
  });
});
