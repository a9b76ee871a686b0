// A validation path no file can crash or stall: the shapes a fuzzing pass found (cyclic aliases,
// deep and unclosed nesting, huge scalars and keys, collections as keys) and fast-check mutations
// of the corpus with them. Each document is checked by the shared validator and the language
// service in bounded time, every problem lies inside the text, and the real server stays up and
// keeps answering other documents while hostile ones are open.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { validateDocument } from '../../tunnel/src/config';
import { LanguageService } from '../../server/src/languageService';
import { CORPUS, LspClient } from './harness';

/** Per document, on this 2-core machine shared with other work; typical times are 1–100 ms. */
const BOUND_MS = 1000;

const HOSTILE: Record<string, string> = {
  'cyclic alias': 'version: "2"\ntunnels: &t\n  t: *t\n',
  'cyclic alias in a list': 'version: "3"\nendpoints: &e\n  - *e\n',
  'deep unclosed flow': 'version: "2"\ntunnels: ' + '{a: ['.repeat(250) + '\n',
  '10,000 unclosed [': 'version: "2"\ntunnels: ' + '['.repeat(10_000) + '\n',
  '10,000 {': '{'.repeat(10_000),
  '5,000 nested - ': '- '.repeat(5_000) + 'x\n',
  'a 1 MB scalar':
    'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 8080\n    metadata: ' + 'x'.repeat(1_000_000) + '\n',
  'a 1 MB key':
    'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 8080\n    ' + 'k'.repeat(1_000_000) + ': 1\n',
  'collections as keys': 'version: "2"\n? [a, b]\n: c\n? {x: 1}\n: d\n',
  'nested collection keys': 'x: ' + '{ ? '.repeat(90) + '\n',
  'an alias of a collection as key': 'version: "2"\nx: &k [a]\n*k : v\n',
  'billion laughs':
    [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`),
    ].join('\n') + '\n',
};

const files = readdirSync(CORPUS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const texts = files.map((f) => readFileSync(path.join(CORPUS, f), 'utf8'));

function inside(text: string, p: { line: number; col: number; endLine: number; endCol: number }): boolean {
  const lines = text.split('\n');
  const ok = (line: number, col: number) =>
    line >= 1 && line <= lines.length && col >= 1 && col <= lines[line - 1].length + 2;
  return ok(p.line, p.col) && ok(p.endLine, p.endCol);
}

/** Validator + language service on one text; returns how long the slower took. */
function checkBoth(service: LanguageService, text: string, uri: string): number {
  const t0 = performance.now();
  const { problems } = validateDocument(text, 'ngrok.yml');
  const t1 = performance.now();
  for (const p of problems) assert.ok(inside(text, p), `problem outside the text: ${JSON.stringify(p).slice(0, 200)}`);
  const doc = TextDocument.create(uri, 'ngrok-yaml', 1, text);
  service.diagnostics(doc);
  service.symbols(doc);
  service.complete(doc, doc.positionAt(Math.floor(text.length / 2)));
  service.hover(doc, doc.positionAt(Math.floor(text.length / 3)));
  service.forget(uri);
  return Math.max(t1 - t0, performance.now() - t1);
}

describe('hostile documents: bounded, located, never a crash', function () {
  this.timeout(300_000);
  const service = new LanguageService();
  before(() => {
    service.warmUp();
    validateDocument(texts[0], 'warm.yml'); // compile the schemas outside the timed part
  });

  for (const [what, text] of Object.entries(HOSTILE)) {
    it(`${what}: a problem at its place within ${BOUND_MS} ms`, () => {
      const took = checkBoth(service, text, `file:///hostile/${encodeURIComponent(what)}/ngrok.yml`);
      assert.ok(took < BOUND_MS, `${what} took ${Math.round(took)} ms`);
      const { problems } = validateDocument(text, 'ngrok.yml');
      if (what !== 'billion laughs' && what !== 'a 1 MB scalar')
        assert.ok(
          problems.some((p) => p.severity === 'error'),
          `${what} is reported: ${JSON.stringify(problems)}`,
        );
      assert.ok(!problems.some((p) => /Maximum call stack/.test(p.message)), 'no stack overflow surfaces');
    });
  }

  it('fast-check: corpus files with hostile fragments spliced in stay bounded and located', () => {
    const fragment = fc.oneof(
      fc.constantFrom(...Object.values(HOSTILE).map((t) => t.slice(0, 20_000))),
      fc.constantFrom('&t ', '*t', '[', '{', '? ', '- ', ': ', '"', "'", '\n', '\t', '#'),
      fc
        .tuple(fc.constantFrom('[', '{', '- ', '? ', '{a: [', '&a [*a, ', 'x'), fc.integer({ min: 1, max: 3000 }))
        .map(([f, n]) => f.repeat(n)),
    );
    fc.assert(
      fc.property(
        fc.nat(files.length - 1),
        fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), text: fragment }), {
          minLength: 1,
          maxLength: 4,
        }),
        (i, edits) => {
          let text = texts[i];
          for (const e of edits) {
            const at = Math.floor(e.at * text.length);
            text = text.slice(0, at) + e.text + text.slice(at);
          }
          const took = checkBoth(service, text, `file:///fuzz/${i}/ngrok.yml`);
          assert.ok(took < BOUND_MS, `took ${Math.round(took)} ms on a mutation of ${files[i]}`);
        },
      ),
      { numRuns: Number(process.env.BURROW_FUZZ_RUNS ?? 200), seed: Number(process.env.BURROW_FUZZ_SEED ?? 10) },
    );
  });

  it('a slow document never delays the others: documents opened or edited with it are answered first', async () => {
    const client = await LspClient.start({ validationDelayMs: 0 });
    try {
      await client.open('file:///warm/ngrok.yml', texts[0]);
      const slow = 'file:///slow/ngrok.yml';
      const slowText =
        'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 8080\n    metadata: ' +
        'x'.repeat(1_000_000) +
        '\n';
      const normal = texts.slice(0, 6).map((t, i) => ({ uri: `file:///normal/${i}/ngrok.yml`, text: t }));
      const order: string[] = [];
      const seen = (uri: string) => (): void => void order.push(uri);

      // Opened together, the slow one first: it is guessed slow from its size.
      const opened = [client.open(slow, slowText).then(seen(slow))];
      for (const n of normal) opened.push(client.open(n.uri, n.text).then(seen(n.uri)));
      await Promise.all(opened);
      assert.equal(order.at(-1), slow, `diagnostics arrived in this order: ${order.join(', ')}`);

      // Edited together, the slow one first: now its measured cost puts it last.
      order.length = 0;
      const edit = [
        { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: '# edited\n' },
      ];
      const changed = [client.change(slow, edit).then(seen(slow))];
      for (const n of normal) changed.push(client.change(n.uri, edit).then(seen(n.uri)));
      await Promise.all(changed);
      assert.equal(order.at(-1), slow, `diagnostics arrived in this order: ${order.join(', ')}`);
      assert.equal(order.length, normal.length + 1);
    } finally {
      await client.stop();
    }
  });

  it('the real server survives every hostile document and keeps answering the others', async () => {
    const client = await LspClient.start({ validationDelayMs: 0 });
    try {
      await client.open('file:///warm/ngrok.yml', texts[0]);
      const opened = Object.entries(HOSTILE).map(([what, text], n) =>
        client.open(`file:///hostile/${n}/ngrok.yml`, text).then((d) => [what, d] as const),
      );
      const plain = 'version: "2"\ntunnels:\n  web:\n    proto: htp\n    addr: 8080\n';
      const t0 = performance.now();
      const diags = await client.open('file:///plain/ngrok.yml', plain);
      const plainMs = performance.now() - t0;
      for (const [what, d] of await Promise.all(opened)) assert.ok(Array.isArray(d), what);
      assert.equal(diags.length, 1, JSON.stringify(diags));
      // Opened behind every hostile document at once: they are each bounded, so it waits for
      // them at most, never for a stall.
      assert.ok(
        plainMs < Object.keys(HOSTILE).length * BOUND_MS,
        `the plain document waited ${Math.round(plainMs)} ms`,
      );
      assert.equal(client.child.exitCode, null, 'the server is still running');
      const internal = client.stderr.filter((l) => /failed:|RangeError|TypeError/.test(l));
      assert.deepEqual(internal, []);
    } finally {
      await client.stop();
    }
  });
});
