// The server's own problem shape (offsets, not positions), from the validator shared with the CLI
// (tunnel/src/config); converted to LSP diagnostics only in the wiring.

export type Severity = 'error' | 'warning' | 'information' | 'hint';

import type { ProblemFix } from '../../tunnel/src/config';

/** Data attached to a diagnostic so code actions can fix it: the validator's structured fix, as is. */
export type FixData = ProblemFix;

export interface Problem {
  start: number;
  end: number;
  message: string;
  /** Stable code: the validator's `BURROW_CONFIG_*` or this server's `BURROW_LSP_*`. */
  code: string;
  severity: Severity;
  /** `schema` = from tunnel/src/config (the same code as `burrow config check`), `semantic` = this server's own notes (BURROW_LSP_NOT_NGROK), `syntax` = the YAML parser. */
  source: 'schema' | 'semantic' | 'syntax';
  data?: FixData;
  /** Marks extra-useful information that may be shown as "unnecessary" (greyed) or "deprecated" (struck through). */
  tags?: ('deprecated' | 'unnecessary')[];
}
