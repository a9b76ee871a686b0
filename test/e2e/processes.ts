// Process bookkeeping for the end-to-end run: code-server starts an extension host, which starts
// the Burrow agent and the language server. Every one of them must go at the end, even when a
// scenario failed, so we read the process table (/proc) instead of trusting each parent to pass
// the signal on: the agent may outlive a killed extension host and be re-parented to init.
import fs from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
}

function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(rest[1]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Every live descendant of `root` (children, grandchildren, …), root excluded. */
export function descendants(root: number): number[] {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const found: number[] = [];
  const queue = [root];
  while (queue.length && found.length < 10_000) {
    for (const c of children.get(queue.shift()!) ?? []) {
      found.push(c);
      queue.push(c);
    }
  }
  return found;
}

/** Processes whose command line mentions `marker` (our scratch folder): stragglers that were re-parented. */
export function processesMentioning(marker: string): number[] {
  return readProcs()
    .map((p) => p.pid)
    .filter((pid) => pid !== process.pid && cmdline(pid).includes(marker));
}

/** Descendants of `root` whose command line matches `pattern` (e.g. the agent's `burrow.js start`). */
export function findDescendant(root: number, pattern: RegExp): { pid: number; cmdline: string }[] {
  return descendants(root)
    .map((pid) => ({ pid, cmdline: cmdline(pid) }))
    .filter((p) => pattern.test(p.cmdline));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM `root`, its descendants and anything mentioning `marker`; SIGKILL whatever is left after `graceMs`. */
export async function killAll(root: number | undefined, marker: string, graceMs = 3000): Promise<number[]> {
  const targets = new Set<number>(processesMentioning(marker));
  if (root !== undefined) {
    targets.add(root);
    for (const pid of descendants(root)) targets.add(pid);
  }
  targets.delete(process.pid);
  for (const pid of targets) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && [...targets].some(alive)) await new Promise((r) => setTimeout(r, 100));
  const left = [...targets].filter(alive);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  // Children that were forked while we were signalling.
  const late = processesMentioning(marker).filter(alive);
  for (const pid of late) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return [...targets];
}

/** Local TCP ports `pid` listens on (from /proc/PID/fd socket inodes and /proc/net/tcp{,6}). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // fd closed meanwhile.
      }
    }
  } catch {
    return [];
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st … inode(9); st 0A = LISTEN
      if (cols.length > 9 && cols[3] === '0A' && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports];
}
