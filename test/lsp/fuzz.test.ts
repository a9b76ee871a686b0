// Random edits (fast-check) over the corpus, sent to the real server over stdio: after every burst
// the server must answer — diagnostics for the newest version, completion, hover, code actions,
// symbols, CodeLens data — each within 1 s, stay alive, and log no internal error.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { Position, TextEdit } from 'vscode-languageserver/node';
import { CORPUS, LspClient, positionAt } from './harness';

const HANG_MS = 1000;

function within<T>(what: string, p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} took longer than ${HANG_MS} ms`)), HANG_MS),
    ),
  ]);
}

// Text that stresses a YAML parser and our checks: indicators, quotes, tabs, anchors, flow, unicode.
const fragment = fc.oneof(
  fc.constantFrom(
    ':',
    ': ',
    '- ',
    '\n',
    '\n  ',
    '\t',
    '{',
    '}',
    '[',
    ']',
    ',',
    '"',
    "'",
    '#',
    '&a ',
    '*a',
    '!!str ',
    '%',
    '|',
    '>-',
    '---\n',
    '? ',
    '${X}',
    '\r\n',
    '🚀',
    'é',
  ),
  fc.constantFrom(
    'proto: tcp',
    'addr: 99999',
    'version: "3"',
    'tunnels:',
    'endpoints:\n  - name: x',
    'on_http_request:',
    '  - type: deny',
    'basic_auth: [a:b]',
    'url: tcp://',
    'agent:',
  ),
  fc.string({ maxLength: 12 }),
);

const files = readdirSync(CORPUS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const texts = files.map((f) => readFileSync(path.join(CORPUS, f), 'utf8'));

describe('fuzz: random edits never crash or hang the server', function () {
  this.timeout(120_000);
  let client: LspClient;
  let n = 0;

  before(async () => {
    client = await LspClient.start({ validationDelayMs: 0 });
    // Let the server compile its schemas first: the 1 s bound is about edits, not start-up.
    await client.open('file:///fuzz/warm/ngrok.yml', texts[0]);
    await client.close('file:///fuzz/warm/ngrok.yml');
  });
  after(async () => client?.stop());

  it('survives random edit bursts over corpus files', async () => {
    const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), del: fc.nat(30), text: fragment });
    await fc.assert(
      fc.asyncProperty(
        fc.nat(files.length - 1),
        fc.array(edit, { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (fileIndex, edits, cursorAt) => {
          const name = files[fileIndex];
          const uri = `file:///fuzz/${++n}/${name.startsWith('policy-') ? 'traffic-policy.yml' : 'ngrok.yml'}`;
          await within(
            'open',
            client.open(uri, texts[fileIndex], { languageId: name.startsWith('policy-') ? 'yaml' : 'ngrok-yaml' }),
          );
          let last = 0;
          for (const e of edits) {
            const text = client.text(uri);
            const start = Math.floor(e.at * text.length);
            const end = Math.min(text.length, start + e.del);
            const change: TextEdit = {
              range: { start: positionAt(text, start), end: positionAt(text, end) },
              newText: e.text,
            };
            last = await client.changeNoWait(uri, [change]);
          }
          const diags = await within('diagnostics', client.nextDiagnostics(uri, last, HANG_MS));
          const text = client.text(uri);
          const pos: Position = positionAt(text, Math.floor(cursorAt * text.length));
          await within('completion', client.completion(uri, pos));
          await within('hover', client.hover(uri, pos));
          await within('code actions', client.codeActions(uri, { start: pos, end: pos }, diags.diagnostics));
          await within('symbols', client.symbols(uri));
          await within('lenses', client.lenses(uri));
          await within('close', client.close(uri));
          assert.equal(client.child.exitCode, null, 'the server is still running');
          const internal = client.stderr.filter((l) => /failed:|Error:|TypeError|RangeError/.test(l));
          assert.deepEqual(internal, [], `internal errors after editing ${name}`);
          return true;
        },
      ),
      {
        numRuns: Number(process.env.BURROW_FUZZ_RUNS ?? 150),
        seed: Number(process.env.BURROW_FUZZ_SEED ?? 5),
        endOnFailure: true,
      },
    );
  });
});
