// Requests an edge module answers itself (a basic-auth 401) never reach the agent's upstream; the
// edge reports them to the agent (`refused` control message) so its inspector lists them, marked
// with the module. Here with a standalone edge (what `burrow edge` runs) and an agent connected
// to it over a real WebSocket; the embedded edge's own path is in client-agent.test.ts.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Agent } from '../../tunnel/src/agent/agent';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { Edge } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { Resources, listen, request, waitFor } from '../support/tunnel';

const TOKEN = 'refused-token-0123456789';
const PASSWORD = 'correct-horse-battery';

describe('refused requests reach the agent of a standalone edge', function () {
  this.timeout(20_000);
  const res = new Resources();
  after(() => res.closeAll());

  it('a 401 and a refused websocket upgrade are captured as answered by basic-auth; the app sees neither', async () => {
    const seen: string[] = [];
    const upstream = res.server(
      http.createServer((req, rsp) => {
        seen.push(req.url ?? '');
        rsp.end('app');
      }),
    );
    const upstreamPort = await listen(upstream);
    const edge = res.add(
      new Edge({ domain: 'example.test', http: { host: '127.0.0.1', port: 0 }, tokens: new TokenSet([TOKEN]) }),
      (e) => e.close(),
    );
    await edge.start();
    const capture = new CaptureStore({ maxTotalBytes: 4 * 1024 * 1024 });
    const agent = res.agent(new Agent({ edgeUrl: `ws://127.0.0.1:${edge.httpPort}`, authtoken: TOKEN, capture }));
    await agent.start();
    const tunnel = await agent.startTunnel({
      name: 'guarded',
      proto: 'http',
      upstream: `http://127.0.0.1:${upstreamPort}`,
      inspect: true,
      edge: { basicAuth: { credentials: [`alice:${PASSWORD}`] } },
    });
    const host = new URL(tunnel.urls[0]).host;

    const wrong = `Basic ${Buffer.from('alice:wrong-password').toString('base64')}`;
    assert.equal(
      (await request(edge.httpPort, host, { path: '/secret', headers: { authorization: wrong } })).status,
      401,
    );
    const upgrade = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.from('0123456789abcdef').toString('base64'),
    };
    assert.equal((await request(edge.httpPort, host, { path: '/socket', headers: upgrade })).status, 401);
    const right = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    assert.equal((await request(edge.httpPort, host, { path: '/ok', headers: { authorization: right } })).status, 200);

    await waitFor(() => capture.list().length >= 3, 10_000, 'three captured exchanges');
    const byPath = new Map(capture.list().map((x) => [x.request.uri, x]));
    for (const p of ['/secret', '/socket']) {
      const x = byPath.get(p);
      assert.ok(x, `${p} captured`);
      assert.equal(x.edgeModule, 'basic-auth', `${p} marked as answered by the edge`);
      assert.equal(x.tunnelName, 'guarded');
      assert.equal(x.response?.statusCode, 401);
      assert.ok(
        !x.request.rawHeaders.some((h) => h.toLowerCase() === 'authorization'),
        'the password tried is dropped',
      );
      assert.ok(
        x.response?.rawHeaders.some((h) => /^Basic/.test(h)),
        'the WWW-Authenticate challenge is kept',
      );
    }
    assert.equal(byPath.get('/ok')?.edgeModule, undefined, 'an allowed request is the app’s own');
    assert.deepEqual(seen, ['/ok'], 'the app saw only the allowed request');
  });
});
