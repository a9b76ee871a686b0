// Upgrades other than websocket are not tunnelled as raw streams: `curl --http2` on plain http
// sends `Upgrade: h2c`, and gets the ordinary HTTP/1.1 answer through the edge's request handling.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Agent } from '../../tunnel/src/agent/agent';

const run = promisify(execFile);

describe('tunnel: non-websocket upgrades', () => {
  let upstream: http.Server;
  let agent: Agent;
  let url: URL;
  const seen: http.IncomingHttpHeaders[] = [];

  before(async () => {
    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end(`plain answer to ${req.url}`);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    agent = new Agent({ embedded: { port: 0 } });
    await agent.start();
    const t = await agent.startTunnel({
      name: 'web',
      proto: 'http',
      upstream: String((upstream.address() as AddressInfo).port),
      inspect: false,
      edge: { basicAuth: { credentials: ['user:password1'] } },
    });
    url = new URL(t.urls[0]);
  });
  after(async () => {
    await agent.close();
    upstream.close();
  });

  it("answers curl --http2 (Upgrade: h2c) with the upstream's normal response, modules applied, no Upgrade upstream", async () => {
    const args = [
      '-s',
      '--http2',
      '-u',
      'user:password1',
      '--resolve',
      `${url.hostname}:${url.port}:127.0.0.1`,
      '-w',
      '\\n%{http_code} %{http_version}',
      `${url.href}h2c?x=1`,
    ];
    const { stdout } = await run('curl', args);
    assert.equal(stdout, 'plain answer to /h2c?x=1\n200 1.1');
    assert.equal(seen.at(-1)!.upgrade, undefined);
    assert.equal(seen.at(-1)!['http2-settings'], undefined);
    const denied = await run('curl', [
      '-s',
      '--http2',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--resolve',
      `${url.hostname}:${url.port}:127.0.0.1`,
      url.href,
    ]);
    assert.equal(denied.stdout, '401', 'basic auth still guards an upgrade request');
  });

  it('refuses a non-websocket upgrade that carries a body, with a coded 400', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), '127.0.0.1', () => {
        socket.end(
          `POST / HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc`,
        );
      });
      let data = '';
      socket.on('data', (d) => {
        data += d;
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /ngrok-error-code: ERR_BURROW_BAD_REQUEST/);
  });
});
