// The traffic-policy `log` action with the corpus file that uses it (131, its upstream port
// adapted): the metadata of both phases lands in the request's capture (`traffic_policy.logs`, as in
// ngrok's http_request_complete.v0 event) and in the agent's logfmt line; the request itself goes on
// untouched. Its config is checked by the one validation path: `burrow config check` (loadConfig /
// validateDocument) and the language server report the same coded problems.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { ExchangeInfo } from '../../tunnel/src/agent/agent';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { exchangeToNgrokJson } from '../../tunnel/src/capture/ngrok-json';
import { loadConfig, validateDocument } from '../../tunnel/src/config';
import { LanguageService } from '../../server/src/languageService';
import { policyLogsOfLine, startAgentProcess } from '../support/agent-process';
import { listen, request, Resources, startAgent, waitFor } from '../support/tunnel';

const CORPUS_131 = path.resolve(__dirname, '../fixtures/ngrok-yml/131-lydianai--voice.ailydian.com.yml');

/**
 * The corpus file pointed at `port`, without its placeholder domain (the embedded edge names it).
 * Its expressions stay as written: `req.url.contains(…)` reads `req.url` as the whole URL, as ngrok does.
 */
function adapted(port: number): string {
  return fs
    .readFileSync(CORPUS_131, 'utf8')
    .replace('addr: 3000', `addr: ${port}`)
    .replace(/^\s*domain: .*\n/m, '');
}

