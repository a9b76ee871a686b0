// Structured logging for the CLI: `--log stdout|stderr|PATH|false`, `--log-format term|logfmt|json`,
// `--log-level`. Keys follow ngrok's (`t`, `lvl`, `msg`, `obj`, `name`, `addr`, `url`).
import fs from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'crit';
export type LogFormat = 'term' | 'logfmt' | 'json';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, crit: 4 };

/** Field names whose values are secrets: never written, whatever the caller passes. */
const SECRET_KEYS = /token|secret|password|authorization|cookie|api_?key/i;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** Whether a record at `level` is written (callers skip building per-request records otherwise). */
  logs(level: LogLevel): boolean;
  readonly toStdout: boolean;
  close(): void;
}

export function createLogger(
  target: string | false | undefined,
  format: LogFormat = 'logfmt',
  minLevel: LogLevel = 'info',
): Logger {
  if (!target || target === 'false') {
    return { log: () => undefined, logs: () => false, toStdout: false, close: () => undefined };
  }
  const out: NodeJS.WritableStream =
    target === 'stdout'
      ? process.stdout
      : target === 'stderr'
        ? process.stderr
        : fs.createWriteStream(target, { flags: 'a', mode: 0o600 });
  const color = format === 'term' && (out as NodeJS.WriteStream).isTTY === true;
  return {
    toStdout: target === 'stdout',
    logs: (level) => RANK[level] >= RANK[minLevel],
    log(level, msg, fields = {}) {
      if (RANK[level] < RANK[minLevel]) return;
      const record: Record<string, unknown> = { t: new Date().toISOString(), lvl: level, msg };
      for (const [k, v] of Object.entries(fields))
        if (v !== undefined) record[k] = SECRET_KEYS.test(k) ? '[redacted]' : v;
      out.write(`${format === 'json' ? JSON.stringify(record) : logfmt(record, color)}\n`);
    },
    close() {
      if (out !== process.stdout && out !== process.stderr) out.end();
    },
  };
}

function logfmt(record: Record<string, unknown>, color: boolean): string {
  return Object.entries(record)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      const value = /[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text;
      const pair = `${k}=${value}`;
      if (!color || k !== 'lvl') return pair;
      const c = v === 'error' || v === 'crit' ? 31 : v === 'warn' ? 33 : 36;
      return `\x1b[${c}m${pair}\x1b[0m`;
    })
    .join(' ');
}
