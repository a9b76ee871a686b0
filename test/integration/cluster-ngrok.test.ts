// ngrok's own SDK (@ngrok/ngrok, its native ngrok-rust client) on a cluster: three
// `burrow edge --ngrok-agent-listen` nodes on one real redis-server, a balancer in front of their
// agent ports and a health-checking one in front of their HTTP ports. Where the machine allows,
// the suite re-runs itself inside `unshare -rn` (loopback only), as ngrok-agent.test.ts does.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import {
  CheckedBalancer,
  EDGE_TOKEN,
  RedisProcess,
  TcpBalancer,
  ensureRedisServer,
  startNode,
  stopNode,
  type NodeProcess,
} from '../support/cluster';
import { delay, freePort, request, type Reply } from '../support/tunnel';
import { INSIDE_NETNS, netnsAvailable, runInsideNetns } from '../support/netns';
import { makeTestCa } from '../support/test-ca';

const ngrok = require('@ngrok/ngrok') as typeof import('@ngrok/ngrok');

if (netnsAvailable()) {
  describe('edge cluster with ngrok agents (inside a loopback-only network namespace)', () => {
    it('passes every cluster ngrok SDK test with only loopback reachable', async function () {
      this.timeout(5 * 60_000);
      ensureRedisServer(); // apt-get needs the network: before entering the namespace
      assert.equal(
        await runInsideNetns(__filename, 4.5 * 60_000),
        0,
        'the cluster ngrok SDK suite failed inside the namespace (output above)',
      );
    });
  });
} else {
  describe('edge cluster with ngrok agents' + (INSIDE_NETNS ? ' [netns]' : ' [loopback]'), suite);
}

