// Every real-world file in test/fixtures/ngrok-yml: the ones ngrok accepts load without errors,
// the ones it refuses (judged in test/fixtures/README.md) get an error at the expected line.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { validateDocument } from '../../tunnel/src/config';
import { MODULE_REFUSED } from '../support/corpus-judgement';

const CORPUS = path.resolve(__dirname, '../fixtures/ngrok-yml');

/** Files ngrok refuses: file prefix → [line of an expected error, its code]. Reasons in test/fixtures/README.md. */
const INVALID: Record<string, [number, string]> = {
  '002': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '003': [31, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '011': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '020': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '026': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '028': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '029': [4, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '038': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '040': [1, 'BURROW_CONFIG_BAD_VERSION'],
  '043': [2, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '046': [1, 'BURROW_CONFIG_YAML_SYNTAX'],
  '047': [2, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '049': [2, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '050': [7, 'BURROW_CONFIG_BAD_VERSION'],
  '059': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '060': [2, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '061': [2, 'BURROW_CONFIG_NOT_A_MAPPING'],
  '062': [13, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '065': [1, 'BURROW_CONFIG_NOT_A_MAPPING'],
  '071': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '076': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '079': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '081': [6, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '083': [1, 'BURROW_CONFIG_BAD_VERSION'],
  '091': [6, 'BURROW_CONFIG_TUNNEL_TYPE'],
  '092': [2, 'BURROW_CONFIG_WRONG_TYPE'],
  '093': [3, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '095': [3, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '100': [2, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '105': [14, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '107': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '109': [2, 'BURROW_CONFIG_TAB_INDENT'],
  '110': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '111': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '112': [7, 'BURROW_CONFIG_TUNNEL_TYPE'],
  '114': [11, 'BURROW_CONFIG_TUNNEL_TYPE'],
  '118': [1, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '120': [8, 'BURROW_CONFIG_BAD_VALUE'],
  '123': [7, 'BURROW_CONFIG_BAD_VALUE'],
  '127': [6, 'BURROW_CONFIG_TUNNEL_TYPE'],
  '132': [2, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '133': [13, 'BURROW_CONFIG_UNKNOWN_KEY'],
  '134': [4, 'BURROW_CONFIG_NOT_A_MAPPING'],
  '135': [1, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '139': [1, 'BURROW_CONFIG_YAML_SYNTAX'],
  '140': [1, 'BURROW_CONFIG_WRONG_TYPE'],
  '143': [4, 'BURROW_CONFIG_VERSION_REQUIRED'],
  '145': [35, 'BURROW_CONFIG_YAML_SYNTAX'],
  '150': [1, 'BURROW_CONFIG_WRONG_TYPE'],
  'policy-025': [1, 'BURROW_CONFIG_UNKNOWN_KEY'],
  'policy-033': [3, 'BURROW_CONFIG_UNKNOWN_KEY'],
  'policy-130': [3, 'BURROW_CONFIG_UNKNOWN_KEY'],
  'policy-137': [3, 'BURROW_CONFIG_UNKNOWN_ACTION'],
  // CEL variables ngrok does not have (`req.Headers`, `env.AUTH_TOKEN`): ngrok refuses the policy (ERR_NGROK_2200).
  '103': [34, 'BURROW_CONFIG_MODULE'],
  'policy-008': [4, 'BURROW_CONFIG_MODULE'],
};

/** Valid files that use a module Burrow does not implement yet: refused, never ignored. */
const REFUSED: Record<string, string[]> = {};

const prefixOf = (file: string) => (file.startsWith('policy-') ? file.slice(0, 10) : file.slice(0, 3));

describe('config corpus (test/fixtures/ngrok-yml)', () => {
  const files = readdirSync(CORPUS)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();

  it('has the corpus and every table entry names a real file', () => {
    assert.ok(files.length >= 150, `expected the 150-file corpus, found ${files.length}`);
    const prefixes = new Set(files.map(prefixOf));
    for (const p of [...Object.keys(INVALID), ...Object.keys(REFUSED), ...Object.keys(MODULE_REFUSED)])
      assert.ok(prefixes.has(p), `no corpus file ${p}`);
  });

  for (const file of files) {
    const prefix = prefixOf(file);
    it(file, () => {
      const kind = file.startsWith('policy-') ? 'traffic-policy' : 'agent';
      const { problems } = validateDocument(readFileSync(path.join(CORPUS, file), 'utf8'), file, { kind });
      const errors = problems.filter((p) => p.severity === 'error');
      const expected = INVALID[prefix];
      if (expected) {
        const [line, code] = expected;
        assert.ok(
          errors.some((e) => e.line === line && e.code === code),
          `expected ${code} at line ${line}, got:\n${errors.map((e) => `${e.line}:${e.col} ${e.code} ${e.message}`).join('\n')}`,
        );
        return;
      }
      const refusedModule = MODULE_REFUSED[prefix];
      if (refusedModule) {
        const [line, ngrokCode] = refusedModule;
        const hit = errors.filter(
          (e) => e.code === 'BURROW_CONFIG_MODULE' && e.line === line && e.message.includes(`[${ngrokCode}]`),
        );
        assert.ok(
          hit.length,
          `expected ${ngrokCode} at line ${line}, got:\n${errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n')}`,
        );
        assert.deepEqual(
          errors.filter((e) => e.code !== 'BURROW_CONFIG_MODULE'),
          [],
          'nothing else is refused',
        );
        return;
      }
      const real = errors.filter((e) => e.code !== 'BURROW_CONFIG_UNSUPPORTED');
      assert.deepEqual(
        real.map((e) => `${e.line}:${e.col} ${e.message}`),
        [],
        'a file ngrok accepts must have no errors',
      );
      const refused = [...new Set(errors.map((e) => /^`([^`]+)`/.exec(e.message)?.[1]))].sort();
      assert.deepEqual(refused, (REFUSED[prefix] ?? []).slice().sort(), 'modules refused as not supported yet');
    });
  }
});
