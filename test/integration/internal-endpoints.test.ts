// Internal endpoints (`https://name.internal`) and the `forward-internal` traffic-policy action,
// with the corpus file that uses them (088, ports adapted): the public endpoint rewrites /api/… and
// forwards it to the internal one; nothing public reaches the internal name; `on_error` decides
// between a coded 502 (halt, the default) and carrying on (continue) when it is offline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Agent } from '../../tunnel/src/agent/agent';
import { loadConfig } from '../../tunnel/src/config';
import { listen, request, Resources, startAgent } from '../support/tunnel';

describe('internal endpoints and forward-internal', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let publicHost: string;
  let lenientHost: string;

  before(async () => {
    const app = res.server(http.createServer((req, reply) => reply.end(`app ${req.url}`)));
    const backend = res.server(http.createServer((req, reply) => reply.end(`backend ${req.url}`)));
    const [appPort, backendPort] = [await listen(app), await listen(backend)];
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-internal-')), 'ngrok.yml');
    fs.writeFileSync(
      file,
      `version: 3
agent:
  web_addr: 127.0.0.1:4040
endpoints:
  - name: hospital-backend
    url: https://hospital-backend.internal
    upstream:
      url: http://localhost:${backendPort}
      protocol: http1
  - name: hospital-public
    traffic_policy:
      on_http_request:
        - name: RouteApiToBackend
          expressions:
            - req.url.path.startsWith('/api')
          actions:
            - type: url-rewrite
              config:
                from: /api/?(.*)?
                to: /$1
            - type: forward-internal
              config:
                url: https://hospital-backend.internal
    upstream:
      url: http://localhost:${appPort}
      protocol: http1
  - name: lenient
    traffic_policy:
      on_http_request:
        - actions:
            - type: forward-internal
              config:
                url: https://hospital-backend.internal
                on_error: continue
    upstream:
      url: http://localhost:${appPort}
`,
    );
    const config = loadConfig({ paths: [file] });
    assert.deepEqual(
      config.problems.filter((p) => p.severity === 'error'),
      [],
    );
    agent = await startAgent(res);
    const hosts: Record<string, string> = {};
    for (const spec of config.endpoints) {
      const state = await agent.startTunnel({ ...spec, inspect: false });
      hosts[spec.name] = new URL(state.urls[0]).host;
    }
    assert.equal(hosts['hospital-backend'], 'hospital-backend.internal');
    publicHost = hosts['hospital-public'];
    lenientHost = hosts.lenient;
  });
  after(() => res.closeAll());

  const get = (host: string, p: string) => request(agent.embedded!.httpPort, host, { path: p });

  it('forwards the rewritten request to the internal endpoint; the rest goes to the public upstream', async () => {
    assert.equal((await get(publicHost, '/api/patients?id=7')).body.toString(), 'backend /patients?id=7');
    assert.equal((await get(publicHost, '/index.html')).body.toString(), 'app /index.html');
  });

  it('an internal name is not reachable from the public listener', async () => {
    const r = await get('hospital-backend.internal', '/patients');
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3200');
  });

  it('an offline internal endpoint: halt answers 502 with a code, continue carries on', async () => {
    await agent.stopTunnel('hospital-backend');
    const halted = await get(publicHost, '/api/patients');
    assert.equal(halted.status, 502);
    assert.equal(halted.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    assert.equal((await get(lenientHost, '/x')).body.toString(), 'app /x');
  });

  it('refuses an internal endpoint with modules, and a public bind of a .internal name', async () => {
    await assert.rejects(
      agent.startTunnel({
        name: 'i2',
        proto: 'http',
        upstream: '1',
        inspect: false,
        domain: 'x.internal',
        internal: true,
        edge: { compression: {} },
      }),
      (e: { code?: string }) => e.code === 'ERR_BURROW_UNSUPPORTED_OPTION',
    );
    await assert.rejects(
      agent.startTunnel({ name: 'i3', proto: 'http', upstream: '1', inspect: false, domain: 'y.internal' }),
      (e: { code?: string }) => e.code === 'ERR_BURROW_INTERNAL_URL',
    );
  });
});
