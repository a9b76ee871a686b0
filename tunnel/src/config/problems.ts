// Every problem the config loader can report, with its stable code. This table is the one place
// where the codes are documented; `burrow config check`, the agent and the language server all
// print these codes.

export const PROBLEM_CODES = {
  BURROW_CONFIG_YAML_SYNTAX: 'The file is not valid YAML (message from the YAML parser).',
  BURROW_CONFIG_TAB_INDENT: 'A tab is used for indentation; YAML needs spaces.',
  BURROW_CONFIG_DUPLICATE_KEY: 'The same key appears twice in one mapping.',
  BURROW_CONFIG_NOT_A_MAPPING: 'The document (or a tunnel/endpoint) is not a key: value mapping.',
  BURROW_CONFIG_VERSION_REQUIRED: 'The file has no `version` key (required since ngrok agent 3.0).',
  BURROW_CONFIG_BAD_VERSION: '`version` is neither "2" nor "3".',
  BURROW_CONFIG_UNKNOWN_KEY: 'A key that this place does not accept (the real agent rejects unknown keys too).',
  BURROW_CONFIG_MISSING_KEY: 'A required key is missing.',
  BURROW_CONFIG_WRONG_TYPE: 'A value has the wrong type (e.g. a list where a string is expected).',
  BURROW_CONFIG_BAD_VALUE: 'A value is of the right type but not allowed (enum, pattern, range, length).',
  BURROW_CONFIG_TUNNEL_TYPE: 'A tunnel has no valid `proto` (http, tcp, tls) and no `labels`.',
  BURROW_CONFIG_UNKNOWN_ACTION: 'A Traffic Policy action `type` that is not in the action catalog.',
  BURROW_CONFIG_CONFLICT:
    'Two keys that exclude each other (e.g. `domain` with `subdomain`, `policy` with `traffic_policy`).',
  BURROW_CONFIG_DUPLICATE_NAME: 'Two endpoints share a name.',
  BURROW_CONFIG_MODULE:
    'A module setting the edge would refuse (e.g. a basic-auth password too short); the message ends with the ERR_NGROK_* code.',
  BURROW_CONFIG_UNSUPPORTED:
    'A valid ngrok key whose Burrow module is not implemented yet; refused rather than ignored.',
  BURROW_CONFIG_DEPRECATED: 'Warning: a deprecated key; it still works, the message names the replacement.',
  BURROW_CONFIG_EMPTY_VALUE:
    'Warning: a key with an empty (null) value; it is treated as not set, as the ngrok agent does.',
  BURROW_CONFIG_IGNORED: 'Warning: a valid ngrok agent setting that Burrow accepts but does not act on.',
  BURROW_CONFIG_UNREACHABLE:
    'Warning: a Traffic Policy rule no request reaches (an earlier rule always ends the request; ERR_NGROK_2207).',
  BURROW_CONFIG_FILE_NOT_FOUND: 'A file given with --config does not exist.',
  BURROW_CONFIG_READ_ERROR: 'A config file exists but cannot be read or written.',
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;
export type Severity = 'error' | 'warning';

/**
 * What would fix a problem, as data (an editor's quick fix applies it; nothing parses messages):
 * rename the underlined key, replace the underlined value, add `version`, move a top-level key
 * under `agent:`, or replace a deprecated key by its successor.
 */
export type ProblemFix =
  | { kind: 'rename-key'; to: string }
  | { kind: 'replace-value'; to: string }
  | { kind: 'add-version'; version: '2' | '3' }
  | { kind: 'move-under-agent'; key: string }
  | { kind: 'replace-deprecated'; key: string };

/** One diagnostic. Lines and columns are 1-based; end is exclusive. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  message: string;
  code: ProblemCode;
  severity: Severity;
  fix?: ProblemFix;
  /** The ngrok agent's own wording where an ngrok-compatible API repeats it (`field x not found in type HTTPv2Tunnel`). */
  ngrokMessage?: string;
}

/** `file:line:col: message` — the form `burrow config check` prints; warnings say so. */
export function formatProblem(p: ConfigProblem): string {
  const prefix = p.severity === 'warning' ? 'warning: ' : '';
  return `${p.file}:${p.line}:${p.col}: ${prefix}${p.message} [${p.code}]`;
}

export function hasErrors(problems: readonly ConfigProblem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/**
 * Files in the order their first problem was found (missing files, then each file as read, in the
 * order given), never by where they live on disk; then position, errors before warnings.
 */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const fileOrder = new Map<string, number>();
  for (const p of problems) if (!fileOrder.has(p.file)) fileOrder.set(p.file, fileOrder.size);
  return problems.sort(
    (a, b) =>
      fileOrder.get(a.file)! - fileOrder.get(b.file)! ||
      a.line - b.line ||
      a.col - b.col ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  );
}
