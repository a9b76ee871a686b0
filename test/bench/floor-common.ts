// What floor.ts (one process) and floor2.ts (edge + agent) share: the bench upstream, the node-pipe
// reference, wrk and CPU readings, and the per-request work neither floor can skip — the request
// head parsed and rewritten, the response head parsed and rebuilt as the edge writes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { findHeadEnd, parseRequestHead, parseResponseHead, type RequestHead } from '../../tunnel/src/http1/head';
import { responseHead, writeResponseHead } from '../../tunnel/src/edge/raw-visitor';
import { clientResponseHeaders, forwardingHeaders } from '../../tunnel/src/edge/http-proxy';

export const HEAD_LIMIT = 16384;

/** A child process that printed `PORT=n` (or `<NAME>=n` lines) once listening. */
export interface Child {
  child: ChildProcess;
  ports: Record<string, number>;
  stop(): Promise<void> | void;
}

/** Starts `node ARGS` (or tsx for a .ts script, through this process's own loader flags) and waits for its ports. */
export function startChild(
  args: string[],
  names: string[],
  timeoutMs = 20_000,
  nodeArgs: string[] = [],
): Promise<Child> {
  const child = spawn(process.execPath, [...process.execArgv, ...nodeArgs, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports: Record<string, number> = {};
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} printed no ${names.join(', ')} within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before listening`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const name of names) {
        const m = new RegExp(`${name}=(\\d+)`).exec(out);
        if (m) ports[name] = Number(m[1]);
      }
      if (names.every((n) => ports[n] !== undefined)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, ports, stop: () => stopChild(child) });
      }
    });
  });
}

/** SIGTERM (a child that profiles writes its --cpu-prof file as it exits), SIGKILL after 5 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** test/bench/upstream.mjs: GET /small is 12 bytes with Content-Length; /ws echoes. */
export function startUpstream(): Promise<Child> {
  return startChild([path.join(__dirname, 'upstream.mjs'), '0'], ['PORT']);
}

/** bench.mjs's node-pipe row: each visitor socket piped to a fresh upstream socket. */
export function startNodePipe(upPort: number): Promise<Child> {
  const code = `const net=require('net');
net.createServer({noDelay:true},(c)=>{const u=net.connect({port:${upPort},host:'127.0.0.1',noDelay:true});
 c.pipe(u).pipe(c); const end=()=>{c.destroy();u.destroy()}; c.on('error',end); u.on('error',end); c.on('close',end); u.on('close',end);
}).listen({port:0,host:'127.0.0.1',backlog:1024},function(){console.log('PORT='+this.address().port)});`;
  // -e code, without this process's tsx loader flags.
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node-pipe did not start')), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      const m = /PORT=(\d+)/.exec(d.toString());
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, ports: { PORT: Number(m[1]) }, stop: () => void child.kill('SIGKILL') });
    });
  });
}

const CLK_TCK = 100;

/** CPU ms (user + system) used so far by these processes, from /proc (0 for the current process: use cpuUsage). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

/** wrk -t1 against GET /small for `seconds` (killed after seconds + 20 s); resolves the request count. */
export function wrkRequests(port: number, c: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${c}`, `-d${seconds}s`, '--timeout', '5s', `http://127.0.0.1:${port}/small`]);
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      if (/Non-2xx|Socket errors/.test(out)) return reject(new Error(`wrk saw errors:\n${out}`));
      resolve(Number(/(\d+) requests in/.exec(out)?.[1] ?? 0));
    });
  });
}

/** Runs wrk and reads the CPU the given processes (and this one, when `self`) spent meanwhile. */
export async function measure(
  port: number,
  c: number,
  seconds: number,
  pids: number[],
  self = false,
): Promise<{ rps: number; cpuMsPerReq: number }> {
  const before = cpuMs(pids);
  const selfBefore = process.cpuUsage();
  const requests = await wrkRequests(port, c, seconds);
  const selfUsed = self ? process.cpuUsage(selfBefore) : { user: 0, system: 0 };
  const ms = cpuMs(pids) - before + (selfUsed.user + selfUsed.system) / 1000;
  return { rps: requests / seconds, cpuMsPerReq: ms / Math.max(1, requests) };
}

