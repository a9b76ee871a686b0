// The server's own problem shape (offsets, not positions), shared by the schema adapter and the
// semantic checks; converted to LSP diagnostics only in the wiring.

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** Data attached to a diagnostic so code actions can fix it without re-deriving the cause. */
export type FixData =
  | { fix: 'rename-key'; to: string; title?: string }
  | { fix: 'replace-deprecated'; key: string }
  | { fix: 'add-version'; version: '2' | '3' }
  | { fix: 'move-under-agent'; key: string }
  | { fix: 'migrate-v3' }
  | { fix: 'replace-value'; to: string };

export interface Problem {
  start: number;
  end: number;
  message: string;
  /** Stable code, e.g. `unknown-key`, `duplicate-name`, `deprecated`, or the validator's code. */
  code: string;
  severity: Severity;
  /** `schema` = from tunnel/src/config (the same code as `burrow config check`), `semantic` = this server, `syntax` = the YAML parser. */
  source: 'schema' | 'semantic' | 'syntax';
  data?: FixData;
  /** Marks extra-useful information that may be shown as "unnecessary" (greyed) or "deprecated" (struck through). */
  tags?: ('deprecated' | 'unnecessary')[];
}

/**
 * Merges problems from the validator and the semantic checks: exact duplicates go, and a semantic
 * problem that explains the same range better than a generic schema one replaces it (e.g. "in
 * version 3 `authtoken` belongs under `agent:`" instead of "unknown key `authtoken`").
 */
export function mergeProblems(schema: Problem[], semantic: Problem[]): Problem[] {
  const superseding = new Set(semantic.filter((p) => p.severity === 'error' || p.data).map((p) => `${p.start}:${p.end}`));
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const p of [...schema.filter((p) => p.source === 'syntax' || !superseding.has(`${p.start}:${p.end}`) || p.severity !== 'error' || p.code !== 'unknown-key'), ...semantic]) {
    const key = `${p.start}:${p.end}:${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}
