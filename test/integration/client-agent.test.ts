// The extension's agent half without VS Code: the bundled agent (dist/burrow.js) started as a real
// child process the way the extension starts it, driven through AgentApi, watched through
// AgentEventStream (including across an agent restart), and protected live with basic auth.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { AgentApi, AgentApiError, AgentUnreachableError } from '../../client/src/agent/api';
import { AgentEventStream, type AgentEvent } from '../../client/src/agent/events';
import {
  AgentStartError,
  agentArgs,
  probeAgent,
  startAgent,
  writeAgentConfig,
  type RunningAgent,
} from '../../client/src/agent/process';
import { definitionFromTunnel, generatePassword, withProtection } from '../../client/src/model/definitions';
import { AgentState } from '../../client/src/model/state';
import {
  checkManagedApp,
  embeddedCallbackUrl,
  readManagedApps,
  registerManagedApp,
} from '../../client/src/managedOAuthApps';
import { startUpstream, type Upstream } from './api-support';

const SCRIPT = path.resolve(__dirname, '../../dist/burrow.js');

/** GET through the embedded edge: connect to 127.0.0.1:PORT, send the tunnel's Host. */
function get(
  publicUrl: string,
  pathname: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(publicUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: Number(u.port), path: pathname, headers: { Host: u.host, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET `pathname` at `base`'s origin through 127.0.0.1, without following redirects. */
function rawGet(base: string, pathname: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: Number(u.port), path: pathname, headers: { Host: u.host } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function waitFor<T>(stream: AgentEventStream, pick: (e: AgentEvent) => T | undefined, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.off('event', on);
      reject(new Error('event not seen in time'));
    }, timeoutMs);
    const on = (e: AgentEvent): void => {
      const v = pick(e);
      if (v === undefined) return;
      clearTimeout(timer);
      stream.off('event', on);
      resolve(v);
    };
    stream.on('event', on);
  });
}

