// `config add-authtoken`: writes the token into a config file, keeping comments and key order.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { defaultConfigPath } from './locations';

export interface AddAuthtokenResult {
  path: string;
  created: boolean;
}

/**
 * Sets the authtoken in `file` (default: the OS default location). A missing file is created as
 * `version: "3"` + `agent: {authtoken}`; a v2 file gets a top-level `authtoken`, a v3 file
 * `agent.authtoken`. Everything else in the file (comments, order, quoting) is kept.
 * Throws an Error with a clear message when the file is not a YAML mapping.
 */
export function addAuthtoken(token: string, file: string = defaultConfigPath()): AddAuthtokenResult {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `version: "3"\nagent:\n  authtoken: ${JSON.stringify(token)}\n`, { mode: 0o600 });
    return { path: file, created: true };
  }
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0)
    throw new Error(
      `${file}: not valid YAML (${doc.errors[0].message.split('\n')[0]}); fix it first with \`burrow config check\``,
    );
  if (doc.contents === null) doc.contents = doc.createNode({ version: '3' }) as never;
  if (!isMap(doc.contents)) throw new Error(`${file}: the document is not a mapping; cannot add an authtoken`);
  const version = String(doc.get('version') ?? '');
  if (version === '2') doc.set('authtoken', token);
  else {
    if (!doc.has('version')) doc.set('version', '3');
    doc.setIn(['agent', 'authtoken'], token);
  }
  writeFileSync(file, doc.toString());
  return { path: file, created: false };
}
