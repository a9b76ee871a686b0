// ngrok's own SDK (@ngrok/ngrok, its native ngrok-rust client) against a Burrow edge: the built
// `burrow edge --ngrok-agent-listen` as a child process with a test CA's certificate, the SDK's
// forward() pointed at it with server_addr + session_ca_cert, real upstreams and clients.
// Where the machine allows, the whole suite re-runs itself inside `unshare -rn` (a network
// namespace with only loopback), so the SDK can reach nothing but this edge.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import http2 from 'node:http2';
import { Ngrok } from '@ngrok/ngrok-api';
import { PassThrough } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { FLAG_FIN, FLAG_SYN, FrameType, HEADER_BYTES, encodeFrame } from '../../tunnel/src/ngrok-protocol/frames';
import { MuxadoSession } from '../../tunnel/src/ngrok-protocol/session';
import { API_KEY, BIN, api as adminApi, spawnEdge, stopEdge, type EdgeChild } from '../support/edge-process';
import { delay, digestOf, freePort, listen, MiB, request, seededStream, waitFor } from '../support/tunnel';
import { INSIDE_NETNS, netnsAvailable, runInsideNetns } from '../support/netns';
import { makeTestCa } from '../support/test-ca';

const ngrok = require('@ngrok/ngrok') as typeof import('@ngrok/ngrok');

const TOKEN = 'ngrok-sdk-token-0123456789';
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

if (netnsAvailable()) {
  describe('ngrok agents on a Burrow edge (inside a loopback-only network namespace)', () => {
    it('passes every ngrok SDK test with only loopback reachable', async function () {
      this.timeout(10 * 60_000);
      assert.equal(
        await runInsideNetns(__filename, 9.5 * 60_000),
        0,
        'the ngrok SDK suite failed inside the namespace (output above)',
      );
    });
  });
} else {
  describe('ngrok agents on a Burrow edge' + (INSIDE_NETNS ? ' [netns]' : ' [loopback]'), suite);
}

