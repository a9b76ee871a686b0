// Acceptance tests over real JSON-RPC: the built bundle runs as a child process and the test is
// its language client (see harness.ts).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { IPCMessageReader, IPCMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import { LspClient, REPO, SERVER_BUNDLE, posOf, underlined } from './harness';

describe('language server over stdio (dist/server.js)', function () {
  let client: LspClient;

  before(async function () {
    assert.ok(
      existsSync(SERVER_BUNDLE),
      'dist/server.js is missing: run `node scripts/build.mjs` first (npm test does)',
    );
    client = await LspClient.start();
  });
  after(async () => client?.stop());

  it('initializes with the capabilities the extension relies on', () => {
    const caps = client.initializeResult!.capabilities;
    assert.equal(caps.textDocumentSync, 2, 'incremental sync');
    assert.ok(caps.completionProvider && caps.hoverProvider && caps.codeActionProvider && caps.documentSymbolProvider);
    assert.equal(client.initializeResult!.serverInfo?.name, 'burrow-language-server');
  });

  it('open → change → close: publishes diagnostics per version and clears them on close', async () => {
    const uri = 'file:///work/a/ngrok.yml';
    const good = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 8080\n';
    assert.deepEqual(await client.open(uri, good), []);
    assert.deepEqual(client.kinds.get(uri), { uri, kind: 'ngrok-config', configVersion: '2' });

    // Break the YAML: an unclosed flow sequence on line 5.
    const broken = await client.change(uri, [
      { range: { start: { line: 4, character: 10 }, end: { line: 4, character: 14 } }, newText: '[8080' },
    ]);
    assert.ok(broken.length >= 1, 'a syntax error is reported');
    assert.equal(broken[0].severity, 1);
    assert.equal(broken[0].code, 'BURROW_CONFIG_YAML_SYNTAX');
    assert.ok(
      broken[0].range.start.line >= 4,
      `syntax error at the flow sequence, got line ${broken[0].range.start.line}`,
    );

    const fixed = await client.change(uri, [
      { range: { start: { line: 4, character: 10 }, end: { line: 4, character: 15 } }, newText: '8080' },
    ]);
    assert.deepEqual(fixed, []);
    assert.equal(client.text(uri), good);
    assert.deepEqual(await client.close(uri), []);
  });

  it('reports semantic problems at the exact key or value', async () => {
    const uri = 'file:///work/b/ngrok.yml';
    const text = [
      'version: "2"',
      'tunnels:',
      '  web:',
      '    proto: http',
      '    addr: 70000',
      '    basic_auth: ["alice:short"]',
      '  ssh:',
      '    proto: tcp',
      '    addr: 22',
      '',
    ].join('\n');
    const diags = await client.open(uri, text);
    const addr = diags.find((d) => String(d.message).includes('out of range'));
    assert.ok(addr, JSON.stringify(diags));
    assert.equal(underlined(text, addr.range), '70000');
    const pass = diags.find((d) => String(d.message).includes('8 to 128'));
    assert.ok(pass, JSON.stringify(diags));
    assert.equal(underlined(text, pass.range), '"alice:short"');
    await client.close(uri);
  });

  it('leaves files alone that are named like an ngrok config but are not one', async () => {
    const uri = 'file:///work/c/ngrok.yml';
    const compose = 'version: "3.8"\nservices:\n  ngrok:\n    image: ngrok/ngrok\n';
    const diags = await client.open(uri, compose);
    assert.deepEqual(
      diags.map((d) => [d.severity, d.code, d.range.start.line]),
      [[3, 'BURROW_LSP_NOT_NGROK', 0]],
    );
    assert.match(String(diags[0].message), /docker-compose/);
    assert.equal(client.kinds.get(uri)?.kind, 'none');
    await client.close(uri);
  });

  it('recognises traffic-policy YAML and edge JSON by shape', async () => {
    const policy = 'file:///work/d/policy.yml';
    await client.open(policy, 'on_http_request:\n  - actions:\n      - type: deny\n', { languageId: 'yaml' });
    assert.equal(client.kinds.get(policy)?.kind, 'traffic-policy');
    const edge = 'file:///work/d/edge.json';
    await client.open(edge, '{"hostports": ["shop.example.com:443"], "description": "shop"}', { languageId: 'json' });
    assert.equal(client.kinds.get(edge)?.kind, 'edge-json');
    const other = 'file:///work/d/other.yml';
    assert.deepEqual(
      await client.open(other, 'name: x\nfoo: [1, 2\n', { languageId: 'yaml' }),
      [],
      'plain YAML gets nothing',
    );
    assert.equal(client.kinds.get(other)?.kind, 'none');
    for (const u of [policy, edge, other]) await client.close(u);
  });

  it('serves document symbols and the CodeLens data request', async () => {
    const uri = 'file:///work/e/ngrok.yml';
    const text =
      'version: "3"\nagent:\n  authtoken: x\nendpoints:\n  - name: api\n    url: https://api.example.com\n    upstream:\n      url: 8080\n  - name: db\n    url: tcp://\n    upstream:\n      url: localhost:5432\n';
    await client.open(uri, text);
    const symbols = await client.symbols(uri);
    const endpoints = symbols.find((s) => s.name === 'endpoints');
    assert.deepEqual(
      endpoints?.children?.map((c) => c.name),
      ['api', 'db'],
    );
    const lenses = await client.lenses(uri);
    assert.equal(lenses.kind, 'ngrok-config');
    assert.equal(lenses.configVersion, '3');
    assert.deepEqual(
      lenses.lenses.map((l) => [l.name, l.source, l.proto, l.valid, l.range.start.line]),
      [
        ['api', 'endpoint', 'http', true, posOf(text, '- name: api').line],
        ['db', 'endpoint', 'tcp', true, posOf(text, '- name: db').line],
      ],
    );
    await client.close(uri);
  });

  it('drops stale versions: a burst of changes ends with diagnostics for the last version', async () => {
    const uri = 'file:///work/f/ngrok.yml';
    await client.open(uri, 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 1\n');
    let last = 0;
    for (let i = 2; i <= 9; i++) {
      last = await client.changeNoWait(uri, [
        {
          range: { start: { line: 4, character: 10 }, end: { line: 4, character: 11 + (i > 2 ? 1 : 0) } },
          newText: String(i * 10),
        },
      ]);
    }
    const final = await client.nextDiagnostics(uri, last);
    assert.equal(final.version, last);
    assert.deepEqual(final.diagnostics, []);
    await client.close(uri);
  });

  it('applies settings pulled with workspace/configuration: associations, deprecationWarnings', async () => {
    const uri = 'file:///work/g/deploy/tunnels.yaml';
    const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    adr: 80\n';
    assert.deepEqual(await client.open(uri, text, { languageId: 'yaml' }), [], 'plain YAML by default');
    const next = client.nextDiagnostics(uri);
    await client.configure({ associations: { 'deploy/*.yaml': 'ngrok-config' } });
    const diags = (await next).diagnostics;
    assert.ok(
      diags.some((d) => d.code === 'BURROW_CONFIG_UNKNOWN_KEY' && underlined(text, d.range) === 'adr'),
      JSON.stringify(diags),
    );
    assert.equal(client.kinds.get(uri)?.kind, 'ngrok-config');
    await client.close(uri);

    // deprecationWarnings: false hides BURROW_CONFIG_DEPRECATED (and only that).
    const old = 'file:///work/g/ngrok.yml';
    const legacy = 'version: "2"\nregion: eu\ntunnels:\n  web:\n    proto: http\n    adr: 80\n';
    assert.ok((await client.open(old, legacy)).some((d) => d.code === 'BURROW_CONFIG_DEPRECATED'));
    const quiet = client.nextDiagnostics(old);
    await client.configure({ deprecationWarnings: false });
    const codes = (await quiet).diagnostics.map((d) => d.code);
    assert.ok(!codes.includes('BURROW_CONFIG_DEPRECATED') && codes.includes('BURROW_CONFIG_UNKNOWN_KEY'), codes.join());
    await client.configure({});
    await client.close(old);
  });

  it('validates traffic-policy JSON with exact ranges', async () => {
    const uri = 'file:///work/h/policy.json';
    const text = '{\n  "on_http_request": [\n    { "actions": [ { "type": "deny-all" } ] }\n  ]\n}\n';
    const diags = await client.open(uri, text, { languageId: 'json' });
    assert.equal(client.kinds.get(uri)?.kind, 'traffic-policy');
    const bad = diags.find((d) => d.code === 'BURROW_CONFIG_UNKNOWN_ACTION');
    assert.ok(bad, JSON.stringify(diags));
    assert.equal(underlined(text, bad.range), '"deny-all"');
    await client.close(uri);
  });
});

describe("over Node IPC (what VS Code's TransportKind.ipc uses)", function () {
  it('initializes and publishes diagnostics', async () => {
    const child = fork(SERVER_BUNDLE, ['--node-ipc'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    try {
      const published = new Promise<{ uri: string; diagnostics: { code?: unknown }[] }>((resolve) =>
        connection.onNotification('textDocument/publishDiagnostics', resolve),
      );
      connection.listen();
      const init = (await connection.sendRequest('initialize', {
        processId: null,
        rootUri: null,
        capabilities: {},
      })) as { serverInfo?: { name: string } };
      assert.equal(init.serverInfo?.name, 'burrow-language-server');
      await connection.sendNotification('initialized', {});
      await connection.sendNotification('textDocument/didOpen', {
        textDocument: {
          uri: 'file:///ipc/ngrok.yml',
          languageId: 'ngrok-yaml',
          version: 1,
          text: 'tunnels:\n  web:\n    proto: http\n    addr: 80\n',
        },
      });
      const p = await published;
      assert.equal(p.uri, 'file:///ipc/ngrok.yml');
      assert.deepEqual(
        p.diagnostics.map((d) => d.code),
        ['BURROW_CONFIG_VERSION_REQUIRED'],
      );
      await connection.sendRequest('shutdown');
      await connection.sendNotification('exit');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    } finally {
      connection.dispose();
      if (child.exitCode === null) child.kill();
    }
  });
});

describe('settings pushed by a client without workspace/configuration', function () {
  it('takes them from workspace/didChangeConfiguration', async () => {
    const client = await LspClient.start({ validationDelayMs: 0 }, {}, false);
    try {
      const uri = 'file:///work/push/deploy/tunnels.yaml';
      const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    adr: 80\n';
      assert.deepEqual(await client.open(uri, text, { languageId: 'yaml' }), []);
      const next = client.nextDiagnostics(uri);
      await client.configure({ associations: { 'deploy/*.yaml': 'ngrok-config' } });
      assert.ok((await next).diagnostics.some((d) => d.code === 'BURROW_CONFIG_UNKNOWN_KEY'));
    } finally {
      await client.stop();
    }
  });
});

describe('edge JSON', function () {
  it('is recognised but not validated until a schemas/edge-*.schema.json exists; then it is', async () => {
    const uri = 'file:///work/edge/shop-edge.json';
    const text = '{\n  "hostports": ["shop.example.com:443"],\n  "description": 42\n}\n';
    // Schema directories the server is pointed at (BURROW_SCHEMAS_DIR): the config schemas only,
    // then the same plus a small edge schema.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'burrow-schemas-'));
    try {
      for (const f of readdirSync(path.join(REPO, 'schemas')).filter((f) => !f.startsWith('edge-')))
        copyFileSync(path.join(REPO, 'schemas', f), path.join(dir, f));
      const plain = await LspClient.start({ validationDelayMs: 0 }, { BURROW_SCHEMAS_DIR: dir });
      try {
        assert.deepEqual(await plain.open(uri, text, { languageId: 'json' }), []);
        assert.equal(plain.kinds.get(uri)?.kind, 'edge-json');
      } finally {
        await plain.stop();
      }

      writeFileSync(
        path.join(dir, 'edge-https.schema.json'),
        JSON.stringify({
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          properties: {
            hostports: { type: 'array', items: { type: 'string' } },
            description: { type: 'string', maxLength: 255 },
          },
        }),
      );
      const withSchema = await LspClient.start({ validationDelayMs: 0 }, { BURROW_SCHEMAS_DIR: dir });
      try {
        const diags = await withSchema.open(uri, text, { languageId: 'json' });
        assert.equal(diags.length, 1, JSON.stringify(diags));
        assert.equal(underlined(text, diags[0].range), '42');
        assert.match(String(diags[0].message), /`description` must be string/);
        assert.equal(diags[0].code, 'BURROW_CONFIG_WRONG_TYPE');
      } finally {
        await withSchema.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
