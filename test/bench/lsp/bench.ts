// `npm run bench:lsp`: Burrow's language server vs yaml-language-server (npm) given our schema, on
// the same generated 300-tunnel ngrok.yml, side by side in one run.
//
// Both language services run in this process on identical TextDocuments, so the numbers compare the
// work per keystroke (parse + validate) and per completion, without IPC or yaml-language-server's
// fixed 200 ms validation debounce. A second part measures Burrow end to end over stdio
// (`node dist/server.js --stdio`, debounce 0): keystroke → publishDiagnostics, and completion
// round trips, as an editor sees them.
//
// Options: --keystrokes N (default 200), --completions N (default 200), --tunnels N (default 300).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Position } from 'vscode-languageserver/node';
import { LanguageService } from '../../../server/src/languageService';
import { LspClient, REPO } from '../../lsp/harness';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const KEYSTROKES = arg('keystrokes', 200);
const COMPLETIONS = arg('completions', 200);
const TUNNELS = arg('tunnels', 300);

/**
 * A realistic config: v2 = agent settings, comments, http and tcp tunnels with a few options each;
 * v3 = the same as `agent:` + `endpoints:` (the file the v2 one migrates to, roughly).
 */
export function generateConfig(tunnels: number, format: 'v2' | 'v3' = 'v2'): string {
  if (format === 'v3') {
    const lines = [
      '# generated for the language-server benchmark',
      'version: "3"',
      'agent:',
      '  authtoken: REDACTED_AUTHTOKEN',
      '  log_level: info',
      'endpoints:',
    ];
    for (let i = 0; i < tunnels; i++) {
      if (i % 10 === 0) lines.push(`  # group ${i / 10}`);
      if (i % 3 === 2)
        lines.push(
          `  - name: db-${i}`,
          `    url: tcp://1.tcp.example.com:${20000 + i}`,
          '    upstream:',
          `      url: ${10000 + i}`,
        );
      else
        lines.push(
          `  - name: web-${i}`,
          `    url: https://app-${i}.example.com`,
          `    description: app ${i}`,
          '    upstream:',
          `      url: ${3000 + i}`,
          '      protocol: http1',
        );
    }
    return lines.join('\n') + '\n';
  }
  const lines = [
    '# generated for the language-server benchmark',
    'version: "2"',
    'authtoken: REDACTED_AUTHTOKEN',
    'log_level: info',
    'web_addr: 127.0.0.1:4040',
    'tunnels:',
  ];
  for (let i = 0; i < tunnels; i++) {
    if (i % 10 === 0) lines.push(`  # group ${i / 10}`);
    if (i % 3 === 2) {
      lines.push(
        `  db-${i}:`,
        '    proto: tcp',
        `    addr: ${10000 + i}`,
        `    remote_addr: 1.tcp.example.com:${20000 + i}`,
        '    inspect: false',
      );
    } else {
      lines.push(
        `  web-${i}:`,
        '    proto: http',
        `    addr: ${3000 + i}`,
        `    domain: app-${i}.example.com`,
        '    schemes: [https]',
        '    host_header: rewrite',
        '    request_header:',
        '      add: ["x-tunnel: ' + i + '"]',
      );
    }
  }
  return lines.join('\n') + '\n';
}