function suite(this: Mocha.Suite): void {
  this.timeout(60_000);
  let dir: string;
  let caPem: string;
  const ports = { http: 0, tls: 0, ngrok: 0, admin: 0 };
  let edge: EdgeChild;
  let upstream: http.Server;
  let upstreamPort: number;
  const seen: http.IncomingHttpHeaders[] = [];
  /** Requests to /never, which the upstream accepts and does not answer (until a test says so). */
  const neverAnswered: http.ServerResponse[] = [];

  function startEdge(
    args = [
      '--listen',
      `127.0.0.1:${ports.http}`,
      '--tls-listen',
      `127.0.0.1:${ports.tls}`,
      '--ngrok-agent-listen',
      `127.0.0.1:${ports.ngrok}`,
      '--admin-addr',
      `127.0.0.1:${ports.admin}`,
      '--cert',
      path.join(dir, 'edge.crt'),
      '--key',
      path.join(dir, 'edge.key'),
    ],
  ): Promise<EdgeChild> {
    return spawnEdge(args, { BURROW_EDGE_TOKENS: TOKEN });
  }

  const api = (method: string, p: string, body?: unknown) => adminApi(ports.admin, method, p, body);

  /** forward() as a user would call it, changed only by server_addr and the CA. */
  function forward(config: Json): Promise<import('@ngrok/ngrok').Listener> {
    return ngrok.forward({
      addr: upstreamPort,
      authtoken: TOKEN,
      server_addr: `localhost:${ports.ngrok}`,
      session_ca_cert: caPem,
      ...config,
    });
  }

  async function refusal(config: Json): Promise<{ message: string; errorCode?: string }> {
    try {
      const l = await forward(config);
      await l.close();
    } catch (err) {
      return err as { message: string; errorCode?: string };
    }
    assert.fail(`forward(${JSON.stringify(config)}) was accepted`);
  }

  /**
   * A 204 through @ngrok/ngrok-api 0.11: the client still calls `.json()` on the empty body, which
   * rejects with a SyntaxError after the call succeeded (as against api.ngrok.com). Any other
   * rejection is a failure.
   */
  async function noContent(call: Promise<unknown>): Promise<void> {
    await call.catch((err: Error) => {
      if (!(err instanceof SyntaxError)) throw err;
    });
  }

  function httpsGet(host: string, p = '/'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: ports.tls, path: p, servername: host, headers: { host }, ca: caPem }, (res) => {
          let data = '';
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        })
        .on('error', reject);
    });
  }

  before(async function () {
    this.timeout(60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-ngrok-'));
    caPem = makeTestCa(dir, ['localhost', 'sdk-app.localhost', 'labeled.localhost']);
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();

    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        seededStream('down', 64 * MiB).pipe(res);
        return;
      }
      if (req.url === '/hash') {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        req.on('end', () => res.end(JSON.stringify({ digest: h.digest('hex'), length: n })));
        return;
      }
      if (req.url === '/never') {
        neverAnswered.push(res);
        return;
      }
      if (req.url === '/slow') {
        // A live response slower than the edge's response timeout: the head now, a chunk every 0.7 s.
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const tick = setInterval(() => {
          res.write(`chunk ${n}\n`);
          if (++n === 5) {
            clearInterval(tick);
            res.end();
          }
        }, 700);
        return;
      }
      res.end(`upstream ${req.method} ${req.url}`);
    });
    const wss = new WebSocketServer({ server: upstream });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `echo ${String(m)}`)));
    upstreamPort = await listen(upstream);
    edge = await startEdge();
  });

  after(async function () {
    this.timeout(20_000);
    await ngrok.kill().catch(() => undefined);
    if (edge) await stopEdge(edge);
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await ngrok.disconnect().catch(() => undefined);
  });

  it('http with a random name: the SDK gets a URL under the edge domain and the upstream answers through it', async () => {
    const listener = await forward({ schemes: ['HTTP'] });
    const url = new URL(listener.url()!);
    assert.match(url.hostname, /^[a-z]+-[a-z]+(-\d+)?\.localhost$/);
    assert.equal(url.protocol, 'http:');
    assert.equal(Number(url.port), ports.http);
    const reply = await request(ports.http, url.host, { path: '/hello?x=1' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'upstream GET /hello?x=1');
    // The edge adds the forwarding headers (ngrok's agent only carries bytes).
    assert.equal(seen.at(-1)!['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.at(-1)!['x-forwarded-proto'], 'http');
  });

  it('https (the SDK default) with a domain: https://DOMAIN on the TLS listener', async () => {
    const listener = await forward({ domain: 'sdk-app.localhost' });
    assert.equal(listener.url(), `https://sdk-app.localhost:${ports.tls}`);
    const reply = await httpsGet('sdk-app.localhost', '/secure');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'upstream GET /secure');
    assert.equal(seen.at(-1)!['x-forwarded-proto'], 'https');
  });

  it('basic auth and IP restrictions set from the SDK are enforced at the edge', async () => {
    const authed = new URL(
      (await forward({ schemes: ['HTTP'], basic_auth: ['alice:correct-horse'], domain: 'ba.localhost' })).url()!,
    );
    const none = await request(ports.http, authed.host);
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Basic/);
    const ok = await request(ports.http, authed.host, {
      headers: { authorization: `Basic ${Buffer.from('alice:correct-horse').toString('base64')}` },
    });
    assert.equal(ok.status, 200);

    const denied = new URL(
      (
        await forward({ schemes: ['HTTP'], ip_restriction_deny_cidrs: ['127.0.0.0/8'], domain: 'deny.localhost' })
      ).url()!,
    );
    const refused = await request(ports.http, denied.host);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['ngrok-error-code'], 'ERR_NGROK_3205');
    const allowed = new URL(
      (
        await forward({ schemes: ['HTTP'], ip_restriction_allow_cidrs: ['127.0.0.1/32'], domain: 'allow.localhost' })
      ).url()!,
    );
    assert.equal((await request(ports.http, allowed.host)).status, 200);
  });

  it('request and response header rules from the SDK run in the edge pipeline', async () => {
    const url = new URL(
      (
        await forward({
          schemes: ['HTTP'],
          request_header_add: ['X-From-Edge:yes'],
          response_header_add: ['X-Resp:added'],
        })
      ).url()!,
    );
    const reply = await request(ports.http, url.host);
    assert.equal(reply.status, 200);
    assert.equal(seen.at(-1)!['x-from-edge'], 'yes');
    assert.equal(reply.headers['x-resp'], 'added');
  });

  it('64 MiB each way with sha256 intact (256 KiB muxado windows, bounded memory)', async function () {
    this.timeout(180_000);
    const url = new URL((await forward({ schemes: ['HTTP'] })).url()!);
    // Up: the upstream hashes what it receives.
    const up = await request(ports.http, url.host, {
      method: 'POST',
      path: '/hash',
      headers: { 'content-type': 'application/octet-stream' },
      body: seededStream('up', 64 * MiB),
    });
    assert.equal(up.status, 200);
    const expectedUp = await digestOf(seededStream('up', 64 * MiB));
    assert.deepEqual(JSON.parse(up.body.toString()), { digest: expectedUp.digest, length: 64 * MiB });
    // Down: hash the streamed response here.
    const down = await new Promise<{ digest: string; length: number }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: ports.http, path: '/big', headers: { host: url.host } }, (res) => {
          assert.equal(res.statusCode, 200);
          digestOf(res).then(resolve, reject);
        })
        .on('error', reject);
    });
    assert.deepEqual(down, await digestOf(seededStream('down', 64 * MiB)));
  });

  it('websockets: the upgrade goes through the agent, then frames flow both ways', async () => {
    const url = new URL((await forward({ schemes: ['HTTP'] })).url()!);
    const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/socket`, { headers: { host: url.host } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const text = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
    ws.send('hi');
    assert.equal(await text, 'echo hi');
    const big = randomBytes(1024 * 1024);
    const binary = new Promise<Buffer>((r) => ws.once('message', (m) => r(m as Buffer)));
    ws.send(big);
    assert.ok((await binary).equals(big));
    ws.close();
  });

  it('tcp: a public port whose bytes reach the upstream through the agent', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    const echoPort = await listen(echo);
    try {
      const listener = await forward({ proto: 'tcp', addr: echoPort });
      const url = new URL(listener.url()!);
      assert.equal(url.protocol, 'tcp:');
      const socket = net.connect(Number(url.port), '127.0.0.1');
      const payload = randomBytes(512 * 1024);
      const got: Buffer[] = [];
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        socket.on('data', (c: Buffer) => {
          got.push(c);
          n += c.length;
          if (n >= payload.length) resolve();
        });
        socket.on('error', reject);
        socket.write(payload);
      });
      socket.destroy();
      assert.ok(Buffer.concat(got).equals(payload));
    } finally {
      echo.close();
    }
  });

  it('tcp with a traffic policy from the SDK: the edge runs its on_tcp_connect rules per connection', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    const echoPort = await listen(echo);
    try {
      const policy = {
        on_tcp_connect: [{ expressions: ["conn.client_ip == '127.0.0.2'"], actions: [{ type: 'deny' }] }],
      };
      const url = new URL(
        (await forward({ proto: 'tcp', addr: echoPort, traffic_policy: JSON.stringify(policy) })).url()!,
      );
      const talk = (from: string) =>
        new Promise<string>((resolve) => {
          const socket = net.connect({ port: Number(url.port), host: '127.0.0.1', localAddress: from }, () =>
            socket.end('hi'),
          );
          let got = '';
          socket.on('data', (c: Buffer) => (got += c));
          socket.on('end', () => resolve(got));
          socket.on('error', () => resolve('closed'));
        });
      assert.equal(await talk('127.0.0.1'), 'hi');
      assert.ok(['', 'closed'].includes(await talk('127.0.0.2')));
      // An HTTP phase on a tcp endpoint is refused with ngrok's code.
      const refused = await refusal({
        proto: 'tcp',
        addr: echoPort,
        traffic_policy: '{"on_http_request":[{"actions":[{"type":"deny"}]}]}',
      });
      assert.match(refused.errorCode ?? refused.message, /ERR_NGROK_2230/);
    } finally {
      echo.close();
    }
  });

  it('tcp with proxy_proto 1 and 2: the upstream gets a PROXY header naming the visitor, then the bytes', async () => {
    for (const version of ['1', '2'] as const) {
      let received = Buffer.alloc(0);
      const got = new Promise<void>((resolve) => {
        const server = net.createServer((s) => {
          s.on('data', (c: Buffer) => {
            received = Buffer.concat([received, c]);
            if (received.includes('payload')) {
              s.end();
              server.close();
              resolve();
            }
          });
        });
        void listen(server).then((port) => forward({ proto: 'tcp', addr: port, proxy_proto: version }).then(connect));
      });
      const connect = (listener: import('@ngrok/ngrok').Listener) => {
        const socket = net.connect(Number(new URL(listener.url()!).port), '127.0.0.1', () => socket.write('payload'));
        socket.on('error', () => undefined);
        return socket;
      };
      await got;
      if (version === '1') {
        assert.match(received.toString('latin1'), /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\npayload$/);
      } else {
        assert.equal(received.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
        assert.equal(received[12], 0x21);
        assert.equal(received[13], 0x11);
        assert.equal(received.subarray(16, 20).join('.'), '127.0.0.1');
        assert.equal(received.subarray(28).toString(), 'payload');
      }
      await ngrok.disconnect();
    }
  });

  it('a labeled tunnel from the SDK serves an HTTPS edge route through its tunnel group', async () => {
    const group = await api('POST', '/backends/tunnel_group', { labels: { team: 'ngrok-sdk' } });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const e = await api('POST', '/edges/https', { hostports: ['labeled.localhost:443'] });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    const route = await api('POST', `/edges/https/${e.body.id}/routes`, {
      match_type: 'path_prefix',
      match: '/',
      backend: { backend_id: group.body.id },
    });
    assert.equal(route.status, 201, JSON.stringify(route.body));
    await forward({ proto: 'labeled', labels: ['team:ngrok-sdk'] });
    const reply = await httpsGet('labeled.localhost', '/through-edge');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'upstream GET /through-edge');
    const backend = await api('GET', `/backends/tunnel_group/${group.body.id}`);
    assert.equal(backend.body.tunnels.length, 1);
  });

  it('refusals carry codes: wrong token, a name the credential may not bind, options Burrow cannot honour', async () => {
    const wrong = await refusal({ authtoken: 'not-a-token', schemes: ['HTTP'] });
    assert.equal(wrong.errorCode, 'ERR_NGROK_107', wrong.message);

    const cred = await api('POST', '/credentials', { acl: ['bind:only-this.localhost'] });
    assert.equal(cred.status, 201, JSON.stringify(cred.body));
    const forbidden = await refusal({ authtoken: cred.body.token, domain: 'other.localhost', schemes: ['HTTP'] });
    assert.equal(forbidden.errorCode, 'ERR_NGROK_316', forbidden.message);
    const allowed = await forward({ authtoken: cred.body.token, domain: 'only-this.localhost', schemes: ['HTTP'] });
    assert.equal(allowed.url(), `http://only-this.localhost:${ports.http}`);

    const taken = await refusal({ domain: 'only-this.localhost', schemes: ['HTTP'] });
    assert.equal(taken.errorCode, 'ERR_NGROK_334', taken.message);

    for (const option of [
      { schemes: ['HTTP'], websocket_tcp_converter: true },
      { schemes: ['HTTP'], proxy_proto: '1' },
      { proto: 'tls', domain: 'term.localhost', crt: 'cert', key: 'key' },
    ]) {
      const refused = await refusal(option);
      assert.match(refused.message, /ERR_BURROW_UNSUPPORTED_OPTION/, JSON.stringify(option));
    }
    const badPolicy = await refusal({ schemes: ['HTTP'], traffic_policy: '{"on_http_request": "nope"}' });
    assert.match(badPolicy.errorCode ?? badPolicy.message, /ERR_NGROK_\d+/);
  });

  it('1,000 random malformed frames: each session ends with a coded GOAWAY, the edge keeps serving', async function () {
    this.timeout(180_000);
    const live = new URL((await forward({ schemes: ['HTTP'] })).url()!);
    const frames = Array.from({ length: 1000 }, (_, i) => malformedFrame(i));
    let goaways = 0;
    for (let i = 0; i < frames.length; i += 50) {
      const batch = frames.slice(i, i + 50);
      const results = await Promise.all(batch.map((f, j) => sendMalformed(f, (i + j) % 10 === 0)));
      goaways += results.filter(Boolean).length;
    }
    assert.equal(goaways, frames.length);
    assert.equal(edge.child.exitCode, null, 'the edge is still running');
    const reply = await request(ports.http, live.host, { path: '/still-here' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'upstream GET /still-here');
  });

  it('authtoken guessing is throttled per address, as for Burrow agents; the right token works after the lock', async () => {
    // One raw Auth per session: what the edge answers to `authtoken`.
    const auth = async (authtoken: string): Promise<Json> => {
      const socket = tls.connect({ host: '127.0.0.1', port: ports.ngrok, servername: 'localhost', ca: caPem });
      await new Promise((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      const mux = new MuxadoSession(socket, { role: 'client' });
      try {
        const stream = mux.openStream();
        stream.on('error', () => undefined);
        const head = Buffer.alloc(4);
        stream.write(
          Buffer.concat([head, Buffer.from(JSON.stringify({ Version: ['3'], Extra: { Authtoken: authtoken } }))]),
        );
        let text = '';
        for await (const c of stream) text += c;
        return JSON.parse(text);
      } finally {
        mux.close();
        socket.destroy();
      }
    };
    // Ten failures are free; the eleventh locks the address (1 s, doubling with each further failure).
    for (let i = 0; i < 11; i++) assert.match((await auth(`guess-${i}`)).Error ?? '', /ERR_NGROK_107/);
    // While locked, a try is refused before the token is looked at, even the right one.
    assert.match((await auth(TOKEN)).Error ?? '', /ERR_BURROW_AUTH_THROTTLED/);
    await delay(1300);
    const ok = await auth(TOKEN);
    assert.equal(ok.Error ?? '', '', ok.Error);
    assert.equal(ok.Version, '3');
  });

  it('raw protocol: heartbeat nonces are echoed, SrvInfo answers, case-insensitive keys, Unbind is idempotent', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.ngrok, servername: 'localhost', ca: caPem });
    await new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const mux = new MuxadoSession(socket, { role: 'client' });
    const rpc = async (type: number, body: unknown): Promise<Json> => {
      const stream = mux.openStream();
      stream.on('error', () => undefined);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(type >>> 0);
      stream.write(Buffer.concat([head, Buffer.from(JSON.stringify(body))]));
      let text = '';
      for await (const c of stream) text += c;
      return JSON.parse(text);
    };
    try {
      // ngrok-go spells it "Authtoken", ngrok-rust "AuthToken": both are the same key.
      const auth = await rpc(0, { version: ['3', '2'], clientid: '', extra: { authtoken: TOKEN, os: 'plan9' } });
      assert.equal(auth.Version, '3');
      assert.match(auth.ClientId, /^sess_/);
      const beat = mux.openStream();
      beat.on('error', () => undefined);
      const nonce = randomBytes(4);
      beat.write(Buffer.concat([Buffer.from('ffffffff', 'hex'), nonce]));
      const echoed = await new Promise<Buffer>((r) => beat.once('data', r));
      assert.ok(echoed.equals(nonce));
      assert.deepEqual(await rpc(8, {}), { Region: 'burrow' });
      const bind = await rpc(1, { Id: '', Proto: 'http', Opts: {}, Extra: {} });
      assert.equal(bind.Error ?? '', '', bind.Error);
      assert.match(bind.URL, /^http:\/\/[a-z-]+(-\d+)?\.localhost:\d+$/);
      assert.deepEqual(await rpc(2, { Id: bind.Id }), {});
      assert.deepEqual(await rpc(2, { Id: bind.Id }), {});
      const gone = await request(ports.http, new URL(bind.URL).host);
      assert.equal(gone.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    } finally {
      mux.close();
      socket.destroy();
    }
  });

  /** Opens a raw session (authenticated when `auth`), sends `frame`; true when a GOAWAY with an error came back. */
  async function sendMalformed(frame: Buffer, auth: boolean): Promise<boolean> {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.ngrok, servername: 'localhost', ca: caPem });
    await new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    if (auth) {
      const mux = new MuxadoSession(socket, { role: 'client' });
      const stream = mux.openStream();
      stream.on('error', () => undefined);
      const body = Buffer.from(JSON.stringify({ Version: ['3'], ClientId: '', Extra: { Authtoken: TOKEN } }));
      stream.write(Buffer.concat([Buffer.alloc(4), body]));
      const resp = await new Promise<string>((resolve) => {
        let text = '';
        stream.on('data', (c) => (text += c));
        stream.on('end', () => resolve(text));
      });
      assert.equal(JSON.parse(resp).Error ?? '', '');
      socket.removeAllListeners('data');
    }
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => undefined);
    socket.write(frame);
    await Promise.race([new Promise((r) => socket.once('close', r)), new Promise((r) => setTimeout(r, 15_000))]);
    socket.destroy();
    const all = Buffer.concat(received);
    // Find the GOAWAY among what came back (an authenticated session may also see WNDINCs).
    for (let off = 0; off + HEADER_BYTES <= all.length;) {
      const len = all.readUIntBE(off, 3);
      const type = all[off + 3] >> 4;
      if (type === FrameType.GoAway) return all.readUInt32BE(off + HEADER_BYTES + 4) !== 0;
      off += HEADER_BYTES + len;
    }
    return false;
  }

  it('an edge on its self-signed certificate: the SDK trusts that certificate as its CA', async () => {
    const other = await startEdge(['--listen', '127.0.0.1:0', '--ngrok-agent-listen', '127.0.0.1:0']);
    try {
      const line = JSON.parse(
        other
          .log()
          .split('\n')
          .find((l) => l.includes('edge listening'))!,
      );
      const port = Number(String(line.ngrok_agents).split(':').pop());
      // What a user does: fetch the edge's certificate (SNI = the edge's --domain, localhost here).
      const pem = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
          const raw = s.getPeerCertificate().raw.toString('base64');
          s.destroy();
          resolve(`-----BEGIN CERTIFICATE-----\n${raw.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
        });
        s.once('error', reject);
      });
      const listener = await ngrok.forward({
        addr: upstreamPort,
        authtoken: TOKEN,
        server_addr: `localhost:${port}`,
        session_ca_cert: pem,
        schemes: ['HTTP'],
      });
      const url = new URL(listener.url()!);
      const reply = await request(line.http, url.host, { path: '/self-signed' });
      assert.equal(reply.body.toString(), 'upstream GET /self-signed');
    } finally {
      await ngrok.disconnect().catch(() => undefined);
      await stopEdge(other);
    }
  });

  it("the edge captures ngrok agents' HTTP exchanges: /requests/http of the admin API, as the agent API shows them", async () => {
    const url = new URL((await forward({ schemes: ['HTTP'] })).url()!);
    const reply = await request(ports.http, url.host, {
      method: 'POST',
      path: '/captured?q=1',
      headers: { 'content-type': 'text/plain' },
      body: 'hello capture',
    });
    assert.equal(reply.status, 200);
    let list: Json;
    await waitFor(
      () => {
        void api('GET', `/requests/http?tunnel_name=${encodeURIComponent(url.origin)}`).then((r) => (list = r.body));
        return list?.requests?.[0]?.state === 'complete';
      },
      10_000,
      'the exchange to be captured',
    );
    assert.equal(list!.requests.length, 1);
    const ex = list!.requests[0];
    assert.match(ex.id, /^[0-9a-f]{16}$/);
    assert.equal(ex.tunnel_name, url.origin);
    assert.equal(ex.remote_addr, '127.0.0.1');
    assert.equal(ex.request.method, 'POST');
    assert.equal(ex.request.uri, '/captured?q=1');
    assert.deepEqual(ex.request.headers['X-Forwarded-For'], ['127.0.0.1']);
    assert.match(Buffer.from(ex.request.raw, 'base64').toString(), /\r\n\r\nhello capture$/);
    assert.equal(ex.response.status_code, 200);
    assert.match(Buffer.from(ex.response.raw, 'base64').toString(), /upstream POST \/captured\?q=1$/);
    assert.ok(ex.duration > 0);
    assert.equal(ex.uri, `http://127.0.0.1:${ports.admin}/requests/http/${ex.id}`);
    const one = await api('GET', `/requests/http/${ex.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.id, ex.id);
    const har = await api('GET', `/requests/http/${ex.id}/har`);
    assert.equal(har.body.log.entries[0].request.url, `${url.origin}/captured?q=1`);
    assert.equal((await api('DELETE', `/requests/http/${ex.id}`)).status, 204);
    assert.equal((await api('GET', `/requests/http/${ex.id}`)).body.error_code, 'ERR_BURROW_NOT_FOUND');
    assert.equal((await api('GET', '/requests/http?limit=x')).body.error_code, 'ERR_NGROK_233');
  });

  it('a request a module of an ngrok endpoint answers at the edge (basic auth 401) is captured too, without the credentials tried', async () => {
    const url = new URL(
      (await forward({ schemes: ['HTTP'], basic_auth: ['carol:battery-staple'], domain: 'refused.localhost' })).url()!,
    );
    const wrong = await request(ports.http, url.host, {
      path: '/private',
      headers: { authorization: `Basic ${Buffer.from('carol:guess').toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
    let list: Json;
    await waitFor(
      () => {
        void api('GET', `/requests/http?tunnel_name=${encodeURIComponent(url.origin)}`).then((r) => (list = r.body));
        return list?.requests?.length === 1;
      },
      10_000,
      'the refused exchange to be captured',
    );
    const ex = list!.requests[0];
    assert.equal(ex.edge_module, 'basic-auth');
    assert.equal(ex.request.uri, '/private');
    assert.equal(ex.response.status_code, 401);
    assert.equal(ex.request.headers.Authorization, undefined, 'the password tried is not kept');
    assert.ok(!Buffer.from(ex.request.raw, 'base64').toString().toLowerCase().includes('authorization'));
  });

  it('an agent that never answers: 504 ERR_NGROK_3007 after --ngrok-response-timeout, the stream reset; slow but live exchanges are not cut', async function () {
    this.timeout(90_000);
    const p = { http: await freePort(), ngrok: await freePort() };
    const other = await startEdge([
      '--listen',
      `127.0.0.1:${p.http}`,
      '--ngrok-agent-listen',
      `127.0.0.1:${p.ngrok}`,
      '--cert',
      path.join(dir, 'edge.crt'),
      '--key',
      path.join(dir, 'edge.key'),
      '--ngrok-response-timeout',
      '2',
    ]);
    try {
      const listener = await ngrok.forward({
        addr: upstreamPort,
        authtoken: TOKEN,
        server_addr: `localhost:${p.ngrok}`,
        session_ca_cert: caPem,
        schemes: ['HTTP'],
      });
      const host = new URL(listener.url()!).host;
      const before = neverAnswered.length;
      const started = Date.now();
      const never = await request(p.http, host, { path: '/never' });
      const elapsed = Date.now() - started;
      assert.equal(never.status, 504);
      assert.equal(never.headers['ngrok-error-code'], 'ERR_NGROK_3007');
      assert.ok(elapsed >= 1900, `answered after ${elapsed} ms, before the 2 s timeout`);
      // The edge reset the proxied stream: an answer that comes after all goes nowhere, and the
      // agent (whose write to the reset stream fails) drops the upstream connection.
      assert.equal(neverAnswered.length, before + 1);
      const late = neverAnswered[before];
      late.end('too late');
      await waitFor(() => late.socket?.destroyed !== false, 15_000, 'the agent to drop the upstream connection');

      // A response head at once and then a body slower than the timeout: delivered whole.
      const slow = await request(p.http, host, { path: '/slow' });
      assert.equal(slow.status, 200);
      assert.equal(slow.body.toString(), 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
      // A request body slower than the timeout: the clock starts once the request is sent.
      const upload = new PassThrough();
      const uploaded = request(p.http, host, { method: 'POST', path: '/hash', body: upload });
      for (let i = 0; i < 4; i++) {
        upload.write(Buffer.alloc(1000, i));
        await delay(800);
      }
      upload.end();
      const hashed = await uploaded;
      assert.equal(hashed.status, 200);
      assert.equal(JSON.parse(hashed.body.toString()).length, 4000);
    } finally {
      await ngrok.disconnect().catch(() => undefined);
      await stopEdge(other);
    }
  });

  it("app_protocol http2: the edge speaks HTTP/2 (prior knowledge) over the agent's stream to an h2c upstream", async () => {
    const h2 = http2.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () =>
        res.end(
          JSON.stringify({
            version: req.httpVersion,
            method: req.method,
            path: req.url,
            host: req.headers[':authority'],
            n,
          }),
        ),
      );
    });
    const h2Port = await listen(h2 as unknown as net.Server);
    try {
      const url = new URL((await forward({ addr: h2Port, app_protocol: 'http2', schemes: ['HTTP'] })).url()!);
      const get = await request(ports.http, url.host, { path: '/over-h2?x=1' });
      assert.equal(get.status, 200);
      assert.deepEqual(JSON.parse(get.body.toString()), {
        version: '2.0',
        method: 'GET',
        path: '/over-h2?x=1',
        host: url.host,
        n: 0,
      });
      // Several requests at once share the tunnel's one HTTP/2 session; bodies stream.
      const posts = await Promise.all(
        [1, 2, 3].map((i) =>
          request(ports.http, url.host, { method: 'POST', path: `/p${i}`, body: seededStream(`h2-${i}`, i * MiB) }),
        ),
      );
      posts.forEach((r, i) => assert.equal(JSON.parse(r.body.toString()).n, (i + 1) * MiB));
      // A websocket cannot go over HTTP/2 to this upstream: a coded 502, not a hang.
      const ws = await request(ports.http, url.host, {
        path: '/ws',
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      }).catch((err: Error) => err);
      if (!(ws instanceof Error)) assert.equal(ws.headers['ngrok-error-code'], 'ERR_NGROK_3004');
      const refused = await refusal({ schemes: ['HTTP'], app_protocol: 'http3' });
      assert.match(refused.message, /ERR_BURROW_UNSUPPORTED_OPTION/);
    } finally {
      h2.close();
    }
  });

  it("stop / restart / update from the admin API (@ngrok/ngrok-api): the SDK's handlers run, an agent without one refuses with its text", async function () {
    this.timeout(60_000);
    const client = new Ngrok({ apiToken: API_KEY, baseUrl: `http://127.0.0.1:${ports.admin}` });
    const sessionWith = async (metadata: string): Promise<string> => {
      let id = '';
      await waitFor(
        () => {
          void client.tunnelSessions.list().then((l) => (id = l.find((s) => s.metadata === metadata)?.id ?? ''));
          return !!id;
        },
        10_000,
        `the session "${metadata}" to be listed`,
      );
      return id;
    };
    const calls: string[] = [];
    // What the program does on each command is its own choice (ngrok's docs): here Stop closes the
    // listener, so its URL goes offline.
    let listener: import('@ngrok/ngrok').Listener | undefined;
    const session = await new ngrok.SessionBuilder()
      .authtoken(TOKEN)
      .serverAddr(`localhost:${ports.ngrok}`)
      .caCert(Buffer.from(caPem))
      .metadata('sdk-with-handlers')
      .handleRestartCommand(() => void calls.push('restart'))
      .handleUpdateCommand(() => void calls.push('update'))
      .handleStopCommand(() => {
        calls.push('stop');
        void listener?.close();
      })
      .connect();
    listener = await session.httpEndpoint().listenAndForward(`http://127.0.0.1:${upstreamPort}`);
    const url = new URL(listener.url()!);
    const id = await sessionWith('sdk-with-handlers');
    assert.match(id, /^ts_/);
    await noContent(client.tunnelSessions.restart(id));
    await noContent(client.tunnelSessions.update({ id }));
    // The SDK calls the JS handler on the event loop, maybe after the API call returned.
    await waitFor(() => calls.length >= 2, 10_000, 'the restart and update handlers to run');
    assert.deepEqual(calls, ['restart', 'update']);
    await noContent(client.tunnelSessions.stop(id));
    await waitFor(() => calls.length >= 3, 10_000, 'the stop handler to run');
    assert.deepEqual(calls, ['restart', 'update', 'stop']);
    let offline = '';
    await waitFor(
      () => {
        void request(ports.http, url.host).then((r) => (offline = String(r.headers['ngrok-error-code'])));
        return offline === 'ERR_NGROK_3200';
      },
      10_000,
      'the stop handler to take the URL offline',
    );
    await session.close();

    // forward() registers no handlers: the SDK said so at Auth, and the API answers with its words.
    await ngrok.forward({
      addr: upstreamPort,
      authtoken: TOKEN,
      server_addr: `localhost:${ports.ngrok}`,
      session_ca_cert: caPem,
      session_metadata: 'sdk-without-handlers',
    } as Json);
    const plain = await sessionWith('sdk-without-handlers');
    const stop = await api('POST', `/tunnel_sessions/${plain}/stop`, plain);
    assert.equal(stop.status, 400);
    assert.equal(stop.body.error_code, 'ERR_BURROW_AGENT_REFUSED');
    assert.match(stop.body.msg, /callback for this operation/);
    // Bad input to a command is a coded error; an unknown session a 404.
    assert.equal((await api('POST', `/tunnel_sessions/${plain}/stop`, { nope: 1 })).body.error_code, 'ERR_NGROK_213');
    assert.equal((await api('POST', '/tunnel_sessions/ts_nope/restart')).status, 404);
  });

  it('the ngrok v2 agent binary (2.3.41, @expo/ngrok-bin-linux-x64) with server_addr + root_cas: tunnels, stop and restart', async function () {
    this.timeout(120_000);
    assert.equal(`${process.platform}-${process.arch}`, 'linux-x64', 'this test runs the linux-x64 ngrok v2 binary');
    const bin = path.join(path.dirname(require.resolve('@expo/ngrok-bin-linux-x64/package.json')), 'ngrok');
    const config = path.join(dir, 'ngrok-v2.yml');
    fs.writeFileSync(
      config,
      [
        'version: "2"',
        `authtoken: ${TOKEN}`,
        `server_addr: 127.0.0.1:${ports.ngrok}`,
        `root_cas: ${path.join(dir, 'ca.crt')}`,
        'metadata: ngrok-v2-agent',
        'update_check: false',
        'web_addr: false',
        'console_ui: false',
        'log: stdout',
        'log_format: logfmt',
        '',
      ].join('\n'),
    );
    const client = new Ngrok({ apiToken: API_KEY, baseUrl: `http://127.0.0.1:${ports.admin}` });
    const v2Sessions = async () => (await client.tunnelSessions.list()).filter((s) => s.metadata === 'ngrok-v2-agent');
    const startAgent = () => {
      const child = spawn(bin, ['http', '-config', config, '-bind-tls=false', String(upstreamPort)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: dir },
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      return { child, exited, out: () => out };
    };
    const urlsIn = (out: string) => [...out.matchAll(/msg="started tunnel".* url=(http:\/\/\S+)/g)].map((m) => m[1]);

    const agent = startAgent();
    try {
      await waitFor(() => urlsIn(agent.out()).length > 0, 30_000, `the v2 agent to start a tunnel:\n${agent.out()}`);
      const first = new URL(urlsIn(agent.out())[0]);
      const reply = await request(ports.http, first.host, { path: '/from-v2' });
      assert.equal(reply.body.toString(), 'upstream GET /from-v2');
      const [s1] = await v2Sessions();
      assert.equal(s1.agentVersion, '2.3.41');
      assert.equal(s1.transport, 'ngrok/muxado');

      // Restart: the agent restarts its session in the same process and comes back as a new session.
      await noContent(client.tunnelSessions.restart(s1.id));
      await waitFor(() => urlsIn(agent.out()).length > 1, 30_000, `the v2 agent to restart:\n${agent.out()}`);
      assert.equal(agent.child.exitCode, null);
      let after: { id: string }[] = [];
      await waitFor(
        () => {
          void v2Sessions().then((l) => (after = l));
          return after.length === 1 && after[0].id !== s1.id;
        },
        15_000,
        'one new v2 session after the restart',
      );
      const second = new URL(urlsIn(agent.out())[1]);
      assert.equal((await request(ports.http, second.host, { path: '/again' })).body.toString(), 'upstream GET /again');

      // Stop: the agent exits.
      await noContent(client.tunnelSessions.stop(after[0].id));
      const code = await Promise.race([agent.exited, delay(20_000).then(() => 'still running')]);
      assert.notEqual(code, 'still running', agent.out());
      await waitFor(
        () => {
          void v2Sessions().then((l) => (after = l));
          return after.length === 0;
        },
        15_000,
        'the stopped v2 session to leave /tunnel_sessions',
      );
    } finally {
      agent.child.kill('SIGKILL');
    }
  });

  it("stop / restart of Burrow's own agent from the admin API: stop ends it for good, restart reconnects it at once", async function () {
    this.timeout(60_000);
    const client = new Ngrok({ apiToken: API_KEY, baseUrl: `http://127.0.0.1:${ports.admin}` });
    const child = spawn(
      process.execPath,
      [
        BIN,
        'http',
        String(upstreamPort),
        '--edge',
        `ws://127.0.0.1:${ports.http}/_burrow/session`,
        '--authtoken',
        TOKEN,
        '--log',
        'stdout',
        '--log-format',
        'json',
        '--web-addr',
        'false',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor(() => /started tunnel/.test(out), 15_000, `the Burrow agent to start:\n${out}`);
      const burrowSessions = async () =>
        (await client.tunnelSessions.list()).filter((s) => s.transport === 'burrow/ws');
      const [first] = await burrowSessions();
      assert.ok(first, 'the Burrow agent is listed');
      await noContent(client.tunnelSessions.restart(first.id));
      let now: { id: string }[] = [];
      await waitFor(
        () => {
          void burrowSessions().then((l) => (now = l));
          return now.length === 1 && now[0].id !== first.id;
        },
        15_000,
        'the Burrow agent to reconnect as a new session',
      );
      const update = await api('POST', `/tunnel_sessions/${now[0].id}/update`);
      assert.equal(update.body.error_code, 'ERR_BURROW_UNSUPPORTED');
      await noContent(client.tunnelSessions.stop(now[0].id));
      const code = await Promise.race([exited, delay(15_000).then(() => 'still running')]);
      assert.notEqual(code, 'still running', out);
      assert.notEqual(code, 0);
      assert.match(out, /ERR_BURROW_SESSION_STOPPED/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('edge restart: the SDK reconnects on its own and keeps the same URL', async function () {
    // ngrok-rust retries after 50 ms, 2.5 s, then 125 s (tokio-retry's ExponentialBackoff::from_millis(50)
    // squares its base): an edge that takes over 2.5 s to come back (a loaded machine) is found by the
    // third try only.
    this.timeout(200_000);
    const listener = await forward({ schemes: ['HTTP'] });
    const url = new URL(listener.url()!);
    assert.equal((await request(ports.http, url.host)).status, 200);
    await stopEdge(edge);
    edge = await startEdge();
    let status = 0;
    await waitFor(
      () => {
        request(ports.http, url.host, { path: '/after-restart' }).then(
          (r) => (status = r.status),
          () => undefined,
        );
        return status === 200;
      },
      170_000,
      'the SDK to rebind after the edge restarted',
    );
    assert.equal(listener.url(), url.origin);
    assert.equal(seen.at(-1)!.host, url.host);
  });
}

/** A frame the edge must refuse; `i` picks the kind, the rest is random. */
function malformedFrame(i: number): Buffer {
  const r = randomBytes(16);
  const junk = randomBytes(r[0] % 32);
  switch (i % 8) {
    case 0: // invalid frame type 4..15
      return withType(4 + (r[1] % 12), r[2] & 0xf, r.readUInt32BE(4) & 0x7fffffff, junk);
    case 1: // RST / WNDINC with a length other than 4
      return withType(
        r[1] & 1 ? FrameType.Rst : FrameType.WndInc,
        0,
        1 + 2 * (r[2] % 100),
        Buffer.alloc(5 + (r[3] % 9)),
      );
    case 2: // DATA on stream 0
      return encodeFrame(FrameType.Data, FLAG_SYN, 0, junk);
    case 3: // GOAWAY on a stream / too short
      return r[1] & 1
        ? encodeFrame(FrameType.GoAway, 0, 1 + (r[2] % 99), Buffer.alloc(8))
        : withType(FrameType.GoAway, 0, 0, Buffer.alloc(r[2] % 8));
    case 4: {
      // DATA announcing more than a window (header only: refused before the payload)
      const h = Buffer.alloc(HEADER_BYTES);
      h.writeUIntBE(256 * 1024 + 1 + (r.readUInt16BE(2) << 4), 0, 3);
      h[3] = (FrameType.Data << 4) | FLAG_SYN;
      h.writeUInt32BE(1, 4);
      return h;
    }
    case 5: // DATA without SYN on a stream never opened
      return encodeFrame(FrameType.Data, FLAG_FIN, 101 + 2 * (r.readUInt16BE(2) % 1000), junk);
    case 6: // SYN with the server's (even) parity
      return encodeFrame(FrameType.Data, FLAG_SYN, 2 + 2 * (r.readUInt16BE(2) % 1000), junk);
    default: // WNDINC for a stream never opened
      return encodeFrame(FrameType.WndInc, 0, 201 + 2 * (r.readUInt16BE(2) % 1000), r.subarray(0, 4));
  }
}

function withType(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const f = encodeFrame(FrameType.Data, 0, stream, payload);
  f[3] = (type << 4) | (flags & 0xf);
  return f;
}
