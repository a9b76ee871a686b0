// The local API's contract (tunnel/src/agent/api/contract.ts) against what a real agent sends:
// every REST body and every event-stream message of a session that exercises them, checked with
// the contract's own checks (unknown fields refused), so a field the server adds, drops or
// retypes without the contract fails here. And the extension and inspector bundles read the
// contract as types only: none of the agent's code is bundled into them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { build } from 'esbuild';
import WebSocket from 'ws';
import {
  checkApiError,
  checkApiIndex,
  checkCapture,
  checkCaptureList,
  checkEndpoint,
  checkEndpointList,
  checkEvent,
  checkStatus,
  checkTunnel,
  checkTunnelList,
  type AgentEventJson,
} from '../../tunnel/src/agent/api/contract';
import type { Shape } from '../../tunnel/src/protocol/shape';
import { eventually, request, startRig, startUpstream, throughTunnel, type Rig, type Upstream } from './api-support';

const json = { 'content-type': 'application/json' };

describe('local API contract: what a real agent sends matches contract.ts', function () {
  this.timeout(30_000);
  let rig: Rig;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream();
    rig = await startRig({ maxBodyBytes: 16 });
  });
  after(async () => {
    await rig?.close();
    await upstream?.close();
  });

  /** GET/POST/… the API; checks status and body against the contract; returns the body. */
  async function call<T>(shape: Shape<T>, method: string, url: string, status: number, body?: unknown): Promise<T> {
    const r = await request(rig.apiPort, method, url, {
      headers: body === undefined ? {} : json,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
    return shape(r.json(), `${method} ${url}`);
  }

  it('REST: index, status, tunnels, endpoints, captures and errors', async () => {
    await call(checkApiIndex, 'GET', '/api', 200);
    await call(checkStatus, 'GET', '/api/status', 200);
    // Modules of every kind the definition can show, secrets included (they come back redacted).
    const web = await call(checkTunnel, 'POST', '/api/tunnels', 201, {
      name: 'web',
      proto: 'http',
      addr: upstream.port,
      basic_auth: ['ann:password-123'],
      ip_restriction: { allow_cidrs: ['127.0.0.0/8'] },
      request_header: { add: ['Authorization: Bearer topsecret-123'], remove: ['X-Drop'] },
      circuit_breaker: 0.5,
      compression: true,
      metadata: 'meta',
    });
    assert.ok(web.definition?.edge?.basicAuth, 'the definition shows its modules');
    // The checks are strict: a field the contract does not declare is refused.
    assert.throws(() => checkTunnel({ ...web, extra: 1 }, 'tunnel'), /tunnel\.extra: unknown field/);
    await call(checkTunnel, 'POST', '/api/tunnels', 201, { name: 'raw', proto: 'tcp', addr: upstream.port });
    await call(checkEndpoint, 'POST', '/api/endpoints', 201, {
      name: 'v3',
      url: 'http://contract-v3.localhost',
      upstream: { url: String(upstream.port), protocol: 'http1' },
      description: 'a v3 endpoint',
      traffic_policy: {
        on_http_request: [
          {
            actions: [
              { type: 'add-headers', config: { headers: { 'x-a': '1' } } },
              { type: 'log', config: { metadata: { path: '${req.url.path}' } } },
            ],
          },
        ],
      },
    });
    const list = await call(checkTunnelList, 'GET', '/api/tunnels', 200);
    assert.deepEqual(list.tunnels.map((t) => t.name).sort(), ['raw', 'v3', 'web']);
    await call(checkTunnel, 'GET', '/api/tunnels/web', 200);
    await call(checkEndpointList, 'GET', '/api/endpoints', 200);
    await call(checkEndpoint, 'GET', '/api/endpoints/v3', 200);

    // Captures: a complete one, a refused one (edge_module), one with a truncated body, a replay.
    const auth = `Basic ${Buffer.from('ann:password-123').toString('base64')}`;
    await throughTunnel(rig, 'web', 'POST', '/items?x=1', {
      headers: { authorization: auth, 'content-type': 'text/plain' },
      body: 'a body longer than sixteen bytes',
    });
    await throughTunnel(rig, 'web', 'GET', '/refused');
    await throughTunnel(rig, 'v3', 'GET', '/logged');
    await eventually(
      () => rig.capture.list().length >= 3 && rig.capture.list().every((x) => x.state !== 'request'),
      'captures',
    );
    const captures = await call(checkCaptureList, 'GET', '/api/requests/http', 200);
    assert.ok(
      captures.requests.some((c) => c.edge_module === 'basic-auth'),
      'a capture answered by a module',
    );
    assert.ok(
      captures.requests.some((c) => c.request.body_truncated),
      'a truncated capture',
    );
    assert.ok(
      captures.requests.some((c) => c.traffic_policy?.logs.length),
      'a capture with traffic-policy logs',
    );
    const first = captures.requests.find((c) => c.request.uri === '/items?x=1')!;
    await call(checkCapture, 'GET', `/api/requests/http/${first.id}`, 200);
    const replay = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: first.id, modifications: { body: 'short' } }),
    });
    assert.equal(replay.status, 204, replay.text);
    const replayId = String(replay.headers['burrow-replay-id']);
    const replayed = await eventually(async () => {
      const c = await call(checkCapture, 'GET', `/api/requests/http/${replayId}`, 200);
      return c.state === 'complete' && c;
    }, 'the replay');
    assert.equal(replayed.replay_of, first.id);

    // Errors share one body.
    await call(checkApiError, 'GET', '/api/tunnels/nope', 404);
    await call(checkApiError, 'POST', '/api/tunnels', 400, { name: 'bad', proto: 'http', addr: 'not a port' });
    await call(checkApiError, 'PUT', '/api/status', 405);
    await call(checkApiError, 'POST', '/api/requests/http', 400, { id: 5 });
  });

  it('/api/events: every kind of message', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${rig.apiPort}/api/events`);
    const events: AgentEventJson[] = [];
    const refused: Error[] = [];
    ws.on('message', (data) => {
      try {
        events.push(checkEvent(JSON.parse(String(data)), `event ${events.length}`));
      } catch (err) {
        refused.push(err as Error);
      }
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const seen = (type: AgentEventJson['type']) => eventually(() => events.find((e) => e.type === type), type);
    try {
      await seen('snapshot');
      await throughTunnel(rig, 'web', 'GET', '/live', {
        headers: { authorization: `Basic ${Buffer.from('ann:password-123').toString('base64')}` },
      });
      const started = await seen('request_started');
      await seen('tunnel_metrics');
      await eventually(
        () =>
          events.some(
            (e) =>
              (e.type === 'request_updated' || e.type === 'request_started') &&
              e.request.id === (started.type === 'request_started' && started.request.id) &&
              e.request.state === 'complete',
          ),
        'the live request completes',
      );
      const id = started.type === 'request_started' ? started.request.id : '';
      await request(rig.apiPort, 'DELETE', `/api/requests/http/${id}`);
      await seen('request_deleted');
      await request(rig.apiPort, 'DELETE', '/api/requests/http');
      await seen('requests_cleared');
      await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({ name: 'late', proto: 'http', addr: upstream.port }),
      });
      await seen('tunnel_started');
      await request(rig.apiPort, 'DELETE', '/api/tunnels/late');
      await seen('tunnel_stopped');
      assert.deepEqual(
        refused.map((e) => e.message),
        [],
        'every event matches the contract',
      );
    } finally {
      ws.terminate();
    }
  });

  it('the extension and inspector bundles take the contract as types only (no agent code in them)', async () => {
    const root = path.resolve(__dirname, '../..');
    const bundles = [
      {
        entryPoints: ['client/src/extension.ts'],
        platform: 'node' as const,
        // (Without the build's define this takes core.ts from source too: the libraries stay external.)
        external: ['vscode', './extension-core.js', './extension-libs.js'],
      },
      { entryPoints: ['client/src/core.ts'], platform: 'node' as const, external: ['vscode', './extension-libs.js'] },
      { entryPoints: ['client/src/libs.ts'], platform: 'node' as const, external: ['vscode'] },
      { entryPoints: ['tunnel/src/inspector/web/main.ts'], platform: 'browser' as const, external: [] },
    ];
    for (const b of bundles) {
      const result = await build({
        ...b,
        absWorkingDir: root,
        bundle: true,
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      // (The extension shares a few pure helpers on purpose, e.g. agent/codespaces.ts; not these.)
      const agentCode = inputs.filter(
        (f) => /^tunnel\/src\/(agent\/api|protocol|edge|capture)\//.test(f) || f === 'tunnel/src/wire-options.ts',
      );
      assert.deepEqual(agentCode, [], `${b.entryPoints[0]} bundles agent code`);
    }
  });
});