describe('traffic policy: the log action', function () {
  this.timeout(30_000);
  const res = new Resources();
  let upstreamPort: number;
  let dir: string;

  before(async () => {
    upstreamPort = await listen(res.server(http.createServer((req, reply) => reply.end(`app ${req.url}`))));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-policy-log-'));
  });
  after(() => res.closeAll());

  it('loads corpus file 131 and records both phases in the capture and the exchange', async () => {
    const file = path.join(dir, 'ngrok.yml');
    fs.writeFileSync(file, adapted(upstreamPort));
    const config = loadConfig({ paths: [file] });
    assert.deepEqual(
      config.problems.filter((p) => p.severity === 'error'),
      [],
    );
    const capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
    const agent = await startAgent(res, { capture });
    const exchanges: ExchangeInfo[] = [];
    agent.on('exchange', (x) => exchanges.push(x));
    const state = await agent.startTunnel(config.endpoints[0]);
    const host = new URL(state.urls[0]).host.replace(/:\d+$/, '');
    const port = agent.embedded!.httpPort;

    const reply = await request(port, host, { path: '/api/chat?q=1' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'app /api/chat?q=1', 'log never stops or changes the request');

    await waitFor(() => exchanges.length === 1, 5_000, 'the exchange to close');
    const expected = [
      { metadata: { type: 'api_request', endpoint: '/api/chat', ip: '127.0.0.1', timestamp: '' } },
      { metadata: { type: 'api_response', status: '200', ip: '127.0.0.1' } },
    ];
    assert.deepEqual(exchanges[0].http?.logs, expected);
    const [captured] = capture.list();
    assert.deepEqual(exchangeToNgrokJson(captured).traffic_policy, { logs: expected });

    // A request no rule matches carries no entries (and no empty key).
    await request(port, host, { path: '/' });
    await waitFor(() => exchanges.length === 2, 5_000, 'the second exchange');
    assert.equal(exchanges[1].http?.logs, undefined);
    assert.equal(exchangeToNgrokJson(capture.list()[0]).traffic_policy, undefined);
  });

  it('sets actions.ngrok.log.metadata for the actions after it', async () => {
    const capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
    const agent = await startAgent(res, { capture });
    const state = await agent.startTunnel({
      name: 'log-result',
      proto: 'http',
      upstream: String(upstreamPort),
      inspect: true,
      edge: {
        trafficPolicy: {
          on_http_request: [
            {
              actions: [
                { type: 'log', config: { metadata: { path: '${req.url.path}', n: 1, tags: ['a', '${req.method}'] } } },
                { type: 'add-headers', config: { headers: { 'x-logged': '${actions.ngrok.log.metadata.path}' } } },
              ],
            },
          ],
        },
      },
    });
    const host = new URL(state.urls[0]).host.replace(/:\d+$/, '');
    const reply = await request(agent.embedded!.httpPort, host, { path: '/x' });
    assert.equal(reply.status, 200);
    await waitFor(() => capture.list()[0]?.state === 'complete', 5_000, 'the capture');
    const [ex] = capture.list();
    assert.deepEqual(ex.policyLogs, [{ metadata: { path: '/x', n: 1, tags: ['a', 'GET'] } }]);
    assert.deepEqual(
      ex.request.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1].toLowerCase() === 'x-logged'),
      ['/x'],
    );
  });

  it('records the entries of a request the edge answers itself (log, then deny)', async () => {
    const capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
    const agent = await startAgent(res, { capture });
    const state = await agent.startTunnel({
      name: 'log-deny',
      proto: 'http',
      upstream: String(upstreamPort),
      inspect: true,
      edge: {
        trafficPolicy: {
          on_http_request: [
            {
              expressions: ["req.url.path.startsWith('/admin')"],
              actions: [{ type: 'log', config: { metadata: { denied: '${req.url.path}' } } }, { type: 'deny' }],
            },
          ],
        },
      },
    });
    const host = new URL(state.urls[0]).host.replace(/:\d+$/, '');
    assert.equal((await request(agent.embedded!.httpPort, host, { path: '/admin/x' })).status, 403);
    await waitFor(() => capture.list().length === 1, 5_000, 'the capture');
    const json = exchangeToNgrokJson(capture.list()[0]);
    assert.equal(json.edge_module, 'traffic-policy');
    assert.deepEqual(json.traffic_policy, { logs: [{ metadata: { denied: '/admin/x' } }] });
  });

  it('writes the entries into the http_request_complete.v0 logfmt line of `burrow start`', async () => {
    const file = path.join(dir, 'cli.yml');
    fs.writeFileSync(file, adapted(upstreamPort).replace('version: "2"', 'version: "2"\nweb_addr: false'));
    const agent = await startAgentProcess(res, ['start', '--all', '--config', file, '--log-format', 'logfmt']);
    const reply = await request(Number(agent.url.port), agent.url.hostname, { path: '/api/chat' });
    assert.equal(reply.status, 200);
    assert.deepEqual(await policyLogsOfLine(agent, 'http_request_complete.v0'), [
      { metadata: { type: 'api_request', endpoint: '/api/chat', ip: '127.0.0.1', timestamp: '' } },
      { metadata: { type: 'api_response', status: '200', ip: '127.0.0.1' } },
    ]);
  });

  it('checks its config with coded problems, the same in `config check` and the language server', () => {
    const policy = [
      'on_http_request:',
      '  - actions:',
      '      - type: log',
      '        config:',
      '          metadata:',
      '            at: "${time.nowx}"',
      '  - actions:',
      '      - type: log',
      '        config:',
      '          metadata: { bad: "${req.url.path" }',
      '  - actions:',
      '      - type: log',
      '        config:',
      '          metadata: {}',
      '',
    ].join('\n');
    const fromConfig = validateDocument(policy, 'policy.yml', { kind: 'traffic-policy' }).problems.map((p) => [
      p.line,
      p.severity,
      /\[(ERR_NGROK_\d+)\]/.exec(p.message)?.[1],
    ]);
    const service = new LanguageService();
    const fromLsp = service
      .diagnostics(TextDocument.create('file:///p/policy.yml', 'yaml', 1, policy))
      .map((d) => [
        d.range.start.line + 1,
        d.severity === 1 ? 'error' : 'warning',
        /\[(ERR_NGROK_\d+)\]/.exec(String(d.message))?.[1],
      ]);
    // An unknown variable is a warning (the endpoint still starts, the value is ""); a template that
    // does not parse and an empty metadata map are refused.
    for (const expected of [
      [6, 'warning', 'ERR_NGROK_2238'],
      [10, 'error', 'ERR_NGROK_2224'],
      [14, 'error', 'ERR_NGROK_2204'],
    ]) {
      assert.ok(
        fromConfig.some((p) => JSON.stringify(p) === JSON.stringify(expected)),
        `config: ${JSON.stringify(fromConfig)}`,
      );
      assert.ok(
        fromLsp.some((p) => JSON.stringify(p) === JSON.stringify(expected)),
        `lsp: ${JSON.stringify(fromLsp)}`,
      );
    }
  });
});
