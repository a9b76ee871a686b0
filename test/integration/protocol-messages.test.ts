// Every control message is checked against its type before the edge uses it: a malformed one
// (wrong types, missing fields, unknown fields, extra nesting) ends that agent's session with a
// coded GoAway, and the edge goes on serving everyone else. A real edge, a real agent beside the
// raw sessions, real sockets.
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { Agent } from '../../tunnel/src/agent/agent';
import { Edge } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { decodeFrames, encodeFrame, FrameType, PROTOCOL_VERSION } from '../../tunnel/src/protocol/frames';
import { EdgeClient } from '../../tunnel/src/agent/edge-client';
import type { ControlMessage, StreamOpen, WireError } from '../../tunnel/src/protocol/messages';
import { DEFAULT_WINDOW, MuxSession, StreamResetError } from '../../tunnel/src/protocol/session';
import { createTransportPair } from '../../tunnel/src/protocol/transport';
import { Resources, listen, request, waitFor } from '../support/tunnel';

const TOKEN = 'test-token-0123456789';
const MALFORMED = 'ERR_BURROW_MESSAGE_MALFORMED';

const hello = {
  type: 'hello',
  version: PROTOCOL_VERSION,
  authtoken: TOKEN,
  clientId: 'raw-client-0001',
  agent: { version: 'test', os: 'test' },
};
const bind = { type: 'bind', reqId: 1, name: 'raw', proto: 'http' };