function suite(this: Mocha.Suite): void {
  this.timeout(120_000);
  let dir: string;
  let caPem: string;
  let redis: RedisProcess;
  let kv: Redis;
  let nodes: NodeProcess[] = [];
  const ngrokPorts = new Map<NodeProcess, number>();
  const tcpHosts = new Map<NodeProcess, string>();
  let lbAgents: TcpBalancer;
  let app: http.Server;
  let appPort: number;

  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

  let nodeCount = 0;
  async function node(): Promise<NodeProcess> {
    const port = await freePort();
    const tcpHost = `127.0.0.${2 + nodeCount++}`;
    const n = await startNode(redis.url, [
      // Each node's TCP endpoints on its own loopback address, as if on its own machine.
      '--tcp-host',
      tcpHost,
      '--ngrok-agent-listen',
      `127.0.0.1:${port}`,
      '--cert',
      path.join(dir, 'edge.crt'),
      '--key',
      path.join(dir, 'edge.key'),
      '--drain-timeout',
      '20',
    ]);
    ngrokPorts.set(n, port);
    tcpHosts.set(n, tcpHost);
    return n;
  }

  async function holderOf(kind: string, name: string): Promise<NodeProcess> {
    const value = await kv.get(`burrow:claim:${kind}:${name}`);
    assert.ok(value, `no claim for ${name}`);
    const addr = value.split('|')[3];
    const found = nodes.find((n) => `127.0.0.1:${n.nodePort}` === addr);
    assert.ok(found, `claim names an unknown node ${addr}`);
    return found;
  }

  function get(port: number, host: string, p = '/'): Promise<Reply> {
    return Promise.race([
      request(port, host, { path: p }),
      delay(15_000).then(() => {
        throw new Error(`request to ${host} on :${port} hung`);
      }),
    ]);
  }

  before(async function () {
    this.timeout(60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-cluster-ngrok-'));
    caPem = makeTestCa(dir, ['localhost']);
    redis = new RedisProcess(await freePort());
    await redis.start();
    kv = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    kv.on('error', () => undefined);
    await kv.connect();
    nodes = await Promise.all([node(), node(), node()]);
    // The agents' balancer: a draining node closes its agent port, so it is skipped (HAProxy's redispatch).
    lbAgents = new TcpBalancer(() => live().map((n) => ngrokPorts.get(n)!));
    await lbAgents.start();
    app = http.createServer((req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow but complete'), 1000);
        return;
      }
      res.end(`app ${req.url}`);
    });
    appPort = await new Promise<number>((r) =>
      app.listen(0, '127.0.0.1', () => r((app.address() as net.AddressInfo).port)),
    );
  });

  after(async function () {
    this.timeout(30_000);
    await ngrok.kill().catch(() => undefined);
    await lbAgents?.close();
    for (const n of nodes) await stopNode(n, 'SIGKILL');
    kv?.disconnect();
    await redis?.stop();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await ngrok.disconnect().catch(() => undefined);
  });

  it('SIGTERM on the node holding an SDK listener: a GOAWAY moves it to another node with the same URL; visitors see no error', async () => {
    const listener = await ngrok.forward({
      addr: appPort,
      authtoken: EDGE_TOKEN,
      server_addr: `localhost:${lbAgents.port}`,
      session_ca_cert: caPem,
      schemes: ['HTTP'],
    });
    const url = new URL(listener.url()!);
    const host = url.hostname;
    for (const n of nodes) assert.equal((await get(n.httpPort, host, '/first')).body.toString(), 'app /first');
    const holder = await holderOf('http', host);
    const other = nodes.find((n) => n !== holder)!;
    const checked = new CheckedBalancer(
      () => nodes,
      (n) => n.httpPort,
    );
    await checked.start();
    try {
      const outcomes: string[] = [];
      let stop = false;
      const worker = async (p: string) => {
        while (!stop) {
          try {
            const r = await get(checked.port, host, p);
            outcomes.push(r.status === 200 ? 'ok' : `${r.status} ${r.headers['ngrok-error-code'] ?? 'uncoded'}`);
          } catch (err) {
            outcomes.push(`failed ${(err as Error).message}`);
          }
        }
      };
      const workers = [worker('/a'), worker('/b'), worker('/c')];
      await delay(500);
      // In flight when the signal comes: one straight to the holder, one carried by another node.
      const slow = [get(holder.httpPort, host, '/slow'), get(other.httpPort, host, '/slow')];
      await delay(200);
      const before = outcomes.length;
      const started = Date.now();
      holder.child.kill('SIGTERM');
      let movedMs = -1;
      while (movedMs < 0 && Date.now() - started < 15_000) {
        if ((await holderOf('http', host).catch(() => holder)) !== holder) movedMs = Date.now() - started;
        else await delay(20);
      }
      assert.ok(movedMs >= 0, 'the SDK never bound its URL on another node');
      for (const r of await Promise.all(slow)) assert.equal(r.body.toString(), 'slow but complete');
      assert.equal(await holder.exited, 0);
      await delay(500);
      stop = true;
      await Promise.all(workers);
      const during = outcomes.slice(before);
      assert.ok(during.length > 10, `too little traffic during the drain (${during.length})`);
      assert.deepEqual(
        outcomes.filter((o) => o !== 'ok'),
        [],
        `of ${outcomes.length} requests (moved after ${movedMs} ms)`,
      );
    } finally {
      await checked.close();
    }
    // The same URL, answering on every live node.
    assert.equal(listener.url(), url.origin);
    for (const n of live()) assert.equal((await get(n.httpPort, host, '/after')).body.toString(), 'app /after');
    nodes = [...live(), await node()];
  });

  it('SIGTERM on the node holding an SDK tcp listener: it moves with its port, which answers on every live node', async () => {
    const echo = net.createServer((sock) => sock.pipe(sock));
    const echoPort = await new Promise<number>((r) =>
      echo.listen(0, '127.0.0.1', () => r((echo.address() as net.AddressInfo).port)),
    );
    const say = (host: string, port: number) =>
      new Promise<string>((resolve) => {
        const sock = net.connect(port, host, () => sock.end(`hello ${host}`));
        let got = '';
        sock.on('data', (d) => (got += d));
        sock.on('close', () => resolve(got));
        sock.on('error', () => resolve(''));
      });
    try {
      const listener = await ngrok.forward({
        addr: echoPort,
        proto: 'tcp',
        authtoken: EDGE_TOKEN,
        server_addr: `localhost:${lbAgents.port}`,
        session_ca_cert: caPem,
      });
      const port = Number(new URL(listener.url()!).port);
      const holder = await holderOf('tcp', String(port));
      holder.child.kill('SIGTERM');
      assert.equal(await holder.exited, 0);
      let moved = false;
      for (let i = 0; i < 100 && !moved; i++) {
        if (i) await delay(100);
        moved = (await kv.get(`burrow:claim:tcp:${port}`))?.split('|')[3] !== `127.0.0.1:${holder.nodePort}`;
      }
      assert.ok(moved, 'the tcp listener did not move to another node');
      for (const n of live()) {
        const host = tcpHosts.get(n)!;
        let text = '';
        for (let i = 0; i < 50 && !text; i++) {
          if (i) await delay(100);
          text = await say(host, port);
        }
        assert.equal(text, `hello ${host}`, `tcp ${host}:${port}`);
      }
    } finally {
      echo.close();
    }
    nodes = [...live(), await node()];
  });
}
