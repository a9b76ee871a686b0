// The language server's pure modules, called directly (fast): the cursor's YAML path, document
// classification, value checks, and the semantic (BURROW_LSP_*) checks at their exact ranges.
import assert from 'node:assert/strict';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { cursorContext } from '../../server/src/cursorContext';
import { CONFIG_NAME_RE, POLICY_NAME_RE, classify } from '../../server/src/classify';
import { checkUpstream, unreachableActions } from '../../tunnel/src/config/value-checks';
import { LanguageService } from '../../server/src/languageService';
import { underlined } from './harness';

/** Cursor at the `|` in the text. */
function at(src: string) {
  const i = src.indexOf('|');
  const text = src.slice(0, i) + src.slice(i + 1);
  const before = text.slice(0, i);
  const line = before.split('\n').length - 1;
  return cursorContext(text, line, i - (before.lastIndexOf('\n') + 1));
}

describe('cursorContext: the YAML path at the cursor, from indentation', () => {
  it('finds the map a new key goes into, at any depth', () => {
    assert.deepEqual(at('tunnels:\n  web:\n    proto: http\n    |')?.path, ['tunnels', 'web']);
    assert.deepEqual(at('tunnels:\n  web:\n    proto: http\n  |')?.path, ['tunnels']);
    assert.deepEqual(at('agent:\n  log: x\n|')?.path, []);
    assert.equal(at('tunnels:\n  web:\n    pro|')?.prefix, 'pro');
  });

  it('counts sequence items, with dashes indented or not', () => {
    const seq = 'endpoints:\n  - name: a\n    url: x\n  - name: b\n    |';
    assert.deepEqual(at(seq)?.path, ['endpoints', 1]);
    assert.deepEqual(at('endpoints:\n- name: a\n- |')?.path, ['endpoints', 1]);
    const ctx = at('on_http_request:\n  - actions:\n      - type: deny\n      - type: |');
    assert.deepEqual([ctx?.kind, ctx?.path], ['value', ['on_http_request', 0, 'actions', 1, 'type']]);
  });

  it('reads values being typed, and stays out of comments and flow collections', () => {
    const v = at('version: "2"\ntunnels:\n  web:\n    proto: ht|');
    assert.deepEqual([v?.kind, v?.key, v?.prefix, v?.path], ['value', 'proto', 'ht', ['tunnels', 'web', 'proto']]);
    assert.equal(at('tunnels: # a comment |'), undefined);
    assert.equal(at('schemes: [ht|'), undefined);
  });

  it('survives blank lines and comments between the cursor and its parent', () => {
    assert.deepEqual(at('tunnels:\n  web:\n    proto: http\n\n    # more\n    |')?.path, ['tunnels', 'web']);
  });
});

describe('classify', () => {
  const c = (uri: string, languageId: string, root: unknown) => classify({ uri, languageId, root, documentCount: 1 });

  it('knows config and policy file names from the wild', () => {
    for (const n of [
      'ngrok.yml',
      'ngrok.yaml',
      '.ngrok.yml',
      'ngrok.dev.yml',
      'ngrok_config.yml',
      'ngrok-config.yaml',
      'ngrok.yml.example',
      'ngrok.template.yml',
      'app.ngrok.yml',
    ]) {
      assert.ok(CONFIG_NAME_RE.test(n), n);
    }
    for (const n of ['traffic-policy.yml', 'ngrok-policy.yml', 'api.policy.yaml', 'policy.json']) {
      assert.ok(POLICY_NAME_RE.test(n) && !CONFIG_NAME_RE.test(n), n);
    }
    assert.ok(!CONFIG_NAME_RE.test('docker-compose.yml'));
  });

  it('infers the config version, and recognises foreign files and policies', () => {
    assert.deepEqual(c('file:///a/ngrok.yml', 'ngrok-yaml', { agent: {} }), {
      kind: 'ngrok-config',
      configVersion: '3',
    });
    assert.deepEqual(c('file:///a/ngrok.yml', 'ngrok-yaml', { version: 2, tunnels: {} }), {
      kind: 'ngrok-config',
      configVersion: '2',
    });
    assert.equal(c('file:///a/ngrok.yml', 'ngrok-yaml', { apiVersion: 'v1', kind: 'Pod' }).kind, 'none');
    assert.equal(c('file:///a/ngrok.yml', 'ngrok-yaml', [{ name: 'task' }]).kind, 'none');
    assert.equal(c('file:///a/ngrok.yml', 'ngrok-yaml', { on_http_request: [] }).kind, 'traffic-policy');
    assert.equal(
      c('file:///a/x.json', 'json', { $schema: 'https://burrow.localhost/schemas/traffic-policy.schema.json' }).kind,
      'traffic-policy',
    );
    assert.equal(c('file:///a/x.json', 'json', { id: 'edghts_123' }).kind, 'edge-json');
    assert.equal(c('file:///a/x.yml', 'yaml', { name: 'x' }).kind, 'none');
  });
});

