// The one error type for a module config the edge refuses at bind time (or a config front door
// refuses earlier). `code` is ngrok's ERR_NGROK_* where ngrok has one, else ERR_BURROW_*. `path`
// locates the offending value inside the config the module was given (`['credentials', 2]`), so a
// front door (ngrok.yml, the language server) can point at it; `within` builds it up from the
// outside in.
export type ConfigPath = (string | number)[];

export class ModuleConfigError extends Error {
  constructor(
    readonly code: string,
    message: string,
    public path: ConfigPath = [],
    /** Reported by config checks as a warning; the edge binds anyway. */
    readonly warning = false,
  ) {
    super(message);
    this.name = 'ModuleConfigError';
  }
}

/** Throws a ModuleConfigError unless `ok`; `path` is relative to the innermost `within`. */
export function check(ok: unknown, code: string, message: string, path: ConfigPath = []): asserts ok {
  if (!ok) throw new ModuleConfigError(code, message, path);
}

/** Runs `fn`; a ModuleConfigError it throws gets `prefix` in front of its path. */
export function within<T>(prefix: ConfigPath, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ModuleConfigError) err.path = [...prefix, ...err.path];
    throw err;
  }
}

/** Go duration (`10s`, `1m30s`, `250ms`) → ms; NaN when it is not one. */
export function durationMs(text: string): number {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return Number.NaN;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]];
  return total;
}
