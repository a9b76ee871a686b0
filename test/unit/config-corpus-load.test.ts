// Every corpus file the schema accepts also loads the way `burrow start` loads it: with the edge's
// own module checks (validateDocument runs the builder code buildPipeline uses), including ngrok's managed-OAuth form (no client id: the edge
// decides), pooling_enabled and forward-internal. The few left are refused on purpose, listed here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatProblem, loadConfig, validateDocument } from '../../tunnel/src/config';
import '../../tunnel/src/modules/oauth/register';

const CORPUS = path.resolve(__dirname, '../fixtures/ngrok-yml');

/** Refused at load with the code ngrok gives when it starts them (placeholders), or not in Burrow yet. */
const REFUSED_AT_LOAD: Record<string, string> = {
  '045': 'ERR_NGROK_7043', // allow_emails: ["<email>"], a placeholder: ngrok refuses it at start
  '106': 'ERR_NGROK_7043', // allow_emails: ["${ALLOWED_EMAIL}"], likewise
};

describe('config corpus: valid files load with the edge module checks', () => {
  const files = readdirSync(CORPUS).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('policy-'));
  for (const file of files.sort()) {
    const full = path.join(CORPUS, file);
    const schemaOk = !validateDocument(readFileSync(full, 'utf8'), file, { kind: 'agent' }).problems.some(
      (p) => p.severity === 'error',
    );
    if (!schemaOk) continue;
    it(file, () => {
      const config = loadConfig({ paths: [full] });
      const errors = config.problems.filter((p) => p.severity === 'error');
      const expected = REFUSED_AT_LOAD[file.slice(0, 3)];
      if (expected)
        assert.ok(
          errors.some((e) => e.message.includes(expected)),
          errors.map(formatProblem).join('\n'),
        );
      else assert.deepEqual(errors.map(formatProblem), []);
    });
  }
});