interface Stats {
  p50: number;
  p95: number;
  mean: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const fmt = (n: number) => n.toFixed(2).padStart(8);

/** The line/character of the `addr:` value of tunnel `i`, and of a fresh key line inside it. */
function positions(text: string, i: number): { addr: Position; newKey: Position } {
  const lines = text.split('\n');
  // v2 `  web-7:` … `    addr: 3007`; v3 `  - name: web-7` … `      url: 3007`.
  const header = lines.findIndex(
    (l) => l === `  web-${i}:` || l === `  db-${i}:` || l === `  - name: web-${i}` || l === `  - name: db-${i}`,
  );
  const addrLine = lines.findIndex((l, n) => n > header && (l.startsWith('    addr: ') || l.startsWith('      url: ')));
  return { addr: { line: addrLine, character: lines[addrLine].length }, newKey: { line: header + 1, character: 4 } };
}

/** One keystroke: types (or deletes) a digit at the end of tunnel i's addr, keeping the file valid. */
function keystroke(text: string, k: number, tunnels: number): { text: string; pos: Position } {
  const i = (k * 7) % tunnels;
  const { addr } = positions(text, i);
  const lines = text.split('\n');
  lines[addr.line] = k % 2 === 0 ? lines[addr.line].slice(0, -1) : `${lines[addr.line]}${k % 10}`;
  return { text: lines.join('\n'), pos: addr };
}

/** Text with a new, half-typed key line (`    ho`) in tunnel i, and the cursor after it. */
function completionCase(base: string, k: number, tunnels: number): { text: string; pos: Position } {
  const i = (k * 13) % tunnels;
  const { newKey } = positions(base, i);
  const lines = base.split('\n');
  const partial = ['', 'h', 'ho', 'in', 'me'][k % 5];
  lines.splice(newKey.line, 0, `    ${partial}`);
  return { text: lines.join('\n'), pos: { line: newKey.line, character: 4 + partial.length } };
}

async function yamlLanguageService(format: 'v2' | 'v3'): Promise<{
  validate: (doc: TextDocument) => Promise<number>;
  complete: (doc: TextDocument, pos: Position) => Promise<number>;
}> {
  // yaml-language-server is ESM-only.
  const mod = (await import('yaml-language-server')) as unknown as {
    getLanguageService: (p: unknown) => {
      configure: (s: unknown) => void;
      doValidation: (d: TextDocument, k: boolean) => Promise<unknown[]>;
      doComplete: (d: TextDocument, p: Position, k: boolean) => Promise<{ items: unknown[] }>;
    };
  };
  // Our schemas reference each other by their https://burrow.localhost/schemas/… $id: serve them from schemas/.
  const schemaRequestService = async (uri: string) =>
    readFileSync(path.join(REPO, 'schemas', uri.split('/').pop()!.split('#')[0]), 'utf8');
  const ls = mod.getLanguageService({
    schemaRequestService,
    workspaceContext: { resolveRelativePath: (p: string) => p },
  });
  ls.configure({
    validate: true,
    completion: true,
    hover: true,
    schemas: [
      { uri: `https://burrow.localhost/schemas/ngrok-${format}.schema.json`, fileMatch: ['*.yml'], priority: 3 },
    ],
  });
  return {
    validate: async (doc) => (await ls.doValidation(doc, false)).length,
    complete: async (doc, pos) => (await ls.doComplete(doc, pos, false)).items.length,
  };
}

/** One format: in-process revalidation and completion, Burrow vs yaml-language-server. */
async function inProcess(format: 'v2' | 'v3'): Promise<void> {
  const base = generateConfig(TUNNELS, format);
  const uri = `file:///bench/${format}/ngrok.yml`;
  console.log(
    `\n${format}: ${TUNNELS} ${format === 'v2' ? 'tunnels' : 'endpoints'} (${base.split('\n').length} lines, ${(base.length / 1024).toFixed(0)} KiB), ${KEYSTROKES} keystrokes, ${COMPLETIONS} completions`,
  );
  const burrow = new LanguageService();
  const yls = await yamlLanguageService(format);

  // Warm up both (schema compilation, JIT) and check both see a clean file.
  const burrowErrors = burrow
    .diagnostics(TextDocument.create(uri, 'ngrok-yaml', 0, base))
    .filter((d) => d.severity === 1).length;
  const ylsCount = await yls.validate(TextDocument.create(uri, 'yaml', 0, base));
  for (let i = 0; i < 20; i++) {
    burrow.diagnostics(TextDocument.create(uri, 'ngrok-yaml', 1000 + i, keystroke(base, i, TUNNELS).text));
    await yls.validate(TextDocument.create(uri, 'yaml', 1000 + i, keystroke(base, i, TUNNELS).text));
  }
  console.log(
    `sanity: burrow reports ${burrowErrors} errors, yaml-language-server ${ylsCount} diagnostics (deprecation warnings included)`,
  );

  const texts = Array.from({ length: KEYSTROKES }, (_, k) => keystroke(base, k, TUNNELS).text);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let k = 0; k < KEYSTROKES; k++) {
    // Interleaved so both see the same machine state.
    let t = performance.now();
    burrow.diagnostics(TextDocument.create(uri, 'ngrok-yaml', k + 1, texts[k]));
    ours.push(performance.now() - t);
    t = performance.now();
    await yls.validate(TextDocument.create(uri, 'yaml', k + 1, texts[k]));
    theirs.push(performance.now() - t);
  }

