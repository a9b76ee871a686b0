// Reads config files from disk: default locations, repeatable --config with ngrok's merge,
// authtoken overrides from the environment and the CLI flag.
import { existsSync, readFileSync } from 'node:fs';
import type { EndpointSpec } from '../model';
import { ModuleConfigError } from '../modules/config-error';
import { type AgentSettings, endpointsFrom, mergeConfigs, settingsFrom, unify, type UnifiedConfig } from './normalize';
import { type ConfigProblem, hasErrors, sortProblems } from './problems';
import type { ConfigV2, ConfigV3 } from './types';
import { defaultConfigPath, legacyConfigPath, type LocationOptions } from './locations';
import { validateDocument } from './validate';

export interface LoadOptions extends LocationOptions {
  /** `--config` values in order; later files override earlier ones. Empty/absent = default file. */
  paths?: readonly string[];
  /** Environment for BURROW_AUTHTOKEN / NGROK_AUTHTOKEN (default process.env). */
  env?: Record<string, string | undefined>;
  /** `--authtoken` flag; beats the environment and the files. */
  authtoken?: string;
}

export interface LoadedConfig {
  settings: AgentSettings;
  /** Tunnels (v2 and v3 `tunnels:`) then v3 endpoints; empty when any file has errors. */
  endpoints: EndpointSpec[];
  problems: ConfigProblem[];
  /** The files that were read, in merge order. */
  files: string[];
}

const at1 = (file: string) => ({ file, line: 1, col: 1, endLine: 1, endCol: 1 });

/** The files to read: the given paths, or the default file (or the legacy one) if it exists. */
export function resolveConfigPaths(opts: LoadOptions = {}): { files: string[]; problems: ConfigProblem[] } {
  if (opts.paths && opts.paths.length > 0) {
    const missing = opts.paths.filter((p) => !existsSync(p));
    return {
      files: opts.paths.filter((p) => existsSync(p)),
      problems: missing.map((p) => ({
        ...at1(p),
        code: 'BURROW_CONFIG_FILE_NOT_FOUND' as const,
        severity: 'error' as const,
        message: 'config file not found',
      })),
    };
  }
  const current = defaultConfigPath(opts);
  if (existsSync(current)) return { files: [current], problems: [] };
  const legacy = legacyConfigPath(opts);
  return { files: existsSync(legacy) ? [legacy] : [], problems: [] };
}

function readAll(files: readonly string[]): { configs: UnifiedConfig[]; problems: ConfigProblem[] } {
  const configs: UnifiedConfig[] = [];
  const problems: ConfigProblem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({
        ...at1(file),
        code: 'BURROW_CONFIG_READ_ERROR',
        severity: 'error',
        message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
      continue;
    }
    const result = validateDocument(text, file, { kind: 'agent' });
    problems.push(...result.problems);
    if (result.data && (result.kind === 'v2' || result.kind === 'v3') && !hasErrors(result.problems)) {
      configs.push(unify(result.data as unknown as ConfigV2 | ConfigV3));
    }
  }
  return { configs, problems };
}

/** Loads, validates, merges and normalizes the config. Never throws for bad input. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const { files, problems } = resolveConfigPaths(opts);
  const read = readAll(files);
  problems.push(...read.problems);
  const merged = mergeConfigs(read.configs);
  const settings = settingsFrom(merged.agent);
  const env = opts.env ?? process.env;
  if (opts.authtoken) Object.assign(settings, { authtoken: opts.authtoken, authtokenSource: 'flag' });
  else if (env.BURROW_AUTHTOKEN)
    Object.assign(settings, { authtoken: env.BURROW_AUTHTOKEN, authtokenSource: 'BURROW_AUTHTOKEN' });
  else if (env.NGROK_AUTHTOKEN)
    Object.assign(settings, { authtoken: env.NGROK_AUTHTOKEN, authtokenSource: 'NGROK_AUTHTOKEN' });
  const endpoints = hasErrors(problems) ? [] : checkedEndpoints(merged, files, problems);
  return { settings, endpoints: hasErrors(problems) ? [] : endpoints, problems: sortProblems(problems), files };
}

/**
 * Normalizes the merged config. Each file's modules were checked by validateDocument; a file a key
 * names (mutual_tls_cas, traffic_policy_file) may still have gone since, reported here.
 */
function checkedEndpoints(merged: UnifiedConfig, files: readonly string[], problems: ConfigProblem[]): EndpointSpec[] {
  try {
    return endpointsFrom(merged);
  } catch (err) {
    if (!(err instanceof ModuleConfigError)) throw err;
    problems.push({
      ...at1(files[files.length - 1] ?? 'ngrok.yml'),
      code: 'BURROW_CONFIG_READ_ERROR',
      severity: 'error',
      message: `${err.message} [${err.code}]`,
    });
    return [];
  }
}

/** Every problem of the given files (or the default file), as `burrow config check` reports them. */
export function checkConfig(paths?: readonly string[], opts: LocationOptions = {}): ConfigProblem[] {
  const { files, problems } = resolveConfigPaths({ ...opts, paths });
  problems.push(...readAll(files).problems);
  return sortProblems(problems);
}
