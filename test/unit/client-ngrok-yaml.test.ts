// ngrok.yml edits made by the extension's protection commands: comments and order survive, the
// change is a minimal replacement, the OAuth secret never lands in the file, and the result is
// still a valid config for the same validator the CLI and the language server use.
import assert from 'node:assert/strict';
import { validateDocument } from '../../tunnel/src/config';
import {
  allowExpression,
  applyProtection,
  entryToDefinition,
  fillOAuthSecrets,
  listEntries,
  minimalEdit,
  NgrokYamlError,
  OAUTH_SECRET_COMMENT,
} from '../../client/src/ngrokYaml';

const V2 = `# team config
version: "2"
authtoken: abc123 # keep
tunnels:
  # the web app
  web:
    proto: http
    addr: 3000
    auth: "old:password1"
  db: # database
    proto: tcp
    addr: 5432
`;

const V3 = `version: 3
agent:
  authtoken: abc123
endpoints:
  # public API
  - name: api
    url: https://api.example.com
    upstream:
      url: 8080
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-team: core
  - name: plain
    upstream:
      url: http://localhost:9000
`;

function errorsOf(text: string): string[] {
  return validateDocument(text, 'ngrok.yml', { kind: 'agent' })
    .problems.filter((p) => p.severity === 'error')
    .map((p) => `${p.code}: ${p.message}`);
}

describe('client ngrok.yml: reading', () => {
  it('lists v2 tunnels and v3 endpoints with their offsets', () => {
    assert.deepEqual(
      listEntries(V2).map((e) => [e.name, e.source, V2.slice(e.offset, e.offset + e.name.length)]),
      [
        ['web', 'tunnel', 'web'],
        ['db', 'tunnel', 'db'],
      ],
    );
    assert.deepEqual(
      listEntries(V3).map((e) => [e.name, e.source]),
      [
        ['api', 'endpoint'],
        ['plain', 'endpoint'],
      ],
    );
  });

  it('turns entries into POST /api/tunnels definitions', () => {
    assert.deepEqual(entryToDefinition(V2, 'db'), { name: 'db', proto: 'tcp', addr: 5432 });
    assert.deepEqual(entryToDefinition(V3, 'api'), {
      name: 'api',
      proto: 'http',
      addr: 8080,
      domain: 'api.example.com',
      traffic_policy: {
        on_http_request: [{ actions: [{ type: 'add-headers', config: { headers: { 'x-team': 'core' } } }] }],
      },
    });
    assert.deepEqual(entryToDefinition(V3, 'plain'), { name: 'plain', proto: 'http', addr: 'http://localhost:9000' });
    assert.deepEqual(
      entryToDefinition(
        'version: 3\nendpoints:\n  - name: t\n    url: tcp://1.tcp.example.com:20000\n    upstream: {url: 22}\n',
        't',
      ),
      { name: 't', proto: 'tcp', addr: 22, remote_addr: '1.tcp.example.com:20000' },
    );
  });

  it('gives coded errors for a missing entry and broken YAML', () => {
    assert.throws(
      () => entryToDefinition(V2, 'nope'),
      (e: NgrokYamlError) => e.code === 'ERR_BURROW_YAML_NOT_FOUND' && /"nope"/.test(e.message),
    );
    assert.throws(
      () => listEntries('tunnels:\n  web: [\n'),
      (e: NgrokYamlError) => e.code === 'ERR_BURROW_YAML_PARSE' && /ngrok\.yml:\d+:\d+/.test(e.message),
    );
  });
});

