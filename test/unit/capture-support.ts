// Real sockets for the capture tests: an HTTP server that records what it receives into a
// CaptureStore exactly as the agent does on its data path, and a raw-socket client that sends
// exact bytes.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { CaptureStore, CapturedExchange } from '../../tunnel/src/capture/store';

export interface ReplyPlan {
  status: number;
  /** Flat [name, value, …] list, sent in this order. */
  headers: string[];
  chunks: Buffer[];
}

export interface CapturingServer {
  port: number;
  /** Every request the server saw, in order: rawHeaders, method, url and full body. */
  seen: { method: string; url: string; httpVersion: string; rawHeaders: string[]; body: Buffer }[];
  close(): Promise<void>;
  /** Resolves with the capture once the given number of exchanges finished. */
  waitFor(count: number): Promise<CapturedExchange[]>;
}

export async function startCapturingServer(
  store: CaptureStore | undefined,
  reply: (req: http.IncomingMessage) => ReplyPlan,
  tunnelName = 'test',
): Promise<CapturingServer> {
  const seen: CapturingServer['seen'] = [];
  const finished: CapturedExchange[] = [];
  const waiters: { count: number; resolve: (v: CapturedExchange[]) => void }[] = [];
  const server = http.createServer((req, res) => {
    const rec = store?.begin({
      tunnelName,
      remoteAddr: req.socket.remoteAddress ?? '',
      method: req.method ?? 'GET',
      uri: req.url ?? '/',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
    });
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      body.push(chunk);
      rec?.requestData(chunk);
    });
    req.on('end', () => {
      rec?.requestEnd();
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(body),
      });
      const plan = reply(req);
      res.writeHead(plan.status, plan.headers);
      rec?.response(plan.status, http.STATUS_CODES[plan.status] ?? '', '1.1', plan.headers);
      for (const chunk of plan.chunks) {
        res.write(chunk);
        rec?.responseData(chunk);
      }
      res.end(() => {
        rec?.finish();
        if (rec && store) {
          const ex = store.get(rec.id);
          if (ex) finished.push(ex);
        }
        for (const w of [...waiters])
          if (finished.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(finished.slice(0, w.count));
          }
      });
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
    waitFor: (count) =>
      new Promise((resolve, reject) => {
        if (finished.length >= count) return resolve(finished.slice(0, count));
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} exchanges`)), 5000);
        waiters.push({
          count,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      }),
  };
}

/** Sends exact request bytes and returns the whole response once the server closes or answers. */
export function sendRaw(port: number, bytes: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, 5000);
    socket.on('data', (d) => parts.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    socket.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}