/** A raw agent connection that records what the edge sends. */
async function rawSession(res: Resources, port: number) {
  const ws = res.add(new WebSocket(`ws://127.0.0.1:${port}/_burrow/session`), (w) => w.terminate());
  const controls: ControlMessage[] = [];
  const opens: number[] = [];
  let goAway: WireError | undefined;
  ws.on('message', (data: Buffer) => {
    for (const frame of decodeFrames(data)) {
      if (frame.type === FrameType.Open) opens.push(frame.stream);
      if (frame.type === FrameType.Control) controls.push(JSON.parse(frame.payload.toString()) as ControlMessage);
      if (frame.type === FrameType.GoAway) goAway = JSON.parse(frame.payload.toString()) as WireError;
    }
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await once(ws, 'open');
  const send = (type: FrameType, value: unknown, stream = 0) =>
    ws.send(encodeFrame(type, 0, stream, Buffer.from(JSON.stringify(value))));
  return { ws, controls, opens, send, goAway: closed.then(() => goAway), closed };
}

describe('wire protocol: control messages are checked before use', function () {
  this.timeout(20_000);
  const res = new Resources();
  let edge: Edge;
  let agent: Agent;
  let host: string;

  before(async () => {
    const upstream = res.server(http.createServer((req, reply) => reply.end(`served ${req.url}`)));
    const upstreamPort = await listen(upstream);
    edge = res.add(
      new Edge({ domain: 'example.test', http: { host: '127.0.0.1', port: 0 }, tokens: new TokenSet([TOKEN]) }),
      (e) => e.close(),
    );
    await edge.start();
    agent = res.agent(new Agent({ edgeUrl: `ws://127.0.0.1:${edge.httpPort}`, authtoken: TOKEN }));
    await agent.start();
    const tunnel = await agent.startTunnel({
      name: 'ok',
      proto: 'http',
      upstream: String(upstreamPort),
      inspect: false,
    });
    host = new URL(tunnel.urls[0]).host;
  });
  after(() => res.closeAll());

  /** [what is wrong, whether hello goes first, the message, the path the GoAway names]. */
  const cases: [string, boolean, unknown, string][] = [
    ['a hello that is JSON null', false, null, 'control'],
    ['a hello that is an array', false, [hello], 'control'],
    ['a message of an unknown type', false, { ...hello, type: 'helo' }, 'control.type'],
    ['a hello without a type', false, { ...hello, type: undefined }, 'control.type'],
    ['a hello with a numeric clientId', false, { ...hello, clientId: 12345678 }, 'control.clientId'],
    ['a hello without agent', false, { ...hello, agent: undefined }, 'control.agent'],
    ['a hello with the version as a string', false, { ...hello, version: '1' }, 'control.version'],
    [
      'a hello with a nested object as the agent version',
      false,
      { ...hello, agent: { version: { v: 1 }, os: 'x' } },
      'control.agent.version',
    ],
    ['a hello with an unknown field', false, { ...hello, admin: true }, 'control.admin'],
    ['a bind without a name', true, { ...bind, name: undefined }, 'control.name'],
    ['a bind with a string reqId', true, { ...bind, reqId: '1' }, 'control.reqId'],
    ['a bind with a fractional reqId', true, { ...bind, reqId: 1.5 }, 'control.reqId'],
    ['a bind with an unknown proto', true, { ...bind, proto: 'udp' }, 'control.proto'],
    ['a bind with schemes as a string', true, { ...bind, schemes: 'https' }, 'control.schemes'],
    ['a bind with an unknown scheme', true, { ...bind, schemes: ['ftp'] }, 'control.schemes[0]'],
    ['a bind with edge options as a string', true, { ...bind, edge: 'basicAuth' }, 'control.edge'],
    [
      'a bind with a CIDR list of numbers',
      true,
      { ...bind, edge: { ipRestriction: { allowCidrs: [10] } } },
      'control.edge.ipRestriction.allowCidrs[0]',
    ],
    [
      'a bind with credentials nested one level too deep',
      true,
      { ...bind, edge: { basicAuth: { credentials: [['u:password1']] } } },
      'control.edge.basicAuth.credentials[0]',
    ],
    [
      'a bind with a misspelt module field',
      true,
      { ...bind, edge: { basicAuth: { credential: ['u:password1'] } } },
      'control.edge.basicAuth.credentials',
    ],
    [
      'a bind with header rules missing remove',
      true,
      { ...bind, edge: { requestHeaders: { add: ['X-A: 1'] } } },
      'control.edge.requestHeaders.remove',
    ],
    [
      'a bind with a policy rule whose actions are an object',
      true,
      { ...bind, edge: { trafficPolicy: { on_http_request: [{ actions: { type: 'deny' } }] } } },
      'control.edge.trafficPolicy.on_http_request[0].actions',
    ],
    ['a bind with a label that is a number', true, { ...bind, labels: { app: 1 } }, 'control.labels.app'],
    ['a bind with pooling as a string', true, { ...bind, pooling: 'yes' }, 'control.pooling'],
    ['an unbind without reqId', true, { type: 'unbind', id: 'ep_1' }, 'control.reqId'],
    ['an unbind with a numeric id', true, { type: 'unbind', reqId: 2, id: 7 }, 'control.id'],
    [
      'a bind-result with a binding of the wrong shape',
      true,
      { type: 'bind-result', reqId: 1, binding: { id: 'x', urls: 'u' } },
      'control.binding.urls',
    ],
    [
      'a welcome without a sessionId',
      true,
      { type: 'welcome', version: 1, heartbeatIntervalMs: 1, heartbeatToleranceMs: 1, initialWindow: 1 },
      'control.sessionId',
    ],
  ];

  for (const [what, helloFirst, message, path] of cases) {
    it(`ends the session on ${what} (${MALFORMED} at ${path}) and keeps serving`, async () => {
      const raw = await rawSession(res, edge.httpPort);
      if (helloFirst) {
        raw.send(FrameType.Control, hello);
        await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 5000, 'welcome');
      }
      raw.send(FrameType.Control, message);
      assert.equal(await raw.closed, 4002);
      const goAway = await raw.goAway;
      assert.equal(goAway?.code, MALFORMED, JSON.stringify(goAway));
      assert.ok(goAway.message.startsWith(`malformed ${path}: `), goAway.message);
      assert.ok(!raw.controls.some((m) => m.type === 'bind-result'), 'nothing was bound');
      assert.equal((await request(edge.httpPort, host, { path: '/still' })).body.toString(), 'served /still');
      assert.equal(agent.online, true);
    });
  }

  it(`ends the session on a GoAway whose payload is not {code, message} (${MALFORMED})`, async () => {
    const raw = await rawSession(res, edge.httpPort);
    raw.send(FrameType.GoAway, { code: 7 });
    assert.equal(await raw.closed, 4002);
    assert.equal((await raw.goAway)?.code, MALFORMED);
    assert.equal((await request(edge.httpPort, host, { path: '/still' })).body.toString(), 'served /still');
  });

  it('a well-formed message out of order is ERR_BURROW_PROTOCOL, not malformed', async () => {
    const raw = await rawSession(res, edge.httpPort);
    raw.send(FrameType.Control, hello);
    await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 5000, 'welcome');
    raw.send(FrameType.Control, { type: 'unbind-result', reqId: 1 });
    await raw.closed;
    assert.equal((await raw.goAway)?.code, 'ERR_BURROW_PROTOCOL');
  });

  it(`ends the session on a response head of the wrong shape (${MALFORMED}); the visitor gets a coded 502`, async () => {
    const raw = await rawSession(res, edge.httpPort);
    raw.send(FrameType.Control, hello);
    await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 5000, 'welcome');
    raw.send(FrameType.Control, { ...bind, domain: 'meta.example.test' });
    await waitFor(() => raw.controls.some((m) => m.type === 'bind-result'), 5000, 'bind-result');
    const visitor = request(edge.httpPort, 'meta.example.test', { path: '/x' });
    await waitFor(() => raw.opens.length === 1, 5000, 'the visitor stream');
    raw.send(FrameType.Meta, { kind: 'http-response', statusCode: '200', rawHeaders: [] }, raw.opens[0]);
    assert.equal(await raw.closed, 4002);
    const goAway = await raw.goAway;
    assert.equal(goAway?.code, MALFORMED);
    assert.match(goAway.message, /^malformed meta\.statusCode: expected an integer/);
    const reply = await visitor;
    assert.equal(reply.status, 502);
    assert.equal(reply.headers['ngrok-error-code'], 'ERR_NGROK_3210');
    assert.equal((await request(edge.httpPort, host, { path: '/still' })).body.toString(), 'served /still');
  });

  it('an option the edge does not know, or a bad value, refuses that bind only: the session goes on', async () => {
    const raw = await rawSession(res, edge.httpPort);
    raw.send(FrameType.Control, hello);
    await waitFor(() => raw.controls.some((m) => m.type === 'welcome'), 5000, 'welcome');
    const result = async (reqId: number) => {
      await waitFor(() => raw.controls.some((m) => m.type === 'bind-result' && m.reqId === reqId), 5000, 'bind-result');
      return raw.controls.find((m) => m.type === 'bind-result' && m.reqId === reqId) as ControlMessage & {
        type: 'bind-result';
      };
    };
    raw.send(FrameType.Control, { ...bind, reqId: 1, edge: { teleport: { to: 'mars' } } });
    assert.equal((await result(1)).error?.code, 'ERR_BURROW_UNSUPPORTED_OPTION');
    // A value only the module can judge (the wire only says "a string").
    raw.send(FrameType.Control, { ...bind, reqId: 2, edge: { tlsTermination: { minVersion: '1.1' } } });
    const refused = await result(2);
    assert.ok(refused.error && refused.error.code !== MALFORMED, JSON.stringify(refused));
    raw.send(FrameType.Control, { ...bind, reqId: 3, edge: { requestHeaders: { add: ['X-Raw: 1'], remove: [] } } });
    const ok = await result(3);
    assert.equal(ok.error, undefined, JSON.stringify(ok));
    assert.equal(ok.binding?.urls.length, 1);
  });
});

