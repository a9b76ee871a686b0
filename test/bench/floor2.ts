// The floor of the edge + agent path: two processes doing only what a two-process tunnel cannot
// skip, over ONE persistent connection between them in Burrow's frame format (frames.ts).
//   edge:  visitor head parsed and rewritten → Open frame (the rewritten head as its payload, FIN)
//   agent: head written to a pooled upstream socket, response head parsed → Meta (JSON
//          [status, reason, headers]) + DATA with FIN in one message
//   edge:  head rebuilt (raw-visitor.ts responseHead) and body written to the visitor in one Buffer.
// Frames queued in one event-loop turn go out as one message (setImmediate, as MuxSession does).
// No session objects, credit, capture or metrics. The link is a WebSocket (`ws`, options as Burrow
// sets them) or a plain TCP socket. A second visitor port relays raw bytes (Open, then DATA both
// ways) for the websocket round trip. Small GETs with Content-Length only, like floor.ts.
// Prints CPU ms/req at c=1 and c=50 and ratios to node-pipe and to the one-process floor, all
// measured in this run (interleaved), and the websocket round trip.
//
//   npx tsx test/bench/floor2.ts [seconds=3] [rounds=1]      (needs wrk; loopback only)
//   FLOOR2_CONNECTIONS=50 …  only c=50
//   FLOOR2_LINKS=ws,wssend,wsraw,wsrawv,tcp …  which links (wssend: ws receives, sends
//     are written here; wsrawv: wsraw writing header and payload as ws does)
//   FLOOR2_CPU_PROF=DIR …   edge and agent write .cpuprofile files to DIR/{edge,agent}-{ws,tcp}/ (the biggest is the main thread)
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { FLAG_FIN, FrameType, decodeFrames, encodeFrame, encodeJsonFrame } from '../../tunnel/src/protocol/frames';
import type { RequestHead } from '../../tunnel/src/http1/head';
import {
  UpstreamPool,
  exchange,
  floorProxy,
  measure,
  rewriteRequest,
  startChild,
  startNodePipe,
  startUpstream,
  visitorResponse,
  wsRttMs,
  type Child,
} from './floor-common';

const MAX_PAYLOAD = 4 * 1024 * 1024;
/** FLOOR2_CONNECTIONS=50 measures c=50 only (for profiles). */
const KINDS = (process.env.FLOOR2_LINKS ?? 'ws,wsraw,tcp').split(',') as Kind[];
const LEVELS = (process.env.FLOOR2_CONNECTIONS ?? '1,50').split(',').map(Number);
/** ws: the `ws` package end to end; wsraw: its handshake, then WebSocket frames written and read here; tcp: no WebSocket. */
type Kind = 'ws' | 'wssend' | 'wsraw' | 'wsrawv' | 'tcp';

/** One persistent framed connection: whole messages in, whole messages out (batched per turn). */
class Link {
  private outbox: Buffer[] = [];
  private scheduled = false;
  onMessage: (message: Buffer) => void = () => undefined;
  constructor(private readonly write: (message: Buffer) => void) {}
  queue(frame: Buffer): void {
    this.outbox.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
  private readonly flush = (): void => {
    this.scheduled = false;
    const parts = this.outbox;
    this.outbox = [];
    this.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  };
}

/**
 * After the `ws` handshake, WebSocket binary frames on its socket without the library: each
 * message is one write (header + payload in one Buffer; a zero mask from the client), and reads
 * parse frame headers here. Measures what the library itself costs per message.
 */
function wsRawLink(ws: WebSocket, client: boolean, writev = false): Link {
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  for (const event of ['data', 'end', 'close', 'error', 'timeout']) socket.removeAllListeners(event);
  socket.on('error', () => socket.destroy());
  socket.setNoDelay(true);
  const link = new Link((m) => {
    if (writev) {
      // As `ws` sends: the header and the payload as two writes under cork (one writev).
      socket.cork();
      socket.write(wsHeader(m.length, client));
      socket.write(m);
      socket.uncork();
      return;
    }
    socket.write(wsFrame(m, client));
  });
  let acc: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    acc = acc.length ? Buffer.concat([acc, chunk]) : chunk;
    for (;;) {
      if (acc.length < 2) return;
      const masked = acc[1] & 0x80;
      let length = acc[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (acc.length < 4) return;
        length = acc.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (acc.length < 10) return;
        length = Number(acc.readBigUInt64BE(2));
        at = 10;
      }
      if (masked) at += 4; // zero masks only (the floor's own client)
      if (acc.length < at + length) return;
      const message = acc.subarray(at, at + length);
      acc = acc.subarray(at + length);
      link.onMessage(message);
    }
  });
  return link;
}

