// Endpoint pooling (`pooling_enabled`, ngrok v3): agents that bind the same URL (HTTP, TLS name or
// tcp:// address) with pooling share its traffic round robin, and a member that goes away is dropped
// at once; without pooling a second bind is refused (ERR_NGROK_334), and mixing the two is
// ERR_NGROK_6030.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Edge } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { loadConfig } from '../../tunnel/src/config';
import { delay, freePort, listen, request, Resources, startAgent, startTunnel, waitFor } from '../support/tunnel';
import { selfSignedCertificate } from '../../tunnel/src/edge/tls-cert';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

/** Everything a raw connection answers until it ends. */
function answer(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
}

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

  const members = (url: string) => edge.listBindings().filter((b) => b.urls.includes(url)).length;
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

  it('pools a tcp:// address: connections round robin, a member that leaves dropped at once', async () => {
    const names = ['tcp-a', 'tcp-b'];
    const ports = [];
    for (const name of names) ports.push(await listen(res.server(net.createServer((socket) => socket.end(name)))));
    const port = await freePort();
    const first = await agent();
    const second = await agent();
    const spec = { proto: 'tcp' as const, remoteAddr: `127.0.0.1:${port}`, pooling: true };
    const a = await startTunnel(first, { ...spec, upstream: String(ports[0]) });
    const b = await startTunnel(second, { ...spec, upstream: String(ports[1]) });
    assert.equal(a.url, b.url);
    const dial = () => answer(net.connect(port, '127.0.0.1'));
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await dial());
    assert.deepEqual([...answers].sort(), ['tcp-a', 'tcp-a', 'tcp-a', 'tcp-b', 'tcp-b', 'tcp-b'], answers.join());
    assert.notEqual(answers[0], answers[1], 'round robin');

    // The member whose listener holds the port leaves: the other keeps the address, alone, from
    // the moment the edge sees the session end.
    await first.close();
    await waitFor(() => members(a.url) === 1, 5_000, 'the edge to drop the member');
    for (let i = 0; i < 4; i++) assert.equal(await dial(), 'tcp-b');
    // Without pooling a second bind of a taken port is refused; mixing is 6030.
    const solo = await freePort();
    await startTunnel(await agent(), {
      proto: 'tcp',
      remoteAddr: `127.0.0.1:${solo}`,
      upstream: String(ports[0]),
    });
    await assert.rejects(
      startTunnel(second, { proto: 'tcp', remoteAddr: `127.0.0.1:${solo}`, upstream: String(ports[1]) }),
      (e: { code?: string }) => e.code === 'ERR_NGROK_334',
    );
    await assert.rejects(
      startTunnel(second, { ...spec, remoteAddr: `127.0.0.1:${solo}`, upstream: String(ports[1]) }),
      (e: { code?: string }) => e.code === 'ERR_NGROK_6030',
    );
  });

  it('pools a TLS name: connections round robin by SNI, a member that leaves dropped at once', async () => {
    const host = 'pooltls.localhost';
    const cred = await selfSignedCertificate({ hosts: [host] });
    const ports = [];
    for (const name of ['tls-a', 'tls-b'])
      ports.push(await listen(res.server(tls.createServer(cred, (socket) => socket.end(name)))));
    const first = await agent();
    const second = await agent();
    const a = await startTunnel(first, { proto: 'tls', domain: host, pooling: true, upstream: String(ports[0]) });
    const b = await startTunnel(second, { proto: 'tls', domain: host, pooling: true, upstream: String(ports[1]) });
    assert.equal(a.url, b.url);
    const dial = () => answer(tls.connect({ host: '127.0.0.1', port: edge.tlsPort, servername: host, ca: cred.cert }));
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await dial());
    assert.deepEqual([...answers].sort(), ['tls-a', 'tls-a', 'tls-a', 'tls-b', 'tls-b', 'tls-b'], answers.join());
    assert.notEqual(answers[0], answers[1], 'round robin');
    await first.close();
    await waitFor(() => members(a.url) === 1, 5_000, 'the edge to drop the member');
    let last = '';
    // the router entry moves to the member left (the first held it)
    for (let i = 0; i < 4; i++) assert.equal((last = await dial()), 'tls-b', last);
    await assert.rejects(
      startTunnel(await agent(), { proto: 'tls', domain: host, upstream: String(ports[0]) }),
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
