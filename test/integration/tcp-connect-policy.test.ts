// Traffic policy `on_tcp_connect` (ngrok's phase "when a connection arrives"): deny, close-connection,
// restrict-ips, set-vars and log on TCP endpoints (judged per connection before a byte reaches the
// agent) and on HTTP endpoints (judged once per visitor connection). Real sockets; the second
// visitor address is 127.0.0.2 (loopback), so CEL `conn.client_ip` tells the two apart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Agent, ExchangeInfo } from '../../tunnel/src/agent/agent';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { validateDocument } from '../../tunnel/src/config';
import { selfSignedCertificate } from '../../tunnel/src/edge/tls-cert';
import type { TrafficPolicyDocument } from '../../tunnel/src/modules/traffic-policy';
import { policyLogsOfLine, startAgentProcess } from '../support/agent-process';
import { listen, Resources, startAgent, startTunnel, waitFor } from '../support/tunnel';

/** Connects from `from`, sends `text`, half-closes, and returns what came back (or 'closed' on a reset). */
function talk(port: number, from: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from }, () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', () => resolve('closed'));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

/** One HTTP request from `from` on its own connection: the status, or 'closed' when the edge hung up. */
function get(port: number, host: string, from: string, agent?: http.Agent): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, localAddress: from, headers: { host }, agent: agent ?? false },
      (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve('closed'));
    req.setTimeout(10_000, () => req.destroy());
  });
}

