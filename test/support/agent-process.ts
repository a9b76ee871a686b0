// The built `burrow` agent command (`burrow http|tcp|start …`) as a child process with its own HOME,
// logging to stdout: what a user runs, for tests that read its log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor, type Resources } from './tunnel';

const BIN = path.resolve(__dirname, '../../dist/burrow.js');

export interface AgentChild {
  child: ChildProcess;
  /** Everything it wrote so far (stdout and stderr). */
  log: () => string;
  /** The first tunnel's public URL, from its `started tunnel … url=` line. */
  url: URL;
}

/** Runs `burrow ARGS --log stdout` until its first tunnel started; stopped with `res`. */
export async function startAgentProcess(res: Resources, args: string[]): Promise<AgentChild> {
  const home = res.add(fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-agent-home-')), (dir) =>
    fs.rmSync(dir, { recursive: true, force: true }),
  );
  const child = spawn(process.execPath, [BIN, ...args, '--log', 'stdout'], {
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  res.add(child, (c) => c.kill());
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await waitFor(() => /started tunnel/.test(out) || child.exitCode !== null, 15_000, 'the tunnel to start');
  const url = /url=(\w+:\/\/\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`burrow ${args.join(' ')} started no tunnel:\n${out}`);
  return { child, log: () => out, url: new URL(url) };
}

/** The `traffic_policy.logs` of the first logfmt line with `event` in it, parsed. */
export async function policyLogsOfLine(agent: AgentChild, event: string): Promise<unknown> {
  await waitFor(() => agent.log().includes(event), 10_000, `the ${event} line`);
  const line = agent
    .log()
    .split('\n')
    .find((l) => l.includes(event))!;
  const logs = /traffic_policy\.logs=("(?:[^"\\]|\\.)*")/.exec(line)?.[1];
  if (!logs) throw new Error(`no traffic_policy.logs in: ${line}`);
  return JSON.parse(JSON.parse(logs));
}
