// What `burrow config check` and `burrow config add-authtoken` do; the CLI only parses flags.
import { checkConfig } from './load';
import { addAuthtoken } from './authtoken';
import { formatProblem, hasErrors } from './problems';

export interface Output {
  write(text: string): unknown;
}

/** Prints every problem as `file:line:col: message`; exit code 1 on any error, else 0 ("valid"). */
export function runConfigCheck(paths: readonly string[] | undefined, out: Output): number {
  const problems = checkConfig(paths);
  for (const p of problems) out.write(formatProblem(p) + '\n');
  if (hasErrors(problems)) return 1;
  out.write(problems.length ? 'valid (with warnings)\n' : 'valid\n');
  return 0;
}

/** Writes the token; exit code 0, or 1 with the reason on `err`. Never prints the token. */
export function runAddAuthtoken(token: string, path: string | undefined, out: Output, err: Output = out): number {
  if (!token.trim()) {
    err.write('authtoken is empty\n');
    return 1;
  }
  try {
    const result = addAuthtoken(token.trim(), path);
    out.write(`Authtoken saved to configuration file: ${result.path}\n`);
    return 0;
  } catch (e) {
    err.write(`${(e as Error).message}\n`);
    return 1;
  }
}
