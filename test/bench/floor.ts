// The floor of Burrow's per-request path, measured in one process: only what the raw path cannot
// skip — the request head parsed (http1/head.ts) and rewritten (forwarding headers), written to a
// pooled upstream connection, the response head parsed and rebuilt as the edge writes it
// (raw-visitor.ts responseHead), and head + body written to the visitor in one Buffer. No session,
// no exchange objects, no capture, no metrics. Small GETs with Content-Length only (that is all
// it handles). Prints the CPU time per request at c=1 and c=50 next to what wrk measured.
// floor2.ts measures the same work split over two processes (edge + agent) with a framed hop.
//
//   npx tsx test/bench/floor.ts [seconds]      (needs wrk; loopback only)
import type net from 'node:net';
import { floorProxy, measure, startUpstream } from './floor-common';

const seconds = Number(process.argv[2] ?? 3);

async function main(): Promise<void> {
  const up = await startUpstream();
  const server = floorProxy(up.ports.PORT);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  for (const c of [1, 50]) {
    // wrk runs in a child; this process's own CPU is the floor's.
    const m = await measure(port, c, seconds, [], true);
    console.log(`floor c=${c}: ${m.rps.toFixed(0)} req/s, ${m.cpuMsPerReq.toFixed(4)} CPU ms/req`);
  }
  server.close();
  up.stop();
  process.exit(0);
}

void main();