/** The header of one binary WebSocket message (FIN, opcode 2) of `length` bytes; a zero mask from a client. */
function wsHeader(length: number, client: boolean): Buffer {
  const extra = length > 65535 ? 8 : length > 125 ? 2 : 0;
  const out = Buffer.allocUnsafe(2 + extra + (client ? 4 : 0));
  out[0] = 0x82;
  out[1] = (client ? 0x80 : 0) | (extra === 8 ? 127 : extra === 2 ? 126 : length);
  if (extra === 2) out.writeUInt16BE(length, 2);
  else if (extra === 8) out.writeBigUInt64BE(BigInt(length), 2);
  if (client) out.writeUInt32BE(0, 2 + extra);
  return out;
}

/** One binary WebSocket message as one Buffer (header and payload). */
function wsFrame(m: Buffer, client: boolean): Buffer {
  return Buffer.concat([wsHeader(m.length, client), m]);
}

/** wssend: `ws` receives; sends are frames written here straight to its socket (one write each). */
function wsSendLink(ws: WebSocket, client: boolean): Link {
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  const link = new Link((m) => socket.write(wsFrame(m, client)));
  ws.on('message', (data) => link.onMessage(data as Buffer));
  return link;
}

function wsLink(ws: WebSocket): Link {
  const link = new Link((m) => ws.send(m, { binary: true }));
  ws.on('message', (data) => link.onMessage(data as Buffer));
  return link;
}

/** Over TCP the frames delimit themselves: each read's whole frames are one message. */
function tcpLink(socket: net.Socket): Link {
  socket.setNoDelay(true);
  const link = new Link((m) => socket.write(m));
  let acc: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    acc = acc.length ? Buffer.concat([acc, chunk]) : chunk;
    let end = 0;
    while (acc.length - end >= 10) {
      const next = end + 10 + acc.readUInt32BE(end + 6);
      if (next > acc.length) break;
      end = next;
    }
    if (end === 0) return;
    const message = acc.subarray(0, end);
    acc = acc.subarray(end);
    link.onMessage(message);
  });
  return link;
}

function listen(server: net.Server | http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function edge(kind: Kind): Promise<void> {
  let link: Link | undefined;
  const streams = new Map<number, { visitor: net.Socket; head?: RequestHead; meta?: [number, string, string[]] }>();
  let nextId = 2;
  const onLink = (l: Link) => {
    link = l;
    l.onMessage = (message) => {
      for (const f of decodeFrames(message, MAX_PAYLOAD)) {
        const s = streams.get(f.stream);
        if (!s) continue;
        if (f.type === FrameType.Meta) s.meta = JSON.parse(f.payload.toString('utf8')) as [number, string, string[]];
        else if (f.type === FrameType.Data && s.head) {
          const [status, reason, headers] = s.meta!;
          s.visitor.write(visitorResponse(s.head, status, reason, headers, f.payload));
          streams.delete(f.stream);
        } else if (f.type === FrameType.Data) s.visitor.write(f.payload);
      }
    };
  };
  const agentServer =
    kind !== 'tcp'
      ? http.createServer().on('upgrade', (req, socket, head) => {
          const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
          wss.handleUpgrade(req, socket, head, (ws) =>
            onLink(
              kind === 'ws'
                ? wsLink(ws)
                : kind === 'wssend'
                  ? wsSendLink(ws, false)
                  : wsRawLink(ws, false, kind === 'wsrawv'),
            ),
          );
        })
      : net.createServer((socket) => onLink(tcpLink(socket)));
  const visitors = net.createServer({ noDelay: true }, (visitor) => {
    let pending: Buffer = Buffer.alloc(0);
    visitor.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const req = rewriteRequest(pending, visitor.remoteAddress ?? '');
      if (!req) return;
      pending = req.rest;
      const id = (nextId += 2);
      streams.set(id, { visitor, head: req.head });
      link!.queue(encodeFrame(FrameType.Open, FLAG_FIN, id, req.out));
    });
    visitor.on('error', () => visitor.destroy());
  });
  // Raw bytes both ways (the websocket round trip): an Open without payload, then DATA frames.
  const raw = net.createServer({ noDelay: true }, (visitor) => {
    const id = (nextId += 2);
    streams.set(id, { visitor });
    link!.queue(encodeFrame(FrameType.Open, 0, id));
    visitor.on('data', (chunk: Buffer) => link!.queue(encodeFrame(FrameType.Data, 0, id, chunk)));
    visitor.on('error', () => visitor.destroy());
  });
  const [v, a, r] = [await listen(visitors), await listen(agentServer), await listen(raw)];
  console.log(`VISITOR=${v} AGENT=${a} RAW=${r}`);
}