  const cases = Array.from({ length: COMPLETIONS }, (_, k) => completionCase(base, k, TUNNELS));
  const oursC: number[] = [];
  const theirsC: number[] = [];
  let oursItems = 0;
  let theirsItems = 0;
  for (let k = 0; k < COMPLETIONS; k++) {
    const { text, pos } = cases[k];
    // A fresh version each time: completion right after a keystroke (includes the re-parse).
    let t = performance.now();
    oursItems += burrow.complete(TextDocument.create(uri, 'ngrok-yaml', 10000 + k, text), pos).length;
    oursC.push(performance.now() - t);
    t = performance.now();
    theirsItems += await yls.complete(TextDocument.create(uri, 'yaml', 10000 + k, text), pos);
    theirsC.push(performance.now() - t);
  }

  const rows: [string, Stats, Stats][] = [
    ['revalidate after a keystroke (ms)', stats(ours), stats(theirs)],
    ['completion after a keystroke (ms)', stats(oursC), stats(theirsC)],
  ];
  console.log('in-process, same documents                 burrow p50 / p95      yaml-ls p50 / p95     ratio (p95)');
  for (const [name, a, b] of rows) {
    console.log(
      `${name.padEnd(40)} ${fmt(a.p50)} / ${fmt(a.p95)}   ${fmt(b.p50)} / ${fmt(b.p95)}   ${(b.p95 / a.p95).toFixed(1).padStart(6)}× faster`,
    );
  }
  console.log(
    `(completion items per request: burrow ${(oursItems / COMPLETIONS).toFixed(1)}, yaml-language-server ${(theirsItems / COMPLETIONS).toFixed(1)})`,
  );
}

async function main(): Promise<void> {
  console.log(
    `language-server benchmark: Burrow vs yaml-language-server with our schemas (node ${process.version}, ${process.platform}/${process.arch}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})`,
  );
  await inProcess('v2');
  await inProcess('v3');

  // End to end over stdio, Burrow only (yaml-language-server's 200 ms debounce is not configurable).
  const base = generateConfig(TUNNELS);
  const uri = 'file:///bench/stdio/ngrok.yml';
  const client = await LspClient.start({ validationDelayMs: 0 });
  try {
    await client.open(uri, base);
    const e2e: number[] = [];
    for (let k = 0; k < Math.min(KEYSTROKES, 100); k++) {
      const prev = client.text(uri);
      const next = keystroke(prev, k, TUNNELS);
      const line = prev.split('\n')[next.pos.line];
      const t = performance.now();
      await client.change(uri, [
        {
          range: { start: { line: next.pos.line, character: 0 }, end: { line: next.pos.line, character: line.length } },
          newText: next.text.split('\n')[next.pos.line],
        },
      ]);
      e2e.push(performance.now() - t);
    }
    const e2eC: number[] = [];
    for (let k = 0; k < Math.min(COMPLETIONS, 100); k++) {
      const pos = positions(client.text(uri), (k * 13) % TUNNELS).newKey;
      const t = performance.now();
      await client.completion(uri, { line: pos.line, character: pos.character });
      e2eC.push(performance.now() - t);
    }
    const a = stats(e2e);
    const c = stats(e2eC);
    console.log(
      `\nburrow over stdio (dist/server.js, debounce 0, v2): keystroke → diagnostics p50 ${a.p50.toFixed(2)} ms, p95 ${a.p95.toFixed(2)} ms; completion round trip p50 ${c.p50.toFixed(2)} ms, p95 ${c.p95.toFixed(2)} ms`,
    );
  } finally {
    await client.stop();
  }
}

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
