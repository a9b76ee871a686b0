// Piecewise validation (server/src/incremental.ts) must give exactly what whole-file validation
// gives: over every corpus file, a generated 300-tunnel file, and random edits of both.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { LanguageService } from '../../server/src/languageService';
import { splitConfig } from '../../server/src/incremental';
import { generateConfig } from '../bench/lsp/bench';
import { CORPUS } from './harness';

const piecewise = new LanguageService({ piecewiseMinChars: 0 });
const whole = new LanguageService({ piecewiseMinChars: Infinity });
let version = 0;

function compare(text: string, label: string): boolean {
  const uri = 'file:///inc/ngrok.yml';
  const v = ++version;
  const a = piecewise.diagnostics(TextDocument.create(uri, 'ngrok-yaml', v, text));
  const b = whole.diagnostics(TextDocument.create(uri, 'ngrok-yaml', v, text));
  const show = (d: typeof a) =>
    d
      .map(
        (x) =>
          `${x.range.start.line}:${x.range.start.character}-${x.range.end.line}:${x.range.end.character} ${x.code} ${String(x.message)}`,
      )
      .sort();
  assert.deepEqual(show(a), show(b), `${label}\n${text}`);
  const docA = TextDocument.create(uri, 'ngrok-yaml', v, text);
  const docB = TextDocument.create(uri, 'ngrok-yaml', v, text);
  assert.deepEqual(piecewise.analyze(docA).value, whole.analyze(docB).value, label);
  // CodeLens data and the outline are computed from the pieces too (no whole-file parse): same answer.
  assert.deepEqual(piecewise.endpointLenses(docA), whole.endpointLenses(docB), label);
  assert.deepEqual(piecewise.symbols(docA), whole.symbols(docB), label);
  // Hover on a few positions (every 97th character) is answered from the piece under the cursor.
  for (let o = 0; o < text.length; o += 97) {
    assert.deepEqual(
      piecewise.hover(docA, docA.positionAt(o)),
      whole.hover(docB, docB.positionAt(o)),
      `${label} hover at ${o}`,
    );
  }
  return true;
}

const configs = readdirSync(CORPUS)
  .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('policy-'))
  .map((f) => ({ file: f, text: readFileSync(path.join(CORPUS, f), 'utf8') }));

describe('piecewise validation equals whole-file validation', () => {
  it('splits the files it should (most corpus configs with tunnels, the generated one)', () => {
    const split = configs.filter((c) => splitConfig(c.text));
    assert.ok(split.length >= 50, `only ${split.length} corpus files split`);
    assert.equal(splitConfig(generateConfig(300))?.tunnels.length, 300);
    assert.equal(splitConfig(generateConfig(30, 'v3'))?.endpoints.length, 30);
    assert.ok(
      configs.some((c) => (splitConfig(c.text)?.endpoints.length ?? 0) > 1),
      'corpus v3 files with endpoints split too',
    );
  });

  it('on every corpus config, and generated v2 and v3 files', () => {
    for (const c of configs) compare(c.text, c.file);
    compare(generateConfig(40), 'generated v2');
    compare(generateConfig(40, 'v3'), 'generated v3');
  });

  it('on random line edits of corpus configs and the generated file', () => {
    const texts = [
      ...configs.filter((c) => splitConfig(c.text)).map((c) => c.text),
      generateConfig(12),
      generateConfig(12, 'v3'),
    ];
    // Edits that keep the file splittable often: retype a value, insert/delete a line or a char.
    const edit = fc.record({
      file: fc.nat(texts.length - 1),
      line: fc.nat(200),
      op: fc.constantFrom('delete-line', 'duplicate-line', 'insert-text', 'delete-char'),
      insert: fc.constantFrom(
        'x',
        ':',
        ' ',
        '  proto: tcp',
        '    addr: 70000',
        '    bogus: 1',
        '- a',
        '"',
        '#',
        '  web:',
        '    host_header: rewrite',
        '\t',
      ),
      col: fc.nat(40),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = texts[edits[0].file];
        for (const e of edits) {
          const lines = text.split('\n');
          const i = e.line % lines.length;
          if (e.op === 'delete-line') lines.splice(i, 1);
          else if (e.op === 'duplicate-line') lines.splice(i, 0, lines[i]);
          else if (e.op === 'insert-text') lines[i] = lines[i].slice(0, e.col) + e.insert + lines[i].slice(e.col);
          else lines[i] = lines[i].slice(0, e.col) + lines[i].slice(e.col + 1);
          text = lines.join('\n');
        }
        return compare(text, JSON.stringify(edits));
      }),
      { numRuns: Number(process.env.BURROW_FUZZ_RUNS ?? 300), seed: Number(process.env.BURROW_FUZZ_SEED ?? 20261123) },
    );
  });
});
