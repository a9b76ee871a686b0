/**
 * Shared helpers for the tunnel integration tests: loopback servers on port 0, an HTTP client that
 * talks to the edge on 127.0.0.1 while sending the tunnel's Host (`*.localhost` names resolve to
 * loopback anyway), deterministic byte streams, and a resource tracker that closes everything.
 */
import { createCipheriv, createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { Agent, type AgentOptions } from '../../tunnel/src/agent/agent';
import { Edge, type EdgeConfig } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import type { EndpointSpec } from '../../tunnel/src/model';

export type Reply = { status: number; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer };

/** Things to close after a test, closed in reverse order of registration. */
export class Resources {
  private readonly closers: (() => unknown)[] = [];

  add<T>(thing: T, close: (thing: T) => unknown): T {
    this.closers.push(() => close(thing));
    return thing;
  }

  server<T extends net.Server>(server: T): T {
    return this.add(
      server,
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
  }

  agent(agent: Agent): Agent {
    return this.add(agent, (a) => a.close());
  }

  async closeAll(): Promise<void> {
    while (this.closers.length) {
      const close = this.closers.pop()!;
      await Promise.race([Promise.resolve(close()).catch(() => undefined), delay(3000)]);
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Listens on 127.0.0.1 port 0 and resolves with the port. */
export function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** A port that was free a moment ago (for tests that must restart a listener on the same port). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}

/** An embedded-edge agent on port 0; tests shorten timeouts through `options`. */
/** The authtoken `startEdge` accepts. */
export const EDGE_TOKEN = 'test-token-0123456789';

/** An in-process edge for `example.test` on a free loopback port, closed with `res`. */
export async function startEdge(res: Resources, config: Partial<EdgeConfig> = {}): Promise<Edge> {
  const edge = res.add(
    new Edge({
      domain: 'example.test',
      http: { host: '127.0.0.1', port: 0 },
      tokens: new TokenSet([EDGE_TOKEN]),
      ...config,
    }),
    (e) => e.close(),
  );
  await edge.start();
  return edge;
}

export async function startAgent(res: Resources, options: AgentOptions = {}): Promise<Agent> {
  const agent = res.agent(new Agent({ embedded: { port: 0 }, ...options }));
  await agent.start();
  return agent;
}

let tunnelCount = 0;

/** Starts an endpoint; returns its first URL as `{host, port, url}` (host = the Host header to send). */
export async function startTunnel(
  agent: Agent,
  spec: Partial<EndpointSpec> & { upstream: string },
): Promise<{ url: string; host: string; port: number; urls: string[] }> {
  const state = await agent.startTunnel({ name: `t${++tunnelCount}`, proto: 'http', inspect: false, ...spec });
  const url = new URL(state.urls[0]);
  return { url: state.urls[0], host: url.host, port: Number(url.port), urls: state.urls };
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders | string[];
  body?: Buffer | string | Readable;
}

/** One request to 127.0.0.1:`port` with Host `host`; buffers the (small) response. */
export function request(port: number, host: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = Array.isArray(options.headers) ? ['Host', host, ...options.headers] : { host, ...options.headers };
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        agent: false,
        headers: headers as http.OutgoingHttpHeaders,
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/**
 * `total` deterministic pseudo-random bytes for `seed`, produced as a stream in `chunk`-byte pieces
 * (AES-CTR keystream: fast, and never more than one chunk in memory).
 */
export function seededStream(seed: string, total: number, chunk = 256 * 1024): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunk);
  let produced = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - produced);
      produced += n;
      this.push(cipher.update(n === chunk ? zeros : zeros.subarray(0, n)));
    },
  });
}

/** sha256 and length of a stream, consumed as it arrives. */
export function digestOf(stream: Readable): Promise<{ digest: string; length: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    stream.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    stream.on('end', () => resolve({ digest: hash.digest('hex'), length }));
    stream.on('error', reject);
    stream.resume(); // also when the caller paused it first
  });
}

/** Pipes and resolves when the destination has finished. */
export function pipeDone(source: Readable, destination: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    source.on('error', reject);
    destination.on('error', reject);
    destination.on('finish', resolve);
    source.pipe(destination);
  });
}

/** Polls `check` every 10 ms until it returns true, or fails after `timeoutMs`. */
/** `promise`, or a rejection naming `what` after `ms` (every wait in a test is bounded). */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** Peak growth of rss and arrayBuffers over a baseline, sampled every 20 ms until stopped. */
export function memorySampler(): { stop(): { rss: number; arrayBuffers: number } } {
  const base = process.memoryUsage();
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss - base.rss);
    arrayBuffers = Math.max(arrayBuffers, m.arrayBuffers - base.arrayBuffers);
  };
  const timer = setInterval(sample, 20);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { rss, arrayBuffers };
    },
  };
}

export const MiB = 1024 * 1024;
