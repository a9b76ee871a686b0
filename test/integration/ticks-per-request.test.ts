// Async work per request on the embedded data path (`burrow http`, edge and agent in one process),
// counted in the process with async_hooks (test/fixtures/async-probe.cjs) over keep-alive GETs.
// No request may create a promise (every wait on the path is a callback), and each may cost at most
// the two process.nextTick calls Node's own socket reads make (Readable's maybeReadMore, one per
// read of the visitor and of the upstream). main before round 8 made three: the visitor's socket
// was paused during each exchange and resumed after it (a resume_ tick per request). A count of
// calls, not a time: load does not move it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { spawnBurrow, type BurrowChild } from '../support/burrow-child';

const ROOT = path.resolve(__dirname, '../..');
const REQUESTS = 2_000;
const CONNECTIONS = 4;

describe('async work per request (burrow http, embedded)', function () {
  this.timeout(120_000);
  let upstream: http.Server;
  let child: BurrowChild | undefined;

  before(async () => {
    upstream = http.createServer({ keepAliveTimeout: 30_000 }, (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 }).end('hello'),
    );
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    child?.proc.kill('SIGKILL');
    await child?.exited;
    upstream?.close();
  });

  for (const capture of [false, true]) {
    it(`keep-alive GETs ${capture ? 'with' : 'without'} capture: no promise, at most 2 nextTicks per request`, async () => {
      const port0 = (upstream.address() as net.AddressInfo).port;
      const c = (child = spawnBurrow(
        ['http', String(port0), '--web-addr', 'false', ...(capture ? [] : ['--inspect', 'false'])],
        {},
        ['-r', path.join(ROOT, 'test/fixtures/async-probe.cjs')],
      ));
      try {
        const url = new URL((await c.waitFor(/Forwarding\s+(http:\/\/\S+)\s+->/))[1]);
        const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
        const get = () =>
          new Promise<void>((resolve, reject) => {
            const req = http.get(
              { host: '127.0.0.1', port: url.port, path: '/small', headers: { host: url.host }, agent },
              (res) => {
                let body = '';
                res.setEncoding('utf8').on('data', (d: string) => (body += d));
                res.on('end', () =>
                  res.statusCode === 200 && body === 'hello'
                    ? resolve()
                    : reject(new Error(`${res.statusCode} ${body}`)),
                );
              },
            );
            req.setTimeout(10_000, () => req.destroy(new Error('GET timed out')));
            req.on('error', reject);
          });
        const run = async (n: number) => {
          const lanes = Array.from({ length: CONNECTIONS }, async () => {
            for (let i = 0; i < n / CONNECTIONS; i++) await get();
          });
          await Promise.all(lanes);
        };
        await run(200); // warm: connections open (upstream pool, visitors), code compiled
        let from = c.out.length;
        c.proc.kill('SIGUSR2');
        await c.waitFor(/ASYNC ON/, from);
        await run(REQUESTS);
        from = c.out.length;
        c.proc.kill('SIGUSR2');
        const counts = JSON.parse((await c.waitFor(/ASYNC (\{.*\})/, from))[1]) as Record<string, number>;
        agent.destroy();
        const per = (type: string) => (counts[type] ?? 0) / REQUESTS;
        const seen = JSON.stringify(counts);
        assert.ok(per('PROMISE') < 0.01, `promises per request ${per('PROMISE')}: ${seen}`);
        assert.ok(per('TickObject') <= 2.2, `nextTicks per request ${per('TickObject')}: ${seen}`);
      } finally {
        c.proc.kill('SIGKILL');
        await c.exited;
      }
    });
  }
});