describe('wire protocol: the agent checks what the edge opens', function () {
  this.timeout(10_000);

  /** A bare edge session that welcomes the agent and then sends whatever a test tells it to. */
  function fakeEdge(): { edgeSide: MuxSession; client: EdgeClient } {
    const [edgeEnd, agentEnd] = createTransportPair();
    const edgeSide = new MuxSession(edgeEnd, { role: 'edge' });
    edgeSide.on('control', (msg) => {
      if (msg.type === 'hello')
        edgeSide.sendControl({
          type: 'welcome',
          version: PROTOCOL_VERSION,
          sessionId: 'fake-edge',
          heartbeatIntervalMs: 2000,
          heartbeatToleranceMs: 6000,
          initialWindow: DEFAULT_WINDOW,
        });
    });
    return { edgeSide, client: new EdgeClient({ url: 'ws://unused', connectInProcess: () => agentEnd }) };
  }

  it('refuses a stream whose metadata is malformed with a coded Reset; the session and other streams go on', async () => {
    const { edgeSide, client } = fakeEdge();
    const opened: StreamOpen[] = [];
    client.on('stream', (stream, open) => {
      opened.push(open);
      stream.end();
    });
    try {
      await client.start();
      const bad = edgeSide.openStream({ kind: 'http', binding: 5, remoteAddr: '1.2.3.4' }, true);
      const reset = await new Promise<Error>((resolve) => bad.on('error', resolve));
      assert.ok(reset instanceof StreamResetError && reset.code === MALFORMED, String(reset));
      assert.match(reset.message, /^malformed open\.binding: expected a string/);
      const good = edgeSide.openStream({ kind: 'tcp', binding: 'ep_1', remoteAddr: '1.2.3.4:5' }, true);
      good.resume();
      await waitFor(() => opened.length === 1, 5000, 'the good stream');
      assert.deepEqual(opened, [{ kind: 'tcp', binding: 'ep_1', remoteAddr: '1.2.3.4:5' }]);
      assert.equal(client.online, true);
    } finally {
      client.close();
      edgeSide.close();
    }
  });

  it('ends the session on a malformed policy-logs Meta (ERR_BURROW_MESSAGE_MALFORMED at meta.logs)', async () => {
    const { edgeSide, client } = fakeEdge();
    let opened = 0;
    client.on('stream', (stream) => {
      opened++;
      if ('on' in stream) stream.on('error', () => undefined); // reset with the session, as the agent's own handler does
    });
    const offline = new Promise<{ code: string; message: string }>((resolve) => client.once('offline', resolve));
    try {
      await client.start();
      const stream = edgeSide.openStream({ kind: 'tcp', binding: 'ep_1', remoteAddr: '1.2.3.4:5' });
      stream.on('error', () => undefined); // reset when the session ends
      await waitFor(() => opened === 1, 5000, 'the stream');
      stream.sendMeta({ kind: 'policy-logs', logs: 'not a list' });
      const error = await offline;
      assert.equal(error.code, MALFORMED);
      assert.match(error.message, /meta\.logs/);
    } finally {
      client.close();
      edgeSide.close();
    }
  });
});
