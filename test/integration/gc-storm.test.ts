// Full-GC storms on bulk bodies (docs/benchmarks.md, "Issue 11 round 6"): `burrow edge` and
// `burrow http --edge` from the built bundle move 1 MiB responses from a plain upstream. A full GC
// forced in each process after a stretch of bulk traffic, when the old generation barely grows,
// is what puts a process into a storm with V8's own growing factor (1.1): from then on a full GC
// every ~10 MiB of body (16–21 per 200 MiB in the edge, 8–11 in the agent, measured). With the
// CLI's --heap-growing-percent the same traffic runs with 0–1. test/fixtures/gc-probe.cjs counts
// the full GCs. The bound is a count of collections, not a time: load does not move it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'dist/burrow.js');
const MiB = 1024 * 1024;
/** MiB of body measured after the forced full GCs. */
const MEASURED = 150;
/** Full GCs allowed per process while they pass (a storm does 6–16). */
const MAX_FULL_GCS = 3;

class Child {
  out = '';
  readonly exited: Promise<void>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }
  async waitFor(re: RegExp, from = 0, ms = 20_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`timed out waiting for ${re}: ${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Full GCs so far (gc-probe.cjs). */
  async fullGCs(): Promise<number> {
    const from = this.out.length;
    this.proc.kill('SIGUSR1');
    return (JSON.parse((await this.waitFor(/GCS (\{.*\})/, from))[1]) as { major: number }).major;
  }
}

function start(args: string[], env: Record<string, string | undefined>): Child {
  return new Child(
    spawn(process.execPath, ['--expose-gc', '-r', path.join(ROOT, 'test/fixtures/gc-probe.cjs'), BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, BURROW_AUTHTOKEN: '', NGROK_AUTHTOKEN: '', BURROW_V8_FLAGS: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Full GCs in the edge and the agent while MEASURED MiB of 1 MiB responses pass, after the forced ones. */
async function bulkRun(env: Record<string, string | undefined>, children: Child[], port0: number) {
  const token = randomBytes(16).toString('hex');
  const edge = start(
    ['edge', '--listen', '127.0.0.1:0', '--domain', 'gc.localhost', '--log', 'stdout', '--log-format', 'json'],
    {
      ...env,
      BURROW_EDGE_TOKENS: token,
    },
  );
  children.push(edge);
  const port = Number((await edge.waitFor(/"edge listening".*?"http":(\d+)/))[1]);
  const agent = start(
    ['http', String(port0), '--edge', `ws://127.0.0.1:${port}`, '--domain', 'app.gc.localhost', '--web-addr', 'false'],
    { ...env, BURROW_AUTHTOKEN: token },
  );
  children.push(agent);
  await agent.waitFor(/Forwarding\s+http:\/\/app\.gc\.localhost/);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (n: number) =>
    (async () => {
      for (let i = 0; i < n; i++) {
        const bytes = await new Promise<number>((resolve, reject) => {
          const req = http.get(
            { host: '127.0.0.1', port, path: '/1mib', headers: { host: `app.gc.localhost:${port}` }, agent: keepAlive },
            (res) => {
              let got = 0;
              res.on('data', (d: Buffer) => (got += d.length));
              res.on('end', () => resolve(got));
              res.on('error', reject);
            },
          );
          req.setTimeout(20_000, () => req.destroy(new Error('GET /1mib timed out')));
          req.on('error', reject);
        });
        assert.equal(bytes, MiB);
      }
    })();
  try {
    await get(30);
    // A full GC in each process after bulk traffic of its own, twice: the second one sees the old
    // generation barely growing, which is when V8 picks its smallest growing factor.
    for (const c of [edge, agent]) c.proc.kill('SIGUSR2');
    await get(50);
    for (const c of [edge, agent]) c.proc.kill('SIGUSR2');
    await get(1);
    const before = await Promise.all([edge.fullGCs(), agent.fullGCs()]);
    await get(MEASURED);
    const after = await Promise.all([edge.fullGCs(), agent.fullGCs()]);
    return { edge: after[0] - before[0], agent: after[1] - before[1] };
  } finally {
    keepAlive.destroy();
    for (const c of [edge, agent]) c.proc.kill('SIGKILL');
    await Promise.all([edge.exited, agent.exited]);
  }
}

describe('full GCs on bulk bodies (burrow edge + agent)', function () {
  this.timeout(180_000);
  const children: Child[] = [];
  let upstream: http.Server;
  let upstreamPort = 0;

  before(async () => {
    const body = Buffer.alloc(MiB, 'x');
    upstream = http.createServer((_req, res) => res.writeHead(200, { 'content-length': MiB }).end(body));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    upstream?.close();
  });

  it(`stay at ≤ ${MAX_FULL_GCS} per process over ${MEASURED} MiB after full GCs in the middle of bulk traffic`, async () => {
    const gcs = await bulkRun({}, children, upstreamPort);
    assert.ok(gcs.edge <= MAX_FULL_GCS && gcs.agent <= MAX_FULL_GCS, `full GCs: edge ${gcs.edge}, agent ${gcs.agent}`);
  });

  it("storm with V8's own growing factor (BURROW_V8_FLAGS=--heap-growing-percent=0): what the test above guards", async () => {
    const gcs = await bulkRun({ BURROW_V8_FLAGS: '--heap-growing-percent=0' }, children, upstreamPort);
    assert.ok(gcs.edge + gcs.agent > 2 * MAX_FULL_GCS, `full GCs: edge ${gcs.edge}, agent ${gcs.agent}`);
  });
});
