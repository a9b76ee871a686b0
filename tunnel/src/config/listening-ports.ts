// Which TCP ports are listening on this machine, and which process owns each: the extension's
// "Expose Port…" quick pick and the language server's completion of `addr`/`upstream.url` values.
// Linux: /proc/net/tcp and /proc/net/tcp6 (no child process), and the owning process from the
// socket inodes in /proc/PID/fd (only our own user's processes are readable; others stay nameless);
// macOS/BSD: `lsof`; Windows: `netstat`.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

export interface ListeningPort {
  port: number;
  /** Local address it listens on: 127.0.0.1, 0.0.0.0, ::, ::1, … */
  address: string;
  /** Process name when the source tells it (lsof, /proc). */
  process?: string;
  pid?: number;
  /** The process's command line, when known (/proc): `node server.js`. */
  command?: string;
  /** Socket inode (/proc/net/tcp), to find the owning process. */
  inode?: number;
}

const TCP_LISTEN = '0A';

/** Decodes a /proc/net/tcp{,6} address: hex, each 32-bit word in host (little-endian) order. */
function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // IPv4-mapped (::ffff:a.b.c.d) reads better as the IPv4 address.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return bytes.slice(12).join('.');
  return compressIpv6(groups);
}

function compressIpv6(groups: string[]): string {
  let best = { at: -1, len: 0 };
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  if (best.len < 2) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** Parses /proc/net/tcp or /proc/net/tcp6 (header line first), keeping LISTEN sockets. */
export function parseProcNetTcp(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== TCP_LISTEN) continue;
    const [addr, port] = f[1].split(':');
    if (!addr || !port) continue;
    const inode = Number(f[9]);
    out.push({ port: parseInt(port, 16), address: procAddress(addr), ...(inode > 0 ? { inode } : {}) });
  }
  return out;
}

/** Parses `lsof -nP -iTCP -sTCP:LISTEN -F pcn` (field output: p<pid>, c<command>, n<addr:port>). */
export function parseLsof(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  let pid: number | undefined;
  let command: string | undefined;
  for (const line of text.split('\n')) {
    const tag = line[0];
    const value = line.slice(1).trim();
    if (tag === 'p') {
      pid = Number(value);
      command = undefined;
    } else if (tag === 'c') command = value;
    else if (tag === 'n') {
      const m = /^(.*):(\d+)$/.exec(value);
      if (m)
        out.push({
          port: Number(m[2]),
          address: m[1].replace(/^\[|\]$/g, '').replace(/^\*$/, '0.0.0.0'),
          process: command,
          pid,
        });
    }
  }
  return out;
}

/**
 * Parses `netstat -an` output: Windows (`TCP 0.0.0.0:135 0.0.0.0:0 LISTENING 1234` with -ano) and
 * BSD/macOS (`tcp4 0 0 127.0.0.1.3000 *.* LISTEN`).
 */
export function parseNetstat(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!/^tcp/i.test(f[0] ?? '') || !f.some((x) => /^LISTEN(ING)?$/i.test(x))) continue;
    const local = /^tcp\d*$/i.test(f[0]) && f.length >= 6 && /^\d+$/.test(f[1]) ? f[3] : f[1];
    const m = /^(.*)[.:](\d+)$/.exec(local ?? '');
    if (!m) continue;
    const pid = /^\d+$/.test(f.at(-1) ?? '') && /LISTENING/i.test(f.at(-2) ?? '') ? Number(f.at(-1)) : undefined;
    out.push({
      port: Number(m[2]),
      address: m[1].replace(/^\[|\]$/g, '').replace(/^\*$/, '0.0.0.0'),
      ...(pid ? { pid } : {}),
    });
  }
  return out;
}

/** One entry per port (an app often listens on both 0.0.0.0 and ::), sorted by port. */
export function uniquePorts(list: ListeningPort[]): ListeningPort[] {
  const byPort = new Map<number, ListeningPort>();
  for (const p of list) {
    if (!(p.port > 0 && p.port <= 65535)) continue;
    const seen = byPort.get(p.port);
    if (!seen || (!seen.process && p.process)) byPort.set(p.port, { ...seen, ...p });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, windowsHide: true }, (err, stdout) =>
      resolve(err && !stdout ? '' : stdout),
    );
  });
}

