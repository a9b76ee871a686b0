// The server's own problem shape (offsets, not positions), shared by the schema adapter and the
// semantic checks; converted to LSP diagnostics only in the wiring.

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** Data attached to a diagnostic so code actions can fix it without re-deriving the cause. */
export type FixData =
  | { fix: 'rename-key'; to: string; title?: string }
  | { fix: 'replace-deprecated'; key: string }
  | { fix: 'add-version'; version: '2' | '3' }
  | { fix: 'move-under-agent'; key: string }
  | { fix: 'replace-value'; to: string };

export interface Problem {
  start: number;
  end: number;
  message: string;
  /** Stable code: the validator's `BURROW_CONFIG_*` or this server's `BURROW_LSP_*`. */
  code: string;
  severity: Severity;
  /** `schema` = from tunnel/src/config (the same code as `burrow config check`), `semantic` = this server, `syntax` = the YAML parser. */
  source: 'schema' | 'semantic' | 'syntax';
  data?: FixData;
  /** Marks extra-useful information that may be shown as "unnecessary" (greyed) or "deprecated" (struck through). */
  tags?: ('deprecated' | 'unnecessary')[];
}

/**
 * Merges the validator's problems with the semantic checks' (which use their own BURROW_LSP_* codes
 * and never repeat the validator's), dropping exact repeats, in document order.
 */
export function mergeProblems(schema: Problem[], semantic: Problem[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const p of [...schema, ...semantic]) {
    const key = `${p.start}:${p.end}:${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}
