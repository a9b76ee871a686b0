// The foreground console, like ngrok's: session status, forwarding lines, connection counts.
// On a TTY it redraws in place once a second; otherwise it prints the status block when it changes.
import type { Agent, TunnelState } from '../agent/agent';
import type { AgentBackend } from '../agent/api/backend';
import { VERSION } from '../version';

export interface ConsoleInfo {
  edge: string;
  webUrl?: string;
}

const ARROW = '->';

type Rates = Map<string, { rt1: number; p50: number; p90: number }>;

/** Per-tunnel rows like ngrok's console: connections per second over 1 minute, latencies in seconds. */
export function consoleRates(backend: Pick<AgentBackend, 'tunnels'>): Rates {
  return new Map(
    backend.tunnels().map((t) => [
      t.name,
      {
        rt1: t.metrics.conns.rate1,
        p50: t.metrics.conns.p50 / 1e9,
        p90: t.metrics.conns.p90 / 1e9,
      },
    ]),
  );
}

/** The status block; `rates` undefined = a static block without the live rows (latency, counters). */
export function renderStatus(agent: Agent, info: ConsoleInfo, rates?: Rates): string {
  const tunnels = agent.tunnels();
  const status = tunnels.some((t) => t.status === 'reconnecting') || !agent.online ? 'reconnecting' : 'online';
  const row = (k: string, v: string) => `${k.padEnd(30)}${v}`;
  const lines = [
    'Burrow                                                        (Ctrl+C to quit)',
    '',
    row('Session Status', status),
    row('Version', VERSION),
    row('Edge', info.edge),
  ];
  if (rates) lines.push(row('Latency', agent.latencyMs === undefined ? '-' : `${agent.latencyMs.toFixed(1)}ms`));
  if (info.webUrl) lines.push(row('Web Interface', info.webUrl));
  for (const t of tunnels) {
    for (const url of t.urls)
      lines.push(
        row('Forwarding', `${url} ${ARROW} ${t.upstreamUrl}${t.status === 'online' ? '' : `  (${t.status})`}`),
      );
    if (t.error && t.status !== 'online') lines.push(row('', `${t.error.code}: ${t.error.message}`));
  }
  if (!rates) return lines.join('\n');
  lines.push('', row('Connections', ['ttl', 'opn', 'rt1', 'p50', 'p90'].map((h) => h.padEnd(8)).join('')));
  const total = sum(tunnels, (t) => t.conns.count);
  const open = sum(tunnels, (t) => t.conns.open);
  const agg = [...rates.values()];
  const rt1 = agg.reduce((a, r) => a + r.rt1, 0);
  const p50 = Math.max(0, ...agg.map((r) => r.p50));
  const p90 = Math.max(0, ...agg.map((r) => r.p90));
  lines.push(
    row(
      '',
      [String(total), String(open), rt1.toFixed(2), p50.toFixed(2), p90.toFixed(2)].map((c) => c.padEnd(8)).join(''),
    ),
  );
  return lines.join('\n');
}

function sum(tunnels: TunnelState[], f: (t: TunnelState) => number): number {
  return tunnels.reduce((a, t) => a + f(t), 0);
}

/** Starts the console; returns a function that stops it. */
export function startConsole(agent: Agent, info: ConsoleInfo, rates: () => Rates): () => void {
  const out = process.stdout;
  if (out.isTTY) {
    const draw = () => out.write(`\x1b[H\x1b[2J${renderStatus(agent, info, rates())}\n`);
    out.write('\x1b[?1049h'); // alternate screen, restored on exit like ngrok's UI
    draw();
    const timer = setInterval(draw, 1000);
    return () => {
      clearInterval(timer);
      out.write('\x1b[?1049l');
    };
  }
  // Not a TTY (CI, pipes): print the block once, then again only when the forwarding lines change.
  let last = '';
  const print = () => {
    const text = renderStatus(agent, info);
    if (text !== last) out.write(`${text}\n\n`);
    last = text;
  };
  print();
  const onChange = () => print();
  agent.on('tunnel', onChange);
  agent.on('online', onChange);
  agent.on('offline', onChange);
  return () => {
    agent.off('tunnel', onChange);
    agent.off('online', onChange);
    agent.off('offline', onChange);
  };
}
