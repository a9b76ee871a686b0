// Reads config files from disk: default locations, repeatable --config with ngrok's merge,
// authtoken overrides from the environment and the CLI flag.
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { EndpointSpec } from '../model';
import { ModuleConfigError } from '../modules/config-error';
import { type AgentSettings, endpointsFrom, mergeConfigs, settingsFrom, unify, type UnifiedConfig } from './normalize';
import { type ConfigProblem, hasErrors, sortProblems } from './problems';
import type { ConfigV2, ConfigV3 } from './types';
import { defaultConfigPath, legacyConfigPath, type LocationOptions } from './locations';
import { validateDocument } from './validate';
import { rangeAtPath } from './yaml-nodes';

export interface LoadOptions extends LocationOptions {
  /** `--config` values in order; later files override earlier ones. Empty/absent = default file. */
  paths?: readonly string[];
  /** Environment for BURROW_AUTHTOKEN / NGROK_AUTHTOKEN (default process.env). */
  env?: Record<string, string | undefined>;
  /**
   * Checks one endpoint the way the edge will at bind time (module configs: basic-auth lengths,
   * OAuth settings, CIDRs…); throws a ModuleConfigError. The agent passes the module pipeline's
   * builder, so a bad module setting is reported at its tunnel's file:line:col before anything starts.
   */
  validateEndpoint?: (spec: EndpointSpec) => void;
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
  const endpoints = hasErrors(problems) ? [] : checkedEndpoints(merged, files, problems, opts.validateEndpoint);
  return { settings, endpoints: hasErrors(problems) ? [] : endpoints, problems: sortProblems(problems), files };
}

/** Normalizes the merged config and runs `validate` on each endpoint, adding positioned problems. */
function checkedEndpoints(
  merged: UnifiedConfig,
  files: readonly string[],
  problems: ConfigProblem[],
  validate?: (spec: EndpointSpec) => void,
): EndpointSpec[] {
  let endpoints: EndpointSpec[];
  try {
    endpoints = endpointsFrom(merged);
  } catch (err) {
    // A file a key names (mutual_tls_cas, traffic_policy_file) could not be read or parsed.
    if (!(err instanceof ModuleConfigError)) throw err;
    problems.push({
      ...at1(files[files.length - 1] ?? 'ngrok.yml'),
      code: 'BURROW_CONFIG_READ_ERROR',
      severity: 'error',
      message: `${err.code}: ${err.message}`,
    });
    return [];
  }
  for (const spec of validate ? endpoints : []) {
    try {
      validate!(spec);
    } catch (err) {
      if (!(err instanceof ModuleConfigError)) throw err;
      problems.push({
        ...endpointLocation(files, spec.name),
        code: 'BURROW_CONFIG_MODULE',
        severity: 'error',
        message: `tunnel "${spec.name}": ${err.message} [${err.code}]`,
      });
    }
  }
  return endpoints;
}

/** Where the endpoint named `name` is defined: the last file (merge order) that defines it. */
function endpointLocation(
  files: readonly string[],
  name: string,
): Omit<ConfigProblem, 'code' | 'severity' | 'message'> {
  for (const file of [...files].reverse()) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines });
    const endpoints = doc.get('endpoints');
    const index = isSeq(endpoints) ? endpoints.items.findIndex((e) => isMap(e) && e.get('name') === name) : -1;
    const path = index >= 0 ? ['endpoints', index] : doc.hasIn(['tunnels', name]) ? ['tunnels', name] : undefined;
    if (path) return { file, ...rangeAtPath(doc, lines, path, 'key') };
  }
  return at1(files[files.length - 1] ?? 'ngrok.yml');
}

/** Every problem of the given files (or the default file), as `burrow config check` reports them. */
export function checkConfig(
  paths?: readonly string[],
  opts: LocationOptions & Pick<LoadOptions, 'validateEndpoint'> = {},
): ConfigProblem[] {
  const { files, problems } = resolveConfigPaths({ ...opts, paths });
  const read = readAll(files);
  problems.push(...read.problems);
  if (!hasErrors(problems)) checkedEndpoints(mergeConfigs(read.configs), files, problems, opts.validateEndpoint);
  return sortProblems(problems);
}
