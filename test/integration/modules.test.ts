/**
 * Edge modules through a real tunnel: an Agent with its embedded edge, a real upstream on
 * loopback, real HTTP clients (Node's http/https, curl), and TLS client certificates made with
 * openssl in the test. Each module is configured the way users configure it (EdgeOptions as the
 * front doors produce them) and must change what a client sees.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { Agent } from '../../tunnel/src/agent/agent';
import { endpointFromFlags } from '../../tunnel/src/cli/endpoint-flags';
import { delay, listen, request, Resources, startAgent, startTunnel } from '../support/tunnel';

/** Runs a client (curl) without blocking the event loop: the edge it talks to lives in this process. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

type Echo = { method: string; url: string; headers: string[]; body: string };

const BIG = 'All work and no play makes Jack a dull boy.\n'.repeat(2000);

function upstreamHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = req.url ?? '/';
    if (url.startsWith('/big')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BIG), etag: '"v1"' });
      res.end(BIG);
    } else if (url.startsWith('/encoded')) {
      const gz = zlib.gzipSync(BIG);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': gz.length });
      res.end(gz);
    } else if (url.startsWith('/status/')) {
      res.writeHead(Number(url.slice(8)), { 'content-type': 'text/plain' });
      res.end('status\n');
    } else if (url.startsWith('/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`data: ${'first event '.repeat(30)}\n\n`);
      // The rest never comes until the client leaves: the first event must arrive on its own.
      req.socket.once('close', () => res.end());
    } else {
      const body = JSON.stringify({
        method: req.method ?? 'GET',
        url,
        headers: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      } satisfies Echo);
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes', server: 'test-upstream' });
      res.end(body);
    }
  });
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}

describe('edge modules through a real tunnel', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let upstreamPort: number;

  before(async () => {
    upstreamPort = await listen(res.server(http.createServer(upstreamHandler)));
    agent = await startAgent(res);
  });
  after(() => res.closeAll());

  describe('basic auth', () => {
    it('challenges with the realm, accepts each configured credential, refuses others', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { basicAuth: { credentials: ['alice:correct-horse', 'bob:battery-staple'], realm: 'burrow-test' } },
      });
      const none = await request(t.port, t.host, { path: '/echo' });
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Basic realm="burrow-test", charset="UTF-8"');
      const auth = (u: string) => ({ authorization: `Basic ${Buffer.from(u).toString('base64')}` });
      for (const cred of ['alice:correct-horse', 'bob:battery-staple']) {
        const ok = await request(t.port, t.host, { path: '/echo', headers: auth(cred) });
        assert.equal(ok.status, 200, cred);
        assert.equal((JSON.parse(ok.body.toString()) as Echo).url, '/echo');
      }
      assert.equal(
        (await request(t.port, t.host, { path: '/echo', headers: auth('alice:battery-staple') })).status,
        401,
      );
      assert.equal(
        (await request(t.port, t.host, { path: '/echo', headers: { authorization: 'Basic !!!' } })).status,
        401,
      );
      // curl speaks it too.
      const out = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-u',
        'bob:battery-staple',
        '--connect-to',
        `${t.host}:127.0.0.1:${t.port}`,
        `http://${t.host}/echo`,
      ]);
      assert.equal(out, '200');
    });

    it('refuses a bad credential at bind time with the ngrok code', async () => {
      await assert.rejects(
        startTunnel(agent, { upstream: String(upstreamPort), edge: { basicAuth: { credentials: ['alice:short'] } } }),
        (err: Error & { code?: string }) => err.code === 'ERR_NGROK_360' || /ERR_NGROK_360/.test(err.message),
      );
    });
  });

  describe('IP restrictions', () => {
    it('denies the client address with ERR_NGROK_3205 and allows it when listed (L4 address, not X-Forwarded-For)', async () => {
      const denied = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { ipRestriction: { allowCidrs: ['0.0.0.0/0', '::/0'], denyCidrs: ['127.0.0.0/8'] } },
      });
      const r = await request(denied.port, denied.host, {
        path: '/echo',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      assert.equal(r.status, 403);
      assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3205');
      const allowed = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { ipRestriction: { allowCidrs: ['127.0.0.1/32'] } },
      });
      assert.equal((await request(allowed.port, allowed.host, { path: '/echo' })).status, 200);
      const v6only = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { ipRestriction: { allowCidrs: ['::1/128'] } },
      });
      assert.equal((await request(v6only.port, v6only.host, { path: '/echo' })).status, 403);
    });

    it('applies named IP policies (union) and sees edits without a rebind', async () => {
      const edge = agent.embedded!;
      edge.ipPolicies.set({ id: 'ipp_office', rules: [{ cidr: '198.51.100.0/24', action: 'allow' }] });
      edge.ipPolicies.set({ id: 'ipp_local', rules: [{ cidr: '10.0.0.0/8', action: 'allow' }] });
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { ipRestriction: { ipPolicies: ['ipp_office', 'ipp_local'] } },
      });
      const r = await request(t.port, t.host, { path: '/echo' });
      assert.equal(r.status, 403);
      assert.equal(r.headers['ngrok-error-code'], 'ERR_NGROK_3203');
      edge.ipPolicies.set({ id: 'ipp_local', rules: [{ cidr: '127.0.0.0/8', action: 'allow' }] });
      assert.equal((await request(t.port, t.host, { path: '/echo' })).status, 200);
      await assert.rejects(
        startTunnel(agent, { upstream: String(upstreamPort), edge: { ipRestriction: { ipPolicies: ['ipp_nope'] } } }),
        /ipp_nope/,
      );
    });

    it('closes refused TCP connections', async () => {
      const echo = res.server(require('node:net').createServer((s: import('node:net').Socket) => s.pipe(s)));
      const echoPort = await listen(echo);
      const state = await agent.startTunnel({
        name: 'tcp-deny',
        proto: 'tcp',
        upstream: String(echoPort),
        inspect: false,
        edge: { ipRestriction: { denyCidrs: ['127.0.0.0/8'] } },
      });
      const port = Number(new URL(state.urls[0]).port);
      const net = await import('node:net');
      const got = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('ping'));
        let data = '';
        s.on('data', (c) => {
          data += c;
        });
        s.on('close', () => resolve(data));
        s.on('error', () => resolve(data));
        setTimeout(() => s.destroy(), 3000);
      });
      assert.equal(got, '');
    });
  });

  describe('request and response headers', () => {
    it('adds templated values (request id, client IP, CEL), removes and canonicalises', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: {
          requestHeaders: {
            add: ['x-request-id: ${.ngrok.request_id}', 'X-Client: ${.conn.client_ip} via ${req.method}'],
            remove: ['x-drop'],
          },
          responseHeaders: { add: ['x-served-for: ${.conn.client_ip}'], remove: ['server'] },
        },
      });
      const ids = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const r = await request(t.port, t.host, { path: '/echo', headers: { 'x-drop': '1' } });
        const echo = JSON.parse(r.body.toString()) as Echo;
        const id = values(echo.headers, 'x-request-id')[0];
        assert.match(id, /^[0-9a-f-]{36}$/);
        ids.add(id);
        assert.ok(echo.headers.includes('X-Request-Id'), 'canonical name as Go writes it');
        assert.deepEqual(values(echo.headers, 'x-client'), ['127.0.0.1 via GET']);
        assert.deepEqual(values(echo.headers, 'x-drop'), []);
        assert.equal(r.headers['x-served-for'], '127.0.0.1');
        assert.equal(r.headers.server, undefined);
        assert.equal(r.headers['x-upstream'], 'yes');
      }
      assert.equal(ids.size, 2, 'a new request id per request');
    });
  });

  describe('compression', () => {
    it('gzips or deflates by Accept-Encoding and leaves already-encoded responses alone', async () => {
      const t = await startTunnel(agent, { upstream: String(upstreamPort), edge: { compression: {} } });
      const gz = await request(t.port, t.host, { path: '/big', headers: { 'accept-encoding': 'gzip, deflate' } });
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(gz.headers['content-length'], undefined);
      assert.equal(gz.headers.etag, 'W/"v1"');
      assert.match(String(gz.headers.vary), /Accept-Encoding/);
      assert.ok(gz.body.length < BIG.length / 10);
      assert.equal(zlib.gunzipSync(gz.body).toString(), BIG);
      const df = await request(t.port, t.host, { path: '/big', headers: { 'accept-encoding': 'deflate' } });
      assert.equal(df.headers['content-encoding'], 'deflate');
      assert.equal(zlib.inflateSync(df.body).toString(), BIG);
      const plain = await request(t.port, t.host, { path: '/big' });
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.body.toString(), BIG);
      const pre = await request(t.port, t.host, { path: '/encoded', headers: { 'accept-encoding': 'deflate, gzip' } });
      assert.equal(pre.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(pre.body).toString(), BIG, 'compressed once, by the upstream');
      // curl decodes what it asked for.
      const viaCurl = await run('curl', [
        '-s',
        '--compressed',
        '--connect-to',
        `${t.host}:127.0.0.1:${t.port}`,
        `http://${t.host}/big`,
      ]);
      assert.equal(viaCurl, BIG);
    });

    it('streams: an event arrives compressed before the upstream ends the response', async () => {
      const t = await startTunnel(agent, { upstream: String(upstreamPort), edge: { compression: {} } });
      const first = await new Promise<string>((resolve, reject) => {
        const req = http.get(
          {
            host: '127.0.0.1',
            port: t.port,
            path: '/sse',
            headers: { host: t.host, 'accept-encoding': 'gzip' },
            agent: false,
          },
          (r) => {
            assert.equal(r.headers['content-encoding'], 'gzip');
            const gunzip = zlib.createGunzip();
            r.pipe(gunzip);
            gunzip.once('data', (c: Buffer) => {
              resolve(c.toString());
              req.destroy();
            });
          },
        );
        req.on('error', reject);
        setTimeout(() => reject(new Error('no event within 5 s: the compressor held it back')), 5000);
      });
      assert.match(first, /^data: first event/);
    });
  });

  describe('circuit breaker', () => {
    it('opens after enough 5xx (503 ERR_NGROK_3202), then closes after a good trial', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { circuitBreaker: { errorThreshold: 0.5, volumeThreshold: 4, trippedMs: 400 } },
      });
      for (let i = 0; i < 4; i++) assert.equal((await request(t.port, t.host, { path: '/status/500' })).status, 500);
      const open = await request(t.port, t.host, { path: '/echo' });
      assert.equal(open.status, 503);
      assert.equal(open.headers['ngrok-error-code'], 'ERR_NGROK_3202');
      await delay(450);
      assert.equal((await request(t.port, t.host, { path: '/echo' })).status, 200, 'the half-open trial goes through');
      assert.equal((await request(t.port, t.host, { path: '/echo' })).status, 200, 'closed again');
    });
  });

  describe('webhook verification', () => {
    const secret = 'gh-webhook-secret';
    const sign = (body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

    it('passes a correctly signed GitHub delivery with its exact body, refuses others with 403 ERR_NGROK_3204', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { webhookVerification: { provider: 'github', secret } },
      });
      const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
      const ok = await request(t.port, t.host, {
        method: 'POST',
        path: '/hook',
        headers: { 'x-hub-signature-256': sign(body), 'content-type': 'application/json' },
        body,
      });
      assert.equal(ok.status, 200);
      const echo = JSON.parse(ok.body.toString()) as Echo;
      assert.equal(echo.body, body);
      assert.deepEqual(values(echo.headers, 'content-length'), [String(Buffer.byteLength(body))]);
      const bad = await request(t.port, t.host, {
        method: 'POST',
        path: '/hook',
        headers: { 'x-hub-signature-256': sign(`${body} `) },
        body,
      });
      assert.equal(bad.status, 403);
      assert.equal(bad.headers['ngrok-error-code'], 'ERR_NGROK_3204');
      const unsigned = await request(t.port, t.host, { method: 'POST', path: '/hook', body });
      assert.equal(unsigned.status, 403);
    });

    it('verifies a chunked body and bounds what it holds (413 above the limit)', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { webhookVerification: { provider: 'github', secret, maxBodyBytes: 1024 } },
      });
      const body = 'x'.repeat(1000);
      const { Readable } = await import('node:stream');
      const ok = await request(t.port, t.host, {
        method: 'POST',
        path: '/hook',
        headers: { 'x-hub-signature-256': sign(body) },
        body: Readable.from([body.slice(0, 500), body.slice(500)]),
      });
      assert.equal(ok.status, 200);
      assert.equal((JSON.parse(ok.body.toString()) as Echo).body, body);
      const big = 'y'.repeat(5000);
      const tooBig = await request(t.port, t.host, {
        method: 'POST',
        path: '/hook',
        headers: { 'x-hub-signature-256': sign(big) },
        body: big,
      });
      assert.equal(tooBig.status, 413);
    });

    it('answers Twitter/X CRC challenges at the edge', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { webhookVerification: { provider: 'twitter', secret: 'consumer-secret' } },
      });
      const r = await request(t.port, t.host, { path: '/hook?crc_token=challenge123' });
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body.toString()), {
        response_token: `sha256=${createHmac('sha256', 'consumer-secret').update('challenge123').digest('base64')}`,
      });
    });
  });

  describe('user-agent filter', () => {
    it('refuses denied agents with ERR_NGROK_3211 unless an allow pattern matches', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: { userAgentFilter: { allow: ['(?i)goodbot'], deny: ['(?i)bot', '^curl/'] } },
      });
      const bot = await request(t.port, t.host, { path: '/echo', headers: { 'user-agent': 'EvilBot/1.0' } });
      assert.equal(bot.status, 403);
      assert.equal(bot.headers['ngrok-error-code'], 'ERR_NGROK_3211');
      assert.equal(
        (await request(t.port, t.host, { path: '/echo', headers: { 'user-agent': 'GoodBot/2.0' } })).status,
        200,
      );
      assert.equal(
        (await request(t.port, t.host, { path: '/echo', headers: { 'user-agent': 'Mozilla/5.0' } })).status,
        200,
      );
      const viaCurl = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--connect-to',
        `${t.host}:127.0.0.1:${t.port}`,
        `http://${t.host}/echo`,
      ]);
      assert.equal(viaCurl, '403');
    });
  });

  describe('mutual TLS and TLS termination options', () => {
    let dir: string;
    let caPem: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-mtls-'));
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      ssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '2',
        '-subj',
        '/CN=Burrow Test CA',
      );
      ssl(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'client.key',
        '-out',
        'client.csr',
        '-subj',
        '/CN=alice-laptop/O=Burrow',
      );
      ssl(
        'x509',
        '-req',
        '-in',
        'client.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'client.pem',
        '-days',
        '2',
      );
      ssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'rogue.key',
        '-out',
        'rogue.pem',
        '-days',
        '2',
        '-subj',
        '/CN=rogue',
      );
      caPem = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    function httpsGet(
      port: number,
      host: string,
      opts: { cert?: string; key?: string; headers?: Record<string, string> } = {},
    ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
      return new Promise((resolve, reject) => {
        const req = https.get(
          {
            host: '127.0.0.1',
            port,
            path: '/echo',
            servername: host.split(':')[0],
            rejectUnauthorized: false,
            agent: false,
            headers: { host, ...opts.headers },
            ...(opts.cert
              ? { cert: fs.readFileSync(path.join(dir, opts.cert)), key: fs.readFileSync(path.join(dir, opts.key!)) }
              : {}),
          },
          (r) => {
            let body = '';
            r.on('data', (c) => {
              body += c;
            });
            r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
          },
        );
        req.on('error', reject);
      });
    }

    it('asks for a client certificate, passes the CN upstream, refuses missing or foreign ones', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        schemes: ['https'],
        edge: { mutualTls: { certificateAuthorities: [caPem] } },
      });
      const good = await httpsGet(t.port, t.host, {
        cert: 'client.pem',
        key: 'client.key',
        headers: { 'x-tls-client-cn': 'forged' },
      });
      assert.equal(good.status, 200);
      const echo = JSON.parse(good.body) as Echo;
      assert.deepEqual(values(echo.headers, 'x-tls-client-cn'), ['alice-laptop']);
      assert.match(values(echo.headers, 'x-tls-client-subject')[0], /CN=alice-laptop/);
      const none = await httpsGet(t.port, t.host);
      assert.equal(none.status, 403);
      assert.equal(none.headers['ngrok-error-code'], 'ERR_BURROW_CLIENT_CERT');
      const rogue = await httpsGet(t.port, t.host, { cert: 'rogue.pem', key: 'rogue.key' });
      assert.equal(rogue.status, 403);
      // curl with the client certificate, HTTP/2 over TLS.
      const out = await run('curl', [
        '-sk',
        '--http2',
        '--cert',
        path.join(dir, 'client.pem'),
        '--key',
        path.join(dir, 'client.key'),
        '--connect-to',
        `${t.host.split(':')[0]}:${t.port}:127.0.0.1:${t.port}`,
        `${t.url}/echo`,
      ]);
      assert.deepEqual(values((JSON.parse(out) as Echo).headers, 'x-tls-client-cn'), ['alice-laptop']);
      // Another https endpoint on the same port is not asked for a certificate.
      const plain = await startTunnel(agent, { upstream: String(upstreamPort), schemes: ['https'] });
      assert.equal((await httpsGet(plain.port, plain.host)).status, 200);
    });

    it('refuses clients below the minimum TLS version', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        schemes: ['https'],
        edge: { tlsTermination: { minVersion: '1.3' } },
      });
      const handshake = (maxVersion: tls.SecureVersion) =>
        new Promise<string>((resolve) => {
          const s = tls.connect(
            {
              host: '127.0.0.1',
              port: t.port,
              servername: t.host.split(':')[0],
              rejectUnauthorized: false,
              maxVersion,
            },
            () => {
              resolve(s.getProtocol() ?? '');
              s.destroy();
            },
          );
          s.on('error', (err) => resolve(`error: ${err.message}`));
        });
      assert.equal(await handshake('TLSv1.3'), 'TLSv1.3');
      assert.match(await handshake('TLSv1.2'), /^error/);
    });
  });

  describe('traffic policy', () => {
    it('runs rules with CEL expressions: custom-response, deny, redirect, url-rewrite, add/remove headers', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: {
          trafficPolicy: {
            on_http_request: [
              {
                expressions: ["req.url.path == '/health'"],
                actions: [
                  {
                    type: 'custom-response',
                    config: { status_code: 200, body: '{"ok":true,"ip":"${conn.client_ip}"}' },
                  },
                ],
              },
              { expressions: ["req.method == 'DELETE'"], actions: [{ type: 'deny', config: { status_code: 405 } }] },
              {
                expressions: ["req.url.path.startsWith('/old/')"],
                actions: [{ type: 'redirect', config: { from: '/old/(.*)', to: '/new/$1', status_code: 301 } }],
              },
              {
                expressions: ["req.url.path.startsWith('/api')"],
                actions: [{ type: 'url-rewrite', config: { from: '/api/?(.*)', to: '/echo/$1' } }],
              },
              {
                actions: [
                  { type: 'add-headers', config: { headers: { 'x-policy': 'seen ${req.method}' } } },
                  { type: 'remove-headers', config: { headers: ['x-secret'] } },
                ],
              },
            ],
            on_http_response: [
              {
                expressions: ['res.status_code == 200'],
                actions: [{ type: 'add-headers', config: { headers: { 'x-res-policy': 'ok' } } }],
              },
              {
                expressions: ["req.url.path == '/status/404'"],
                actions: [{ type: 'custom-response', config: { status_code: 410, body: 'gone for good' } }],
              },
            ],
          },
        },
      });
      const health = await request(t.port, t.host, { path: '/health' });
      assert.equal(health.status, 200);
      assert.equal(health.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(health.body.toString()), { ok: true, ip: '127.0.0.1' });
      assert.equal((await request(t.port, t.host, { method: 'DELETE', path: '/echo' })).status, 405);
      const moved = await request(t.port, t.host, { path: '/old/page?x=1' });
      assert.equal(moved.status, 301);
      assert.equal(moved.headers.location, `http://${t.host}/new/page?x=1`);
      const rewritten = await request(t.port, t.host, { path: '/api/users?id=7', headers: { 'x-secret': 'drop me' } });
      const echo = JSON.parse(rewritten.body.toString()) as Echo;
      assert.equal(echo.url, '/echo/users?id=7');
      assert.deepEqual(values(echo.headers, 'x-policy'), ['seen GET']);
      assert.deepEqual(values(echo.headers, 'x-secret'), []);
      assert.equal(rewritten.headers['x-res-policy'], 'ok');
      const replaced = await request(t.port, t.host, { path: '/status/404' });
      assert.equal(replaced.status, 410);
      assert.equal(replaced.body.toString(), 'gone for good');
    });

    it('rate-limits per client IP with 429 and Retry-After', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: {
          trafficPolicy: {
            on_http_request: [
              {
                actions: [
                  {
                    type: 'rate-limit',
                    config: {
                      name: 'per-ip',
                      algorithm: 'sliding_window',
                      capacity: 3,
                      rate: '60s',
                      bucket_key: ['conn.client_ip'],
                    },
                  },
                ],
              },
            ],
          },
        },
      });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await request(t.port, t.host, { path: '/echo' })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      const limited = await request(t.port, t.host, { path: '/echo' });
      assert.ok(Number(limited.headers['retry-after']) >= 1);
    });

    it('maps module actions to the same modules (basic-auth, compress-response)', async () => {
      const t = await startTunnel(agent, {
        upstream: String(upstreamPort),
        edge: {
          trafficPolicy: {
            on_http_request: [
              {
                expressions: ["req.url.path.startsWith('/admin')"],
                actions: [{ type: 'basic-auth', config: { credentials: ['admin:admin-password'], realm: 'admin' } }],
              },
            ],
            on_http_response: [{ actions: [{ type: 'compress-response', config: { algorithms: ['gzip'] } }] }],
          },
        },
      });
      const challenged = await request(t.port, t.host, { path: '/admin/x' });
      assert.equal(challenged.status, 401);
      assert.match(String(challenged.headers['www-authenticate']), /realm="admin"/);
      assert.equal((await request(t.port, t.host, { path: '/public' })).status, 200);
      const big = await request(t.port, t.host, { path: '/big', headers: { 'accept-encoding': 'gzip' } });
      assert.equal(big.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(big.body).toString(), BIG);
    });

    it('refuses an unknown action at bind time with ERR_NGROK_2201 naming it', async () => {
      await assert.rejects(
        startTunnel(agent, {
          upstream: String(upstreamPort),
          edge: { trafficPolicy: { on_http_request: [{ actions: [{ type: 'teleport' }] }] } },
        }),
        (err: Error & { code?: string }) =>
          (err.code === 'ERR_NGROK_2201' || /ERR_NGROK_2201/.test(err.message)) && /teleport/.test(err.message),
      );
    });
  });

  describe('front doors', () => {
    it('CLI flags produce the same modules (and a secret-free usage error for bad ones)', async () => {
      const spec = endpointFromFlags('http', String(upstreamPort), {
        'basic-auth': ['carol:long-enough-pw'],
        compression: true,
        'request-header-add': ['X-Via: ${.conn.client_ip}'],
        'cidr-allow': ['127.0.0.0/8'],
      });
      const t = await startTunnel(agent, { ...spec, name: 'from-flags', inspect: false });
      const r = await request(t.port, t.host, {
        path: '/big',
        headers: {
          authorization: `Basic ${Buffer.from('carol:long-enough-pw').toString('base64')}`,
          'accept-encoding': 'gzip',
        },
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.throws(
        () => endpointFromFlags('http', '3000', { 'basic-auth': ['carol:tiny-pw'] }),
        (err: Error) => /ERR_NGROK_360/.test(err.message) && !err.message.includes('tiny-pw'),
      );
      assert.throws(() => endpointFromFlags('http', '3000', { 'circuit-breaker': '2' }), /ERR_NGROK_361/);
    });
  });
});
