// Broken configs: each gets the right coded message at the exact line:col.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { findNodeAtPath, formatProblem, validateDocument } from '../../tunnel/src/config';

const BROKEN = path.resolve(__dirname, '../fixtures/config/broken');

/** fixture → [line:col, code, exact message] of an error it must produce. */
const CASES: [string, string, string, string][] = [
  ['unknown-key.yml', '7:5', 'BURROW_CONFIG_UNKNOWN_KEY', 'Unknown key `colour` in this tunnel.'],
  [
    'wrong-type.yml',
    '5:11',
    'BURROW_CONFIG_WRONG_TYPE',
    '`tunnels.web.addr` must be a string or an integer, not a list',
  ],
  [
    'bad-enum.yml',
    '3:14',
    'BURROW_CONFIG_BAD_VALUE',
    '`agent.log_level` must be one of "crit", "warn", "error", "info", "debug", got "verbose"',
  ],
  ['tcp-host-header.yml', '6:5', 'BURROW_CONFIG_UNKNOWN_KEY', 'tcp tunnels do not take `host_header`'],
  ['missing-addr.yml', '3:3', 'BURROW_CONFIG_MISSING_KEY', 'missing required key `addr` in `tunnels.web`'],
  ['bad-version.yml', '1:10', 'BURROW_CONFIG_BAD_VERSION', '`version` must be "2" or "3", got "4"'],
  ['yaml-syntax.yml', '5:11', 'BURROW_CONFIG_YAML_SYNTAX', 'Missing closing "quote'],
  ['tabs.yml', '3:1', 'BURROW_CONFIG_TAB_INDENT', 'tabs are not allowed for indentation; use spaces'],
  ['duplicate-key.yml', '3:1', 'BURROW_CONFIG_DUPLICATE_KEY', 'Map keys must be unique'],
  ['labeled.yml', '7:5', 'BURROW_CONFIG_UNSUPPORTED', '`crt` is not supported yet (TLS termination)'],
  [
    'no-version.yml',
    '2:1',
    'BURROW_CONFIG_VERSION_REQUIRED',
    '`version` property is required; add `version: "2"` at the top (ngrok agent 3 refuses files without it)',
  ],
  [
    'proto-https.yml',
    '4:12',
    'BURROW_CONFIG_TUNNEL_TYPE',
    'unsupported tunnel proto "https": must be http, tcp or tls; use `proto: http` (https is the default scheme)',
  ],
  ['no-proto.yml', '3:3', 'BURROW_CONFIG_TUNNEL_TYPE', 'tunnel `web` needs `proto` (http, tcp or tls) or `labels`'],
  [
    'v3-top-level-authtoken.yml',
    '2:1',
    'BURROW_CONFIG_UNKNOWN_KEY',
    'Unknown key `authtoken` at the top level. In version 3 files `authtoken` belongs under `agent:`.',
  ],
  [
    'typo-did-you-mean.yml',
    '6:5',
    'BURROW_CONFIG_UNKNOWN_KEY',
    'Unknown key `bind-tls` in this tunnel. Did you mean `bind_tls`?',
  ],
  [
    'bad-duration.yml',
    '3:23',
    'BURROW_CONFIG_BAD_VALUE',
    '`agent.heartbeat_interval` must be a duration such as `10s`, `1m` or `1h30m`, got "ten seconds"',
  ],
  ['unknown-action.yml', '10:21', 'BURROW_CONFIG_UNKNOWN_ACTION', 'unknown action type "add-request-headers"'],
  [
    'action-config.yml',
    '12:17',
    'BURROW_CONFIG_UNKNOWN_KEY',
    'Unknown key `status` in `endpoints[0].traffic_policy.on_http_request[0].actions[0].config`.',
  ],
  ['duplicate-endpoint.yml', '7:11', 'BURROW_CONFIG_DUPLICATE_NAME', 'endpoint name "web" is already used'],
  [
    'duplicate-endpoint.yml',
    '6:17',
    'BURROW_CONFIG_BAD_VALUE',
    '`endpoints[0].upstream.protocol` must be one of "http1", "http2", got "http3"; did you mean `http1`?',
  ],
  [
    'domain-and-subdomain.yml',
    '7:5',
    'BURROW_CONFIG_CONFLICT',
    'set only one of `domain`, `subdomain` on tunnel `web`',
  ],
  [
    'web-addr-true.yml',
    '3:13',
    'BURROW_CONFIG_BAD_VALUE',
    '`agent.web_addr` must be a host:port string or false, got a boolean',
  ],
  [
    'endpoint-missing-keys.yml',
    '3:5',
    'BURROW_CONFIG_MISSING_KEY',
    'missing required key `upstream` in `endpoints[0]`',
  ],
  [
    'undefined-alias.yml',
    '2:12',
    'BURROW_CONFIG_YAML_SYNTAX',
    'Unresolved alias (the anchor must be set before the alias): **** (quote the value if `*` or `&` is meant literally)',
  ],
  [
    'not-a-mapping.yml',
    '1:1',
    'BURROW_CONFIG_NOT_A_MAPPING',
    'the document must be a mapping of keys to values, not a list',
  ],
];