/**
 * Names the owners of `ports` from /proc: each /proc/PID/fd link `socket:[INODE]` whose inode is a
 * listening socket, then /proc/PID/comm and cmdline. Newest processes first (a dev server is
 * usually younger than the desktop around it), a few at a time; bounded by `budgetMs` (a machine
 * with many processes keeps the names found so far).
 */
export async function procOwners(ports: ListeningPort[], proc = '/proc', budgetMs = 2000): Promise<void> {
  const byInode = new Map<number, ListeningPort[]>();
  for (const p of ports) if (p.inode) byInode.set(p.inode, [...(byInode.get(p.inode) ?? []), p]);
  if (byInode.size === 0) return;
  const deadline = Date.now() + budgetMs;
  const pids = (await fs.readdir(proc).catch(() => [] as string[]))
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a));
  const scan = async (pid: string): Promise<void> => {
    const fds = await fs.readdir(`${proc}/${pid}/fd`).catch(() => [] as string[]);
    const links = await Promise.all(fds.map((fd) => fs.readlink(`${proc}/${pid}/fd/${fd}`).catch(() => '')));
    const owned: ListeningPort[] = [];
    for (const link of links) {
      const m = /^socket:\[(\d+)\]$/.exec(link);
      const hit = m && byInode.get(Number(m[1]));
      if (!hit) continue;
      owned.push(...hit);
      byInode.delete(Number(m[1]));
    }
    if (!owned.length) return;
    const comm = (await fs.readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => '')).trim();
    const argv = (await fs.readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    for (const p of owned) {
      p.pid = Number(pid);
      p.process = comm || (argv[0] ? argv[0].split('/').pop() : undefined);
      if (argv.length) p.command = commandLabel(argv);
    }
  };
  for (let i = 0; i < pids.length && byInode.size > 0 && Date.now() < deadline; i += 8)
    await Promise.all(pids.slice(i, i + 8).map(scan));
}

/** `/usr/bin/node /home/me/app/server.js --port 3000` → `node server.js --port 3000` (shortened). */
export function commandLabel(argv: string[]): string {
  const base = (s: string): string => (/^\//.test(s) ? (s.split('/').pop() ?? s) : s);
  const text = [base(argv[0]), ...argv.slice(1).map(base)].join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

const DEV_PROCESSES =
  /^(node|nodejs|deno|bun|python\d*(\.\d+)?|ruby|php|java|dotnet|go|cargo|rails|uvicorn|gunicorn|flask|hugo|jekyll|vite|next-server|esbuild|webpack)$/i;
const DEV_PORTS = (port: number): boolean =>
  (port >= 3000 && port < 4000) || (port >= 5000 && port < 6000) || (port >= 8000 && port < 9000) || port === 4200;

/** Another Burrow (agent or edge) owns it: not something to expose. */
export function isBurrowProcess(p: ListeningPort): boolean {
  return /(^|[\s/])(burrow\.js|burrow)\s+(start|http|tcp|tls|edge)\b/.test(p.command ?? '');
}

/**
 * The order of the quick pick: likely dev servers first (a dev runtime, or a dev-server port),
 * then other app ports, then ephemeral ones (32768+, usually tools' own sockets); by port within.
 */
export function rankPorts(ports: ListeningPort[]): ListeningPort[] {
  const rank = (p: ListeningPort): number =>
    p.port >= 32768
      ? 3
      : DEV_PROCESSES.test(p.process ?? '') || (!p.process && DEV_PORTS(p.port))
        ? 0
        : DEV_PORTS(p.port)
          ? 1
          : 2;
  return [...ports].sort((a, b) => rank(a) - rank(b) || a.port - b.port);
}

/** Listening TCP ports on this machine; an empty list when no source is available. */
export async function listListeningPorts(
  platform: NodeJS.Platform = process.platform,
  timeoutMs = 3000,
): Promise<ListeningPort[]> {
  if (platform === 'linux') {
    const texts = await Promise.all(
      ['/proc/net/tcp', '/proc/net/tcp6'].map((f) => fs.readFile(f, 'utf8').catch(() => '')),
    );
    const all = texts.flatMap(parseProcNetTcp);
    await procOwners(all);
    return uniquePorts(all);
  }
  if (platform === 'win32') return uniquePorts(parseNetstat(await run('netstat', ['-ano', '-p', 'TCP'], timeoutMs)));
  const lsof = await run('lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'pcn'], timeoutMs);
  if (lsof) return uniquePorts(parseLsof(lsof));
  return uniquePorts(parseNetstat(await run('netstat', ['-an', '-p', 'tcp'], timeoutMs)));
}
