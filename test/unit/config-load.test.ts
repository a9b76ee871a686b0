// Loading from disk: v2/v3 equivalence, merge of several files, authtoken overrides, default
// locations, add-authtoken keeping comments, and the `config check` command's output.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addAuthtoken,
  checkConfig,
  defaultConfigPath,
  legacyConfigPath,
  loadConfig,
  runAddAuthtoken,
  runConfigCheck,
  validateDocument,
} from '../../tunnel/src/config';

const FIX = path.resolve(__dirname, '../fixtures/config');
const collect = () => {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join('') };
};

describe('config loading', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'burrow-config-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('normalizes v2 tunnels and v3 endpoints with the same meaning to the same EndpointSpec list', () => {
    const v2 = loadConfig({ paths: [path.join(FIX, 'same/v2.yml')], env: {} });
    const v3 = loadConfig({ paths: [path.join(FIX, 'same/v3.yml')], env: {} });
    assert.deepEqual(
      v2.problems.filter((p) => p.severity === 'error'),
      [],
    );
    assert.deepEqual(v3.problems, []);
    assert.deepEqual(v2.endpoints, v3.endpoints);
    assert.deepEqual(v2.settings, v3.settings);
    assert.deepEqual(v3.endpoints, [
      {
        name: 'web',
        proto: 'http',
        upstream: '3000',
        inspect: true,
        metadata: 'frontend',
        domain: 'app.example.test',
        schemes: ['https'],
      },
      {
        name: 'plain',
        proto: 'http',
        upstream: 'localhost:8080',
        inspect: true,
        domain: 'plain.example.test',
        schemes: ['http'],
      },
      { name: 'db', proto: 'tcp', upstream: '5432', inspect: true, remoteAddr: '1.tcp.example.test:20001' },
      { name: 'secure', proto: 'tls', upstream: '8443', inspect: true, domain: 'tls.example.test' },
    ]);
    assert.equal(v3.settings.webAddr, '127.0.0.1:4141');
    assert.equal(v3.settings.authtoken, 'tok-same');
  });

  it('maps supported v2 keys: headers, host_header, bind_tls, subdomain, inspect, agent settings', () => {
    const file = path.join(tmp, 'ngrok.yml');
    writeFileSync(
      file,
      [
        'version: 2',
        'server_addr: edge.example.test:4443',
        'web_addr: false',
        'inspect_db_size: 1000',
        'log: stderr',
        'log_format: json',
        'heartbeat_interval: 1m30s',
        'console_ui: false',
        'tunnels:',
        '  app:',
        '    proto: http',
        '    addr: 8080',
        '    subdomain: demo',
        '    bind_tls: both',
        '    host_header: rewrite',
        '    inspect: false',
        '    request_header:',
        '      add: ["X-A: 1"]',
        '      remove: [Cookie]',
        '    response_header:',
        '      add: ["X-B: 2"]',
        '',
      ].join('\n'),
    );
    const { settings, endpoints, problems } = loadConfig({ paths: [file], env: {} });
    assert.deepEqual(
      problems.filter((p) => p.severity === 'error'),
      [],
    );
    assert.deepEqual(endpoints, [
      {
        name: 'app',
        proto: 'http',
        upstream: '8080',
        inspect: false,
        subdomain: 'demo',
        schemes: ['http', 'https'],
        hostHeader: 'rewrite',
        edge: {
          requestHeaders: { add: ['X-A: 1'], remove: ['Cookie'] },
          responseHeaders: { add: ['X-B: 2'], remove: [] },
        },
      },
    ]);
    assert.equal(settings.edgeUrl, 'wss://edge.example.test:4443');
    assert.equal(settings.webAddr, false);
    assert.equal(settings.inspectDbSize, 1000);
    assert.equal(settings.log, 'stderr');
    assert.equal(settings.logFormat, 'json');
    assert.equal(settings.heartbeatIntervalMs, 90_000);
    assert.equal(settings.heartbeatToleranceMs, 15_000);
    assert.equal(settings.consoleUi, false);
  });

  it('merges --config files as ngrok does: later scalars win, lists replaced, tunnels merged per name', () => {
    const { settings, endpoints, problems, files } = loadConfig({
      paths: [path.join(FIX, 'merge/base.yml'), path.join(FIX, 'merge/override.yml')],
      env: {},
    });
    assert.deepEqual(problems, []);
    assert.equal(files.length, 2);
    assert.equal(settings.authtoken, 'base-token');
    assert.equal(settings.logLevel, 'debug');
    assert.deepEqual(settings.webAllowHosts, ['c.example.test']);
    assert.equal(settings.heartbeatIntervalMs, 20_000);
    // `web` from the later file replaces the earlier one whole (its inspect: false is gone).
    assert.deepEqual(
      endpoints.map((e) => [e.name, e.proto, e.upstream, e.inspect]),
      [
        ['web', 'http', '3001', true],
        ['api', 'http', '4000', true],
        ['ssh', 'tcp', '22', true],
      ],
    );
  });

  it('authtoken: BURROW_AUTHTOKEN beats NGROK_AUTHTOKEN beats the file; the flag beats all', () => {
    const paths = [path.join(FIX, 'merge/base.yml')];
    assert.equal(loadConfig({ paths, env: {} }).settings.authtokenSource, 'file');
    const ngrok = loadConfig({ paths, env: { NGROK_AUTHTOKEN: 'from-ngrok' } }).settings;
    assert.deepEqual([ngrok.authtoken, ngrok.authtokenSource], ['from-ngrok', 'NGROK_AUTHTOKEN']);
    const burrow = loadConfig({
      paths,
      env: { NGROK_AUTHTOKEN: 'from-ngrok', BURROW_AUTHTOKEN: 'from-burrow' },
    }).settings;
    assert.deepEqual([burrow.authtoken, burrow.authtokenSource], ['from-burrow', 'BURROW_AUTHTOKEN']);
    const flag = loadConfig({ paths, env: { BURROW_AUTHTOKEN: 'from-burrow' }, authtoken: 'from-flag' }).settings;
    assert.deepEqual([flag.authtoken, flag.authtokenSource], ['from-flag', 'flag']);
  });

  it('returns no endpoints and coded problems when a file is invalid or missing', () => {
    const missing = path.join(tmp, 'nope.yml');
    const r = loadConfig({ paths: [path.join(FIX, 'broken/labeled.yml'), missing], env: {} });
    assert.deepEqual(r.endpoints, []);
    assert.deepEqual(
      r.problems.map((p) => [path.basename(p.file), p.line, p.col, p.code]),
      [
        ['nope.yml', 1, 1, 'BURROW_CONFIG_FILE_NOT_FOUND'],
        ['labeled.yml', 4, 5, 'BURROW_CONFIG_DEPRECATED'],
        ['labeled.yml', 7, 5, 'BURROW_CONFIG_UNSUPPORTED'],
      ],
    );
  });

  it('default locations per OS, and the legacy ~/.ngrok2 file when the new one is missing', () => {
    assert.equal(defaultConfigPath({ platform: 'linux', home: '/home/u', env: {} }), '/home/u/.config/ngrok/ngrok.yml');
    assert.equal(
      defaultConfigPath({ platform: 'linux', home: '/home/u', env: { XDG_CONFIG_HOME: '/x' } }),
      '/x/ngrok/ngrok.yml',
    );
    assert.equal(
      defaultConfigPath({ platform: 'darwin', home: '/Users/u', env: {} }),
      '/Users/u/Library/Application Support/ngrok/ngrok.yml',
    );
    assert.equal(
      defaultConfigPath({
        platform: 'win32',
        home: 'C:\\Users\\u',
        env: { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' },
      }),
      'C:\\Users\\u\\AppData\\Local\\ngrok\\ngrok.yml',
    );
    assert.equal(legacyConfigPath({ platform: 'linux', home: '/home/u', env: {} }), '/home/u/.ngrok2/ngrok.yml');

    const opts = { platform: 'linux' as const, home: tmp, env: {} };
    assert.deepEqual(loadConfig(opts).files, []);
    mkdirSync(path.join(tmp, '.ngrok2'));
    copyFileSync(path.join(FIX, 'merge/override.yml'), legacyConfigPath(opts));
    assert.deepEqual(loadConfig(opts).files, [legacyConfigPath(opts)]);
    mkdirSync(path.dirname(defaultConfigPath(opts)), { recursive: true });
    copyFileSync(path.join(FIX, 'merge/base.yml'), defaultConfigPath(opts));
    const loaded = loadConfig(opts);
    assert.deepEqual(loaded.files, [defaultConfigPath(opts)]);
    assert.equal(loaded.settings.authtoken, 'base-token');
  });

  it('add-authtoken keeps comments and order in a v2 file (top-level authtoken)', () => {
    const file = path.join(tmp, 'v2.yml');
    copyFileSync(path.join(FIX, 'add-authtoken-v2.yml'), file);
    assert.deepEqual(addAuthtoken('tok-123', file), { path: file, created: false });
    const text = readFileSync(file, 'utf8');
    assert.equal(text, readFileSync(path.join(FIX, 'add-authtoken-v2.yml'), 'utf8') + 'authtoken: tok-123\n');
    assert.equal(loadConfig({ paths: [file], env: {} }).settings.authtoken, 'tok-123');
    addAuthtoken('tok-456', file);
    assert.match(
      readFileSync(file, 'utf8'),
      /region: eu # closest region\n[^]*  # the web app\n[^]*authtoken: tok-456\n$/,
    );
  });

  it('add-authtoken keeps comments in a v3 file (agent.authtoken) and creates a missing file', () => {
    const file = path.join(tmp, 'v3.yml');
    copyFileSync(path.join(FIX, 'add-authtoken-v3.yml'), file);
    addAuthtoken('tok-v3', file);
    const text = readFileSync(file, 'utf8');
    assert.ok(
      text.includes('# agent settings below\nagent:\n  log_level: debug # noisy on purpose\n  authtoken: tok-v3\n'),
      text,
    );
    assert.ok(text.includes('  - name: web # main site\n'), text);
    assert.deepEqual(validateDocument(text, file).problems, []);

    const fresh = path.join(tmp, 'deep/dir/ngrok.yml');
    assert.deepEqual(addAuthtoken('tok-new', fresh), { path: fresh, created: true });
    assert.equal(readFileSync(fresh, 'utf8'), 'version: "3"\nagent:\n  authtoken: "tok-new"\n');
    assert.equal(loadConfig({ paths: [fresh], env: {} }).settings.authtoken, 'tok-new');
  });

  it('runAddAuthtoken reports failures with exit code 1 and never prints the token', () => {
    const bad = path.join(tmp, 'list.yml');
    writeFileSync(bad, '- a\n- b\n');
    const out = collect();
    assert.equal(runAddAuthtoken('secret-token', bad, out), 1);
    assert.match(out.text(), /not a mapping/);
    const ok = collect();
    assert.equal(runAddAuthtoken('secret-token', path.join(tmp, 'ok.yml'), ok), 0);
    assert.doesNotMatch(ok.text(), /secret-token/);
  });

  it('runConfigCheck prints file:line:col problems and exits 1, or "valid" and 0', () => {
    const out = collect();
    const broken = path.join(FIX, 'broken/tcp-host-header.yml');
    assert.equal(runConfigCheck([broken], out), 1);
    assert.equal(out.text(), `${broken}:6:5: tcp tunnels do not take \`host_header\` [BURROW_CONFIG_UNKNOWN_KEY]\n`);
    const good = collect();
    assert.equal(runConfigCheck([path.join(FIX, 'same/v3.yml')], good), 0);
    assert.equal(good.text(), 'valid\n');
    assert.equal(checkConfig([path.join(FIX, 'same/v3.yml')]).length, 0);
  });
});
