// v2 → v3 migration over the real-world corpus: every valid v2 file migrates to a v3 file that
// validates (tunnel/src/config, same as `burrow config check`) and normalizes to the very same
// EndpointSpec list as the original.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { endpointsFrom, unify, validateDocument, type ConfigProblem } from '../../tunnel/src/config';
import type { ConfigV2, ConfigV3 } from '../../tunnel/src/config/types';
import { migrateToV3 } from '../../server/src/migrate';
import { parseText } from '../../server/src/yamlText';
import { CORPUS } from './harness';

const errorsOf = (problems: ConfigProblem[]) => problems.filter((p) => p.severity === 'error' && p.code !== 'BURROW_CONFIG_UNSUPPORTED');

describe('v2 → v3 migration over the corpus', () => {
  const candidates = readdirSync(CORPUS)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('policy-'))
    .map((f) => ({ file: f, text: readFileSync(path.join(CORPUS, f), 'utf8') }))
    .map((c) => ({ ...c, before: validateDocument(c.text, c.file, { kind: 'agent' }) }))
    // Valid v2 files: ngrok accepts them (module refusals aside) and they declare version 2.
    .filter((c) => c.before.kind === 'v2' && errorsOf(c.before.problems).length === 0 && c.before.data?.version !== undefined);

  it('covers a real share of the corpus', () => {
    assert.ok(candidates.length >= 40, `only ${candidates.length} valid v2 files`);
  });

  for (const c of candidates) {
    it(c.file, () => {
      const result = migrateToV3(parseText(c.text));
      assert.ok(result.text !== undefined, result.reason);
      const after = validateDocument(result.text, c.file, { kind: 'agent' });
      assert.equal(after.kind, 'v3');
      assert.deepEqual(errorsOf(after.problems).map((p) => `${p.line}:${p.col} ${p.message}`), [], result.text);
      // Refusals stay refusals (a module moved into a policy is still refused, never dropped).
      assert.equal(after.problems.some((p) => p.code === 'BURROW_CONFIG_UNSUPPORTED'), c.before.problems.some((p) => p.code === 'BURROW_CONFIG_UNSUPPORTED'));
      const specsBefore = endpointsFrom(unify(c.before.data as unknown as ConfigV2));
      const specsAfter = endpointsFrom(unify(after.data as unknown as ConfigV3));
      const byName = (s: { name: string }[]) => [...s].sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(byName(specsAfter), byName(specsBefore), result.text);
      // Comments survive.
      const comments = (t: string) => t.split('\n').filter((l) => /^\s*#/.test(l)).length;
      assert.ok(comments(result.text) >= comments(c.text), 'no comment line is lost');
    });
  }
});