async function agent(kind: Kind, agentPort: number, upPort: number): Promise<void> {
  const link =
    kind !== 'tcp'
      ? await new Promise<Link>((resolve, reject) => {
          // As agent/edge-client.ts connects on loopback: no deflate, a zero mask (ws skips the XOR).
          const ws = new WebSocket(`ws://127.0.0.1:${agentPort}`, {
            perMessageDeflate: false,
            maxPayload: MAX_PAYLOAD,
            generateMask: (mask: Buffer) => void mask.fill(0),
          });
          ws.once('open', () =>
            resolve(
              kind === 'ws'
                ? wsLink(ws)
                : kind === 'wssend'
                  ? wsSendLink(ws, true)
                  : wsRawLink(ws, true, kind === 'wsrawv'),
            ),
          );
          ws.once('error', reject);
        })
      : await new Promise<Link>((resolve) => {
          const socket = net.connect({ port: agentPort, host: '127.0.0.1' }, () => resolve(tcpLink(socket)));
        });
  const pool = new UpstreamPool(upPort);
  const rawUp = new Map<number, net.Socket>();
  link.onMessage = (message) => {
    for (const f of decodeFrames(message, MAX_PAYLOAD)) {
      const id = f.stream;
      if (f.type === FrameType.Open && f.payload.length) {
        const method = f.payload.toString('latin1', 0, f.payload.indexOf(0x20));
        exchange(pool, f.payload, method, (res) => {
          link.queue(encodeJsonFrame(FrameType.Meta, 0, id, [res.status, res.reason, res.headers]));
          link.queue(encodeFrame(FrameType.Data, FLAG_FIN, id, res.body));
        });
      } else if (f.type === FrameType.Open) {
        const up = net.connect({ port: upPort, host: '127.0.0.1', noDelay: true });
        up.on('data', (chunk: Buffer) => link.queue(encodeFrame(FrameType.Data, 0, id, chunk)));
        rawUp.set(id, up);
      } else if (f.type === FrameType.Data) rawUp.get(id)?.write(f.payload);
    }
  };
  console.log('READY=1');
}

async function one(upPort: number): Promise<void> {
  const server = floorProxy(upPort);
  console.log(`VISITOR=${await listen(server)}`);
}

