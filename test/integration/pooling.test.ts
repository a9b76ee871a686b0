// Endpoint pooling (`pooling_enabled`, ngrok v3): agents that bind the same URL with pooling share
// its traffic round robin, and a member that goes away is dropped at once; without pooling a
// second bind is refused (ERR_NGROK_334), and mixing the two is ERR_NGROK_6030.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Edge } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { loadConfig } from '../../tunnel/src/config';
import { delay, listen, request, Resources, startAgent, startTunnel } from '../support/tunnel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TOKEN = 'pool-token-0123456789';

describe('endpoint pooling', function () {
  this.timeout(30_000);
  const res = new Resources();
  let edge: Edge;
  const upstreams: number[] = [];

  before(async () => {
    edge = res.add(
      new Edge({ http: { host: '127.0.0.1', port: 0 }, domain: 'localhost', tokens: new TokenSet([TOKEN]) }),
      (e) => e.close(),
    );
    await edge.start();
    for (const name of ['a', 'b']) {
      const server = res.server(http.createServer((_req, reply) => reply.end(name)));
      upstreams.push(await listen(server));
    }
  });
  after(() => res.closeAll());

  const agent = () => startAgent(res, { edgeUrl: `ws://127.0.0.1:${edge.httpPort}`, authtoken: TOKEN });

  it('shares one URL between agents round robin and drops a member that leaves at once', async () => {
    const first = await agent();
    const second = await agent();
    const a = await startTunnel(first, { upstream: String(upstreams[0]), domain: 'pool.localhost', pooling: true });
    const b = await startTunnel(second, { upstream: String(upstreams[1]), domain: 'pool.localhost', pooling: true });
    assert.equal(a.url, b.url);
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push((await request(edge.httpPort, 'pool.localhost')).body.toString());
    assert.deepEqual([...answers].sort(), ['a', 'a', 'a', 'b', 'b', 'b'], answers.join(''));
    assert.notEqual(answers[0], answers[1], 'round robin');

    await second.close();
    for (let i = 0; i < 4; i++) {
      const r = await request(edge.httpPort, 'pool.localhost');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'a', 'only the member left serves');
    }
    await first.close();
    // the last member's session closes at the edge a moment later: then the URL is offline
    let code: unknown;
    for (let i = 0; i < 50 && code !== 'ERR_NGROK_3200'; i++) {
      code = (await request(edge.httpPort, 'pool.localhost')).headers['ngrok-error-code'];
      if (code !== 'ERR_NGROK_3200') await delay(100);
    }
    assert.equal(code, 'ERR_NGROK_3200', 'no member: the URL is offline');
  });

  it('without pooling a second bind is refused (334); mixing pooled and not is 6030', async () => {
    const one = await agent();
    const two = await agent();
    await startTunnel(one, { upstream: String(upstreams[0]), domain: 'solo.localhost' });
    await assert.rejects(
      startTunnel(two, { upstream: String(upstreams[1]), domain: 'solo.localhost' }),
      /already bound/,
    );
    await assert.rejects(
      startTunnel(two, { upstream: String(upstreams[1]), domain: 'solo.localhost', pooling: true }),
      (e: { code?: string }) => e.code === 'ERR_NGROK_6030',
    );
    await startTunnel(one, { upstream: String(upstreams[0]), domain: 'pooled.localhost', pooling: true });
    await assert.rejects(
      startTunnel(two, { upstream: String(upstreams[1]), domain: 'pooled.localhost' }),
      (e: { code?: string }) => e.code === 'ERR_NGROK_6030',
    );
  });

  it('pooling_enabled in ngrok.yml (v2 tunnels and v3 endpoints) reaches the endpoint', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-pool-'));
    const v2 = path.join(dir, 'v2.yml');
    fs.writeFileSync(v2, 'version: 2\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    pooling_enabled: true\n');
    const v3 = path.join(dir, 'v3.yml');
    fs.writeFileSync(
      v3,
      'version: 3\nagent: {}\nendpoints:\n  - name: api\n    url: https://api.example.test\n    pooling_enabled: true\n    upstream:\n      url: 8080\n',
    );
    for (const file of [v2, v3]) {
      const config = loadConfig({ paths: [file] });
      assert.deepEqual(
        config.problems.filter((p) => p.severity === 'error'),
        [],
      );
      assert.equal(config.endpoints[0].pooling, true);
    }
  });
});
