// The built `burrow` (dist/burrow.js) as a child process with its output kept, and an edge + agent
// pair started from it as a user runs them (`burrow edge`, `burrow http --edge`); shared by the
// tests that watch a process's memory or GCs from outside (idle-memory, gc-storm).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'dist/burrow.js');

export class BurrowChild {
  /** Everything the child printed, stdout and stderr. */
  out = '';
  readonly exited: Promise<void>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  /** The first match of `re` in the output from offset `from` on. */
  async waitFor(re: RegExp, from = 0, ms = 20_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`timed out waiting for ${re}: ${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** `node NODE_ARGS dist/burrow.js ARGS`, with no authtoken or V8 flags inherited from the test's environment. */
export function spawnBurrow(
  args: string[],
  env: Record<string, string | undefined> = {},
  nodeArgs: string[] = [],
): BurrowChild {
  return new BurrowChild(
    spawn(process.execPath, [...nodeArgs, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, BURROW_AUTHTOKEN: '', NGROK_AUTHTOKEN: '', BURROW_V8_FLAGS: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/**
 * A standalone edge on a free loopback port serving `*.DOMAIN` and an agent forwarding
 * `app.DOMAIN` to `upstreamPort`, both online. Each child is pushed to `children` as it starts
 * (the caller kills them).
 */
export async function startEdgeAndAgent(options: {
  domain: string;
  upstreamPort: number;
  children: BurrowChild[];
  env?: Record<string, string | undefined>;
  edgeNodeArgs?: string[];
  agentNodeArgs?: string[];
}): Promise<{ edge: BurrowChild; agent: BurrowChild; port: number }> {
  const { domain, env = {} } = options;
  const token = randomBytes(16).toString('hex');
  const edge = spawnBurrow(
    ['edge', '--listen', '127.0.0.1:0', '--domain', domain, '--log', 'stdout', '--log-format', 'json'],
    { ...env, BURROW_EDGE_TOKENS: token },
    options.edgeNodeArgs,
  );
  options.children.push(edge);
  const port = Number((await edge.waitFor(/"edge listening".*?"http":(\d+)/))[1]);
  const agent = spawnBurrow(
    [
      ...['http', String(options.upstreamPort), '--edge', `ws://127.0.0.1:${port}`],
      ...['--domain', `app.${domain}`, '--web-addr', 'false'],
    ],
    { ...env, BURROW_AUTHTOKEN: token },
    options.agentNodeArgs,
  );
  options.children.push(agent);
  await agent.waitFor(new RegExp(`Forwarding\\s+http://app\\.${domain.replace(/\./g, '\\.')}`));
  return { edge, agent, port };
}