describe('client ngrok.yml: protection write-back', () => {
  it('v2: basic auth replaces the deprecated auth key, comments kept, still valid', () => {
    const out = applyProtection(V2, 'web', { kind: 'basic-auth', username: 'burrow', password: 'Zx9-long-password' });
    assert.match(out, /^# team config\n/);
    assert.match(out, /authtoken: abc123 # keep/);
    assert.match(out, /# the web app\n {2}web:/);
    assert.match(out, /db: # database/);
    assert.doesNotMatch(out, /auth: "old/);
    assert.match(out, /basic_auth:\n {6}- burrow:Zx9-long-password\n/);
    assert.deepEqual(errorsOf(out), []);
    const edit = minimalEdit(V2, out)!;
    assert.equal(V2.slice(0, edit.start) + edit.text + V2.slice(edit.end), out);
    assert.ok(edit.start >= V2.indexOf('  web:'), 'the edit starts at the changed tunnel, not the top of the file');
    assert.ok(edit.end <= V2.indexOf('  db:'), 'the edit stops before the next tunnel');
  });

  it('v2: OAuth writes provider, allow lists and client id but never the secret', () => {
    const out = applyProtection(V2, 'web', {
      kind: 'oauth',
      provider: 'github',
      clientId: 'Iv1.abc',
      allowEmails: ['ann@example.com'],
      allowDomains: ['example.org'],
    });
    const def = entryToDefinition(out, 'web');
    assert.deepEqual(def.oauth, {
      provider: 'github',
      allow_emails: ['ann@example.com'],
      allow_domains: ['example.org'],
      client_id: 'Iv1.abc',
    });
    assert.ok(out.includes(`#${OAUTH_SECRET_COMMENT}`));
    assert.doesNotMatch(out, /client_secret:\s*\S+\s*$/m);
    // The schema accepts it (the missing secret is supplied from SecretStorage at start).
    assert.deepEqual(errorsOf(out), []);
  });

  it('fills OAuth secrets from a lookup, in v2 keys and in policy actions', async () => {
    const v2 = entryToDefinition(
      applyProtection(V2, 'web', { kind: 'oauth', provider: 'google', clientId: 'cid-1' }),
      'web',
    );
    const missing = await fillOAuthSecrets(v2, async (provider, id) =>
      provider === 'google' && id === 'cid-1' ? 's3cret' : undefined,
    );
    assert.deepEqual(missing, []);
    assert.equal((v2.oauth as Record<string, unknown>).client_secret, 's3cret');
    const v3 = entryToDefinition(
      applyProtection(V3, 'api', { kind: 'oauth', provider: 'gitlab', clientId: 'cid-2' }),
      'api',
    );
    assert.deepEqual(await fillOAuthSecrets(v3, async () => undefined), ['gitlab (cid-2)']);
  });

  it('v3: protection becomes the first on_http_request rule; other rules and comments stay', () => {
    const out = applyProtection(V3, 'api', {
      kind: 'oauth',
      provider: 'google',
      clientId: 'cid',
      allowDomains: ['example.com'],
    });
    assert.match(out, /# public API\n {2}- name: api/);
    const rules = (
      entryToDefinition(out, 'api').traffic_policy as {
        on_http_request: { name?: string; actions: { type: string }[] }[];
      }
    ).on_http_request;
    assert.deepEqual(
      rules.map((r) => r.actions.map((a) => a.type)),
      [['oauth'], ['deny'], ['add-headers']],
    );
    assert.deepEqual(errorsOf(out), []);
    // Switching to basic auth drops the OAuth rule and its allow rule.
    const basic = applyProtection(out, 'api', { kind: 'basic-auth', username: 'u', password: 'pw-123456789' });
    const rules2 = (
      entryToDefinition(basic, 'api').traffic_policy as {
        on_http_request: { actions: { type: string; config?: unknown }[] }[];
      }
    ).on_http_request;
    assert.deepEqual(
      rules2.map((r) => r.actions.map((a) => a.type)),
      [['basic-auth'], ['add-headers']],
    );
    assert.deepEqual(rules2[0].actions[0].config, { credentials: ['u:pw-123456789'] });
    assert.deepEqual(errorsOf(basic), []);
    // Removing protection restores the original text exactly.
    assert.equal(applyProtection(basic, 'api', { kind: 'none' }), V3);
  });

  it('v3: an endpoint without a policy gets one and loses it again on removal', () => {
    const out = applyProtection(V3, 'plain', { kind: 'basic-auth', username: 'u', password: 'pw-123456789' });
    assert.ok(entryToDefinition(out, 'plain').traffic_policy);
    assert.equal(applyProtection(out, 'plain', { kind: 'none' }), V3);
  });

  it('builds the allow-list CEL with quoting', () => {
    assert.equal(allowExpression([], []), undefined);
    assert.equal(
      allowExpression(["o'neil@x.com"], ['@example.com']),
      "!(actions.ngrok.oauth.identity.email in ['o\\'neil@x.com'] || actions.ngrok.oauth.identity.email.endsWith('@example.com'))",
    );
  });

  it('minimalEdit is undefined for no change and exact otherwise', () => {
    assert.equal(minimalEdit('a\nb\n', 'a\nb\n'), undefined);
    const e = minimalEdit('one\ntwo\nthree\n', 'one\n2\nthree\n')!;
    assert.deepEqual(e, { start: 4, end: 7, text: '2' });
  });
});
