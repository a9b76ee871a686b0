// An agent and an edge of different Burrow versions (an older agent against a newer edge, cluster
// edges in a rolling upgrade) agree on the form of the per-exchange metadata in the handshake: the
// binary Open and response head (feature `binary-meta`) only when both announce it, JSON otherwise.
// A real edge and a real agent, each told to announce the features of an older version or all of
// them, with a TCP relay between them that records the session's bytes (loopback WebSockets are
// unmasked), so the test sees which form crossed the wire, and a real upstream behind the agent.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { Agent } from '../../tunnel/src/agent/agent';
import { FEATURE_SPLIT_DATA, WIRE_FEATURES } from '../../tunnel/src/protocol/frames';
import { EDGE_TOKEN, Resources, listen, request, startEdge, startTunnel } from '../support/tunnel';

/** What a Burrow before `binary-meta` announces. */
const OLD = [FEATURE_SPLIT_DATA];

/** A TCP relay to `port` recording what each side sent. */
async function relay(res: Resources, port: number) {
  const down: Buffer[] = [];
  const up: Buffer[] = [];
  const server = res.server(
    net.createServer((agentSide) => {
      const edgeSide = net.connect(port, '127.0.0.1');
      agentSide.on('data', (c: Buffer) => up.push(c));
      edgeSide.on('data', (c: Buffer) => down.push(c));
      agentSide.pipe(edgeSide).on('error', () => agentSide.destroy());
      edgeSide.pipe(agentSide).on('error', () => edgeSide.destroy());
      agentSide.on('error', () => edgeSide.destroy());
      edgeSide.on('error', () => agentSide.destroy());
      agentSide.on('close', () => edgeSide.destroy());
      edgeSide.on('close', () => agentSide.destroy());
    }),
  );
  const relayPort = await listen(server);
  return { relayPort, down: () => Buffer.concat(down), up: () => Buffer.concat(up) };
}

describe('wire protocol: binary metadata is negotiated in hello/welcome, JSON with older peers', function () {
  this.timeout(30_000);
  const res = new Resources();
  let upstreamPort: number;

  before(async () => {
    const upstream = http.createServer((req, reply) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({
          method: req.method,
          url: req.url,
          latin: req.headers['x-latin'],
          body: Buffer.concat(chunks).toString(),
        });
        reply.writeHead(201, 'Made It', { 'X-Upstream-Mark': 'marked-by-upstream', 'X-Latin-Back': 'çà' });
        reply.end(body);
      });
    });
    const wss = new WebSocketServer({ noServer: true });
    upstream.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m: Buffer) => ws.send(`echo ${m.toString()}`))),
    );
    res.server(upstream);
    res.add(wss, (w) => w.close());
    upstreamPort = await listen(upstream);
  });
  after(() => res.closeAll());

  const combos: [string, readonly string[], readonly string[], boolean][] = [
    ['new edge, new agent: binary both ways', WIRE_FEATURES, WIRE_FEATURES, true],
    ['new edge, agent speaking the old format: JSON', WIRE_FEATURES, OLD, false],
    ['edge speaking the old format, new agent: JSON', OLD, WIRE_FEATURES, false],
    ['old format on both sides: JSON', OLD, OLD, false],
  ];

  for (const [what, edgeFeatures, agentFeatures, binary] of combos) {
    it(what, async () => {
      const edge = await startEdge(res, { wireFeatures: edgeFeatures });
      const tap = await relay(res, edge.httpPort);
      const agent = res.agent(
        new Agent({ edgeUrl: `ws://127.0.0.1:${tap.relayPort}`, authtoken: EDGE_TOKEN, wireFeatures: agentFeatures }),
      );
      await agent.start();
      const tunnel = await startTunnel(agent, { upstream: String(upstreamPort) });

      // A request with a body and a non-ASCII header value; the response has its own status
      // message. The upstream must see what it sees without the tunnel.
      const options = {
        method: 'POST',
        path: '/unique-path-xyzzy?q=1',
        headers: { 'X-Latin': 'café', 'Content-Type': 'text/plain' },
        body: 'hello body',
      };
      const direct = await request(upstreamPort, 'localhost', options);
      const reply = await request(edge.httpPort, tunnel.host, options);
      assert.equal(reply.status, 201);
      assert.equal(reply.headers['x-upstream-mark'], 'marked-by-upstream');
      assert.equal(reply.headers['x-latin-back'], 'çà');
      assert.deepEqual(JSON.parse(reply.body.toString()), JSON.parse(direct.body.toString()));
      assert.equal(JSON.parse(reply.body.toString()).body, 'hello body');
      // A websocket through the tunnel: the Open's upgrade flag and the 101 head.
      const ws = new WebSocket(`ws://127.0.0.1:${edge.httpPort}/ws-unique`, { headers: { Host: tunnel.host } });
      res.add(ws, (w) => w.terminate());
      await once(ws, 'open');
      ws.send('ping');
      const [message] = (await once(ws, 'message')) as [Buffer];
      ws.close();
      assert.equal(message.toString(), 'echo ping');

      const down = tap.down().toString('latin1');
      const up = tap.up().toString('latin1');
      // The metadata crossed the relay either way (a sanity check of the tap).
      assert.ok(down.includes('/unique-path-xyzzy?q=1') && down.includes('/ws-unique'), 'request metadata seen');
      assert.ok(up.includes('marked-by-upstream'), 'response head seen');
      assert.equal(down.includes('{"kind":"http"'), !binary, 'JSON Open on the wire');
      assert.equal(up.includes('{"kind":"http-response"'), !binary, 'JSON response head on the wire');
    });
  }
});