/** Median round trip (ms) of 64-byte websocket messages to upstream.mjs's /ws echo through `port`. */
export async function wsRttMs(port: number, count = 3000, timeoutMs = 20_000): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
  const payload = Buffer.alloc(64, 0x61);
  const samples: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('websocket round trips timed out')), timeoutMs);
      let sent = 0n;
      const ping = () => {
        sent = process.hrtime.bigint();
        ws.send(payload);
      };
      ws.once('open', ping);
      ws.on('message', () => {
        samples.push(Number(process.hrtime.bigint() - sent) / 1e6);
        if (samples.length < count) return ping();
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', reject);
    });
  } finally {
    ws.terminate();
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

/**
 * The edge's share of the head work: complete request head in `pending` → the head and the
 * rewritten head bytes for the upstream (forwarding headers added), or undefined while incomplete.
 */
export function rewriteRequest(
  pending: Buffer,
  remoteAddress: string,
): { head: RequestHead; out: Buffer; rest: Buffer } | undefined {
  const end = findHeadEnd(pending, HEAD_LIMIT);
  if (end < 0) return undefined;
  const head = parseRequestHead(pending.subarray(0, end));
  const raw = forwardingHeaders(head.rawHeaders, 'h', 'http', remoteAddress);
  let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  text += 'Connection: keep-alive\r\n\r\n';
  return { head, out: Buffer.from(text, 'latin1'), rest: pending.subarray(end) };
}

/** A parsed upstream response (Content-Length bodies only): status, reason, the headers the visitor gets, the body. */
export interface Response {
  status: number;
  reason: string;
  headers: string[];
  body: Buffer;
}

/** The agent's share: a complete response in `got` (head + Content-Length body) or undefined while incomplete. */
export function parseResponse(got: Buffer, method: string): Response | undefined {
  const hend = findHeadEnd(got, HEAD_LIMIT);
  if (hend < 0) return undefined;
  const res = parseResponseHead(got.subarray(0, hend), method);
  const body = got.subarray(hend);
  if (res.body.kind !== 'length') throw new Error('the floor handles Content-Length responses only');
  if (body.length < res.body.length) return undefined;
  return { status: res.status, reason: res.reason, headers: clientResponseHeaders(res.rawHeaders), body };
}

/** The edge's response to the visitor: head rebuilt (raw-visitor.ts responseHead) and body, one Buffer. */
export function visitorResponse(
  head: RequestHead,
  status: number,
  reason: string,
  headers: string[],
  body: Buffer,
): Buffer {
  const f = responseHead(head, status, reason, headers, 5000);
  const out = Buffer.allocUnsafe(f.headLength + body.length);
  body.copy(out, writeResponseHead(f, out, 0));
  return out;
}

/** A pool of keep-alive upstream sockets (the floor's stand-in for the agent's upstream pool). */
export class UpstreamPool {
  private readonly idle: net.Socket[] = [];
  constructor(private readonly port: number) {}
  take(): net.Socket {
    return this.idle.pop() ?? net.connect({ port: this.port, host: '127.0.0.1', noDelay: true });
  }
  give(socket: net.Socket): void {
    this.idle.push(socket);
  }
}

/** One exchange on a pooled upstream socket: writes `request`, calls back with the whole response. */
export function exchange(pool: UpstreamPool, request: Buffer, method: string, done: (res: Response) => void): void {
  const up = pool.take();
  let got: Buffer = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    got = got.length ? Buffer.concat([got, c]) : c;
    const res = parseResponse(got, method);
    if (!res) return;
    up.off('data', onData);
    pool.give(up);
    done(res);
  };
  up.on('data', onData);
  up.write(request);
}

/** floor.ts's one-process relay: the head work, a pooled upstream exchange, head + body to the visitor. */
export function floorProxy(upPort: number): net.Server {
  const pool = new UpstreamPool(upPort);
  return net.createServer({ noDelay: true }, (visitor) => {
    let pending: Buffer = Buffer.alloc(0);
    visitor.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const req = rewriteRequest(pending, visitor.remoteAddress ?? '');
      if (!req) return;
      pending = req.rest;
      exchange(pool, req.out, req.head.method, (res) =>
        visitor.write(visitorResponse(req.head, res.status, res.reason, res.headers, res.body)),
      );
    });
    visitor.on('error', () => visitor.destroy());
  });
}
