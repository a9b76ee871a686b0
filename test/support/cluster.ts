/**
 * A cluster on loopback for tests and benchmarks: a real redis-server (apt-installed when missing)
 * on a free port, `burrow edge --redis … --node-addr …` nodes as child processes of the built CLI,
 * and a few lines of TCP load balancer in front (round robin, skipping nodes that refuse).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { delay, freePort } from './tunnel';

export const BIN = path.resolve(__dirname, '../../dist/burrow.js');
export const CLUSTER_SECRET = 'test-cluster-secret-0123456789abcdef';
export const EDGE_TOKEN = 'cluster-test-token';
export const API_KEY = 'cluster-test-api-key';

export function ensureRedisServer(): string {
  const find = () => ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p));
  let bin = find();
  if (!bin) {
    execFileSync('apt-get', ['install', '-y', '-q', 'redis-server'], { stdio: 'ignore', timeout: 300_000 });
    bin = find();
  }
  if (!bin) throw new Error('redis-server is not installed and apt-get could not install it');
  return bin;
}

export class RedisProcess {
  child?: ChildProcess;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const bin = ensureRedisServer();
    const child = spawn(
      bin,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 15_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await Promise.race([exited, delay(5000)]);
  }
}

export interface NodeProcess {
  child: ChildProcess;
  httpPort: number;
  tlsPort: number;
  nodePort: number;
  adminPort: number;
  output: () => string;
  exited: Promise<number | null>;
  /** Where its TCP endpoints listen (--tcp-host, else the --listen host). */
  tcpHost: string;
}

/**
 * One `burrow edge` cluster node; resolves once it listens. Its four ports are picked free and
 * bound by the child a moment later: another process can take one in between (an outgoing
 * connection's ephemeral port), so a start refused with EADDRINUSE is tried again on fresh ports.
 */
export async function startNode(
  redisUrl: string,
  extraArgs: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<NodeProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNodeOnce(redisUrl, extraArgs, extraEnv);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

async function startNodeOnce(
  redisUrl: string,
  extraArgs: string[],
  extraEnv: Record<string, string>,
): Promise<NodeProcess> {
  const [httpPort, tlsPort, nodePort, adminPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child = spawn(
    process.execPath,
    [
      BIN,
      'edge',
      '--listen',
      `127.0.0.1:${httpPort}`,
      '--tls-listen',
      `127.0.0.1:${tlsPort}`,
      '--redis',
      redisUrl,
      '--node-addr',
      `127.0.0.1:${nodePort}`,
      '--admin-addr',
      `127.0.0.1:${adminPort}`,
      '--log-format',
      'json',
      ...extraArgs,
    ],
    {
      env: {
        ...process.env,
        BURROW_CLUSTER_SECRET: CLUSTER_SECRET,
        BURROW_EDGE_TOKENS: EDGE_TOKEN,
        BURROW_API_KEY: API_KEY,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!out.includes('edge listening')) {
    if (child.exitCode !== null) throw new Error(`edge node exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`edge node did not start: ${out}`);
    }
    await delay(50);
  }
  const tcpHostAt = extraArgs.indexOf('--tcp-host');
  const tcpHost = tcpHostAt >= 0 ? extraArgs[tcpHostAt + 1] : '127.0.0.1';
  return { child, httpPort, tlsPort, nodePort, adminPort, output: () => out, exited, tcpHost };
}

/** Several nodes at once (`argsFor(i)` each); if one fails to start, the others are stopped, not left running. */
export async function startNodes(
  redisUrl: string,
  count: number,
  argsFor: (i: number) => string[],
): Promise<NodeProcess[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => startNode(redisUrl, argsFor(i))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<NodeProcess>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? stopNode(r.value) : undefined)));
  throw failed.reason;
}

export async function stopNode(node: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  node.child.kill(signal);
  await Promise.race([node.exited, delay(15_000)]);
}

/** Round-robin TCP balancer over `backends()` ports; a refused backend is skipped, like HAProxy's redispatch. */
export class TcpBalancer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private next = 0;
  port = 0;

  constructor(private readonly backends: () => number[]) {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.once('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      client.pause();
      this.dial(client, 0);
    });
  }

  private dial(client: net.Socket, tries: number): void {
    const ports = this.backends();
    if (!ports.length || tries >= ports.length) return void client.destroy();
    const port = ports[this.next++ % ports.length];
    const upstream = net.connect(port, '127.0.0.1');
    upstream.once('connect', () => {
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      this.sockets.add(upstream);
      upstream.once('close', () => this.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    upstream.once('error', (err) => {
      if (!upstream.remoteAddress && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED')
        this.dial(client, tries + 1);
      else client.destroy();
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/** A node's GET /healthz on its node address. */
export function nodeHealth(node: NodeProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://127.0.0.1:${node.nodePort}/healthz`, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no /healthz answer')));
    req.on('error', reject);
  });
}

/**
 * A balancer that, like HAProxy's `option httpchk`, leaves out nodes whose /healthz is not 200
 * (looked at every 100 ms), over the port `portOf` picks on each live node.
 */
export class CheckedBalancer extends TcpBalancer {
  private readonly poll: NodeJS.Timeout;

  constructor(nodes: () => NodeProcess[], portOf: (n: NodeProcess) => number) {
    const live = () => nodes().filter((n) => n.child.exitCode === null && n.child.signalCode === null);
    const healthy = new Set(live());
    super(() =>
      live()
        .filter((n) => healthy.has(n))
        .map(portOf),
    );
    this.poll = setInterval(() => {
      for (const n of live())
        void nodeHealth(n).then(
          (h) => (h.status === 200 ? healthy.add(n) : healthy.delete(n)),
          () => healthy.delete(n),
        );
    }, 100);
  }

  override async close(): Promise<void> {
    clearInterval(this.poll);
    await super.close();
  }
}
