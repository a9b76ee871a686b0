// CPU per message of the agent↔edge WebSocket link alone: the `ws` library at both ends against
// WebSocketTransport (hand-written frames and handshake, ws-handshake.ts), in one process over loopback.
// Round trips of one message at a time, small, a c=50 turn's size and a bulk payload; CPU from process.cpuUsage(), so a loaded machine slows it but hardly changes it.
//
//   npx tsx test/bench/ws-link.ts [roundTrips=20000] [rounds=3]
import http from 'node:http';
import type net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { WebSocketTransport } from '../../tunnel/src/protocol/transport';
import { acceptUpgrade, openWebSocket } from '../../tunnel/src/protocol/ws-handshake';

interface End {
  send(m: Buffer): void;
  onMessage(fn: (m: Buffer) => void): void;
  stop(): void;
}

async function transportPair(): Promise<[End, End]> {
  const server = http.createServer();
  const accepted = new Promise<WebSocketTransport>((resolve) =>
    server.on('upgrade', (req, socket, head) => resolve(acceptUpgrade(req, socket, head) as WebSocketTransport)),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = await openWebSocket(`ws://127.0.0.1:${port}`, { timeoutMs: 10_000, zeroMask: true });
  const a = transportEnd(await accepted);
  const b = transportEnd(client);
  const stop = () => {
    a.stop();
    b.stop();
    server.close();
  };
  return [
    { ...a, stop },
    { ...b, stop },
  ];
}

async function pair(raw: boolean): Promise<[End, End]> {
  if (raw) return transportPair();
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4 << 20 });
  const accepted = new Promise<WebSocket>((resolve) =>
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket as net.Socket, head, resolve)),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  // As the agent connects on loopback: a zero mask.
  const client = new WebSocket(`ws://127.0.0.1:${port}`, {
    perMessageDeflate: false,
    maxPayload: 4 << 20,
    generateMask: (m: Buffer) => void m.fill(0),
  });
  const opened = new Promise<End>((resolve) => client.once('open', () => resolve(wsEnd(client))));
  const serverWs = await accepted;
  const a = wsEnd(serverWs);
  const b = await opened;
  const stop = () => {
    client.terminate();
    serverWs.terminate();
    server.close();
  };
  return [
    { ...a, stop },
    { ...b, stop },
  ];
}

function wsEnd(ws: WebSocket): End {
  return {
    send: (m) => ws.send(m, { binary: true }),
    onMessage: (fn) => ws.on('message', (d) => fn(d as Buffer)),
    stop: () => ws.terminate(),
  };
}

function transportEnd(t: WebSocketTransport): End {
  return {
    send: (m) => t.send(m),
    // A message that spanned reads comes in parts; joined here as the reader joined it before.
    onMessage: (fn) => t.onMessage((m) => fn(Array.isArray(m) ? Buffer.concat(m) : (m as Buffer))),
    stop: () => t.close(1000, 'bye'),
  };
}

/** CPU µs per message (both ends) for `count` round trips of `burst` messages of `size` bytes. */
async function run(raw: boolean, count: number, burst: number, size: number): Promise<number> {
  const [edge, agent] = await pair(raw);
  const payload = Buffer.alloc(size, 7);
  agent.onMessage((m) => agent.send(m)); // echo
  const start = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let left = count;
    let pending = 0;
    edge.onMessage(() => {
      if (--pending > 0) return;
      if (--left === 0) return resolve();
      for (let i = 0; i < burst; i++, pending++) edge.send(payload);
    });
    for (let i = 0; i < burst; i++, pending++) edge.send(payload);
  });
  const used = process.cpuUsage(start);
  edge.stop();
  return (used.user + used.system) / (count * burst * 2);
}

/**
 * CPU µs per MiB streamed one way as a bulk body crosses the link: a small header message then a
 * 256 KiB payload message (the session's split DATA), 4 MiB in flight, acknowledged by the receiver.
 */
async function stream(raw: boolean, mib: number): Promise<number> {
  const [edge, agent] = await pair(raw);
  const header = Buffer.alloc(20, 1);
  const payload = Buffer.alloc(256 * 1024, 2);
  const window = 16; // payloads in flight
  let received = 0;
  agent.onMessage((m) => {
    if (m.length === payload.length && ++received % window === 0) agent.send(header); // ack
  });
  const start = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let sent = 0;
    let acked = 0;
    const total = mib * 4;
    const more = () => {
      while (sent < total && sent - acked < 2 * window) {
        edge.send(header);
        edge.send(payload);
        sent++;
      }
    };
    edge.onMessage(() => {
      acked += window;
      if (acked >= total) resolve();
      else more();
    });
    more();
  });
  const used = process.cpuUsage(start);
  edge.stop();
  return (used.user + used.system) / mib;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 20000);
  const rounds = Number(process.argv[3] ?? 3);
  const cases: [string, number, number][] = [
    ['200 B messages', 1, 200],
    ['8 KiB messages (a c=50 turn of requests)', 1, 8 * 1024],
    ['256 KiB messages (split bulk DATA)', 1, 256 * 1024],
  ];
  {
    const ws: number[] = [];
    const raw: number[] = [];
    for (let r = 0; r < rounds; r++) {
      ws.push(await stream(false, 256));
      raw.push(await stream(true, 256));
    }
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `256 MiB streamed one way: ws ${med(ws).toFixed(0)} µs CPU/MiB, hand-framed ${med(raw).toFixed(0)} (${(med(raw) / med(ws)).toFixed(2)}×)  [ws ${ws.map((x) => x.toFixed(0)).join(' ')}; raw ${raw.map((x) => x.toFixed(0)).join(' ')}]`,
    );
  }
  for (const [name, burst, size] of cases) {
    const n = size > 100_000 ? Math.ceil(count / 20) : count;
    const ws: number[] = [];
    const raw: number[] = [];
    for (let r = 0; r < rounds; r++) {
      ws.push(await run(false, n, burst, size));
      raw.push(await run(true, n, burst, size));
    }
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `${name}: ws ${med(ws).toFixed(2)} µs CPU/message, hand-framed ${med(raw).toFixed(2)} (${(med(raw) / med(ws)).toFixed(2)}×)  [ws ${ws.map((x) => x.toFixed(2)).join(' ')}; raw ${raw.map((x) => x.toFixed(2)).join(' ')}]`,
    );
  }
}

void main();
