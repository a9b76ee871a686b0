// Three `burrow edge` nodes on one real redis-server, behind a TCP balancer: agents and visitors
// land on any node, and the cluster behaves like one edge that does not go down with a node.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import Redis from 'ioredis';
import WebSocket, { WebSocketServer } from 'ws';
import { Agent, AgentError } from '../../tunnel/src/agent/agent';
import { selfSignedCertificate } from '../../tunnel/src/edge/tls-cert';
import {
  API_KEY,
  BIN,
  CheckedBalancer,
  CLUSTER_SECRET,
  EDGE_TOKEN,
  RedisProcess,
  TcpBalancer,
  startNode,
  startNodes,
  stopNode,
  type NodeProcess,
} from '../support/cluster';
import { helloWith } from '../support/hello';
import { delay, freePort, request, seededStream, type Reply } from '../support/tunnel';

const MiB = 1024 * 1024;

describe('edge cluster (3 nodes, redis, balancer)', function () {
  this.timeout(120_000);
  let redis: RedisProcess;
  let nodes: NodeProcess[] = [];
  let lb: TcpBalancer;
  /** The same balancer in front of the nodes' TLS listeners (HTTPS edges' hostports). */
  let lbTls: TcpBalancer;
  let app: http.Server;
  let appPort: number;
  let kv: Redis;
  const upstreams: http.Server[] = [];
  const agents: Agent[] = [];

  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

  async function newAgent(edgePort = lb.port): Promise<Agent> {
    const agent = new Agent({
      edgeUrl: `ws://127.0.0.1:${edgePort}`,
      authtoken: EDGE_TOKEN,
      backoffMinMs: 50,
      backoffMaxMs: 500,
      edgeRequestTimeoutMs: 10_000,
    });
    agents.push(agent);
    await agent.start();
    return agent;
  }

  async function tunnel(agent: Agent, spec: Record<string, unknown> = {}): Promise<string> {
    const state = await agent.startTunnel({
      name: `t${Math.random().toString(36).slice(2, 8)}`,
      proto: 'http',
      inspect: false,
      upstream: `http://127.0.0.1:${appPort}`,
      ...spec,
    } as never);
    return new URL(state.urls[0]).hostname;
  }

  /** The node whose session holds `host` (from its claim in Redis). */
  async function holderOf(kind: string, name: string): Promise<NodeProcess> {
    const value = await kv.get(`burrow:claim:${kind}:${name}`);
    assert.ok(value, `no claim for ${name}`);
    const addr = value.split('|')[3];
    const node = nodes.find((n) => `127.0.0.1:${n.nodePort}` === addr);
    assert.ok(node, `claim names an unknown node ${addr}`);
    return node;
  }

  function get(port: number, host: string, path = '/'): Promise<Reply> {
    return Promise.race([
      request(port, host, { path }),
      delay(10_000).then(() => {
        throw new Error(`request to ${host} on :${port} hung`);
      }),
    ]);
  }

  /** An HTTPS request with SNI and Host `host` (self-signed certificates accepted); a POST of `upload` if given. */
  function getTls(port: number, host: string, path = '/', upload?: NodeJS.ReadableStream): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: upload ? 'POST' : 'GET',
          servername: host,
          headers: { host },
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error(`request to ${host} on :${port} hung`)));
      req.on('error', reject);
      if (upload) upload.pipe(req);
      else req.end();
    });
  }

  /** Waits until every node's admin API answers 200 for `path` (a change made on one node spread). */
  async function seenEverywhere(path: string): Promise<void> {
    for (const n of nodes) {
      let r: Reply | undefined;
      for (let i = 0; i < 100 && r?.status !== 200; i++) {
        if (i) await delay(50);
        r = await admin(n, 'GET', path);
      }
      assert.equal(r!.status, 200, `node :${n.adminPort} does not see ${path}`);
    }
  }

  function admin(node: NodeProcess, method: string, path: string, body?: unknown): Promise<Reply> {
    return request(node.adminPort, `127.0.0.1:${node.adminPort}`, {
      method,
      path,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'ngrok-version': '2',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  }

  function health(node: NodeProcess): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) =>
      http
        .get(`http://127.0.0.1:${node.nodePort}/healthz`, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }));
        })
        .on('error', reject),
    );
  }

  before(async () => {
    redis = new RedisProcess(await freePort());
    await redis.start();
    kv = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    kv.on('error', () => undefined);
    await kv.connect();
    // Each node's TCP endpoints on its own loopback address, as if on its own machine.
    nodes = await startNodes(redis.url, 3, (i) => ['--tcp-host', `127.0.0.${i + 2}`]);
    lb = new TcpBalancer(() => live().map((n) => n.httpPort));
    await lb.start();
    lbTls = new TcpBalancer(() => live().map((n) => n.tlsPort));
    await lbTls.start();
    app = http.createServer((req, res) => {
      if (req.method === 'POST') {
        // Echo the body's sha256 and length: 8 MiB checked without holding it twice.
        const hash = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          n += c.length;
        });
        req.on('end', () => res.end(`${n} ${hash.digest('hex')}`));
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow but complete'), 1000);
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        seededStream('cluster-down', 8 * MiB).pipe(res);
        return;
      }
      res.end(`app ${req.url} xff=${req.headers['x-forwarded-for'] ?? ''}`);
    });
    const wss = new WebSocketServer({ server: app });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    appPort = await new Promise<number>((r) =>
      app.listen(0, '127.0.0.1', () => r((app.address() as net.AddressInfo).port)),
    );
  });

  after(async () => {
    for (const a of agents) await Promise.race([a.close().catch(() => undefined), delay(3000)]);
    await lb?.close();
    await lbTls?.close();
    for (const n of nodes) await stopNode(n, 'SIGKILL');
    kv?.disconnect();
    await redis?.stop();
    for (const u of upstreams) u.close();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
  });

  it('every node answers for every name, whichever node holds it', async () => {
    // Agents straight to each node, so each node holds one name.
    const hosts: string[] = [];
    for (const n of nodes) hosts.push(await tunnel(await newAgent(n.httpPort)));
    for (const host of hosts) {
      for (const n of nodes) {
        const r = await get(n.httpPort, host, '/hello');
        assert.equal(r.status, 200, `${host} on :${n.httpPort}: ${r.body}`);
        assert.equal(r.body.toString(), 'app /hello xff=127.0.0.1');
      }
      const viaLb = await get(lb.port, host, '/lb');
      assert.equal(viaLb.body.toString(), 'app /lb xff=127.0.0.1');
    }
    // Keep-alive visitors: several requests on one connection (carried whole to the holder of the
    // first one's name), then names held by the other nodes on that same connection.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const [i, host] of [hosts[0], hosts[0], hosts[0], hosts[1], hosts[2]].entries()) {
        const { body, reused } = await new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
          const req = http.get(
            {
              host: '127.0.0.1',
              port: nodes[2].httpPort,
              path: `/ka${i}`,
              headers: { host },
              agent: keepAlive,
            },
            (res) => {
              let b = '';
              res.on('data', (d) => (b += d));
              res.on('end', () => resolve({ body: b, reused: req.reusedSocket }));
            },
          );
          req.on('error', reject);
        });
        assert.equal(body, `app /ka${i} xff=127.0.0.1`);
        assert.equal(reused, i > 0);
      }
    } finally {
      keepAlive.destroy();
    }
    // /tunnel_sessions on each node lists the sessions it holds, each naming the node.
    const nodeIds = new Set<string>();
    for (const n of nodes) {
      const list = await admin(n, 'GET', '/tunnel_sessions');
      assert.equal(list.status, 200, list.body.toString());
      const sessions = (JSON.parse(list.body.toString()) as { tunnel_sessions: { node?: string }[] }).tunnel_sessions;
      assert.ok(sessions.length >= 1, `node :${n.adminPort} lists no session`);
      for (const s of sessions) assert.ok(typeof s.node === 'string' && s.node, 'a session without its node');
      nodeIds.add(sessions[0].node!);
    }
    assert.equal(nodeIds.size, 3, 'the three nodes name themselves alike');
    const missing = await get(nodes[1].httpPort, 'nobody-here.localhost');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['ngrok-error-code'], 'ERR_NGROK_3200');
  });

  it('a second agent cannot take a held name through another node (ERR_NGROK_334)', async () => {
    const first = await newAgent(nodes[0].httpPort);
    const host = await tunnel(first, { subdomain: 'held-name' });
    assert.equal(host, 'held-name.localhost');
    for (const n of nodes) {
      const other = await newAgent(n.httpPort);
      await assert.rejects(
        tunnel(other, { subdomain: 'held-name' }),
        (err: AgentError) => err.code === 'ERR_NGROK_334',
        `node :${n.httpPort} let a second agent take the name`,
      );
    }
    const r = await get(nodes[2].httpPort, host);
    assert.equal(r.status, 200);
  });

  it('authtoken guessing counts across nodes: a lock earned on one node holds on the others', async () => {
    // Ten failures are free; the eleventh, spread over the nodes, locks the address everywhere.
    for (let i = 0; i < 11; i++) assert.equal(await helloWith(nodes[i % 3].httpPort, `guess-${i}`), 'ERR_NGROK_107');
    for (const n of nodes) assert.equal(await helloWith(n.httpPort, EDGE_TOKEN), 'ERR_BURROW_AUTH_THROTTLED');
    const locks = await kv.keys('burrow:auth:lock:*');
    assert.equal(locks.length, 1, 'one lock in Redis, under a hashed key');
    assert.ok(!locks[0].includes('127.0.0.1'), 'the client address reached Redis');
    await delay(1300);
    assert.equal(await helloWith(nodes[1].httpPort, EDGE_TOKEN), 'welcome');
  });

  it('an admin change on one node is read on another at once', async () => {
    const made = await admin(nodes[0], 'POST', '/reserved_domains', {
      domain: 'shared.example.test',
      description: 'c',
    });
    assert.equal(made.status, 201, made.body.toString());
    const id = JSON.parse(made.body.toString()).id as string;
    for (const n of nodes.slice(1)) {
      let found: Reply | undefined;
      for (let i = 0; i < 40 && found?.status !== 200; i++) {
        if (i) await delay(50);
        found = await admin(n, 'GET', `/reserved_domains/${id}`);
      }
      assert.equal(found!.status, 200, `node :${n.adminPort} does not see ${id}`);
      assert.equal(JSON.parse(found!.body.toString()).domain, 'shared.example.test');
    }
    const del = await admin(nodes[2], 'DELETE', `/reserved_domains/${id}`);
    assert.equal(del.status, 204);
    let gone: Reply | undefined;
    for (let i = 0; i < 40 && gone?.status !== 404; i++) {
      if (i) await delay(50);
      gone = await admin(nodes[0], 'GET', `/reserved_domains/${id}`);
    }
    assert.equal(gone!.status, 404);
  });

  it('a rate-limit counts across nodes: visitors spread over three nodes get the limit once, not three times', async () => {
    // An HTTPS edge route's modules run on whichever node the visitor reached: only a shared window
    // keeps its limit. Fifteen requests at once through the balancer, five per node.
    const fixed = await admin(nodes[0], 'POST', '/backends/http_response', { body: 'within limit', status_code: 200 });
    assert.equal(fixed.status, 201, fixed.body.toString());
    const edge = await admin(nodes[1], 'POST', '/edges/https', { hostports: ['limited.localhost:443'] });
    assert.equal(edge.status, 201, edge.body.toString());
    const edgeId = JSON.parse(edge.body.toString()).id as string;
    // Made on three different nodes: each change must have reached the node that uses it next.
    await seenEverywhere(`/backends/http_response/${JSON.parse(fixed.body.toString()).id}`);
    await seenEverywhere(`/edges/https/${edgeId}`);
    const policy = {
      on_http_request: [
        {
          actions: [
            { type: 'rate-limit', config: { name: 'six', capacity: 6, rate: '60s', bucket_key: ['conn.client_ip'] } },
          ],
        },
      ],
    };
    const route = await admin(nodes[2], 'POST', `/edges/https/${edgeId}/routes`, {
      match_type: 'path_prefix',
      match: '/',
      backend: { backend_id: JSON.parse(fixed.body.toString()).id },
      traffic_policy: { value: JSON.stringify(policy) },
    });
    assert.equal(route.status, 201, route.body.toString());
    await seenEverywhere(`/edges/https/${edgeId}/routes/${JSON.parse(route.body.toString()).id}`);
    const replies = await Promise.all(Array.from({ length: 15 }, () => getTls(lbTls.port, 'limited.localhost')));
    const ok = replies.filter((r) => r.status === 200);
    const limited = replies.filter((r) => r.status === 429);
    assert.equal(ok.length, 6, `statuses: ${replies.map((r) => r.status).join(' ')}`);
    assert.equal(limited.length, 9);
    for (const r of limited) {
      assert.equal(r.headers['ngrok-error-code'], 'ERR_BURROW_RATE_LIMITED');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    // Still limited on every node, straight to each.
    for (const n of nodes) assert.equal((await getTls(n.tlsPort, 'limited.localhost')).status, 429);
    const keys = await kv.keys('burrow:rate:*');
    assert.ok(keys.length >= 1 && keys.every((k) => !k.includes('127.0.0.1')), 'bucket keys are hashed');
  });

  it('an HTTPS edge cannot take a hostport an agent binds directly on any node (ERR_NGROK_7132)', async () => {
    const agent = await newAgent(nodes[0].httpPort);
    const host = await tunnel(agent, { subdomain: 'direct-7132' });
    for (const n of nodes) {
      const r = await admin(n, 'POST', '/edges/https', { hostports: [`${host}:443`] });
      assert.equal(r.status, 400, `node :${n.adminPort}: ${r.body.toString()}`);
      assert.equal(JSON.parse(r.body.toString()).error_code, 'ERR_NGROK_7132');
    }
    const free = await admin(nodes[2], 'POST', '/edges/https', { hostports: ['nobody-binds-this.localhost:443'] });
    assert.equal(free.status, 201, free.body.toString());
    const moved = await admin(nodes[1], 'PATCH', `/edges/https/${JSON.parse(free.body.toString()).id}`, {
      hostports: [`${host}:443`],
    });
    assert.equal(moved.status, 400);
    assert.equal(JSON.parse(moved.body.toString()).error_code, 'ERR_NGROK_7132');
  });

  it('--edges files check ERR_NGROK_7132 against the agents of every node: a node loading an edge for a name bound elsewhere refuses to start', async () => {
    const host = await tunnel(await newAgent(nodes[0].httpPort), { subdomain: 'file-7132' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-cluster-edges-'));
    try {
      const taken = path.join(dir, 'taken.json');
      fs.writeFileSync(taken, JSON.stringify({ hostports: [`${host}:443`] }));
      const free = path.join(dir, 'free.json');
      fs.writeFileSync(free, JSON.stringify({ hostports: ['file-free.localhost:443'] }));
      let started: NodeProcess | undefined;
      await assert.rejects(
        (async () => (started = await startNode(redis.url, ['--edges', taken])))(),
        (err: Error) => /ERR_NGROK_7132/.test(err.message) && err.message.includes('taken.json'),
      );
      if (started) await stopNode(started, 'SIGKILL');
      // A free hostport loads, and every node sees the edge.
      const node = await startNode(redis.url, ['--edges', free]);
      try {
        const list = await admin(nodes[1], 'GET', '/edges/https');
        assert.ok(list.body.toString().includes('file-free.localhost:443'), list.body.toString());
      } finally {
        await stopNode(node, 'SIGKILL');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** An upstream answering with its name (which pool member or labeled tunnel served). */
  async function namedUpstream(name: string): Promise<string> {
    const server = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`${name} xff=${req.headers['x-forwarded-for'] ?? ''} ${n}`));
    });
    upstreams.push(server);
    const port = await new Promise<number>((r) =>
      server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
    );
    return `http://127.0.0.1:${port}`;
  }

  it('an endpoint pool spans nodes: round robin over every member from any node; the member of a dead node drops at once', async () => {
    // One pooling agent straight to each node, all on one name.
    for (const [i, n] of nodes.entries()) {
      const host = await tunnel(await newAgent(n.httpPort), {
        upstream: await namedUpstream(`member${i}`),
        domain: 'pooled.localhost',
        pooling: true,
      });
      assert.equal(host, 'pooled.localhost');
    }
    // A second agent without pooling is refused through any node.
    await assert.rejects(
      tunnel(await newAgent(nodes[1].httpPort), { domain: 'pooled.localhost' }),
      (err: AgentError) => err.code === 'ERR_NGROK_6030',
    );
    for (const n of nodes) {
      const served = new Map<string, number>();
      for (let i = 0; i < 6; i++) {
        const r = await get(n.httpPort, 'pooled.localhost');
        assert.equal(r.status, 200, r.body.toString());
        const [who, xff] = r.body.toString().split(' ');
        assert.equal(xff, 'xff=127.0.0.1');
        served.set(who, (served.get(who) ?? 0) + 1);
      }
      assert.deepEqual(
        [...served.entries()].sort(),
        [
          ['member0', 2],
          ['member1', 2],
          ['member2', 2],
        ],
        `round robin from node :${n.httpPort}`,
      );
    }
    // kill -9 the node of member2: the other nodes stop picking it at once, no visitor sees an error.
    const victim = nodes[2];
    victim.child.kill('SIGKILL');
    await victim.exited;
    await delay(100);
    for (const n of nodes.slice(0, 2)) {
      for (let i = 0; i < 6; i++) {
        const r = await get(n.httpPort, 'pooled.localhost');
        assert.equal(r.status, 200, `node :${n.httpPort} after the kill: ${r.status} ${r.body.toString()}`);
        assert.notEqual(r.body.toString().split(' ')[0], 'member2');
      }
    }
    nodes = [nodes[0], nodes[1], await startNode(redis.url, ['--tcp-host', '127.0.0.4'])];
  });

  it('pooled and unpooled binds of one name on different nodes get ERR_NGROK_6030, as on one node; a pool name is free as soon as its last member unbinds', async () => {
    const pooledAgent = await newAgent(nodes[0].httpPort);
    await tunnel(pooledAgent, { name: 'mixpool', domain: 'mixed.localhost', pooling: true });
    for (const n of nodes)
      await assert.rejects(
        tunnel(await newAgent(n.httpPort), { domain: 'mixed.localhost' }),
        (err: AgentError) => err.code === 'ERR_NGROK_6030',
        `node :${n.httpPort}`,
      );
    await tunnel(await newAgent(nodes[0].httpPort), { domain: 'solo-mixed.localhost' });
    for (const n of nodes)
      await assert.rejects(
        tunnel(await newAgent(n.httpPort), { domain: 'solo-mixed.localhost', pooling: true }),
        (err: AgentError) => err.code === 'ERR_NGROK_6030',
        `node :${n.httpPort}`,
      );
    // The last member leaves: the name is released (not left to its 6 s lease).
    assert.ok(await pooledAgent.stopTunnel('mixpool'));
    const stopped = Date.now();
    while ((await kv.get('burrow:claim:http:mixed.localhost')) && Date.now() - stopped < 3000) await delay(20);
    assert.equal(await kv.get('burrow:claim:http:mixed.localhost'), null, 'the pool still holds its name');
    const host = await tunnel(await newAgent(nodes[1].httpPort), { domain: 'mixed.localhost' });
    assert.ok(Date.now() - stopped < 3000, 'the name was freed by its lease, not by the unbind');
    assert.equal((await get(nodes[2].httpPort, host, '/solo')).status, 200);
  });

  it('TLS and TCP endpoint pools span nodes: round robin over every member from any node', async () => {
    const cert = await selfSignedCertificate({ hosts: ['tlspool.localhost'] });
    const servers: net.Server[] = [];
    const serve = async (server: net.Server) => {
      servers.push(server);
      return new Promise<number>((r) =>
        server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
      );
    };
    const reserved = await admin(nodes[0], 'POST', '/reserved_addrs', { description: 'tcp pool' });
    assert.equal(reserved.status, 201, reserved.body.toString());
    const { id, addr } = JSON.parse(reserved.body.toString()) as { id: string; addr: string };
    await seenEverywhere(`/reserved_addrs/${id}`);
    const tcpPort = Number(addr.slice(addr.lastIndexOf(':') + 1));
    try {
      for (const i of [0, 1]) {
        const agent = await newAgent(nodes[i].httpPort);
        const tlsUp = await serve(tls.createServer(cert, (sock) => sock.end(`tls member${i}`)));
        await agent.startTunnel({
          name: `tlspool${i}`,
          proto: 'tls',
          inspect: false,
          subdomain: 'tlspool',
          pooling: true,
          upstream: `127.0.0.1:${tlsUp}`,
        } as never);
        const tcpUp = await serve(net.createServer((sock) => sock.end(`tcp member${i}`)));
        const state = await agent.startTunnel({
          name: `tcppool${i}`,
          proto: 'tcp',
          inspect: false,
          remoteAddr: String(tcpPort),
          pooling: true,
          upstream: `127.0.0.1:${tcpUp}`,
        } as never);
        assert.equal(Number(new URL(state.urls[0]).port), tcpPort);
      }
      const tlsText = (port: number) =>
        new Promise<string>((resolve) => {
          const sock = tls.connect({ host: '127.0.0.1', port, servername: 'tlspool.localhost', ca: cert.cert });
          let got = '';
          sock.on('data', (d) => (got += d));
          sock.on('end', () => resolve(got));
          sock.on('error', (err) => resolve(`error ${err.message}`));
        });
      const tcpText = (host: string) =>
        new Promise<string>((resolve) => {
          const sock = net.connect(tcpPort, host);
          let got = '';
          sock.on('data', (d) => (got += d));
          sock.on('close', () => resolve(got));
          sock.on('error', () => resolve(''));
        });
      for (const [i, n] of nodes.entries()) {
        const tlsSeen = new Set<string>();
        for (let k = 0; k < 4; k++) tlsSeen.add(await tlsText(n.tlsPort));
        assert.deepEqual(
          [...tlsSeen].sort(),
          ['tls member0', 'tls member1'],
          `TLS round robin from node :${n.tlsPort}`,
        );
        const host = `127.0.0.${i + 2}`;
        const tcpSeen = new Set<string>();
        // The third node listens on the port once the claim is announced.
        for (let k = 0; k < 100 && tcpSeen.size < 2; k++) {
          const text = await tcpText(host);
          if (text) tcpSeen.add(text);
          else await delay(50);
        }
        assert.deepEqual([...tcpSeen].sort(), ['tcp member0', 'tcp member1'], `TCP round robin on ${host}:${tcpPort}`);
      }
    } finally {
      for (const server of servers) server.close();
    }
  });

  it('tunnel groups span nodes: an HTTPS edge route on any node reaches labeled tunnels on others, round robin', async () => {
    // Labeled tunnels (no URL of their own) on nodes 0 and 1; the edge and its route made on node 2.
    for (const i of [0, 1]) {
      const state = await (
        await newAgent(nodes[i].httpPort)
      ).startTunnel({
        name: `labeled${i}`,
        proto: 'http',
        inspect: false,
        upstream: await namedUpstream(`labeled${i}`),
        labels: { team: 'spread' },
      } as never);
      assert.equal(state.status, 'online');
    }
    const group = await admin(nodes[2], 'POST', '/backends/tunnel_group', { labels: { team: 'spread' } });
    assert.equal(group.status, 201, group.body.toString());
    const groupId = JSON.parse(group.body.toString()).id as string;
    const edge = await admin(nodes[2], 'POST', '/edges/https', { hostports: ['grouped.localhost:443'] });
    const edgeId = JSON.parse(edge.body.toString()).id as string;
    const route = await admin(nodes[2], 'POST', `/edges/https/${edgeId}/routes`, {
      match_type: 'path_prefix',
      match: '/',
      backend: { backend_id: groupId },
    });
    assert.equal(route.status, 201, route.body.toString());
    await seenEverywhere(`/edges/https/${edgeId}/routes/${JSON.parse(route.body.toString()).id}`);
    // Every node's admin API lists both tunnels in the group.
    for (const n of nodes) {
      let tunnels: unknown[] = [];
      for (let i = 0; i < 100 && tunnels.length < 2; i++) {
        if (i) await delay(50);
        tunnels = JSON.parse((await admin(n, 'GET', `/backends/tunnel_group/${groupId}`)).body.toString()).tunnels;
      }
      assert.equal(tunnels.length, 2, `node :${n.adminPort} sees ${tunnels.length} labeled tunnels`);
    }
    for (const n of nodes) {
      const served = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const r = await getTls(n.tlsPort, 'grouped.localhost', '/g');
        assert.equal(r.status, 200, `node :${n.tlsPort}: ${r.status} ${r.body.toString()}`);
        const [who, xff] = r.body.toString().split(' ');
        assert.equal(xff, 'xff=127.0.0.1', 'the route ran once: one X-Forwarded-For hop');
        served.add(who);
      }
      assert.deepEqual([...served].sort(), ['labeled0', 'labeled1'], `round robin from node :${n.tlsPort}`);
    }
    // 8 MiB up through a node that holds neither tunnel, relayed to a labeled one intact.
    const big = await getTls(nodes[2].tlsPort, 'grouped.localhost', '/up', seededStream('group-up', 8 * MiB));
    assert.equal(big.status, 200);
    assert.match(big.body.toString(), new RegExp(`^labeled[01] xff=127\\.0\\.0\\.1 ${8 * MiB}$`));
  });

  it('8 MiB each way, intact, through a node that does not hold the session', async () => {
    const agent = await newAgent(nodes[0].httpPort);
    const host = await tunnel(agent);
    const holder = await holderOf('http', host);
    const other = nodes.find((n) => n !== holder)!;
    const up = await request(other.httpPort, host, {
      method: 'POST',
      path: '/up',
      body: seededStream('cluster-up', 8 * MiB),
    });
    const want = createHash('sha256');
    await new Promise<void>((resolve) =>
      seededStream('cluster-up', 8 * MiB)
        .on('data', (c: Buffer) => want.update(c))
        .on('end', resolve),
    );
    assert.equal(up.body.toString(), `${8 * MiB} ${want.digest('hex')}`);
    const down = await request(other.httpPort, host, { path: '/big' });
    const wantDown = createHash('sha256');
    await new Promise<void>((resolve) =>
      seededStream('cluster-down', 8 * MiB)
        .on('data', (c: Buffer) => wantDown.update(c))
        .on('end', resolve),
    );
    assert.equal(down.body.length, 8 * MiB);
    assert.equal(createHash('sha256').update(down.body).digest('hex'), wantDown.digest('hex'));
  });

  it('websockets and TLS passthrough cross nodes too', async () => {
    const agent = await newAgent(nodes[1].httpPort);
    const host = await tunnel(agent);
    const holder = await holderOf('http', host);
    const other = nodes.find((n) => n !== holder)!;
    const ws = new WebSocket(`ws://127.0.0.1:${other.httpPort}/ws`, { headers: { host } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('ping across nodes');
    const echoed = await new Promise<string>((resolve) => ws.once('message', (m) => resolve(m.toString())));
    assert.equal(echoed, 'ping across nodes');
    ws.close();

    // HTTPS terminated by the holder, reached through another node's TLS port: the visitor's address survives.
    const secure = await tunnel(agent, { schemes: ['https'] });
    const secureHolder = await holderOf('http', secure);
    const secureOther = nodes.find((n) => n !== secureHolder)!;
    const viaTls = await new Promise<string>((resolve, reject) => {
      const r = https.get(
        {
          host: '127.0.0.1',
          port: secureOther.tlsPort,
          path: '/tls',
          servername: secure,
          headers: { host: secure },
          rejectUnauthorized: false,
        },
        (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        },
      );
      r.on('error', reject);
    });
    assert.equal(viaTls, 'app /tls xff=127.0.0.1');

    // TLS passthrough: the agent's upstream terminates TLS; the edges only route by SNI.
    const cert = await selfSignedCertificate({ hosts: ['passthrough.localhost'] });
    const tlsApp = tls.createServer(cert, (s) => s.end('tls upstream says hi'));
    const tlsPort = await new Promise<number>((r) =>
      tlsApp.listen(0, '127.0.0.1', () => r((tlsApp.address() as net.AddressInfo).port)),
    );
    try {
      await agent.startTunnel({
        name: 'tls-pass',
        proto: 'tls',
        inspect: false,
        subdomain: 'passthrough',
        upstream: `127.0.0.1:${tlsPort}`,
      } as never);
      const tlsHolder = await holderOf('tls', 'passthrough.localhost');
      for (const n of nodes.filter((x) => x !== tlsHolder)) {
        const text = await new Promise<string>((resolve, reject) => {
          const s = tls.connect({
            host: '127.0.0.1',
            port: n.tlsPort,
            servername: 'passthrough.localhost',
            ca: cert.cert,
          });
          let got = '';
          s.on('data', (d) => (got += d));
          s.on('end', () => resolve(got));
          s.on('error', reject);
        });
        assert.equal(text, 'tls upstream says hi');
      }
    } finally {
      tlsApp.close();
    }
  });

  it('a TCP endpoint answers on every node', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    const echoPort = await new Promise<number>((r) =>
      echo.listen(0, '127.0.0.1', () => r((echo.address() as net.AddressInfo).port)),
    );
    try {
      const agent = await newAgent(nodes[0].httpPort);
      const state = await agent.startTunnel({
        name: 'tcp-echo',
        proto: 'tcp',
        inspect: false,
        upstream: `127.0.0.1:${echoPort}`,
      } as never);
      const port = Number(new URL(state.urls[0]).port);
      for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
        let text = '';
        for (let i = 0; i < 50 && text !== `hello ${host}`; i++) {
          if (i) await delay(100); // other nodes start listening when the claim is announced
          text = await new Promise<string>((resolve) => {
            const s = net.connect(port, host, () => s.end(`hello ${host}`));
            let got = '';
            s.on('data', (d) => (got += d));
            s.on('close', () => resolve(got));
            s.on('error', () => resolve(''));
          });
        }
        assert.equal(text, `hello ${host}`, `tcp port ${port} on ${host}`);
      }
    } finally {
      echo.close();
    }
  });

  it('node-to-node links and Redis values without the cluster secret are refused', async () => {
    const node = nodes[0];
    for (const headers of [{}, { 'x-burrow-cluster-auth': `${Date.now()}.${'0'.repeat(24)}.${'a'.repeat(64)}` }]) {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${node.nodePort}/_burrow/peer`, { headers });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('open', () => reject(new Error('a peer link opened without the secret')));
        ws.once('error', () => undefined);
      });
      assert.equal(status, 401);
    }
    // A claim someone wrote into Redis without the secret routes nothing.
    await kv.set('burrow:claim:http:forged.localhost', `x|y|node_evil|127.0.0.1:${node.httpPort}|${'b'.repeat(64)}`);
    const r = await get(nodes[1].httpPort, 'forged.localhost');
    assert.equal(r.status, 404);
    assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    // Admin state likewise: a forged collection is ignored by the nodes.
    await kv.hset('burrow:state', 'reserved_domains', `${'c'.repeat(64)}|[{"id":"rd_forged","domain":"evil.test"}]`);
    await kv.publish('burrow:state-changed', JSON.stringify({ node: 'node_evil', fields: ['reserved_domains'] }));
    await delay(200);
    const list = await admin(nodes[2], 'GET', '/reserved_domains');
    assert.ok(!list.body.toString().includes('rd_forged'));
    const h = await health(node);
    assert.equal(h.status, 200);
    assert.equal(h.body.redis, 'ready');
    assert.equal(h.body.draining, false);
  });

  it('kill -9 the node holding a session: the name answers on every live node within 5 s, coded errors meanwhile', async () => {
    const agent = await newAgent();
    const host = await tunnel(agent);
    const holder = await holderOf('http', host);
    const killedAt = Date.now();
    holder.child.kill('SIGKILL');
    await holder.exited;
    const survivors = live();
    assert.equal(survivors.length, 2);
    const pending = new Set(survivors);
    while (pending.size && Date.now() - killedAt < 15_000) {
      for (const n of [...pending]) {
        const r = await get(n.httpPort, host, '/after');
        if (r.status === 200) pending.delete(n);
        else assert.ok(r.headers['ngrok-error-code'], `uncoded ${r.status} while failing over`);
      }
      if (pending.size) await delay(100);
    }
    const took = Date.now() - killedAt;
    assert.equal(pending.size, 0, 'the name never came back');
    assert.ok(took < 5000, `failover took ${took} ms`);
    // Back to three nodes for what follows.
    nodes = [...survivors, await startNode(redis.url)];
  });

  it('Redis restarted mid-run: held sessions keep serving, binds are refused with a code, then state resyncs', async () => {
    const agent = await newAgent(nodes[0].httpPort);
    const host = await tunnel(agent);
    const made = await admin(nodes[0], 'POST', '/reserved_domains', { domain: 'survives.example.test' });
    assert.equal(made.status, 201);
    const id = JSON.parse(made.body.toString()).id as string;
    // Every node has routed this name once (so it knows the holder).
    for (const n of nodes) assert.equal((await get(n.httpPort, host)).status, 200);

    await redis.stop();
    await delay(300);
    for (const n of nodes) {
      const r = await get(n.httpPort, host, '/while-down');
      assert.equal(r.status, 200, `node :${n.httpPort} stopped serving while Redis was down`);
    }
    const second = await newAgent(nodes[1].httpPort);
    await assert.rejects(tunnel(second), (err: AgentError) => err.code === 'ERR_BURROW_CLUSTER_UNAVAILABLE');
    const refused = await admin(nodes[1], 'POST', '/reserved_domains', { domain: 'refused.example.test' });
    assert.equal(refused.status, 503);

    await redis.start(); // same port, empty: the nodes put back their claims and state
    const deadline = Date.now() + 20_000;
    let resynced = false;
    while (!resynced && Date.now() < deadline) {
      await delay(200);
      const claim = await kv.get(`burrow:claim:http:${host}`).catch(() => null);
      const state = await kv.hget('burrow:state', 'reserved_domains').catch(() => null);
      const healths = await Promise.all(nodes.map((n) => health(n).catch(() => undefined)));
      resynced = !!claim && !!state?.includes(id) && healths.every((h) => h?.body.redis === 'ready');
    }
    assert.ok(resynced, 'claims and admin state did not come back into Redis');
    for (const n of nodes) assert.equal((await get(n.httpPort, host, '/after')).status, 200);
    const fresh = await tunnel(second);
    assert.equal((await get(nodes[2].httpPort, fresh)).status, 200);
    const after = await admin(nodes[2], 'GET', `/reserved_domains/${id}`);
    assert.equal(after.status, 200);
  });

  it('SIGTERM drains a node under continuous traffic: agents move first, requests in flight finish, nothing fails', async () => {
    // A balancer that, like HAProxy's `option httpchk`, leaves out nodes whose /healthz is not 200.
    const healthy = new Set(nodes.map((n) => n.httpPort));
    const poll = setInterval(() => {
      for (const n of live())
        void health(n).then(
          (h) => (h.status === 200 ? healthy.add(n.httpPort) : healthy.delete(n.httpPort)),
          () => healthy.delete(n.httpPort),
        );
    }, 100);
    const checked = new TcpBalancer(() =>
      live()
        .filter((n) => healthy.has(n.httpPort))
        .map((n) => n.httpPort),
    );
    await checked.start();
    try {
      const agent = await newAgent(checked.port);
      const host = await tunnel(agent);
      const holder = await holderOf('http', host);
      const other = nodes.find((n) => n !== holder)!;
      const outcomes: string[] = [];
      let stop = false;
      const worker = async (path: string) => {
        while (!stop) {
          try {
            const r = await get(checked.port, host, path);
            outcomes.push(r.status === 200 ? 'ok' : `${r.status} ${r.headers['ngrok-error-code'] ?? 'uncoded'}`);
          } catch (err) {
            outcomes.push(`failed ${(err as Error).message}`);
          }
        }
      };
      const workers = [worker('/a'), worker('/b'), worker('/c'), worker('/d')];
      await delay(500);
      // In flight when the signal comes: one straight to the holder, one carried by another node.
      const slow = [get(holder.httpPort, host, '/slow'), get(other.httpPort, host, '/slow')];
      await delay(200);
      const before = outcomes.length;
      const started = Date.now();
      holder.child.kill('SIGTERM');
      // The agent moves at once (its new node takes the name over) while the old session still serves.
      let movedMs = -1;
      while (movedMs < 0 && Date.now() - started < 10_000) {
        if ((await holderOf('http', host)) !== holder) movedMs = Date.now() - started;
        else await delay(20);
      }
      assert.ok(movedMs >= 0 && movedMs < 5000, `the agent moved after ${movedMs} ms`);
      for (const r of await Promise.all(slow)) assert.equal(r.body.toString(), 'slow but complete');
      // Agents of earlier tests dialled this node directly, so cannot move: the node waits half of
      // --drain-timeout (30 s) for them, then GoAway.
      assert.equal(await holder.exited, 0);
      await delay(1000);
      stop = true;
      await Promise.all(workers);
      const during = outcomes.slice(before);
      const bad = outcomes.filter((o) => o !== 'ok');
      assert.ok(during.length > 20, `too little traffic during the drain (${during.length})`);
      assert.deepEqual(bad, [], `of ${outcomes.length} requests`);
      assert.notEqual(await holderOf('http', host), holder);
    } finally {
      clearInterval(poll);
      await checked.close();
    }
    nodes = [...live(), await startNode(redis.url)];
  });

  it('SIGTERM under load: five agents move off a draining node while 16 visitors hammer their names through every node, and not one request fails (no 404 while a name moves)', async () => {
    const node = await startNode(redis.url, ['--drain-timeout', '10']);
    let draining = false;
    // Agents land on the new node; once it drains (a health check would say so) on the others.
    const lbAgents = new TcpBalancer(() => (draining ? [nodes[0].httpPort, nodes[1].httpPort] : [node.httpPort]));
    await lbAgents.start();
    const all = [...nodes, node];
    const checked = new CheckedBalancer(
      () => all,
      (n) => n.httpPort,
    );
    await checked.start();
    try {
      const hosts: string[] = [];
      for (let i = 0; i < 5; i++) hosts.push(await tunnel(await newAgent(lbAgents.port)));
      for (const host of hosts)
        assert.equal((await kv.get(`burrow:claim:http:${host}`))?.split('|')[3], `127.0.0.1:${node.nodePort}`);
      const outcomes = new Map<string, number>();
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const host = hosts[(w + i) % hosts.length];
          // Half through the balancer, half straight to a node that stays (carried to the holder).
          const port = i % 2 ? checked.port : nodes[(w + i) % 3].httpPort;
          let outcome: string;
          try {
            const r = await get(port, host, `/w${w}`);
            outcome = r.status === 200 ? 'ok' : `${r.status} ${r.headers['ngrok-error-code'] ?? 'uncoded'}`;
          } catch (err) {
            outcome = `failed ${(err as Error).message}`;
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      };
      const workers = Array.from({ length: 16 }, (_, w) => worker(w));
      await delay(500);
      draining = true;
      node.child.kill('SIGTERM');
      assert.equal(await node.exited, 0);
      await delay(500);
      stop = true;
      await Promise.all(workers);
      const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
      assert.ok(total > 50, `too little traffic (${total})`);
      assert.deepEqual(Object.fromEntries(outcomes), { ok: total }, `of ${total} requests`);
      for (const host of hosts)
        assert.notEqual((await kv.get(`burrow:claim:http:${host}`))?.split('|')[3], `127.0.0.1:${node.nodePort}`);
    } finally {
      await checked.close();
      await lbAgents.close();
      await stopNode(node, 'SIGKILL');
    }
  });

  it('SIGTERM: a TCP endpoint moves with its agent and keeps its port (a port the agent held is not "unreserved")', async () => {
    const node = await startNode(redis.url, ['--drain-timeout', '10', '--tcp-host', '127.0.0.5']);
    let draining = false;
    const lbAgents = new TcpBalancer(() => (draining ? [nodes[0].httpPort] : [node.httpPort]));
    await lbAgents.start();
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
      const agent = await newAgent(lbAgents.port);
      const state = await agent.startTunnel({
        name: 'tcp-moves',
        proto: 'tcp',
        inspect: false,
        upstream: `127.0.0.1:${echoPort}`,
      } as never);
      const port = Number(new URL(state.urls[0]).port);
      assert.equal(await say('127.0.0.5', port), 'hello 127.0.0.5');
      draining = true;
      node.child.kill('SIGTERM');
      assert.equal(await node.exited, 0);
      const claim = await kv.get(`burrow:claim:tcp:${port}`);
      assert.equal(claim?.split('|')[3], `127.0.0.1:${nodes[0].nodePort}`, 'the port did not move with its agent');
      // On the new holder, and on a node that carries it there (if it has an address of its own).
      const hosts = new Set([nodes[0].tcpHost, nodes[1].tcpHost, nodes[2].tcpHost]);
      for (const host of hosts) {
        let text = '';
        for (let i = 0; i < 50 && !text; i++) {
          if (i) await delay(100);
          text = await say(host, port);
        }
        assert.equal(text, `hello ${host}`, `tcp ${host}:${port}`);
      }
      const now = agent.tunnels().find((t) => t.name === 'tcp-moves')!;
      assert.equal(now.status, 'online', JSON.stringify(now));
      assert.equal(Number(new URL(now.urls[0]).port), port);
    } finally {
      echo.close();
      await lbAgents.close();
      await stopNode(node, 'SIGKILL');
    }
  });

  it('SIGTERM closes idle keep-alive connections (HTTPS, a GOAWAY for h2 sessions, and plain HTTP), its own and those it carries to other nodes: the node does not wait out --drain-timeout', async () => {
    // A fresh node; one name held elsewhere (its visitors' TLS is carried to nodes[0]), one held
    // here by an agent behind a balancer that, like a health check, leaves this node once it drains.
    const node = await startNode(redis.url, ['--drain-timeout', '20']);
    let draining = false;
    const lbAgent = new TcpBalancer(() => [draining ? nodes[1].httpPort : node.httpPort]);
    await lbAgent.start();
    const keepAlive = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    const plainAgents: http.Agent[] = [];
    const sessions: http2.ClientHttp2Session[] = [];
    try {
      const elsewhere = await tunnel(await newAgent(nodes[0].httpPort), { schemes: ['https', 'http'] });
      const here = await tunnel(await newAgent(lbAgent.port), { schemes: ['https', 'http'] });
      assert.equal((await kv.get(`burrow:claim:http:${here}`))?.split('|')[3], `127.0.0.1:${node.nodePort}`);
      const closed: Promise<unknown>[] = [];
      for (const host of [elsewhere, here]) {
        const h2 = http2.connect(`https://127.0.0.1:${node.tlsPort}`, { servername: host, rejectUnauthorized: false });
        h2.on('error', () => undefined);
        sessions.push(h2);
        const body = await new Promise<string>((resolve, reject) => {
          const r = h2.request({ ':path': '/h2', ':authority': host });
          let b = '';
          r.on('data', (d) => (b += d));
          r.on('end', () => resolve(b));
          r.on('error', reject);
        });
        assert.equal(body, 'app /h2 xff=127.0.0.1');
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          https
            .get(
              {
                host: '127.0.0.1',
                port: node.tlsPort,
                path: '/h1',
                servername: host,
                headers: { host },
                agent: keepAlive,
              },
              (res) => {
                const socket = res.socket as net.Socket;
                res.resume();
                res.on('end', () => resolve(socket));
              },
            )
            .on('error', reject);
        });
        // Plain HTTP, one keep-alive connection per name: served here on the raw path, or carried
        // whole to the holder. The carried one then asks for the name held here, which moves it off
        // the holder's raw path (to its http.Server, one more hop): the drain note must end it there too.
        const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        plainAgents.push(plainAgent);
        const plainGet = (name: string) =>
          new Promise<net.Socket>((resolve, reject) => {
            http
              .get(
                { host: '127.0.0.1', port: node.httpPort, path: '/plain', headers: { host: name }, agent: plainAgent },
                (res) => {
                  const socket = res.socket as net.Socket;
                  res.resume();
                  res.on('end', () => resolve(socket));
                },
              )
              .on('error', reject);
          });
        const plain = await plainGet(host);
        if (host === elsewhere) assert.equal(await plainGet(here), plain, 'the same connection');
        closed.push(
          new Promise((r) => plain.once('close', r)).then(() => `plain closed ${host}`),
          new Promise((r) => h2.once('goaway', r)).then(() => `goaway ${host}`),
          new Promise((r) => h2.once('close', r)).then(() => `h2 closed ${host}`),
          new Promise((r) => socket.once('close', r)).then(() => `h1 closed ${host}`),
        );
      }
      const started = Date.now();
      draining = true;
      node.child.kill('SIGTERM');
      const all = Promise.all(closed);
      await Promise.race([
        all,
        delay(10_000).then(() => assert.fail('idle connections still open 10 s after SIGTERM')),
      ]);
      assert.equal(await node.exited, 0);
      const took = Date.now() - started;
      assert.ok(took < 10_000, `the drain took ${took} ms: it waited for idle connections`);
      // The moved name answers through another node.
      assert.equal((await getTls(nodes[2].tlsPort, here, '/moved')).body.toString(), 'app /moved xff=127.0.0.1');
    } finally {
      keepAlive.destroy();
      for (const a of plainAgents) a.destroy();
      for (const h2 of sessions) h2.destroy();
      await lbAgent.close();
      await stopNode(node, 'SIGKILL');
    }
  });

  it('refuses to start without the secret or without Redis, with coded errors', async () => {
    const runEdge = (args: string[], env: Record<string, string>) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'edge', '--listen', '127.0.0.1:0', ...args], {
          env: { ...process.env, BURROW_EDGE_TOKENS: EDGE_TOKEN, BURROW_CLUSTER_SECRET: '', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let err = '';
        child.stderr!.on('data', (d) => (err += d));
        child.on('exit', (code) => resolve({ code, err }));
      });
    const nodeAddr = `127.0.0.1:${await freePort()}`;
    const noSecret = await runEdge(['--redis', redis.url, '--node-addr', nodeAddr], {});
    assert.equal(noSecret.code, 2); // a configuration error, like every other
    assert.match(noSecret.err, /ERR_BURROW_CLUSTER_SECRET/);
    const noRedis = await runEdge(['--redis', `redis://127.0.0.1:${await freePort()}`, '--node-addr', nodeAddr], {
      BURROW_CLUSTER_SECRET: CLUSTER_SECRET,
    });
    assert.equal(noRedis.code, 1);
    assert.match(noRedis.err, /ERR_BURROW_REDIS_UNREACHABLE/);
    assert.doesNotMatch(noRedis.err, /\n\s+at /, 'a stack trace');
  });
});
