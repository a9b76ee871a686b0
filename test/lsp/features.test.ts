// Completion, hover and code actions through the real server bundle over JSON-RPC; every code
// action's edit is applied like an editor would and the result re-validated by the server.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { CompletionItem, Diagnostic, MarkupContent } from 'vscode-languageserver/node';
import { LspClient, posOf, underlined } from './harness';

const labels = (items: CompletionItem[]) => items.map((i) => i.label);
let seq = 0;
const uniqueUri = (name = 'ngrok.yml') => `file:///work/features/${++seq}/${name}`;

describe('language server features over stdio', function () {
  let client: LspClient;
  before(async () => {
    client = await LspClient.start();
  });
  after(async () => client?.stop());

  describe('completion', () => {
    it('offers the keys of the tunnel type at the cursor, not those of other types', async () => {
      const uri = uniqueUri();
      const text = 'version: "2"\ntunnels:\n  ssh:\n    proto: tcp\n    addr: 22\n    \n';
      await client.open(uri, text);
      const items = await client.completion(uri, { line: 5, character: 4 });
      const l = labels(items);
      assert.ok(l.includes('remote_addr'), l.join());
      assert.ok(!l.includes('host_header'), 'tcp tunnels do not take host_header');
      assert.ok(!l.includes('addr') && !l.includes('proto'), 'present keys are not offered again');
      const remote = items.find((i) => i.label === 'remote_addr')!;
      assert.match((remote.documentation as MarkupContent).value, /TCP address|host:port/i);
      assert.equal(remote.textEdit && 'range' in remote.textEdit ? remote.textEdit.newText : '', 'remote_addr: $0');
      await client.close(uri);
    });

    it('offers enum values with their docs (proto, action types, providers, log level)', async () => {
      const uri = uniqueUri();
      const text = [
        'version: "3"',
        'agent:',
        '  log_level: ',
        'endpoints:',
        '  - name: web',
        '    upstream:',
        '      url: 8080',
        '    traffic_policy:',
        '      on_http_request:',
        '        - actions:',
        '            - type: oauth',
        '              config:',
        '                provider: ',
        '            - type: ',
        '',
      ].join('\n');
      await client.open(uri, text);
      assert.deepEqual(labels(await client.completion(uri, { line: 2, character: 13 })), [
        'crit',
        'warn',
        'error',
        'info',
        'debug',
      ]);
      const providers = labels(await client.completion(uri, { line: 12, character: 26 }));
      assert.deepEqual([...providers].sort(), [
        'amazon',
        'facebook',
        'github',
        'gitlab',
        'google',
        'linkedin',
        'microsoft',
        'twitch',
      ]);
      const actions = await client.completion(uri, { line: 13, character: 20 });
      assert.ok(
        labels(actions).includes('basic-auth') && labels(actions).includes('forward-internal'),
        labels(actions).join(),
      );
      const deny = actions.find((i) => i.label === 'deny')!;
      assert.match((deny.documentation as MarkupContent).value, /Terminating/);
      await client.close(uri);
    });

    it('offers proto values on a new tunnel and list values for schemes', async () => {
      const uri = uniqueUri();
      // `web` has no keys yet, so every tunnel type is possible; `site` is http (only http takes schemes).
      const text = 'version: "2"\ntunnels:\n  web:\n    proto: \n  site:\n    schemes:\n      - \n';
      await client.open(uri, text);
      assert.deepEqual(labels(await client.completion(uri, { line: 3, character: 11 })), ['http', 'tcp', 'tls']);
      assert.deepEqual(labels(await client.completion(uri, { line: 6, character: 8 })), ['http', 'https']);
      await client.close(uri);
    });

    it('offers the ports listening on this machine for addr and upstream.url, with their process', async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const v2 = uniqueUri();
        await client.open(v2, 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: \n');
        const items = await client.completion(v2, { line: 4, character: 10 });
        const mine = items.find((i) => i.label === String(port));
        assert.ok(mine, `port ${port} offered: ${labels(items).join()}`);
        if (process.platform === 'linux') assert.match(String(mine.detail), /^listening: node /);
        const v3 = uniqueUri();
        await client.open(v3, 'version: "3"\nendpoints:\n  - name: web\n    upstream:\n      url: \n');
        assert.ok(labels(await client.completion(v3, { line: 4, character: 11 })).includes(String(port)));
        // Not for other values.
        assert.ok(!labels(await client.completion(v2, { line: 3, character: 11 })).includes(String(port)));
        await client.close(v2);
        await client.close(v3);
      } finally {
        server.close();
      }
    });

    it('offers snippets for whole tunnels, endpoints and policy rules', async () => {
      const uri = uniqueUri();
      await client.open(uri, 'version: "2"\ntunnels:\n  \n');
      const tunnels = await client.completion(uri, { line: 2, character: 2 });
      assert.deepEqual(labels(tunnels).slice(0, 3), ['http tunnel', 'tcp tunnel', 'tls tunnel']);
      const http = tunnels[0];
      assert.equal(http.insertTextFormat, 2);
      assert.equal(
        http.textEdit && 'range' in http.textEdit ? http.textEdit.newText : '',
        '${1:web}:\n    proto: http\n    addr: ${2:8080}\n    ${0}',
      );
      await client.close(uri);

      const v3 = uniqueUri();
      await client.open(v3, 'version: "3"\nendpoints:\n  - \n');
      assert.deepEqual(labels(await client.completion(v3, { line: 2, character: 4 })).slice(0, 2), [
        'http endpoint',
        'tcp endpoint',
      ]);
      await client.close(v3);

      const policy = uniqueUri('traffic-policy.yml');
      await client.open(policy, 'on_http_request:\n  - \n', { languageId: 'yaml' });
      assert.deepEqual(labels(await client.completion(policy, { line: 1, character: 4 })).slice(0, 3), [
        'traffic policy rule',
        'oauth',
        'basic auth',
      ]);
      await client.close(policy);
    });
  });

  describe('hover', () => {
    it('shows the description, deprecation and a reference link for a key', async () => {
      const uri = uniqueUri();
      const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    hostname: x.example.com\n';
      await client.open(uri, text);
      const h = await client.hover(uri, posOf(text, 'hostname', 3));
      const md = (h!.contents as MarkupContent).value;
      assert.match(md, /\*\*hostname\*\*/);
      assert.match(md, /Deprecated/);
      assert.match(md, /https:\/\/ngrok\.com\/docs\/agent\/config\/v2\//);
      assert.equal(underlined(text, h!.range!), 'hostname');
      await client.close(uri);
    });

    it('shows the allowed values with the hovered one marked, and the action reference', async () => {
      const uri = uniqueUri('policy.yml');
      const text =
        'on_http_request:\n  - actions:\n      - type: basic-auth\n        config:\n          credentials: ["a:password1"]\n';
      await client.open(uri, text, { languageId: 'yaml' });
      const h = await client.hover(uri, posOf(text, 'basic-auth', 2));
      const md = (h!.contents as MarkupContent).value;
      assert.match(md, /Requires|user name|Basic/i);
      assert.match(md, /https:\/\/ngrok\.com\/docs\/traffic-policy\/actions\/basic-auth\//);
      const phases = await client.hover(uri, posOf(text, 'on_http_request', 1));
      assert.match((phases!.contents as MarkupContent).value, /HTTP request/i);
      await client.close(uri);
    });

    it('shows defaults for agent settings', async () => {
      const uri = uniqueUri();
      const text = 'version: "3"\nagent:\n  connect_timeout: 30s\n';
      await client.open(uri, text);
      const md = ((await client.hover(uri, posOf(text, 'connect_timeout', 1)))!.contents as MarkupContent).value;
      assert.match(md, /Default: `10s`/);
      await client.close(uri);
    });
  });

  describe('code actions (applied and re-validated)', () => {
    async function fixAll(uri: string, title: RegExp, diagnostics: Diagnostic[]): Promise<Diagnostic[]> {
      const target = diagnostics.find((d) => d.data !== undefined);
      assert.ok(target, `a diagnostic with a fix: ${JSON.stringify(diagnostics)}`);
      const actions = await client.codeActions(uri, target.range, [target]);
      const action = actions.find((a) => title.test(a.title));
      assert.ok(action, `action ${title} among ${actions.map((a) => a.title).join(' | ')}`);
      return (await client.applyWorkspaceEdit(action.edit)).get(uri)!;
    }

    it('replaces deprecated keys: hostname → domain, bind_tls → schemes (comments kept)', async () => {
      const uri = uniqueUri();
      const text =
        'version: "2"\ntunnels:\n  web: # my site\n    proto: http\n    addr: 80\n    hostname: x.example.com\n    bind_tls: true # https only\n';
      let diags = await client.open(uri, text);
      assert.equal(diags.filter((d) => d.code === 'BURROW_CONFIG_DEPRECATED').length, 2, JSON.stringify(diags));
      diags = await fixAll(
        uri,
        /hostname.*domain/,
        diags.filter((d) => underlined(text, d.range) === 'hostname'),
      );
      diags = await fixAll(uri, /bind_tls.*schemes: \[https\]/, diags);
      assert.deepEqual(diags, []);
      assert.equal(
        client.text(uri),
        'version: "2"\ntunnels:\n  web: # my site\n    proto: http\n    addr: 80\n    domain: x.example.com\n    schemes: [https] # https only\n',
      );
      await client.close(uri);
    });

    it('replaces `auth: "user:pass"` with a `basic_auth` list (offered at the cursor)', async () => {
      const uri = uniqueUri();
      const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    auth: "bob:secret-password"\n';
      await client.open(uri, text);
      // Burrow reports `auth` as not supported yet (which hides the deprecation); the replacement is
      // still offered on the key under the cursor.
      const actions = await client.codeActions(uri, { start: posOf(text, 'auth'), end: posOf(text, 'auth') }, []);
      const action = actions.find((x) => /Replace `auth` with `basic_auth`/.test(x.title));
      assert.ok(action, actions.map((x) => x.title).join());
      const after = (await client.applyWorkspaceEdit(action.edit)).get(uri)!;
      assert.equal(
        client.text(uri),
        'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    basic_auth: ["bob:secret-password"]\n',
      );
      assert.ok(
        after.every((d) => underlined(client.text(uri), d.range) === 'basic_auth'),
        JSON.stringify(after),
      );
      await client.close(uri);
    });

    it('adds the missing version', async () => {
      const uri = uniqueUri();
      const text = '# my tunnels\ntunnels:\n  web:\n    proto: http\n    addr: 80\n';
      const diags = await client.open(uri, text);
      assert.equal(diags[0].code, 'BURROW_CONFIG_VERSION_REQUIRED');
      assert.deepEqual(await fixAll(uri, /Add `version: "2"`/, diags), []);
      assert.equal(client.text(uri), '# my tunnels\nversion: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n');
      await client.close(uri);
    });

    it('fixes a misspelt key ("did you mean") and a wrong action type', async () => {
      const uri = uniqueUri();
      const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    bind-tls: true\n';
      let diags = await client.open(uri, text);
      diags = await fixAll(
        uri,
        /Rename to `bind_tls`/,
        diags.filter((d) => d.code === 'BURROW_CONFIG_UNKNOWN_KEY'),
      );
      assert.ok(
        diags.every((d) => d.code === 'BURROW_CONFIG_DEPRECATED'),
        JSON.stringify(diags),
      );
      await client.close(uri);

      const policy = uniqueUri('policy.yml');
      const ptext =
        'on_http_request:\n  - actions:\n      - type: basic-aut\n        config:\n          credentials: ["a:password1"]\n';
      const pd = await client.open(policy, ptext, { languageId: 'yaml' });
      assert.deepEqual(
        await fixAll(
          policy,
          /Change to `basic-auth`/,
          pd.filter((d) => d.code === 'BURROW_CONFIG_UNKNOWN_ACTION'),
        ),
        [],
      );
      await client.close(policy);
    });

    it('moves v2-style top-level keys of a v3 file under agent:', async () => {
      const uri = uniqueUri();
      const text =
        'version: "3"\nauthtoken: abc # token\nagent:\n  log_level: info\nendpoints:\n  - name: web\n    upstream:\n      url: 80\n';
      const diags = await client.open(uri, text);
      assert.match(String(diags[0].message), /belongs under `agent:`/);
      assert.deepEqual(await fixAll(uri, /Move `authtoken` under `agent:`/, diags), []);
      assert.equal(
        client.text(uri),
        'version: "3"\nagent:\n  log_level: info\n  authtoken: abc # token\nendpoints:\n  - name: web\n    upstream:\n      url: 80\n',
      );
      await client.close(uri);
    });

    it('migrates a whole v2 file to v3 and the result validates clean', async () => {
      const uri = uniqueUri();
      const text = [
        '# agent settings',
        'version: "2"',
        'authtoken: abc',
        'region: eu',
        'server_addr: edge.example.com:443',
        'tunnels:',
        '  # the website',
        '  web:',
        '    proto: http',
        '    addr: 8080',
        '    domain: app.example.com',
        '    schemes: [https]',
        '  ssh:',
        '    proto: tcp',
        '    addr: 22',
        '    remote_addr: 1.tcp.example.com:20022',
        '',
      ].join('\n');
      const diags = await client.open(uri, text);
      const actions = await client.codeActions(
        uri,
        { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } },
        diags,
      );
      const offered = actions.find((a) => a.kind === 'refactor.rewrite' && /Migrate/.test(a.title));
      assert.ok(offered, actions.map((a) => a.title).join());
      assert.equal(offered.edit, undefined, 'the edit is computed on resolve');
      const migrate = await client.resolveCodeAction(offered);
      const after = (await client.applyWorkspaceEdit(migrate.edit)).get(uri)!;
      assert.deepEqual(
        after.filter((d) => d.severity === 1),
        [],
        client.text(uri),
      );
      const migrated = client.text(uri);
      assert.match(
        migrated,
        /^# agent settings\nversion: "3"\nagent:\n {2}authtoken: abc\n {2}# region: eu \(removed: version 3 picks the region automatically\)\n {2}connect_url: edge\.example\.com:443\n/,
      );
      assert.match(
        migrated,
        /# the website\n {2}- name: web\n {4}url: https:\/\/app\.example\.com\n {4}upstream:\n {6}url: 8080/,
      );
      assert.match(migrated, /- name: ssh\n {4}url: tcp:\/\/1\.tcp\.example\.com:20022/);
      assert.doesNotMatch(migrated, /^\s*region:/m);
      assert.equal(client.kinds.get(uri)?.configVersion, '3');
      await client.close(uri);
    });
  });
});
