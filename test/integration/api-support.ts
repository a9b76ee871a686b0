// A real agent (embedded edge on a free loopback port), a real upstream HTTP server and the real
// local API server, for the API and inspector tests.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from '../../tunnel/src/agent/agent';
import { AgentApiBackend } from '../../tunnel/src/agent/api/agent-backend';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../tunnel/src/agent/api/server';
import { CaptureStore } from '../../tunnel/src/capture/store';

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

export interface Upstream {
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** Answers every request with JSON describing it. */
export async function startUpstream(name = 'upstream'): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body });
      const out = JSON.stringify({ upstream: name, method: req.method, url: req.url, bytes: body.length });
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Upstream': name });
      res.end(out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Rig {
  agent: Agent;
  capture: CaptureStore;
  backend: AgentApiBackend;
  api: ApiServer;
  apiPort: number;
  close(): Promise<void>;
}

export async function startRig(opts: { maxBodyBytes?: number; api?: Partial<ApiServerOptions> } = {}): Promise<Rig> {
  const capture = new CaptureStore({ maxTotalBytes: 20 * 1024 * 1024, maxBodyBytes: opts.maxBodyBytes });
  const agent = new Agent({ capture, embedded: { port: 0 } });
  await agent.start();
  const backend = new AgentApiBackend(agent, capture);
  const api = await startApiServer({ backend, webAddr: '127.0.0.1:0', eventFlushMs: 10, ...opts.api });
  return {
    agent,
    capture,
    backend,
    api,
    apiPort: Number(new URL(api.url).port),
    close: async () => {
      await api.close();
      await agent.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
}

/** A plain HTTP request with full control of Host and every header. */
export function request(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...opts.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString(),
            json: <T>() => JSON.parse(body.toString()) as T,
          });
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A request to a tunnel's public URL through the embedded edge (Host picks the tunnel). */
export function throughTunnel(
  rig: Rig,
  tunnelName: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  const t = rig.agent.tunnel(tunnelName);
  if (!t) throw new Error(`no tunnel ${tunnelName}`);
  const url = new URL(t.urls[0]);
  return request(rig.agent.embedded!.httpPort, method, path, { ...opts, headers: { ...opts.headers, host: url.host } });
}

/** Polls until `check` returns a value (bounded: 5 s). */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