describe('config validation of broken files', () => {
  for (const [file, at, code, message] of CASES) {
    it(`${file}: ${code} at ${at}`, () => {
      const { problems } = validateDocument(readFileSync(path.join(BROKEN, file), 'utf8'), file);
      const hit = problems.find((p) => p.code === code && `${p.line}:${p.col}` === at && p.message === message);
      assert.ok(hit, `no ${code} at ${at} saying "${message}"; got:\n${problems.map(formatProblem).join('\n')}`);
      assert.equal(hit.severity, 'error');
      assert.equal(formatProblem(hit), `${file}:${at}: ${message} [${code}]`);
    });
  }

  it('reports one collapsed message for a oneOf miss, not one per branch', () => {
    const { problems } = validateDocument(readFileSync(path.join(BROKEN, 'tcp-host-header.yml'), 'utf8'), 'x.yml');
    assert.equal(problems.length, 1, problems.map(formatProblem).join('\n'));
  });

  it('turns deprecations into warnings naming the replacement, with no errors', () => {
    const text =
      'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    hostname: a.example.test\n    bind_tls: both\n';
    const { problems } = validateDocument(text, 'd.yml');
    assert.deepEqual(
      problems.map((p) => [p.severity, p.code, `${p.line}:${p.col}`, p.message]),
      [
        ['warning', 'BURROW_CONFIG_DEPRECATED', '6:5', '`hostname` is deprecated: Renamed to `domain` (agent 3.2.1).'],
        ['warning', 'BURROW_CONFIG_DEPRECATED', '7:5', '`bind_tls` is deprecated: Replaced by `schemes` (agent 3.0).'],
      ],
    );
  });

  it('reports an empty value as a warning and treats it as unset', () => {
    const { problems, data } = validateDocument('version: "3"\nagent:\n  authtoken:\n', 'e.yml');
    assert.deepEqual(
      problems.map((p) => [p.severity, p.code, p.line, p.col]),
      [['warning', 'BURROW_CONFIG_EMPTY_VALUE', 3, 3]],
    );
    assert.deepEqual(data, { version: '3', agent: {} });
  });

  it('accepts version as a string or an integer', () => {
    for (const v of ['"2"', '2', "'3'", '3']) {
      const { problems, kind } = validateDocument(`version: ${v}\n`, 'v.yml');
      assert.deepEqual(problems, []);
      assert.equal(kind, v.includes('2') ? 'v2' : 'v3');
    }
  });

  it('guesses a traffic-policy document by its phase keys and checks action configs', () => {
    const text =
      'on_http_request:\n  - actions:\n      - type: rate-limit\n        config:\n          name: r\n          algorithm: sliding_window\n          capacity: 10\n          rate: 60s\n';
    const { problems, kind } = validateDocument(text, 'policy.yml');
    assert.equal(kind, 'traffic-policy');
    assert.deepEqual(
      problems.map((p) => `${p.line}:${p.col} ${p.message}`),
      ['4:9 missing required key `bucket_key` in `on_http_request[0].actions[0].config`'],
    );
  });

  it('refuses config on an action that takes none', () => {
    const { problems } = validateDocument(
      'on_tcp_connect:\n  - actions:\n      - type: close-connection\n        config: {}\n',
      'p.yml',
    );
    assert.deepEqual(
      problems.map((p) => `${p.line}:${p.col} ${p.message}`),
      ['4:9 `close-connection` takes no config'],
    );
  });

  it('walks a path to the YAML node (key and value)', () => {
    const text = 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n';
    const found = findNodeAtPath(parseDocument(text), ['tunnels', 'web', 'addr']);
    assert.equal(found.depth, 3);
    assert.equal(String((found.key as { value: unknown }).value), 'addr');
    assert.equal((found.value as { value: unknown }).value, 3000);
  });
});
