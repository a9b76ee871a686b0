// The built `burrow edge` as a child process, and one-call clients for its admin API and its
// TLS listener, shared by the edge, account-resource, ACME and ngrok-SDK tests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { waitFor } from './tunnel';

export const BIN = path.resolve(__dirname, '../../dist/burrow.js');
export const API_KEY = 'test-api-key-0123456789';
export const TOKEN = 'file-token-abcdef';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface EdgeChild {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

export interface EdgeProc extends EdgeChild {
  http: number;
  tls: number;
  admin: number;
}

/** An edge on these three loopback ports (plus `extra` flags). */
export async function startEdge(
  ports: { http: number; tls: number; admin: number },
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<EdgeProc> {
  const args = ['--listen', `127.0.0.1:${ports.http}`, '--tls-listen', `127.0.0.1:${ports.tls}`];
  return { ...(await spawnEdge([...args, '--admin-addr', `127.0.0.1:${ports.admin}`, ...extra], env)), ...ports };
}

/** `burrow edge ARGS` (JSON logs, the test API key and token unless `env` says otherwise), once it listens. */
export async function spawnEdge(args: string[], env: Record<string, string> = {}): Promise<EdgeChild> {
  const child = spawn(process.execPath, [BIN, 'edge', ...args, '--log-format', 'json'], {
    env: { ...process.env, BURROW_API_KEY: API_KEY, BURROW_EDGE_TOKENS: TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await waitFor(() => /edge listening/.test(out) || gone, 15_000, 'the edge to listen');
  if (gone) throw new Error(`burrow edge exited:\n${out}`);
  return { child, log: () => out, exited };
}

export async function stopEdge(e: EdgeChild | undefined): Promise<void> {
  if (!e || e.child.exitCode !== null) return;
  e.child.kill('SIGTERM');
  await Promise.race([e.exited, new Promise((r) => setTimeout(r, 5000))]);
  if (e.child.exitCode === null) e.child.kill('SIGKILL');
}

/** One admin API call (Node's HTTP client); `headers` replaces the defaults when given. */
export function api(
  port: number,
  method: string,
  p: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        headers: headers ?? {
          authorization: `Bearer ${API_KEY}`,
          'ngrok-version': '2',
          ...(text ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let data = '';
        res.on('data', (c) => {
          data += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: data ? JSON.parse(data) : {} }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** The certificate the TLS listener presents for `servername` (not verified), and whether `ca` verifies it. */
export function peerCertificate(
  port: number,
  servername: string,
  ca?: string,
): Promise<{ cert: tls.PeerCertificate; authorized: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      resolve({ cert, authorized: socket.authorized, error: socket.authorizationError?.toString() });
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/** Runs openssl in `dir` (tests make their own CAs and keys with the real tool). */
export function openssl(dir: string, args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function read(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8');
}
