/**
 * Agent sessions against a standalone edge: authtokens, name collisions, session replacement,
 * reconnect after a drop or an edge restart (same URL back, in-flight requests answered 502),
 * malformed frames from a raw WebSocket client, and heartbeats.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { Agent } from '../../tunnel/src/agent/agent';
import type { Edge } from '../../tunnel/src/edge/edge';
import {
  FLAG_FIN,
  FLAG_SPLIT,
  FRAME_HEADER_BYTES,
  FrameType,
  PROTOCOL_VERSION,
  decodeFrames,
  encodeFrame,
  encodeJsonFrame,
} from '../../tunnel/src/protocol/frames';
import type { BindResult, ControlMessage, Hello, WireError } from '../../tunnel/src/protocol/messages';
import { MuxSession } from '../../tunnel/src/protocol/session';
import { WebSocketTransport } from '../../tunnel/src/protocol/transport';
import { openWebSocket } from '../../tunnel/src/protocol/ws-handshake';
import {
  EDGE_TOKEN,
  Resources,
  startEdge,
  delay,
  digestOf,
  freePort,
  listen,
  request,
  seededStream,
  waitFor,
} from '../support/tunnel';

const TOKEN = EDGE_TOKEN;

function agentFor(res: Resources, port: number, options: { authtoken?: string } = { authtoken: TOKEN }): Agent {
  return res.agent(
    new Agent({ edgeUrl: `ws://127.0.0.1:${port}`, authtoken: options.authtoken, backoffMinMs: 30, backoffMaxMs: 150 }),
  );
}

function hello(clientId = 'raw-client-0001'): Hello {
  return {
    type: 'hello',
    version: PROTOCOL_VERSION,
    authtoken: TOKEN,
    clientId,
    agent: { version: 'test', os: 'test' },
  };
}

/** A raw WebSocket to the agent endpoint that records every frame the edge sends and how it closed. */
async function rawClient(
  res: Resources,
  port: number,
): Promise<{
  ws: WebSocket;
  controls: ControlMessage[];
  goAway: Promise<WireError | undefined>;
  closed: Promise<{ code: number; reason: string }>;
}> {
  const ws = res.add(new WebSocket(`ws://127.0.0.1:${port}/_burrow/session`), (w) => w.terminate());
  const controls: ControlMessage[] = [];
  let goAway: WireError | undefined;
  ws.on('message', (data: Buffer) => {
    for (const frame of decodeFrames(data)) {
      if (frame.type === FrameType.Control) controls.push(JSON.parse(frame.payload.toString()) as ControlMessage);
      if (frame.type === FrameType.GoAway) goAway = JSON.parse(frame.payload.toString()) as WireError;
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await once(ws, 'open');
  return { ws, controls, goAway: closed.then(() => goAway), closed };
}

/** A session speaking the real protocol code, for tests that need to pick the clientId. */
async function muxSession(
  res: Resources,
  port: number,
  clientId: string,
): Promise<{ session: MuxSession; bind(domain: string): Promise<BindResult> }> {
  const transport = await openWebSocket(`ws://127.0.0.1:${port}/_burrow/session`, { timeoutMs: 5_000 });
  const session = res.add(new MuxSession(transport, { role: 'agent' }), (s) => s.close());
  const controls: ControlMessage[] = [];
  session.on('control', (m) => controls.push(m));
  session.sendControl(hello(clientId));
  await waitFor(() => controls.some((m) => m.type === 'welcome'), 3000, 'welcome');
  let reqId = 0;
  return {
    session,
    async bind(domain) {
      const id = ++reqId;
      session.sendControl({ type: 'bind', reqId: id, name: domain, proto: 'http', domain });
      await waitFor(() => controls.some((m) => m.type === 'bind-result' && m.reqId === id), 3000, 'bind-result');
      return controls.find((m) => m.type === 'bind-result' && m.reqId === id) as BindResult;
    },
  };
}

/** A TCP relay we can cut, standing for the network between agent and edge. */
async function relay(res: Resources, targetPort: number): Promise<{ port: number; cut(): void }> {
  const pairs = new Set<net.Socket>();
  const server = res.server(
    net.createServer((inbound) => {
      const outbound = net.connect(targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        pairs.add(s);
        s.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
        s.on('close', () => pairs.delete(s));
      }
      inbound.pipe(outbound).pipe(inbound);
    }),
  );
  const port = await listen(server);
  return {
    port,
    cut: () => {
      for (const s of pairs) s.destroy();
    },
  };
}

describe('tunnel: sessions', function () {
  this.timeout(20_000);
  const res = new Resources();
  const suite = new Resources();
  let upstreamPort: number;
  let held: http.ServerResponse[];

  before(async () => {
    const upstream = suite.server(
      http.createServer((req, rsp) => {
        if (req.url === '/hold') {
          held.push(rsp);
          return;
        }
        rsp.end(`served ${req.url}`);
      }),
    );
    upstreamPort = await listen(upstream);
  });
  beforeEach(() => {
    held = [];
  });
  afterEach(async () => {
    held.forEach((r) => r.destroy());
    await res.closeAll();
  });
  after(() => suite.closeAll());

  describe('authentication and names', () => {
    it('agent.start() rejects a wrong authtoken with ERR_NGROK_107', async () => {
      const edge = await startEdge(res);
      const agent = agentFor(res, edge.httpPort, { authtoken: 'not-the-token' });
      await assert.rejects(agent.start(), (err: { code?: string }) => err.code === 'ERR_NGROK_107');
    });

    it('agent.start() rejects a missing authtoken with ERR_NGROK_4018', async () => {
      const edge = await startEdge(res);
      const agent = agentFor(res, edge.httpPort, {});
      await assert.rejects(agent.start(), (err: { code?: string }) => err.code === 'ERR_NGROK_4018');
    });

    it('refuses a domain already bound by another agent with ERR_NGROK_334', async () => {
      const edge = await startEdge(res);
      const first = agentFor(res, edge.httpPort);
      await first.start();
      const bound = await first.startTunnel({
        name: 'a',
        proto: 'http',
        upstream: String(upstreamPort),
        domain: 'shared.example.test',
        inspect: false,
      });
      assert.deepEqual(bound.urls, [`http://shared.example.test:${edge.httpPort}`]);
      const second = agentFor(res, edge.httpPort);
      await second.start();
      await assert.rejects(
        second.startTunnel({
          name: 'b',
          proto: 'http',
          upstream: String(upstreamPort),
          domain: 'shared.example.test',
          inspect: false,
        }),
        (err: { code?: string }) => err.code === 'ERR_NGROK_334',
      );
      // The first agent still serves the name.
      assert.equal((await request(edge.httpPort, 'shared.example.test', { path: '/x' })).body.toString(), 'served /x');
    });

    it('the same agent reconnecting replaces its stale session (and gets its name)', async () => {
      const edge = await startEdge(res);
      const old = await muxSession(res, edge.httpPort, 'client-aaaa-0001');
      assert.ok((await old.bind('mine.example.test')).binding);
      const oldClosed = once(old.session, 'close');
      const fresh = await muxSession(res, edge.httpPort, 'client-aaaa-0001');
      const [error] = (await oldClosed) as [WireError];
      assert.equal(error.code, 'ERR_BURROW_SESSION_REPLACED');
      assert.ok((await fresh.bind('mine.example.test')).binding, 'the name was freed with the stale session');
      // A different agent still cannot take it.
      const other = await muxSession(res, edge.httpPort, 'client-bbbb-0002');
      assert.equal((await other.bind('mine.example.test')).error?.code, 'ERR_NGROK_334');
    });
  });

  describe('reconnects', () => {
    it('after a network drop: in-flight requests get a coded 502, then the same URL works again', async () => {
      const edge = await startEdge(res);
      const cable = await relay(res, edge.httpPort);
      const agent = agentFor(res, cable.port);
      await agent.start();
      const state = await agent.startTunnel({
        name: 'web',
        proto: 'http',
        upstream: String(upstreamPort),
        inspect: false,
      });
      const host = new URL(state.urls[0]).host;
      const inFlight = request(edge.httpPort, host, { path: '/hold' });
      await waitFor(() => held.length === 1, 3000, 'the request to reach the upstream');
      cable.cut();
      const reply = await inFlight;
      assert.equal(reply.status, 502);
      assert.equal(reply.headers['ngrok-error-code'], 'ERR_NGROK_3210');
      await waitFor(() => agent.tunnel('web')?.status === 'online' && agent.online, 5000, 'the agent to come back');
      assert.deepEqual(agent.tunnel('web')!.urls, state.urls);
      assert.equal((await request(edge.httpPort, host, { path: '/again' })).body.toString(), 'served /again');
    });

    it('after an edge restart on the same port: in-flight requests get a coded 502, and the URL comes back', async () => {
      const port = await freePort();
      let edge = await startEdge(res, { http: { host: '127.0.0.1', port } });
      const agent = agentFor(res, port);
      await agent.start();
      const state = await agent.startTunnel({
        name: 'web',
        proto: 'http',
        upstream: String(upstreamPort),
        inspect: false,
      });
      const host = new URL(state.urls[0]).host;
      const tcp = await agent.startTunnel({
        name: 'tcp',
        proto: 'tcp',
        upstream: String(upstreamPort),
        inspect: false,
      });
      const inFlight = request(port, host, { path: '/hold' });
      await waitFor(() => held.length === 1, 3000, 'the request to reach the upstream');
      await edge.close();
      const reply = await inFlight;
      assert.equal(reply.status, 502);
      assert.equal(reply.headers['ngrok-error-code'], 'ERR_NGROK_3210');
      await waitFor(() => agent.tunnel('web')?.status === 'reconnecting', 3000, 'the agent to notice');
      await delay(100);
      edge = await startEdge(res, { http: { host: '127.0.0.1', port } });
      await waitFor(
        () => agent.tunnel('web')?.status === 'online' && agent.tunnel('tcp')?.status === 'online',
        5000,
        'rebind',
      );
      assert.deepEqual(agent.tunnel('web')!.urls, state.urls);
      assert.deepEqual(agent.tunnel('tcp')!.urls, tcp.urls, 'tcp endpoints ask for their old port');
      assert.equal((await request(port, host, { path: '/back' })).body.toString(), 'served /back');
    });
  });

  describe('malformed frames', () => {
    let edge: Edge;
    let agent: Agent;
    let host: string;

    beforeEach(async () => {
      edge = await startEdge(res);
      agent = agentFor(res, edge.httpPort);
      await agent.start();
      host = new URL(
        (await agent.startTunnel({ name: 'ok', proto: 'http', upstream: String(upstreamPort), inspect: false }))
          .urls[0],
      ).host;
    });

    const cases: {
      name: string;
      helloFirst: boolean;
      send: (ws: WebSocket) => void;
      code: string;
      message?: RegExp;
    }[] = [
      {
        name: 'garbage bytes',
        helloFirst: false,
        send: (ws) => ws.send(Buffer.from('GET / HTTP/1.1 garbage')),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'a truncated header',
        helloFirst: true,
        send: (ws) => ws.send(Buffer.from([FrameType.Data, 0, 0, 0])),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'a truncated payload',
        helloFirst: true,
        send: (ws) => ws.send(encodeFrame(FrameType.Control, 0, 0, Buffer.from('{"type":"bind"}')).subarray(0, 14)),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'an oversized length',
        helloFirst: true,
        code: 'ERR_BURROW_FRAME_TOO_LARGE',
        send: (ws) => {
          const f = encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(16));
          f.writeUInt32BE(0xfffffff0, 6);
          ws.send(f);
        },
      },
      {
        name: 'an unknown frame type',
        helloFirst: true,
        send: (ws) => ws.send(encodeFrame(0x7f as FrameType, 0, 0)),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'a text message',
        helloFirst: true,
        send: (ws) => ws.send('{"type":"hello"}'),
        code: 'ERR_BURROW_FRAME_MALFORMED',
        message: /text messages are not part of the protocol/,
      },
      {
        name: 'invalid JSON in a control frame',
        helloFirst: true,
        send: (ws) => ws.send(encodeFrame(FrameType.Control, 0, 0, Buffer.from('{nope'))),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'a stream frame before hello',
        helloFirst: false,
        send: (ws) => ws.send(encodeFrame(FrameType.Data, 0, 1, Buffer.from('x'))),
        code: 'ERR_BURROW_STREAM_ID',
      },
      {
        name: 'a stream opened before hello',
        helloFirst: false,
        send: (ws) => ws.send(encodeJsonFrame(FrameType.Open, FLAG_FIN, 1, { kind: 'tcp' })),
        code: 'ERR_BURROW_PROTOCOL',
      },
      {
        name: 'a control message before hello',
        helloFirst: false,
        send: (ws) =>
          ws.send(encodeJsonFrame(FrameType.Control, 0, 0, { type: 'bind', reqId: 1, name: 'x', proto: 'http' })),
        code: 'ERR_BURROW_PROTOCOL',
      },
      {
        name: 'data on a stream never opened',
        helloFirst: true,
        send: (ws) => ws.send(encodeFrame(FrameType.Data, 0, 9, Buffer.from('x'))),
        code: 'ERR_BURROW_STREAM_ID',
      },
      {
        name: 'an even (edge-side) stream id opened by the agent',
        helloFirst: true,
        send: (ws) => ws.send(encodeJsonFrame(FrameType.Open, 0, 2, { kind: 'tcp' })),
        code: 'ERR_BURROW_STREAM_ID',
      },
      {
        name: 'a window frame of the wrong size',
        helloFirst: true,
        send: (ws) => ws.send(encodeFrame(FrameType.Window, 0, 0, Buffer.alloc(3))),
        code: 'ERR_BURROW_FRAME_MALFORMED',
      },
      {
        name: 'an unsupported protocol version',
        helloFirst: false,
        send: (ws) => ws.send(encodeJsonFrame(FrameType.Control, 0, 0, { ...hello(), version: 99 })),
        code: 'ERR_BURROW_PROTOCOL_VERSION',
      },
    ];

    for (const c of cases) {
      it(`ends the session on ${c.name} with a coded GoAway (${c.code}) and keeps serving`, async () => {
        const raw = await rawClient(res, edge.httpPort);
        if (c.helloFirst) {
          raw.ws.send(encodeJsonFrame(FrameType.Control, 0, 0, hello()));
          await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 3000, 'welcome');
        }
        c.send(raw.ws);
        const { code, reason } = await raw.closed;
        const goAway = await raw.goAway;
        assert.equal(goAway?.code, c.code, `GoAway was ${JSON.stringify(goAway)}`);
        if (c.message) assert.match(String(goAway?.message), c.message);
        assert.equal(code, 4002);
        assert.match(reason, new RegExp(`^${c.code}: `));
        // The edge and the other agent's endpoint are unharmed.
        assert.equal((await request(edge.httpPort, host, { path: '/still' })).body.toString(), 'served /still');
        assert.equal(agent.online, true);
      });
    }

    it('closes a session whose WebSocket message exceeds the size limit, and keeps serving', async () => {
      const raw = await rawClient(res, edge.httpPort);
      raw.ws.send(Buffer.alloc(5 * 1024 * 1024));
      const { code } = await raw.closed;
      assert.equal(code, 1009);
      assert.equal((await request(edge.httpPort, host, { path: '/still' })).body.toString(), 'served /still');
    });
  });

  describe('heartbeats', () => {
    it('the edge drops a peer that stops answering within the tolerance', async () => {
      const edge = await startEdge(res, { heartbeatIntervalMs: 50, heartbeatToleranceMs: 300 });
      const raw = await rawClient(res, edge.httpPort);
      raw.ws.send(encodeJsonFrame(FrameType.Control, 0, 0, hello()));
      await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 3000, 'welcome');
      const welcome = raw.controls.find((m) => m.type === 'welcome');
      assert.deepEqual(
        [
          welcome?.type === 'welcome' && welcome.heartbeatIntervalMs,
          welcome?.type === 'welcome' && welcome.heartbeatToleranceMs,
        ],
        [50, 300],
      );
      const silentSince = Date.now();
      const goAway = await raw.goAway;
      const elapsed = Date.now() - silentSince;
      assert.equal(goAway?.code, 'ERR_BURROW_HEARTBEAT_TIMEOUT');
      assert.ok(elapsed >= 250 && elapsed < 1500, `detected after ${elapsed} ms`);
    });

    it('a live agent answering pings stays connected well past the tolerance', async () => {
      const edge = await startEdge(res, { heartbeatIntervalMs: 50, heartbeatToleranceMs: 300 });
      const agent = agentFor(res, edge.httpPort);
      let drops = 0;
      agent.on('offline', () => drops++);
      await agent.start();
      await delay(1000);
      assert.equal(drops, 0);
      assert.equal(agent.online, true);
      assert.ok(agent.latencyMs !== undefined, 'the agent measured a round trip');
    });

    it("the agent finds a dead edge (it adopts the edge's heartbeat) and reconnects", async () => {
      const edge = await startEdge(res, { heartbeatIntervalMs: 50, heartbeatToleranceMs: 300 });
      // A relay that goes silent without closing: only heartbeats can notice.
      const frozen = new Set<net.Socket>();
      const server = res.server(
        net.createServer((inbound) => {
          const outbound = net.connect(edge.httpPort, '127.0.0.1');
          for (const s of [inbound, outbound])
            s.on('error', () => {
              inbound.destroy();
              outbound.destroy();
            });
          inbound.on('data', (c: Buffer) => {
            if (!frozen.has(inbound)) outbound.write(c);
          });
          outbound.on('data', (c: Buffer) => {
            if (!frozen.has(inbound)) inbound.write(c);
          });
          inbound.on('close', () => outbound.destroy());
          outbound.on('close', () => inbound.destroy());
          frozen.add(inbound);
          frozen.delete(inbound);
          server.on('freeze', () => frozen.add(inbound));
        }),
      );
      const agent = agentFor(res, await listen(server));
      const offline = new Promise<WireError>((resolve) => agent.once('offline', resolve));
      await agent.start();
      const frozenAt = Date.now();
      server.emit('freeze');
      const error = await offline;
      assert.equal(error.code, 'ERR_BURROW_HEARTBEAT_TIMEOUT');
      assert.ok(Date.now() - frozenAt < 1500);
      await waitFor(() => agent.online, 5000, 'reconnect through a fresh connection');
    });
  });
});

