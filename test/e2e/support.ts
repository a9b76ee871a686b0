// Plain-Node helpers for the end-to-end scenarios: the user's test app as a child process, and an
// HTTP client that reaches a `*.localhost` tunnel URL the way a browser would (connect to loopback,
// send the URL's Host), with no DNS involved.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';

export interface AppHit {
  method: string;
  url: string;
  host?: string;
}

/** `node app.js` in the workspace: resolves once it listens; records every request it serves. */
export class TestApp {
  readonly hits: AppHit[] = [];
  port = 0;
  private constructor(readonly child: ChildProcess) {}

  static async start(script: string, timeoutMs = 10_000): Promise<TestApp> {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const app = new TestApp(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the test app did not listen')), timeoutMs);
      child.once('exit', (code) => reject(new Error(`the test app exited (${code})`)));
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        const rec = JSON.parse(line) as AppHit & { listening?: number };
        if (rec.listening) {
          app.port = rec.listening;
          clearTimeout(timer);
          resolve();
        } else app.hits.push(rec);
      });
    });
    return app;
  }

  hitsFor(pathPrefix: string): AppHit[] {
    return this.hits.filter((h) => h.url.startsWith(pathPrefix));
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * GET `path` on a tunnel URL like http://name.localhost:8480: connects to 127.0.0.1 on the URL's
 * port with the URL's Host header (what browsers do for *.localhost).
 */
export function tunnelGet(
  publicUrl: string,
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<Answer> {
  const u = new URL(publicUrl);
  if (u.protocol !== 'http:') throw new Error(`only http tunnel URLs are fetched here, not ${publicUrl}`);
  if (!/(^|\.)localhost$|^127\.0\.0\.1$/.test(u.hostname)) throw new Error(`not a loopback tunnel URL: ${publicUrl}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(u.port || 80),
        path,
        method: 'GET',
        headers: { host: u.host, ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 1_000_000) body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${publicUrl}${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Retries `fn` until it returns a truthy value or `timeoutMs` passes; the last error explains a failure. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  stepMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
