// The floor of Burrow's per-request path, measured in one process: only what the raw path cannot
// skip — the request head parsed (http1/head.ts) and rewritten (forwarding headers), written to a
// pooled upstream connection, the response head parsed and rebuilt as the edge writes it
// (raw-visitor.ts responseHead), and head + body written to the visitor in one Buffer. No session,
// no exchange objects, no capture, no metrics. Small GETs with Content-Length only (that is all
// it handles). Prints the CPU time per request at c=1 and c=50 next to what wrk measured.
//
//   npx tsx test/bench/floor.ts [seconds]      (needs wrk; loopback only)
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { findHeadEnd, parseRequestHead, parseResponseHead } from '../../tunnel/src/http1/head';
import { responseHead } from '../../tunnel/src/edge/raw-visitor';
import { clientResponseHeaders, forwardingHeaders } from '../../tunnel/src/edge/http-proxy';

const seconds = Number(process.argv[2] ?? 3);

async function upstreamPort(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'upstream.mjs'), '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /PORT=(\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
  });
  return { port, stop: () => child.kill() };
}

function floorProxy(upPort: number): net.Server {
  const idle: net.Socket[] = [];
  return net.createServer((visitor) => {
    let pending: Buffer = Buffer.alloc(0);
    visitor.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const end = findHeadEnd(pending, 16384);
      if (end < 0) return;
      const head = parseRequestHead(pending.subarray(0, end));
      pending = pending.subarray(end);
      const raw = forwardingHeaders(head.rawHeaders, 'h', 'http', visitor.remoteAddress ?? '');
      let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
      for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
      text += 'Connection: keep-alive\r\n\r\n';
      const up = idle.pop() ?? net.connect({ port: upPort, host: '127.0.0.1', noDelay: true });
      let got: Buffer = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        got = got.length ? Buffer.concat([got, c]) : c;
        const hend = findHeadEnd(got, 16384);
        if (hend < 0) return;
        const res = parseResponseHead(got.subarray(0, hend), head.method);
        const body = got.subarray(hend);
        if (res.body.kind !== 'length' || body.length < res.body.length) return;
        up.off('data', onData);
        idle.push(up);
        const f = responseHead(head, res.status, res.reason, clientResponseHeaders(res.rawHeaders), 5000);
        const out = Buffer.allocUnsafe(f.text.length + body.length);
        body.copy(out, out.write(f.text, 0, 'latin1'));
        visitor.write(out);
      };
      up.on('data', onData);
      up.write(Buffer.from(text, 'latin1'));
    });
    visitor.on('error', () => visitor.destroy());
  });
}

function wrk(port: number, c: number): number {
  const out = execFileSync('wrk', ['-t1', `-c${c}`, `-d${seconds}s`, `http://127.0.0.1:${port}/small`], {
    encoding: 'utf8',
  });
  const m = /(\d+) requests in/.exec(out);
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const up = await upstreamPort();
  const server = floorProxy(up.port);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  // wrk runs synchronously in a child: run it from a worker-free helper so this process keeps serving.
  for (const c of [1, 50]) {
    const before = process.cpuUsage();
    const requests = await new Promise<number>((resolve) => {
      const child = spawn('wrk', ['-t1', `-c${c}`, `-d${seconds}s`, `http://127.0.0.1:${port}/small`]);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.on('close', () => resolve(Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)));
    });
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    console.log(
      `floor c=${c}: ${(requests / seconds).toFixed(0)} req/s, ${(ms / requests).toFixed(4)} CPU ms/req (${ms.toFixed(0)} ms CPU)`,
    );
  }
  void wrk;
  server.close();
  up.stop();
  process.exit(0);
}

void main();
