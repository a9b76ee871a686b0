// What a hop pays for writing in setImmediate instead of a microtask (docs/benchmarks.md "Issue 11
// round 8"): loopback TCP ping-pong, the echo side writing in one or the other. Bounded: N round trips.
//
//   node test/bench/check-phase-hop.mjs immediate|microtask [N]
import net from 'node:net';

const mode = process.argv[2] === 'immediate' ? 'immediate' : 'microtask';
const N = Number(process.argv[3] ?? 20000);

const server = net
  .createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      const write = () => socket.write(d);
      if (mode === 'immediate') setImmediate(write);
      else queueMicrotask(write);
    });
  })
  .listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => {
      client.setNoDelay(true);
      let n = 0;
      const t0 = process.hrtime.bigint();
      client.on('data', () => {
        if (++n === N) {
          const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
          const cpu = process.cpuUsage().user / N;
          console.log(`${mode}: ${us.toFixed(2)} µs per round trip, ${cpu.toFixed(0)} µs user CPU`);
          process.exit(0);
        }
        client.write('x');
      });
      client.write('x');
    });
  });