async function main(seconds: number, rounds: number): Promise<void> {
  const children: Child[] = [];
  const up = await startUpstream();
  children.push(up);
  const upPort = up.ports.PORT;
  try {
    const pipe = await startNodePipe(upPort);
    const single = await startChild([__filename, 'one', String(upPort)], ['VISITOR']);
    children.push(pipe, single);
    const rows: { name: string; port: number; raw?: number; pids: number[] }[] = [
      { name: 'node-pipe', port: pipe.ports.PORT, raw: pipe.ports.PORT, pids: [pipe.child.pid!] },
      { name: 'floor (1 process)', port: single.ports.VISITOR, pids: [single.child.pid!] },
    ];
    for (const kind of KINDS) {
      // One directory per process: tsx's loader thread writes a profile of its own there too.
      const prof = (name: string) =>
        process.env.FLOOR2_CPU_PROF
          ? ['--cpu-prof', '--cpu-prof-dir', path.join(process.env.FLOOR2_CPU_PROF, `${name}-${kind}`)]
          : [];
      const e = await startChild([__filename, 'edge', kind], ['VISITOR', 'AGENT', 'RAW'], 20_000, prof('edge'));
      children.push(e);
      const a = await startChild(
        [__filename, 'agent', kind, String(e.ports.AGENT), String(upPort)],
        ['READY'],
        20_000,
        prof('agent'),
      );
      children.push(a);
      rows.push({
        name: `floor2 ${kind}`,
        port: e.ports.VISITOR,
        raw: e.ports.RAW,
        pids: [e.child.pid!, a.child.pid!],
      });
    }
    // Warm-up (JIT, pools, socket buffers): not counted in the figures; `served` is for profiles.
    const served = new Map<string, number>();
    const count = (name: string, m: { rps: number }, s: number) =>
      served.set(name, (served.get(name) ?? 0) + m.rps * s);
    for (const row of rows) count(row.name, await measure(row.port, 50, 1, row.pids), 1);
    const cpu = new Map<string, number[]>();
    const rps = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++)
      for (const c of LEVELS)
        for (const row of rows) {
          const m = await measure(row.port, c, seconds, row.pids);
          count(row.name, m, seconds);
          const key = `${row.name} c=${c}`;
          cpu.set(key, [...(cpu.get(key) ?? []), m.cpuMsPerReq]);
          rps.set(key, [...(rps.get(key) ?? []), m.rps]);
        }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    // Round trips interleaved, the order rotated each round (the first row measured was slower).
    const rttRows = [{ name: 'direct', raw: upPort }, ...rows.filter((r) => r.raw)];
    const rtts = new Map<string, number[]>();
    for (let round = 0; round < Math.max(3, rounds); round++)
      for (let i = 0; i < rttRows.length; i++) {
        const row = rttRows[(i + round) % rttRows.length];
        rtts.set(row.name, [...(rtts.get(row.name) ?? []), await wsRttMs(row.raw!, 1000)]);
      }
    const rtt = new Map([...rtts].map(([name, xs]) => [name, median(xs)]));
    const pipeRtt = rtt.get('node-pipe')!;
    console.log(`\nfloor2: ${seconds} s per test, ${rounds} round(s), medians; ratios to node-pipe in this run\n`);
    const cols = LEVELS.map((c) => `c=${c} req/s (ratio) | CPU ms/req c=${c}`).join(' | ');
    console.log(`| row | ${cols} | WS RTT p50 ms (× node-pipe) |`);
    console.log(`|${' --- |'.repeat(2 * LEVELS.length + 2)}`);
    for (const row of rows) {
      const cells = LEVELS.map((c) => {
        const r = median(rps.get(`${row.name} c=${c}`)!);
        const ms = median(cpu.get(`${row.name} c=${c}`)!);
        return `${r.toFixed(0)} (${(r / median(rps.get(`node-pipe c=${c}`)!)).toFixed(2)}) | ${ms.toFixed(4)}`;
      });
      const r = rtt.get(row.name);
      const rttCell = r === undefined ? '–' : `${r.toFixed(3)} (${(r / pipeRtt).toFixed(2)}×)`;
      console.log(`| ${row.name} | ${cells.join(' | ')} | ${rttCell} |`);
    }
    console.log(`| direct |${' |'.repeat(2 * LEVELS.length)} ${rtt.get('direct')!.toFixed(3)} |`);
    console.log(
      `\nrequests served per row, warm-up included: ${[...served].map(([n, r]) => `${n} ${r.toFixed(0)}`).join(', ')}`,
    );
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

const [role, ...args] = process.argv.slice(2);
// A child exits normally on SIGTERM, so that --cpu-prof writes its profile.
if (role === 'edge' || role === 'agent' || role === 'one') process.on('SIGTERM', () => process.exit(0));
const started =
  role === 'edge'
    ? edge(args[0] as Kind)
    : role === 'agent'
      ? agent(args[0] as Kind, Number(args[1]), Number(args[2]))
      : role === 'one'
        ? one(Number(args[0]))
        : main(Number(role ?? 3), Number(args[0] ?? 1)).then(() => process.exit(0));
started.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