describe('tunnel: bulk bytes over the WebSocket session (split DATA frames)', function () {
  this.timeout(60_000);
  const res = new Resources();
  after(() => res.closeAll());

  it('an agent and a standalone edge carry 8 MiB each way intact, the payloads sent split', async () => {
    const edge = await startEdge(res);
    // An echo upstream: the response body is the request body.
    const upstream = res.server(http.createServer((req, rsp) => req.pipe(rsp)));
    const agent = agentFor(res, edge.httpPort);
    await agent.start();
    const state = await agent.startTunnel({
      name: 'echo',
      proto: 'http',
      upstream: String(await listen(upstream)),
      inspect: false,
    });
    const host = new URL(state.urls[0]).host;
    // Count the split DATA headers the edge's and the agent's sessions send.
    let split = 0;
    const send = WebSocketTransport.prototype.send;
    WebSocketTransport.prototype.send = function (this: WebSocketTransport, data: Buffer) {
      if (data.length >= FRAME_HEADER_BYTES) {
        try {
          if (decodeFrames(data, undefined, true).at(-1)!.flags & FLAG_SPLIT) split++;
        } catch {
          // a payload message is not frames
        }
      }
      send.call(this, data);
    };
    try {
      const size = 8 * 1024 * 1024;
      const reply = await new Promise<{ digest: string; length: number }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: edge.httpPort, method: 'POST', path: '/', headers: { host }, agent: false },
          (rsp) => digestOf(rsp).then(resolve, reject),
        );
        req.on('error', reject);
        seededStream('split', size).pipe(req);
      });
      assert.deepEqual(reply, await digestOf(seededStream('split', size)));
    } finally {
      WebSocketTransport.prototype.send = send;
    }
    assert.ok(split >= 2 * 32, `both directions sent their 256 KiB payloads split (${split} split headers)`);
  });
});
