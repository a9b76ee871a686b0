/**
 * Every error the edge answers itself carries an `ngrok-error-code` header and a small page (HTML
 * for browsers, JSON otherwise); an upstream can never set that header. Real sockets throughout.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import type { Agent } from '../../tunnel/src/agent/agent';
import { Resources, freePort, listen, request, startAgent, startTunnel, type Reply } from '../support/tunnel';

function assertEdgeError(reply: Reply, code: string, status: number): void {
  assert.equal(reply.status, status);
  assert.equal(reply.headers['ngrok-error-code'], code);
  assert.equal(reply.headers['content-type'], 'application/json');
  const body = JSON.parse(reply.body.toString()) as { error_code: string; status_code: number; msg: string };
  assert.equal(body.error_code, code);
  assert.equal(body.status_code, status);
  assert.ok(body.msg.length > 0);
}

describe('tunnel: edge error codes', function () {
  this.timeout(20_000);
  const res = new Resources();
  let agent: Agent;
  let edgePort: number;

  before(async () => {
    agent = await startAgent(res, { responseTimeoutMs: 400 });
    edgePort = agent.embedded!.httpPort;
  });
  after(() => res.closeAll());

  it('ERR_NGROK_3200 for a host no endpoint serves (JSON, and HTML for browsers)', async () => {
    const json = await request(edgePort, 'nobody-here.localhost');
    assertEdgeError(json, 'ERR_NGROK_3200', 404);
    const html = await request(edgePort, 'nobody-here.localhost', {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    assert.equal(html.status, 404);
    assert.equal(html.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(html.body.toString(), /<h1>Endpoint offline<\/h1>[\s\S]*ERR_NGROK_3200/);
  });

  it('ERR_NGROK_3200 once a tunnel is stopped, and for a websocket to an unknown host', async () => {
    const upstream = res.server(http.createServer((_req, rsp) => rsp.end('up')));
    const t = await startTunnel(agent, { name: 'stop-me', upstream: String(await listen(upstream)) });
    assert.equal((await request(t.port, t.host)).status, 200);
    await agent.stopTunnel('stop-me');
    assertEdgeError(await request(t.port, t.host), 'ERR_NGROK_3200', 404);
    const ws = new WebSocket(`ws://127.0.0.1:${edgePort}/`, { headers: { host: t.host } });
    ws.on('error', () => {
      /* expected */
    });
    const [req, rsp] = (await once(ws, 'unexpected-response')) as [http.ClientRequest, http.IncomingMessage];
    assert.equal(rsp.statusCode, 404);
    assert.equal(rsp.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    req.destroy();
  });

  it('ERR_NGROK_8012 when the upstream refuses the connection (http and websocket)', async () => {
    const t = await startTunnel(agent, { upstream: String(await freePort()) });
    assertEdgeError(await request(t.port, t.host, { method: 'POST', body: 'some body' }), 'ERR_NGROK_8012', 502);
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/`, { headers: { host: t.host } });
    ws.on('error', () => {
      /* expected */
    });
    const [req, rsp] = (await once(ws, 'unexpected-response')) as [http.ClientRequest, http.IncomingMessage];
    assert.equal(rsp.statusCode, 502);
    assert.equal(rsp.headers['ngrok-error-code'], 'ERR_NGROK_8012');
    req.destroy();
  });

  it('ERR_NGROK_3007 when the upstream does not answer within responseTimeoutMs', async () => {
    const held: http.ServerResponse[] = [];
    const upstream = res.server(
      http.createServer((_req, rsp) => {
        held.push(rsp);
      }),
    );
    const t = await startTunnel(agent, { upstream: String(await listen(upstream)) });
    const started = Date.now();
    assertEdgeError(await request(t.port, t.host), 'ERR_NGROK_3007', 504);
    assert.ok(Date.now() - started >= 350, 'answered before the timeout');
    held.forEach((r) => r.destroy());
  });

  it('ERR_NGROK_3004 when the upstream answers with something that is not HTTP', async () => {
    const garbage = res.server(
      net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end('THIS IS NOT HTTP\r\n\r\n'));
      }),
    );
    const t = await startTunnel(agent, { upstream: String(await listen(garbage)) });
    assertEdgeError(await request(t.port, t.host), 'ERR_NGROK_3004', 502);
  });

  it('an upstream cannot set ngrok-error-code, even on its own error responses', async () => {
    const upstream = res.server(
      http.createServer((_req, rsp) => {
        rsp.writeHead(502, {
          'ngrok-error-code': 'ERR_NGROK_3200',
          'NGROK-ERROR-CODE': 'ERR_NGROK_8012',
          'content-type': 'text/plain',
        });
        rsp.end('upstream says bad gateway');
      }),
    );
    const t = await startTunnel(agent, { upstream: String(await listen(upstream)) });
    const reply = await request(t.port, t.host);
    assert.equal(reply.status, 502);
    assert.equal(reply.headers['ngrok-error-code'], undefined);
    assert.ok(!reply.rawHeaders.some((h) => h.toLowerCase() === 'ngrok-error-code'));
    assert.equal(reply.body.toString(), 'upstream says bad gateway');
  });

  it('answers a request it cannot parse with a coded 400', async () => {
    const socket = net.connect(edgePort, '127.0.0.1');
    socket.end('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      text += c;
    });
    await once(socket, 'close');
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /ngrok-error-code: ERR_BURROW_BAD_REQUEST/i);
  });
});