describe('value checks', () => {
  it('upstream addresses', () => {
    for (const ok of [
      '8080',
      'localhost:3000',
      '[::1]:22',
      'http://app:80',
      'https://x',
      'file:///srv/www',
      '${PORT}',
      'backend',
    ])
      assert.equal(checkUpstream(ok, 'http'), undefined, ok);
    assert.match(checkUpstream('70000', 'http')!, /out of range/);
    assert.match(checkUpstream('localhost:0', 'http')!, /out of range/);
    assert.match(checkUpstream('ftp://x:21', 'http')!, /not supported/);
    assert.match(checkUpstream('http://x:80', 'tcp')!, /not supported for tcp/);
    assert.match(checkUpstream('file://relative', 'http')!, /absolute path/);
    assert.match(checkUpstream('localhost', 'tcp')!, /no port/);
  });

  it('unreachable policy actions: after an always-matching rule that ends the request', () => {
    const rules = [
      { expressions: ["req.method == 'POST'"], actions: [{ type: 'deny' }] },
      { actions: [{ type: 'add-headers' }, { type: 'custom-response' }] },
      { actions: [{ type: 'log' }, { type: 'deny' }] },
    ];
    assert.deepEqual(
      [...unreachableActions(rules)],
      [
        [2, 0, 'custom-response'],
        [2, 1, 'custom-response'],
      ],
    );
    assert.deepEqual([...unreachableActions('not a list')], []);
  });
});

describe("diagnostics from the shared validator at exact ranges (no checks of the server's own)", () => {
  const service = new LanguageService();
  let v = 0;
  const check = (text: string, languageId = 'ngrok-yaml', uri = 'file:///s/ngrok.yml') =>
    service
      .diagnostics(TextDocument.create(uri, languageId, ++v, text))
      .map((d) => [d.code, underlined(text, d.range), d.severity]);

  it('policy phases, unreachable actions, multiple auth, CIDRs', () => {
    const text = [
      'on_http_response:',
      '  - actions:',
      '      - type: basic-auth',
      '        config: { credentials: ["a:password1"] }',
      'on_http_request:',
      '  - actions:',
      '      - type: oauth',
      '        config: { provider: google, client_id: id, client_secret: secret }',
      '      - type: basic-auth',
      '        config: { credentials: ["a:password1"] }',
      '  - actions:',
      '      - type: restrict-ips',
      '        config: { allow: [10.0.0.0/40] }',
      '  - actions:',
      '      - type: deny',
      '  - actions:',
      '      - type: add-headers',
      '        config: { headers: { a: b } }',
      '',
    ].join('\n');
    assert.deepEqual(check(text, 'yaml', 'file:///s/traffic-policy.yml'), [
      ['BURROW_CONFIG_MODULE', 'basic-auth', 1],
      ['BURROW_CONFIG_MODULE', 'basic-auth', 1],
      ['BURROW_CONFIG_MODULE', '10.0.0.0/40', 1],
      ['BURROW_CONFIG_UNREACHABLE', 'type: add-headers\n        config: { headers: { a: b } }', 2],
    ]);
  });

  it('a deny inside a rule with expressions does not make later rules unreachable', () => {
    const text =
      'on_http_request:\n  - expressions: ["req.method == \'POST\'"]\n    actions:\n      - type: deny\n  - actions:\n      - type: add-headers\n        config: { headers: { a: b } }\n';
    assert.deepEqual(check(text, 'yaml', 'file:///s/policy.yml'), []);
  });

  it('a policy on a tcp endpoint, upstream and endpoint URL ports', () => {
    const text = [
      'version: "3"',
      'agent:',
      '  authtoken: x',
      'endpoints:',
      '  - name: db',
      '    url: tcp://1.tcp.example.com:99999',
      '    upstream:',
      '      url: localhost',
      '    traffic_policy:',
      '      on_http_request:',
      '        - actions:',
      '            - type: deny',
      '',
    ].join('\n');
    assert.deepEqual(check(text), [
      ['BURROW_CONFIG_BAD_VALUE', 'tcp://1.tcp.example.com:99999', 1],
      ['BURROW_CONFIG_BAD_VALUE', 'localhost', 1],
      // A TCP endpoint takes on_tcp_connect only: the HTTP phase's rules are refused (ERR_NGROK_2230).
      ['BURROW_CONFIG_MODULE', '- actions:\n            - type: deny', 1],
    ]);
  });

  it('never judges templated addresses; credentials are judged as written (Burrow expands no variables)', () => {
    const ok = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: ${PORT}\n    auth: "${USER}:${PASSWORD}"\n';
    assert.deepEqual(
      check(ok).filter((d) => d[2] === 1),
      [],
    );
    const short = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: ${PORT}\n    auth: "${USER}:${PASS}"\n';
    assert.deepEqual(
      check(short).filter((d) => d[2] === 1),
      [['BURROW_CONFIG_MODULE', '"${USER}:${PASS}"', 1]],
    );
  });
});
