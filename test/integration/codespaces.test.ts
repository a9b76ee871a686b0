// The embedded edge inside a GitHub Codespace. Codespaces cannot be reached from here, so the
// codespace is the environment it sets (passed explicitly), and the forwarder in front of each port
// is played by plain HTTP clients that do what it does: connect to localhost:PORT, send
// `Host: localhost:PORT` (not the public name) and `X-Forwarded-Proto: https`.
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import type { Agent } from '../../tunnel/src/agent/agent';
import { codespacePortOf, codespaceUrl, detectCodespace, type Codespace } from '../../tunnel/src/agent/codespaces';
import '../../tunnel/src/modules/oauth/register';
import { Resources, listen, request, startAgent, type Reply } from '../support/tunnel';

const CS: Codespace = { name: 'octocat-literate-space-parakeet-mld5', domain: 'app.github.dev' };

/** A request as the Codespaces forwarder makes it to a forwarded port. */
function viaForwarder(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(port, `localhost:${port}`, { path, headers: { 'x-forwarded-proto': 'https', ...headers } });
}

describe('embedded edge in a codespace: a port per HTTP tunnel', function () {
  this.timeout(20_000);
  const res = new Resources();
  let agent: Agent;
  const apps: { port: number; seen: http.IncomingHttpHeaders[] }[] = [];

  before(async () => {
    for (const name of ['one', 'two']) {
      const seen: http.IncomingHttpHeaders[] = [];
      const server = res.server(
        http.createServer((req, rsp) => {
          seen.push(req.headers);
          rsp.writeHead(200, { 'content-type': 'application/json' });
          rsp.end(JSON.stringify({ app: name, url: req.url }));
        }),
      );
      const wss = new WebSocketServer({ server });
      wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${String(m)}`)));
      apps.push({ port: await listen(server), seen });
    }
    agent = await startAgent(res, { embedded: { port: 0, codespace: CS } });
  });
  after(() => res.closeAll());

  it('reads the codespace from its three environment variables, and maps URLs and ports both ways', () => {
    const env = { CODESPACES: 'true', CODESPACE_NAME: CS.name, GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN: CS.domain };
    assert.deepEqual(detectCodespace(env), CS);
    assert.equal(detectCodespace({ ...env, CODESPACES: 'false' }), undefined);
    assert.equal(codespaceUrl(CS, 8481), 'https://octocat-literate-space-parakeet-mld5-8481.app.github.dev');
    assert.equal(codespacePortOf(CS, 'https://octocat-literate-space-parakeet-mld5-8481.app.github.dev/x'), 8481);
    assert.equal(codespacePortOf(CS, 'https://other-space-8481.app.github.dev'), undefined);
    assert.equal(codespacePortOf(CS, 'http://rapid-heron.localhost:8480'), undefined);
  });

  it("gives each HTTP tunnel its own port, reported as that port's forwarded URL, and routes by port whatever the Host", async () => {
    const one = await agent.startTunnel({
      name: 'cs-one',
      proto: 'http',
      upstream: String(apps[0].port),
      inspect: false,
    });
    const two = await agent.startTunnel({
      name: 'cs-two',
      proto: 'http',
      upstream: String(apps[1].port),
      inspect: false,
    });
    const [p1, p2] = [codespacePortOf(CS, one.urls[0]), codespacePortOf(CS, two.urls[0])];
    assert.ok(p1 && p2 && p1 !== p2, `two forwarded URLs on two ports: ${one.urls[0]} ${two.urls[0]}`);
    // Counted up from the edge's own port, so the same tunnels find the same URLs after a restart.
    const edgePort = agent.embedded!.httpPort;
    assert.ok(p1 > edgePort && p1 <= edgePort + 100, `${p1} just above the edge's ${edgePort}`);
    // The *.localhost name still works on this machine, after the forwarded URL.
    assert.match(one.urls[1], /^http:\/\/[a-z-]+\.localhost:\d+$/);

    const a = await viaForwarder(p1, '/first');
    const b = await viaForwarder(p2, '/second');
    assert.deepEqual([a.status, JSON.parse(a.body.toString())], [200, { app: 'one', url: '/first' }]);
    assert.deepEqual([b.status, JSON.parse(b.body.toString())], [200, { app: 'two', url: '/second' }]);
    assert.equal(apps[0].seen.at(-1)!['x-forwarded-proto'], 'https, https');

    // Websockets too.
    const ws = new WebSocket(`ws://127.0.0.1:${p2}/socket`, { headers: { host: `localhost:${p2}` } });
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (m) => resolve(String(m)));
      ws.once('error', reject);
    });
    ws.close();
    assert.equal(echoed, 'two:ping');

    // Stopping a tunnel closes its port and an idle connection kept alive on it (in-flight ones
    // finish first); starting it again gets
    // the same port back.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const kept = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: p1, path: '/kept', agent: keepAlive, headers: { host: `localhost:${p1}` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(req.socket!));
        },
      );
      req.on('error', reject);
    });
    assert.equal(kept.destroyed, false, 'the connection is kept alive');
    const closed = new Promise((resolve) => kept.once('close', resolve));
    await agent.stopTunnel('cs-one');
    await closed;
    keepAlive.destroy();
    await assert.rejects(viaForwarder(p1, '/gone'), { code: 'ECONNREFUSED' });
    const again = await agent.startTunnel({
      name: 'cs-one',
      proto: 'http',
      upstream: String(apps[0].port),
      inspect: false,
    });
    assert.equal(again.urls[0], one.urls[0]);
    await agent.stopTunnel('cs-one');
    await agent.stopTunnel('cs-two');
  });

  it('keeps modules in front of the app on that port: basic auth', async () => {
    const t = await agent.startTunnel({
      name: 'cs-auth',
      proto: 'http',
      upstream: String(apps[0].port),
      inspect: false,
      edge: { basicAuth: { credentials: ['octo:correct horse battery'] } },
    });
    const port = codespacePortOf(CS, t.urls[0])!;
    const before = apps[0].seen.length;
    const refused = await viaForwarder(port, '/secret');
    assert.equal(refused.status, 401);
    assert.equal(apps[0].seen.length, before, 'the app never saw the refused request');
    const ok = await viaForwarder(port, '/secret', {
      authorization: `Basic ${Buffer.from('octo:correct horse battery').toString('base64')}`,
    });
    assert.equal(ok.status, 200);
    await agent.stopTunnel('cs-auth');
  });

  it('sends OAuth users back to the forwarded https URL, not to localhost', async () => {
    const t = await agent.startTunnel({
      name: 'cs-oauth',
      proto: 'http',
      upstream: String(apps[0].port),
      inspect: false,
      edge: {
        oauth: {
          provider: 'github',
          clientId: 'gh-client',
          clientSecret: 'gh-secret-value',
          endpoints: {
            authorizationUrl: 'http://127.0.0.1:9/login/oauth/authorize',
            tokenUrl: 'http://127.0.0.1:9/token',
            userinfoUrl: 'http://127.0.0.1:9/user',
            emailsUrl: 'http://127.0.0.1:9/emails',
          },
        },
      },
    });
    const port = codespacePortOf(CS, t.urls[0])!;
    const first = await viaForwarder(port, '/dashboard', { accept: 'text/html' });
    assert.equal(first.status, 302);
    const login = new URL(first.headers.location!, t.urls[0]);
    const second = await viaForwarder(port, login.pathname + login.search, { accept: 'text/html' });
    assert.equal(second.status, 302);
    const authorize = new URL(second.headers.location!);
    assert.equal(authorize.searchParams.get('redirect_uri'), `${codespaceUrl(CS, port)}/ngrok/callback`);
    assert.match(String(second.headers['set-cookie']), /Secure/i, 'the cookie is for the https URL');
    await agent.stopTunnel('cs-oauth');
  });
});
