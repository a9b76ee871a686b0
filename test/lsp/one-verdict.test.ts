// One verdict: for every module option mistake, `burrow config check` (the built CLI, a real child
// process) and the language server (the built bundle over stdio) report the same error at the same
// place — the line and column of the offending value — because both run validateDocument, which
// runs each module's own bind-time check.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LspClient, REPO } from './harness';

const BIN = path.join(REPO, 'dist/burrow.js');

interface Case {
  what: string;
  /** The file; `@@` marks the offending value (removed before use). */
  yaml: string;
  /** In the message of both. */
  says: RegExp;
}

const v2 = (lines: string[]) => [
  'version: "2"',
  'tunnels:',
  '  web:',
  '    proto: http',
  '    addr: 8080',
  ...lines,
  '',
];
const v3 = (lines: string[]) => [
  'version: "3"',
  'endpoints:',
  '  - name: api',
  '    url: https://api.example.com',
  '    upstream:',
  '      url: 8080',
  ...lines,
  '',
];
const policy = (action: string[]) => ['    traffic_policy:', '      on_http_request:', '        - actions:', ...action];

const CASES: Case[] = [
  {
    what: 'an allow CIDR',
    yaml: v2(['    ip_restriction:', '      allow_cidrs: [10.0.0.0/8, @@10.0.0.0/33]']).join('\n'),
    says: /ERR_NGROK_362/,
  },
  {
    what: 'a deny CIDR',
    yaml: v2(['    ip_restriction:', '      deny_cidrs:', '        - @@300.1.1.1/8']).join('\n'),
    says: /ERR_NGROK_362/,
  },
  {
    what: 'a webhook provider',
    yaml: v2(['    verify_webhook:', '      provider: @@myspace', '      secret: s3cret']).join('\n'),
    says: /ERR_NGROK_364|myspace/,
  },
  {
    what: 'a CA file path',
    yaml: v2(['    mutual_tls_cas: @@/nonexistent/burrow-test/ca.pem']).join('\n'),
    says: /cannot read.*ENOENT/,
  },
  {
    what: 'a CEL expression (syntax)',
    yaml: v2([
      ...policy([])
        .slice(0, 3)
        .map((l) => l.replace('- actions:', '- expressions: [@@"req.method =="]')),
      '          actions: [{type: deny}]',
    ]).join('\n'),
    says: /ERR_NGROK_2200/,
  },
  {
    what: 'a CEL variable ngrok does not have',
    yaml: v3([
      '    traffic_policy:',
      '      on_http_request:',
      '        - expressions:',
      '            - @@"req.path == \'/admin\'"',
      '          actions: [{type: deny}]',
    ]).join('\n'),
    says: /unknown variable "req.path".*req\.url\.path.*ERR_NGROK_2200/,
  },
  {
    what: 'an OAuth domain name',
    yaml: v2([
      '    oauth:',
      '      provider: google',
      '      client_id: id',
      '      client_secret: s3cret',
      '      allow_domains: [example.com, @@"@example.org"]',
    ]).join('\n'),
    says: /ERR_NGROK_7039/,
  },
  {
    what: 'an OAuth provider',
    yaml: v2(['    oauth:', '      provider: @@myspace', '      client_id: id', '      client_secret: s3cret']).join(
      '\n',
    ),
    says: /myspace|ERR_NGROK_365/,
  },
  {
    what: 'scopes on a managed OAuth app',
    yaml: v2(['    oauth:', '      provider: github', '      scopes: @@[read:org]']).join('\n'),
    says: /ERR_NGROK_7034/,
  },
  {
    what: 'a basic-auth credential',
    yaml: v2(['    basic_auth:', '      - "alice:correct-horse"', '      - @@"bob:short"']).join('\n'),
    says: /8 to 128|ERR_NGROK_360/,
  },
  {
    what: 'the auth: credential',
    yaml: v2(['    basic_auth: ["alice:correct-horse"]', '    auth: @@"bob:short"']).join('\n'),
    says: /8 to 128|ERR_NGROK_360/,
  },
  {
    what: 'a header template',
    yaml: v2(['    request_header:', '      add:', '        - "X-Ok: 1"', '        - @@"X-Who: ${.nope.var}"']).join(
      '\n',
    ),
    says: /ERR_NGROK_2213/,
  },
  {
    what: 'a header name',
    yaml: v2(['    response_header:', '      remove: [@@"bad name"]']).join('\n'),
    says: /header name/,
  },
  {
    what: 'a circuit breaker ratio',
    yaml: v2(['    circuit_breaker: @@1.5']).join('\n'),
    says: /circuit_breaker|threshold|ERR_NGROK_361/,
  },
  {
    what: 'a user-agent pattern',
    yaml: v2(['    user_agent_filter:', '      deny: [@@"(unclosed"]']).join('\n'),
    says: /ERR_NGROK_2090/,
  },
  {
    what: 'a compression algorithm',
    yaml: v3([
      ...policy([
        '            - type: compress-response',
        '              config:',
        '                algorithms: [gzip, @@zstd]',
      ]),
    ]).join('\n'),
    says: /zstd/,
  },
  {
    what: 'a restrict-ips CIDR in a policy',
    yaml: v3([
      ...policy(['            - type: restrict-ips', '              config:', '                deny: [@@not-a-cidr]']),
    ]).join('\n'),
    says: /ERR_NGROK_362/,
  },
  {
    what: 'a rate-limit bucket key',
    yaml: v3([
      ...policy([
        '            - type: rate-limit',
        '              config:',
        '                name: r',
        '                algorithm: sliding_window',
        '                capacity: 10',
        '                rate: 60s',
        '                bucket_key: [@@conn.nope]',
      ]),
    ]).join('\n'),
    says: /unknown variable "conn.nope"/,
  },
  {
    what: 'a traffic_policy_file path',
    yaml: v3(['    traffic_policy_file: @@/nonexistent/burrow-test/policy.yml']).join('\n'),
    says: /cannot read/,
  },
  {
    what: "a misspelled key (one problem, in the user's words)",
    yaml: ['version: "3"', 'endpoints:', '  - name: api', '    @@upstrem:', '      url: 8080', ''].join('\n'),
    says: /^Unknown key `upstrem` in this endpoint\. Did you mean `upstream`\?$/,
  },
];