describe('client agent: a real agent process', function () {
  this.timeout(60_000);
  let dir: string;
  let upstream: Upstream;
  const running: RunningAgent[] = [];
  const streams: AgentEventStream[] = [];

  before(async () => {
    assert.ok(fs.existsSync(SCRIPT), 'dist/burrow.js is built (npm run build)');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-client-'));
    upstream = await startUpstream('app');
  });
  after(async () => {
    for (const s of streams) s.stop();
    await Promise.all(running.map((a) => a.stop()));
    await upstream.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function launch(): Promise<RunningAgent> {
    const agent = await startAgent({
      nodePath: process.execPath,
      script: SCRIPT,
      webAddr: '127.0.0.1:0',
      configFile: writeAgentConfig(dir, { inspectDbSize: 10_000_000 }),
    });
    running.push(agent);
    return agent;
  }

  it('builds the command line the extension runs', () => {
    assert.deepEqual(
      agentArgs({ script: 'b.js', webAddr: '127.0.0.1:0', edgeUrl: 'wss://edge.example.com', configFile: '/c.yml' }),
      [
        'b.js',
        'start',
        '--none',
        '--web-addr',
        '127.0.0.1:0',
        '--log',
        'stdout',
        '--log-format',
        'json',
        '--edge',
        'wss://edge.example.com',
        '--config',
        '/c.yml',
      ],
    );
  });

  it('starts, exposes a port, streams its requests, protects it live, and survives an agent restart', async () => {
    const agent = await launch();
    assert.match(agent.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await probeAgent(agent.url.replace('http://', '')), agent.url);
    const api = new AgentApi(agent.url);

    const state = new AgentState();
    const stream = new AgentEventStream(api.eventsUrl, { minDelayMs: 50, maxDelayMs: 200 });
    streams.push(stream);
    stream.on('event', (e) => state.apply(e));
    const snapshot = waitFor(stream, (e) => (e.type === 'snapshot' ? e : undefined));
    stream.start();
    assert.deepEqual((await snapshot).tunnels, []);

    const started = waitFor(stream, (e) =>
      e.type === 'tunnel_started' && e.tunnel.name === 'web' ? e.tunnel : undefined,
    );
    const t = await api.startTunnel({ name: 'web', proto: 'http', addr: String(upstream.port) });
    assert.equal(t.status, 'online');
    assert.equal((await started).public_url, t.public_url);

    // Events are coalesced: a quick exchange may arrive as one request_started that already has its response.
    const seen = waitFor(stream, (e) =>
      (e.type === 'request_started' || e.type === 'request_updated') && e.request.response ? e.request : undefined,
    );
    assert.equal((await get(t.public_url, '/hello?x=1')).status, 200);
    const captured = await seen;
    assert.equal(captured.request.uri, '/hello?x=1');
    assert.equal(state.requestsOf('web')[0].id, captured.id);
    // The counts come with the event stream (no polling), and say which process the agent is.
    for (let i = 0; i < 100 && !state.tunnels.get('web')?.metrics?.http.count; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(state.tunnels.get('web')?.metrics?.conns.count, 1);
    assert.equal((await api.status()).pid, agent.child.pid);

    // Replay adds a capture; curl names the public URL.
    const replayed = waitFor(stream, (e) =>
      e.type === 'request_started' && e.request.replay_of === captured.id ? e.request : undefined,
    );
    const newId = await api.replay(captured.id);
    assert.equal((await replayed).id, newId);
    assert.match(await api.curl(captured.id), new RegExp(`curl .*${new URL(t.public_url).host}/hello`));
    assert.equal(JSON.parse(await api.har()).log.entries.length >= 2, true);

    // Protect with basic auth the way the command does: stop, start with the edited definition.
    const password = generatePassword();
    const { def } = definitionFromTunnel((await api.tunnels())[0]);
    await api.stopTunnel('web');
    const protectedTunnel = await api.startTunnel(
      withProtection(def, { kind: 'basic-auth', username: 'burrow', password }),
    );
    assert.equal(protectedTunnel.public_url, t.public_url, 'the URL survives the restart');
    assert.ok((protectedTunnel.metrics?.http.count ?? 0) >= 1, 'the counts survive the re-creation');
    // The edge answers the 401 itself; the capture shows it, marked, without the credentials tried.
    const refused = waitFor(stream, (e) =>
      (e.type === 'request_started' || e.type === 'request_updated') && e.request.edge_module ? e.request : undefined,
    );
    assert.equal((await get(t.public_url, '/secret', { Authorization: 'Basic d3Jvbmc6Z3Vlc3M=' })).status, 401);
    const edgeAnswer = await refused;
    assert.equal(edgeAnswer.edge_module, 'basic-auth');
    assert.equal(edgeAnswer.request.uri, '/secret');
    assert.equal(edgeAnswer.response?.status_code, 401);
    assert.equal(edgeAnswer.tunnel_name, 'web');
    const full = JSON.parse((await api.request('GET', `/api/requests/http/${edgeAnswer.id}`)).body) as {
      request: { headers: Record<string, string[]> };
      response: { headers: Record<string, string[]> };
    };
    assert.ok(!Object.keys(full.request.headers).some((h) => h.toLowerCase() === 'authorization'));
    assert.match(
      String(Object.entries(full.response.headers).find(([h]) => /www-authenticate/i.test(h))?.[1]),
      /Basic/,
    );
    const auth = `Basic ${Buffer.from(`burrow:${password}`).toString('base64')}`;
    assert.equal((await get(t.public_url, '/', { Authorization: auth })).status, 200);
    assert.ok(!JSON.stringify(await api.tunnels()).includes(password), 'the API never shows the password');

    // API errors keep ngrok's code and detail.
    await assert.rejects(
      api.startTunnel({ name: 'web', proto: 'http', addr: '1' }),
      (e: AgentApiError) => e.status === 409,
    );
    await assert.rejects(
      api.startTunnel({ name: 'x', proto: 'http', addr: '1', basic_auth: ['u:short'] }),
      (e: AgentApiError) => e.status === 400 && e.errorCode === 102,
    );

    // The agent goes away: the stream notices; a new agent (new port) is picked up by retarget.
    const closed = new Promise<void>((resolve) => stream.on('state', (s) => s === 'closed' && resolve()));
    await agent.stop();
    await closed;
    await assert.rejects(api.status(), AgentUnreachableError);
    const second = await launch();
    const fresh = waitFor(stream, (e) => (e.type === 'snapshot' ? e : undefined));
    stream.retarget(new AgentApi(second.url).eventsUrl);
    await fresh;
    assert.equal(state.tunnels.size, 0, 'the new snapshot replaced the old state');
  });

  it("keepRunning: a detached agent logs to a file and outlives its parent's pipes", async () => {
    const log = path.join(dir, 'agent.log');
    const agent = await startAgent({
      nodePath: process.execPath,
      script: SCRIPT,
      webAddr: '127.0.0.1:0',
      configFile: writeAgentConfig(dir, {}),
      detachedLogFile: log,
    });
    running.push(agent);
    assert.equal(agent.child.stdout, null, 'no pipe to break when the window goes');
    assert.match(fs.readFileSync(log, 'utf8'), /"starting web service"/);
    assert.equal((await new AgentApi(agent.url).status()).agent_version.length > 0, true);
    await agent.stop();
    assert.equal(await probeAgent(agent.url, 500), undefined);
  });

  it('a managed OAuth app from SecretStorage reaches the agent in its environment only, and serves oauth with no client id', async () => {
    // SecretStorage as the extension has it (an in-memory stand-in for vscode.SecretStorage).
    const stored = new Map<string, string>();
    const secrets = {
      get: async (k: string) => stored.get(k),
      store: async (k: string, v: string) => void stored.set(k, v),
      delete: async (k: string) => void stored.delete(k),
    };
    const SECRET = 'GOCSPX-managed-app-secret-0123';
    await registerManagedApp(secrets, 'google', {
      clientId: 'burrow-test.apps.googleusercontent.com',
      clientSecret: SECRET,
    });
    assert.ok(checkManagedApp('a:b', 's'), 'an id with ":" would not survive the ID:SECRET form');
    const apps = await readManagedApps(secrets);
    assert.deepEqual(Object.keys(apps), ['google']);

    const logs: string[] = [];
    const agent = await startAgent({
      nodePath: process.execPath,
      script: SCRIPT,
      webAddr: '127.0.0.1:0',
      configFile: writeAgentConfig(dir, {}),
      oauthApps: apps,
      onLog: (line) => logs.push(line),
    });
    running.push(agent);
    if (process.platform === 'linux') {
      const cmdline = fs.readFileSync(`/proc/${agent.child.pid}/cmdline`, 'utf8');
      assert.ok(!cmdline.includes(SECRET) && !cmdline.includes('googleusercontent'), cmdline);
      const environ = fs.readFileSync(`/proc/${agent.child.pid}/environ`, 'utf8').split('\0');
      assert.ok(environ.includes(`BURROW_OAUTH_APP_GOOGLE=burrow-test.apps.googleusercontent.com:${SECRET}`));
    }
    const api = new AgentApi(agent.url);
    const t = await api.startTunnel({
      name: 'managed',
      proto: 'http',
      addr: String(upstream.port),
      oauth: { provider: 'google' },
    });
    const callback = embeddedCallbackUrl((await api.status()).edge_url);
    assert.equal(callback, `http://localhost:${new URL(t.public_url).port}/_burrow/oauth/callback`);

    // A visitor is sent to the provider with the registered app's id and the edge's one callback URL.
    const visit = await rawGet(t.public_url, '/private');
    assert.equal(visit.status, 302);
    const authorize = new URL(String(visit.headers.location));
    assert.equal(authorize.origin + authorize.pathname, 'https://accounts.google.com/o/oauth2/v2/auth');
    assert.equal(authorize.searchParams.get('client_id'), 'burrow-test.apps.googleusercontent.com');
    assert.equal(authorize.searchParams.get('redirect_uri'), callback);
    // The provider's answer comes back to that callback, which hands it on to this endpoint.
    const state = authorize.searchParams.get('state')!;
    const back = await rawGet(
      callback,
      `/_burrow/oauth/callback?code=provider-code&state=${encodeURIComponent(state)}`,
    );
    assert.equal(back.status, 302);
    assert.ok(
      String(back.headers.location).startsWith(`${t.public_url}/ngrok/callback?`),
      String(back.headers.location),
    );

    assert.ok(!logs.some((l) => l.includes(SECRET)), 'the secret is in no log line');
    assert.ok(!JSON.stringify(await api.tunnels()).includes(SECRET));
    await agent.stop();
  });

  it('reports why the agent could not start', async () => {
    await assert.rejects(
      startAgent({
        nodePath: process.execPath,
        script: SCRIPT,
        webAddr: 'not-an-address',
        configFile: writeAgentConfig(dir, {}),
      }),
      (e: AgentStartError) => e.code === 'ERR_BURROW_AGENT_EXITED' && /exited/.test(e.message),
    );
    await assert.rejects(
      startAgent({ nodePath: path.join(dir, 'no-such-node'), script: SCRIPT, webAddr: '127.0.0.1:0' }),
      (e: AgentStartError) => e.code === 'ERR_BURROW_AGENT_SPAWN',
    );
    assert.equal(await probeAgent('127.0.0.1:1', 500), undefined);
  });
});
