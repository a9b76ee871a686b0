// Memory of an edge holding many idle keep-alive visitors, as a user runs it: `burrow edge` and
// `burrow http --edge` from the built bundle, a plain upstream here. The edge runs with
// --expose-gc and test/bench/memory-report.cjs, which prints its heap after a full GC on
// SIGUSR2. Heap bytes, not RSS (RSS depends on when V8 and glibc give pages back, and on the
// machine's load); the bounds are about twice what was measured (docs/benchmarks.md, "Issue 11
// round 4"), so they catch a per-connection regression (an http.Server per visitor was ≈ 5 KiB,
// a closure or timer per socket a few hundred bytes each), not noise.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { SEMI_SPACE_CAP_MIB } from '../../tunnel/src/cli/v8-flags';
import { startEdgeAndAgent, type BurrowChild } from '../support/burrow-child';

const ROOT = path.resolve(__dirname, '../..');
const VISITORS = 2000;
/** Live JS heap per idle visitor connection on the edge (measured ≈ 1.9 KiB). */
const HEAP_PER_VISITOR = 4 * 1024;
/** Heap the edge may keep after all visitors closed (measured ≈ 0.7 MiB: compiled code, table capacity). */
const HEAP_KEPT = 1.5 * 1024 * 1024;
/** The young generation after the burst: both semi-spaces at the CLI's cap (V8 alone: 2 × 16 MiB). */
const NEW_SPACE = 2 * SEMI_SPACE_CAP_MIB * 1024 * 1024;

interface Mem {
  heapUsed: number;
  /** V8's new space, committed bytes (both semi-spaces). */
  newSpace: number;
}

/** The heap after a full GC in a child run with memory-report.cjs. */
async function memory(c: BurrowChild): Promise<Mem> {
  const count = () => (c.out.match(/^MEM /gm) ?? []).length;
  const before = count();
  c.proc.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (count() === before) {
    if (Date.now() > deadline) throw new Error('no memory report');
    await new Promise((r) => setTimeout(r, 20));
  }
  const line = c.out
    .split('\n')
    .filter((l) => l.startsWith('MEM '))
    .at(-1)!;
  return JSON.parse(line.slice(4)) as Mem;
}

/** One keep-alive visitor: a GET answered in full, then the socket stays open and idle. */
function visit(port: number, host: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => reject(new Error('visitor timed out')), 20_000);
    s.on('error', reject);
    s.once('connect', () => s.write(`GET /small HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    let got = '';
    s.on('data', function onData(d: Buffer) {
      got += d.toString('latin1');
      if (got.endsWith('\r\n\r\nsmall')) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve(s);
      }
    });
  });
}

describe('idle visitor memory (burrow edge + agent)', function () {
  this.timeout(120_000);
  const children: BurrowChild[] = [];
  const sockets: net.Socket[] = [];
  let upstream: http.Server;

  after(async () => {
    for (const s of sockets) s.destroy();
    for (const c of children) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    upstream?.close();
  });

  it(`holds ≤ ${HEAP_PER_VISITOR} B of heap per idle visitor and gives it back after they close`, async () => {
    upstream = http.createServer((_req, res) => res.writeHead(200, { 'content-length': 5 }).end('small'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    const { edge, port } = await startEdgeAndAgent({
      domain: 'mem.localhost',
      upstreamPort,
      children,
      edgeNodeArgs: ['--expose-gc', '-r', path.join(ROOT, 'test/bench/memory-report.cjs')],
    });
    const host = `app.mem.localhost:${port}`;
    // Warm-up: code compiled, pools in their first state.
    for (let i = 0; i < 200; i++) (await visit(port, host)).destroy();
    await new Promise((r) => setTimeout(r, 300));
    const base = await memory(edge);

    for (let i = 0; i < VISITORS; i += 100)
      sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => visit(port, host)))));
    const open = await memory(edge);
    const perVisitor = (open.heapUsed - base.heapUsed) / VISITORS;
    assert.ok(
      perVisitor <= HEAP_PER_VISITOR,
      `${perVisitor.toFixed(0)} B of heap per idle visitor (bound ${HEAP_PER_VISITOR})`,
    );
    // The burst grew V8's young generation as far as the CLI lets it, not to V8's own maximum.
    assert.ok(open.newSpace <= NEW_SPACE, `new space ${open.newSpace / 1024 / 1024} MiB after the burst`);

    for (const s of sockets.splice(0)) s.destroy();
    // The edge sees every close within a few event-loop turns; give it a moment on a loaded machine.
    let after = await memory(edge);
    for (let i = 0; i < 50 && after.heapUsed - base.heapUsed > HEAP_KEPT; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await memory(edge);
    }
    assert.ok(
      after.heapUsed - base.heapUsed <= HEAP_KEPT,
      `${((after.heapUsed - base.heapUsed) / 1024).toFixed(0)} KiB of heap kept after the visitors closed`,
    );
    // Still serving.
    (await visit(port, host)).destroy();
  });
});