/** 1-based line:col of the `@@` mark, and the text without it. */
function marked(yaml: string): { text: string; line: number; col: number } {
  const i = yaml.indexOf('@@');
  assert.ok(i >= 0, 'every case marks its offending value');
  const before = yaml.slice(0, i);
  return {
    text: yaml.slice(0, i) + yaml.slice(i + 2),
    line: before.split('\n').length,
    col: i - before.lastIndexOf('\n'),
  };
}

interface Reported {
  line: number;
  col: number;
  message: string;
  code: string;
}

describe('one verdict: burrow config check and the language server agree on every module option mistake', function () {
  this.timeout(60_000);
  let client: LspClient;
  let dir: string;
  const files = CASES.map((_, n) => `case${n}.ngrok.yml`);
  /** The CLI's errors per file: one `burrow config check` over all the files (each is checked on its own). */
  const fromCli = new Map<string, Reported[]>();
  let cliOutput = '';

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'burrow-verdict-'));
    CASES.forEach((c, n) => writeFileSync(path.join(dir, files[n]), marked(c.yaml).text));
    const cli = spawnSync(
      process.execPath,
      [BIN, 'config', 'check', ...files.flatMap((f) => ['--config', path.join(dir, f)])],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(cli.status, 2, cli.stdout + cli.stderr);
    cliOutput = cli.stdout;
    for (const l of cli.stdout.split('\n')) {
      const m = /^(.*?):(\d+):(\d+): (.*) \[(BURROW_[A-Z_]+)\]$/.exec(l);
      if (!m || m[4].startsWith('warning: ')) continue;
      const list = fromCli.get(path.basename(m[1])) ?? [];
      list.push({ line: Number(m[2]), col: Number(m[3]), message: m[4], code: m[5] });
      fromCli.set(path.basename(m[1]), list);
    }
    client = await LspClient.start();
  });
  after(async () => {
    await client?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  CASES.forEach((c, n) => {
    it(c.what, async () => {
      const { text, line, col } = marked(c.yaml);
      const printed = fromCli.get(files[n]) ?? [];
      assert.equal(printed.length, 1, `one error from the CLI for ${files[n]}:\n${cliOutput}`);
      const uri = pathToFileURL(path.join(dir, files[n])).href;
      const diags = (await client.open(uri, text)).filter((d) => d.severity === 1);
      await client.close(uri);
      const lsp = diags.map((d) => ({
        line: d.range.start.line + 1,
        col: d.range.start.character + 1,
        message: String(d.message),
        code: String(d.code),
      }));
      assert.deepEqual(lsp, printed, 'the same error, at the same place');
      assert.deepEqual([printed[0].line, printed[0].col], [line, col], 'at the offending value');
      assert.match(printed[0].message, c.says);
    });
  });
});
