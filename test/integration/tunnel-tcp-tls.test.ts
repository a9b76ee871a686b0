/**
 * TCP endpoints, TLS passthrough by SNI (the client verifies the upstream's own certificate, so
 * the edge cannot have terminated TLS), and HTTPS terminated at the edge over HTTP/1.1 and HTTP/2.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import WebSocket from 'ws';
import type { Agent } from '../../tunnel/src/agent/agent';
import { selfSignedCertificate, type TlsCredentials } from '../../tunnel/src/edge/tls-cert';
import { MiB, Resources, digestOf, listen, request, seededStream, startAgent, startTunnel } from '../support/tunnel';

/** Collects everything a socket sends until it ends. */
function readAll(socket: net.Socket | tls.TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

describe('tunnel: TCP, TLS passthrough and HTTPS', function () {
  this.timeout(30_000);
  const res = new Resources();
  let agent: Agent;
  let certDir: string;
  let httpUpstreamPort: number;

  before(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-certs-'));
    agent = await startAgent(res);
    const upstream = res.server(
      http.createServer((req, rsp) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          rsp.setHeader('content-type', 'application/json');
          rsp.end(
            JSON.stringify({
              headers: req.headers,
              body: Buffer.concat(chunks).toString(),
              httpVersion: req.httpVersion,
            }),
          );
        });
      }),
    );
    httpUpstreamPort = await listen(upstream);
  });
  after(async () => {
    await res.closeAll();
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  describe('tcp', () => {
    it('echoes bytes through a tcp endpoint, including a 16 MiB stream and half-close', async () => {
      const echo = res.server(
        net.createServer((socket) => {
          socket.on('error', () => undefined);
          socket.pipe(socket);
        }),
      );
      const state = await agent.startTunnel({
        name: 'tcp-echo',
        proto: 'tcp',
        upstream: `127.0.0.1:${await listen(echo)}`,
        inspect: false,
      });
      const url = new URL(state.urls[0]);
      assert.equal(url.protocol, 'tcp:');
      assert.equal(url.hostname, '127.0.0.1');

      const small = net.connect(Number(url.port), '127.0.0.1');
      const smallReply = readAll(small);
      small.end('hello over tcp');
      assert.equal((await smallReply).toString(), 'hello over tcp');

      const big = net.connect(Number(url.port), '127.0.0.1');
      const expected = await digestOf(seededStream('tcp', 16 * MiB));
      const got = digestOf(big);
      seededStream('tcp', 16 * MiB).pipe(big);
      assert.deepEqual(await got, expected);
    });

    it('binds a requested tcp port', async () => {
      const probe = net.createServer();
      const port = await listen(probe);
      await new Promise((r) => probe.close(r));
      const echo = res.server(net.createServer((socket) => socket.pipe(socket)));
      const state = await agent.startTunnel({
        name: 'tcp-fixed',
        proto: 'tcp',
        upstream: String(await listen(echo)),
        remoteAddr: String(port),
        inspect: false,
      });
      assert.equal(state.urls[0], `tcp://127.0.0.1:${port}`);
    });
  });

  describe('tls passthrough', () => {
    const names = ['alpha.localhost', 'beta.localhost'];
    const creds = new Map<string, TlsCredentials>();

    before(async () => {
      for (const name of names) {
        const cred = await selfSignedCertificate({ hosts: [name], cacheDir: certDir });
        creds.set(name, cred);
        const server = res.server(
          tls.createServer({ ...cred, ALPNProtocols: ['burrow-test'] }, (socket) => {
            socket.on('error', () => undefined);
            socket.setEncoding('utf8');
            socket.once('data', (line: string) => socket.end(`${name} got ${line}`));
          }),
        );
        await agent.startTunnel({
          name: `tls-${name}`,
          proto: 'tls',
          domain: name,
          upstream: String(await listen(server)),
          inspect: false,
        });
      }
    });

    for (const name of names) {
      it(`routes ${name} by SNI to its own upstream, which the client verifies end to end`, async () => {
        const state = agent.tunnel(`tls-${name}`)!;
        const url = new URL(state.urls[0]);
        assert.equal(url.protocol, 'tls:');
        assert.equal(url.hostname, name);
        assert.equal(Number(url.port), agent.embedded!.tlsPort);
        const socket = tls.connect({
          host: '127.0.0.1',
          port: Number(url.port),
          servername: name,
          ca: creds.get(name)!.cert,
          ALPNProtocols: ['burrow-test'],
        });
        await once(socket, 'secureConnect');
        assert.equal(socket.authorized, true, String(socket.authorizationError));
        // Same certificate the upstream holds, and ALPN negotiated with it (the edge speaks no such protocol).
        assert.equal(
          socket.getPeerX509Certificate()?.fingerprint256,
          new X509Certificate(creds.get(name)!.cert).fingerprint256,
        );
        assert.equal(socket.alpnProtocol, 'burrow-test');
        const reply = readAll(socket);
        socket.write('ping');
        assert.equal((await reply).toString(), `${name} got ping`);
      });
    }

    it('does not route a name that no tls endpoint serves to one that does', async () => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: agent.embedded!.tlsPort,
        servername: 'gamma.localhost',
        rejectUnauthorized: false,
      });
      const outcome = await new Promise<string>((resolve) => {
        socket.once('secureConnect', () => resolve(`connected to ${socket.getPeerX509Certificate()?.subjectAltName}`));
        socket.once('error', (err) => resolve(`error: ${err.message}`));
      });
      socket.destroy();
      assert.match(outcome, /^error: /);
    });
  });

  describe('https termination at the edge', () => {
    let httpsOnly: { host: string; port: number; urls: string[] };
    let both: { urls: string[] };

    before(async () => {
      httpsOnly = await startTunnel(agent, { upstream: String(httpUpstreamPort), schemes: ['https'] });
      both = await startTunnel(agent, { upstream: String(httpUpstreamPort), schemes: ['http', 'https'] });
    });

    it('serves HTTP/1.1 over TLS with X-Forwarded-Proto https', async () => {
      assert.equal(httpsOnly.urls.length, 1);
      assert.match(httpsOnly.urls[0], /^https:\/\/[a-z-]+(-\d+)?\.localhost:\d+$/);
      const hostname = new URL(httpsOnly.urls[0]).hostname;
      const { body, alpn, status } = await new Promise<{ body: string; alpn: string | false | null; status: number }>(
        (resolve, reject) => {
          const options: https.RequestOptions & tls.ConnectionOptions = {
            host: '127.0.0.1',
            port: httpsOnly.port,
            servername: hostname,
            method: 'POST',
            path: '/x',
            headers: { host: httpsOnly.host },
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
            agent: false,
          };
          const req = https.request(options, (rsp) => {
            const alpnProtocol = (rsp.socket as tls.TLSSocket).alpnProtocol;
            let text = '';
            rsp.setEncoding('utf8');
            rsp.on('data', (c: string) => {
              text += c;
            });
            rsp.on('end', () => resolve({ body: text, alpn: alpnProtocol, status: rsp.statusCode ?? 0 }));
          });
          req.on('error', reject);
          req.end('tls body');
        },
      );
      assert.equal(status, 200);
      assert.equal(alpn, 'http/1.1');
      const seen = JSON.parse(body) as { headers: Record<string, string>; body: string };
      assert.equal(seen.body, 'tls body');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers.host, httpsOnly.host);
    });

    it('serves HTTP/2 (ALPN h2) with :authority turned into Host', async () => {
      const hostname = new URL(httpsOnly.urls[0]).hostname;
      const session = http2.connect(`https://127.0.0.1:${httpsOnly.port}`, {
        servername: hostname,
        rejectUnauthorized: false,
      });
      res.add(session, (s) => s.close());
      await once(session, 'connect');
      assert.equal(session.alpnProtocol, 'h2');
      const stream = session.request({
        ':method': 'POST',
        ':path': '/h2',
        ':authority': httpsOnly.host,
        'content-type': 'text/plain',
      });
      stream.end('h2 body');
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      const text = (await readAll(stream as unknown as net.Socket)).toString();
      assert.equal(headers[':status'], 200);
      assert.equal(headers['ngrok-error-code'], undefined);
      const seen = JSON.parse(text) as { headers: Record<string, string>; body: string };
      assert.equal(seen.body, 'h2 body');
      assert.equal(seen.headers.host, httpsOnly.host);
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-host'], httpsOnly.host);
      // A GET without a body over h2 also works.
      const get = session.request({ ':path': '/get', ':authority': httpsOnly.host });
      get.end();
      const [getHeaders] = (await once(get, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(getHeaders[':status'], 200);
      assert.equal((JSON.parse((await readAll(get as unknown as net.Socket)).toString()) as { body: string }).body, '');
    });

    it('an https-only endpoint is offline on plain http', async () => {
      const reply = await request(agent.embedded!.httpPort, new URL(httpsOnly.urls[0]).hostname);
      assert.equal(reply.status, 404);
      assert.equal(reply.headers['ngrok-error-code'], 'ERR_NGROK_3200');
    });

    it('schemes http,https serves the same endpoint on both', async () => {
      assert.equal(both.urls.length, 2);
      const [httpUrl, httpsUrl] = both.urls.map((u) => new URL(u));
      assert.equal(httpUrl.protocol, 'http:');
      assert.equal(httpsUrl.protocol, 'https:');
      assert.equal(httpUrl.hostname, httpsUrl.hostname);
      const plain = await request(Number(httpUrl.port), httpUrl.host);
      assert.equal(
        (JSON.parse(plain.body.toString()) as { headers: Record<string, string> }).headers['x-forwarded-proto'],
        'http',
      );
      const secure = await new Promise<string>((resolve, reject) => {
        https
          .get(
            {
              host: '127.0.0.1',
              port: Number(httpsUrl.port),
              servername: httpsUrl.hostname,
              headers: { host: httpsUrl.host },
              rejectUnauthorized: false,
              agent: false,
            },
            (rsp) => {
              let text = '';
              rsp.setEncoding('utf8');
              rsp.on('data', (c: string) => {
                text += c;
              });
              rsp.on('end', () => resolve(text));
            },
          )
          .on('error', reject);
      });
      assert.equal((JSON.parse(secure) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'https');
    });

    it('carries a websocket over the https endpoint (wss)', async () => {
      const { WebSocketServer } = await import('ws');
      const upstream = res.server(http.createServer());
      const wss = new WebSocketServer({ server: upstream });
      wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
      const t = await startTunnel(agent, { upstream: String(await listen(upstream)), schemes: ['https'] });
      const hostname = new URL(t.url).hostname;
      const options: WebSocket.ClientOptions & tls.ConnectionOptions = {
        headers: { host: t.host },
        servername: hostname,
        rejectUnauthorized: false,
      };
      const ws = new WebSocket(`wss://127.0.0.1:${t.port}/`, options);
      await once(ws, 'open');
      ws.send('secure hello');
      const [data] = (await once(ws, 'message')) as [Buffer];
      assert.equal(data.toString(), 'secure hello');
      ws.close();
      await once(ws, 'close');
      wss.close();
    });
  });
});
