// Starting the bundled agent (dist/burrow.js) as a child process, or finding one already
// listening. The extension host runs it with its own Node (`process.execPath` with
// ELECTRON_RUN_AS_NODE=1), so nothing is downloaded and heavy traffic never runs in the host.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { managedAppEnv, type ManagedApps } from '../managedOAuthApps';
import { AgentApi } from './api';

export interface AgentLaunchOptions {
  /** Node (or Electron run as Node) to run the agent with. */
  nodePath: string;
  /** dist/burrow.js. */
  script: string;
  /** `host:port` for the local API; port 0 picks a free one. */
  webAddr: string;
  /** Standalone edge to connect to; none = the embedded loopback edge. */
  edgeUrl?: string;
  /** Passed in the environment (BURROW_AUTHTOKEN), never on the command line where `ps` shows it. */
  authtoken?: string;
  /** A private config file (inspect_db_size…) so the user's own ngrok.yml cannot stop the agent starting. */
  configFile?: string;
  /** Capture body cap (bytes), exported as BURROW_CAPTURE_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Managed OAuth apps for the embedded edge: in the environment (BURROW_OAUTH_APP_*), like the authtoken. */
  oauthApps?: ManagedApps;
  /** Log lines (JSON records) as they arrive, for the output channel. */
  onLog?: (line: string) => void;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Keep running after the window closes: the agent is detached, its log goes to this file instead
   * of a pipe (a pipe would break when the extension host exits), and readiness is read from it.
   */
  detachedLogFile?: string;
}

export class AgentStartError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

export interface RunningAgent {
  /** API origin, e.g. http://127.0.0.1:41234. */
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** The agent's command line (without the Node binary). Exported for tests and the output channel. */
export function agentArgs(opts: Pick<AgentLaunchOptions, 'script' | 'webAddr' | 'edgeUrl' | 'configFile'>): string[] {
  const args = [opts.script, 'start', '--none', '--web-addr', opts.webAddr, '--log', 'stdout', '--log-format', 'json'];
  if (opts.edgeUrl) args.push('--edge', opts.edgeUrl);
  if (opts.configFile) args.push('--config', opts.configFile);
  return args;
}

/** Writes the private agent config (version 3 `agent:` keys only) and returns its path. */
export function writeAgentConfig(dir: string, opts: { inspectDbSize?: number }): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'agent.yml');
  const lines = [
    '# Written by the Burrow extension from its settings; edit the settings, not this file.',
    'version: "3"',
    'agent:',
  ];
  lines.push(`  inspect_db_size: ${Number.isInteger(opts.inspectDbSize) ? opts.inspectDbSize : 0}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/**
 * Spawns the agent and resolves once its local API listens (the `starting web service` JSON
 * record carries the address). Rejects with the agent's own ERROR/HINT lines when it exits first.
 */
export function startAgent(opts: AgentLaunchOptions): Promise<RunningAgent> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' };
  delete env.BURROW_AUTHTOKEN;
  delete env.NGROK_AUTHTOKEN;
  if (opts.authtoken) env.BURROW_AUTHTOKEN = opts.authtoken;
  if (opts.maxBodyBytes !== undefined) env.BURROW_CAPTURE_MAX_BODY_BYTES = String(opts.maxBodyBytes);
  Object.assign(env, managedAppEnv(opts.oauthApps ?? {}));
  if (opts.detachedLogFile) return startDetached(opts, env);
  const child = spawn(opts.nodePath, agentArgs(opts), { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 16_384) stderr += s;
    for (const line of s.split('\n')) if (line.trim()) opts.onLog?.(line);
  });
  const stop = async (graceMs = 3000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (code: string, message: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void stop(500);
      reject(new AgentStartError(code, message, stderr));
    };
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const timer = setTimeout(
      () => fail('ERR_BURROW_AGENT_TIMEOUT', `the agent did not start its local API within ${timeoutMs / 1000} s`),
      timeoutMs,
    );
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      opts.onLog?.(line);
      if (done) return;
      const addr = webServiceAddr(line);
      if (addr) {
        done = true;
        clearTimeout(timer);
        resolve({ url: addr, child, exited, stop });
      }
    });
    child.once('error', (err) => fail('ERR_BURROW_AGENT_SPAWN', `could not run ${opts.nodePath}: ${err.message}`));
    void exited.then((code) => {
      const errors = stderr
        .split('\n')
        .filter((l) => /^(ERROR|HINT):/.test(l))
        .map((l) => l.replace(/^(ERROR|HINT):\s*/, ''))
        .join(' — ');
      fail('ERR_BURROW_AGENT_EXITED', `the agent exited (code ${code})${errors ? `: ${errors}` : ''}`);
    });
  });
}

/** The `starting web service` record's address in one log line, if it is that line. */
export function webServiceAddr(line: string): string | undefined {
  try {
    const rec = JSON.parse(line) as { msg?: string; addr?: string };
    if (rec.msg !== 'starting web service' || typeof rec.addr !== 'string') return undefined;
    // ngrok's field is host:port (wrappers add the scheme); older agents wrote a URL
    return /^https?:\/\//.test(rec.addr) ? rec.addr : `http://${rec.addr}`;
  } catch {
    return undefined;
  }
}

function startDetached(opts: AgentLaunchOptions, env: NodeJS.ProcessEnv): Promise<RunningAgent> {
  const file = opts.detachedLogFile!;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w', 0o600);
  const child = spawn(opts.nodePath, agentArgs(opts), {
    env,
    stdio: ['ignore', fd, fd],
    detached: true,
    windowsHide: true,
  });
  fs.closeSync(fd);
  child.unref();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  };
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let dead = false;
    void exited.then(() => (dead = true));
    const poll = (): void => {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      for (const line of text.split('\n')) {
        const addr = webServiceAddr(line);
        if (addr) return resolve({ url: addr, child, exited, stop });
      }
      const errors = text
        .split('\n')
        .filter((l) => /^(ERROR|HINT):/.test(l))
        .map((l) => l.replace(/^(ERROR|HINT):\s*/, ''))
        .join(' — ');
      if (dead)
        return reject(
          new AgentStartError('ERR_BURROW_AGENT_EXITED', `the agent exited${errors ? `: ${errors}` : ''}`, text),
        );
      if (Date.now() > deadline) {
        void stop();
        return reject(
          new AgentStartError(
            'ERR_BURROW_AGENT_TIMEOUT',
            `the agent did not start its local API within ${timeoutMs / 1000} s`,
            text,
          ),
        );
      }
      setTimeout(poll, 100);
    };
    poll();
  });
}

/** True when an agent answers `GET /api/status` at `webAddr` (host:port) within `timeoutMs`. */
export async function probeAgent(webAddr: string, timeoutMs = 1500): Promise<string | undefined> {
  const base = webAddr.includes('://') ? webAddr : `http://${webAddr}`;
  const api = new AgentApi(base);
  try {
    const status = await Promise.race([
      api.status(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return typeof status?.agent_version === 'string' ? api.base : undefined;
  } catch {
    return undefined;
  }
}
