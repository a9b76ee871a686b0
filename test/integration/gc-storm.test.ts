// Full-GC storms on bulk bodies (docs/benchmarks.md, "Issue 11 round 6"): `burrow edge` and
// `burrow http --edge` from the built bundle move 1 MiB responses from a plain upstream. A full GC
// forced in each process after a stretch of bulk traffic, when the old generation barely grows,
// is what puts a process into a storm with V8's own growing factor (1.1): from then on a full GC
// every ~10 MiB of body (16–21 per 200 MiB in the edge, 8–11 in the agent, measured). With the
// CLI's --heap-growing-percent the same traffic runs with 0–1. test/fixtures/gc-probe.cjs counts
// the full GCs. The bound is a count of collections, not a time: load does not move it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { startEdgeAndAgent, type BurrowChild } from '../support/burrow-child';

const ROOT = path.resolve(__dirname, '../..');
const MiB = 1024 * 1024;
/** MiB of body measured after the forced full GCs. */
const MEASURED = 150;
/** Full GCs allowed per process while they pass (a storm does 6–16). */
const MAX_FULL_GCS = 3;

/** Full GCs so far in a child run with gc-probe.cjs. */
async function fullGCs(c: BurrowChild): Promise<number> {
  const from = c.out.length;
  c.proc.kill('SIGUSR1');
  return (JSON.parse((await c.waitFor(/GCS (\{.*\})/, from))[1]) as { major: number }).major;
}

/** Full GCs in the edge and the agent while MEASURED MiB of 1 MiB responses pass, after the forced ones. */
async function bulkRun(env: Record<string, string | undefined>, children: BurrowChild[], port0: number) {
  const probe = ['--expose-gc', '-r', path.join(ROOT, 'test/fixtures/gc-probe.cjs')];
  const { edge, agent, port } = await startEdgeAndAgent({
    domain: 'gc.localhost',
    upstreamPort: port0,
    children,
    env,
    edgeNodeArgs: probe,
    agentNodeArgs: probe,
  });
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
    const before = await Promise.all([fullGCs(edge), fullGCs(agent)]);
    await get(MEASURED);
    const after = await Promise.all([fullGCs(edge), fullGCs(agent)]);
    return { edge: after[0] - before[0], agent: after[1] - before[1] };
  } finally {
    keepAlive.destroy();
    for (const c of [edge, agent]) c.proc.kill('SIGKILL');
    await Promise.all([edge.exited, agent.exited]);
  }
}

describe('full GCs on bulk bodies (burrow edge + agent)', function () {
  this.timeout(180_000);
  const children: BurrowChild[] = [];
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
    // What would fail the test above: a process past its bound (edge and agent do not always both storm).
    assert.ok(Math.max(gcs.edge, gcs.agent) > MAX_FULL_GCS, `full GCs: edge ${gcs.edge}, agent ${gcs.agent}`);
  });
});