describe('traffic policy: on_tcp_connect', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let capture: CaptureStore;
  let echoPort: number;
  let webPort: number;
  const exchanges: ExchangeInfo[] = [];

  before(async () => {
    const echo = res.server(net.createServer((s) => s.on('error', () => undefined).pipe(s)));
    echoPort = await listen(echo);
    webPort = await listen(res.server(http.createServer((req, reply) => reply.end(`app ${req.url}`))));
    capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
    agent = await startAgent(res, { capture });
    agent.on('exchange', (x) => exchanges.push(x));
  });
  after(() => res.closeAll());

  async function tcpEndpoint(trafficPolicy: TrafficPolicyDocument): Promise<number> {
    const state = await agent.startTunnel({
      name: `tcp-${Math.random().toString(36).slice(2, 8)}`,
      proto: 'tcp',
      upstream: `127.0.0.1:${echoPort}`,
      inspect: false,
      edge: { trafficPolicy },
    });
    return Number(new URL(state.urls[0]).port);
  }

  it('denies a connection its expression matches and logs the others with CEL conn variables', async () => {
    const port = await tcpEndpoint({
      on_tcp_connect: [
        { expressions: ["conn.client_ip == '127.0.0.2'"], actions: [{ type: 'deny' }] },
        {
          actions: [
            { type: 'set-vars', config: { vars: [{ tier: 'db' }] } },
            { type: 'log', config: { metadata: { ip: '${conn.client_ip}', port: '${conn.server_port}' } } },
          ],
        },
        {
          expressions: ["vars.tier == 'db'"],
          actions: [{ type: 'log', config: { metadata: { tier: '${vars.tier}' } } }],
        },
      ],
    });
    assert.equal(await talk(port, '127.0.0.1', 'hello'), 'hello');
    const denied = await talk(port, '127.0.0.2', 'hello');
    assert.ok(denied === '' || denied === 'closed', `the denied connection got ${JSON.stringify(denied)}`);
    await waitFor(() => exchanges.some((x) => x.tcp?.logs?.length), 5000, 'the logged connection');
    const logged = exchanges.find((x) => x.tcp?.logs?.length)!;
    assert.deepEqual(logged.tcp!.logs, [
      { metadata: { ip: '127.0.0.1', port: String(port) } },
      { metadata: { tier: 'db' } },
    ]);
    // The denied connection never reached the agent.
    assert.equal(exchanges.filter((x) => x.remoteAddr.includes('127.0.0.2')).length, 0);
  });

  it('restrict-ips and close-connection close the connection before any byte moves', async () => {
    const restricted = await tcpEndpoint({
      on_tcp_connect: [{ actions: [{ type: 'restrict-ips', config: { allow: ['10.0.0.0/8'] } }] }],
    });
    assert.ok(['', 'closed'].includes(await talk(restricted, '127.0.0.1', 'x')));
    const notEnforced = await tcpEndpoint({
      on_tcp_connect: [{ actions: [{ type: 'restrict-ips', config: { allow: ['10.0.0.0/8'], enforce: false } }] }],
    });
    assert.equal(await talk(notEnforced, '127.0.0.1', 'through'), 'through');
    // ngrok's legacy name of the phase on TCP/TLS endpoints.
    const legacy = await tcpEndpoint({ inbound: [{ actions: [{ type: 'deny' }] }] });
    assert.ok(['', 'closed'].includes(await talk(legacy, '127.0.0.1', 'x')));
    const closing = await tcpEndpoint({
      on_tcp_connect: [{ expressions: ['conn.client_port > 0'], actions: [{ type: 'close-connection' }] }],
    });
    assert.ok(['', 'closed'].includes(await talk(closing, '127.0.0.1', 'x')));
  });

  it('a TLS passthrough endpoint judges conn.tls.sni before the encrypted bytes go on', async () => {
    const cred = await selfSignedCertificate({ hosts: ['db.localhost'] });
    const upstream = res.server(
      tls.createServer(cred, (socket) =>
        socket.on('error', () => undefined).once('data', (d) => socket.end(`got ${d}`)),
      ),
    );
    const state = await agent.startTunnel({
      name: 'tls-sni',
      proto: 'tls',
      domain: 'db.localhost',
      upstream: String(await listen(upstream)),
      inspect: false,
      edge: {
        trafficPolicy: {
          on_tcp_connect: [
            { expressions: ["conn.client_ip == '127.0.0.2'"], actions: [{ type: 'deny' }] },
            {
              expressions: ["conn.tls.sni == 'db.localhost'"],
              actions: [{ type: 'log', config: { metadata: { sni: '${conn.tls.sni}' } } }],
            },
          ],
        },
      },
    });
    const port = Number(new URL(state.urls[0]).port);
    const hello = (from: string) =>
      new Promise<string>((resolve) => {
        const raw = net.connect({ host: '127.0.0.1', port, localAddress: from });
        const socket = tls.connect({ socket: raw, servername: 'db.localhost', ca: cred.cert }, () =>
          socket.write('ping'),
        );
        let got = '';
        socket.on('data', (c: Buffer) => (got += c));
        socket.on('end', () => resolve(got));
        socket.on('error', () => resolve('closed'));
      });
    assert.equal(await hello('127.0.0.1'), 'got ping');
    // Closed before the handshake: no server hello, no byte of the upstream's.
    assert.ok(['', 'closed'].includes(await hello('127.0.0.2')));
    await waitFor(() => exchanges.some((x) => x.tunnel === 'tls-sni' && x.tcp?.logs), 5000, 'the TLS connection');
    assert.deepEqual(exchanges.find((x) => x.tunnel === 'tls-sni')!.tcp!.logs, [{ metadata: { sni: 'db.localhost' } }]);
  });

  it('judges an HTTP endpoint once per visitor connection; its log entries go with the first request', async () => {
    const state = await startTunnel(agent, {
      name: 'web-connect',
      inspect: true,
      upstream: String(webPort),
      edge: {
        trafficPolicy: {
          on_tcp_connect: [
            { expressions: ["conn.client_ip == '127.0.0.2'"], actions: [{ type: 'deny' }] },
            { actions: [{ type: 'log', config: { metadata: { conn: '${conn.client_ip}' } } }] },
          ],
        },
      },
    });
    const port = agent.embedded!.httpPort;
    assert.equal(await get(port, state.host, '127.0.0.2'), 'closed');
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal(await get(port, state.host, '127.0.0.1', keepAlive), 200);
    assert.equal(await get(port, state.host, '127.0.0.1', keepAlive), 200);
    keepAlive.destroy();
    const mine = () => capture.list().filter((x) => x.tunnelName === 'web-connect' && x.state === 'complete');
    await waitFor(
      () => mine().length === 2,
      5000,
      `two captures: ${JSON.stringify(capture.list().map((x) => [x.tunnelName, x.state, x.edgeModule, x.response?.statusCode, x.error, x.policyLogs]))}`,
    );
    const withLogs = mine().filter((x) => x.policyLogs?.length);
    assert.equal(withLogs.length, 1, 'logged once for the connection, not per request');
    assert.deepEqual(withLogs[0].policyLogs, [{ metadata: { conn: '127.0.0.1' } }]);
  });

  it('close-connection in on_http_request hangs up without a response', async () => {
    const state = await startTunnel(agent, {
      upstream: String(webPort),
      edge: {
        trafficPolicy: {
          on_http_request: [{ expressions: ["req.url.path == '/bye'"], actions: [{ type: 'close-connection' }] }],
        },
      },
    });
    const port = agent.embedded!.httpPort;
    assert.equal(await get(port, state.host, '127.0.0.1'), 200);
    const bye = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/bye', headers: { host: state.host }, agent: false },
        (r) => resolve(`status ${r.statusCode}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(bye, 'ECONNRESET');
  });

  it('`burrow tcp --traffic-policy-file` logs the connection as tcp_connection_closed.v0 with its entries', async () => {
    const dir = res.add(fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-tcp-policy-')), (d) =>
      fs.rmSync(d, { recursive: true, force: true }),
    );
    const file = path.join(dir, 'policy.yml');
    fs.writeFileSync(
      file,
      'on_tcp_connect:\n  - actions:\n      - type: log\n        config: {metadata: {who: "${conn.client_ip}"}}\n',
    );
    const cli = await startAgentProcess(res, [
      'tcp',
      String(echoPort),
      '--traffic-policy-file',
      file,
      '--web-addr',
      'false',
    ]);
    assert.equal(await talk(Number(cli.url.port), '127.0.0.1', 'ping'), 'ping');
    assert.deepEqual(await policyLogsOfLine(cli, 'tcp_connection_closed.v0'), [{ metadata: { who: '127.0.0.1' } }]);
  });

  it("config checks report every refusal of a TCP endpoint's policy at its own line", () => {
    const text = [
      'version: "2"',
      'tunnels:',
      '  db:',
      '    proto: tcp',
      '    addr: 5432',
      '    traffic_policy:',
      '      on_http_request:',
      '        - actions: [{type: deny}]',
      '      on_tcp_connect:',
      '        - actions:',
      '            - type: add-headers',
      '              config: {headers: {a: b}}',
      '            - type: restrict-ips',
      '              config: {allow: ["nonsense"]}',
      '',
    ].join('\n');
    const { problems } = validateDocument(text, 'ngrok.yml');
    assert.deepEqual(
      problems.map((p) => `${p.line}:${/\[(ERR_NGROK_\d+)\]/.exec(p.message)?.[1]}`),
      ['8:ERR_NGROK_2230', '11:ERR_NGROK_2202', '14:ERR_NGROK_362'],
    );
  });

  it('refuses HTTP phases and HTTP-only actions on a TCP endpoint, with ngrok codes', async () => {
    await assert.rejects(
      tcpEndpoint({ on_http_request: [{ actions: [{ type: 'deny' }] }] }),
      (err: { code?: string; message: string }) =>
        err.code === 'ERR_NGROK_2230' && /on_tcp_connect only/.test(err.message),
    );
    await assert.rejects(
      tcpEndpoint({ on_tcp_connect: [{ actions: [{ type: 'add-headers', config: { headers: { a: 'b' } } }] }] }),
      (err: { code?: string; message: string }) =>
        err.code === 'ERR_NGROK_2202' && /not allowed in on_tcp_connect/.test(err.message),
    );
  });
});
