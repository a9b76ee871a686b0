// The wrappers that start "the ngrok binary" and drive its local API, run unchanged against Burrow:
// the npm `ngrok` wrapper 4.x (binPath → a folder whose `ngrok` is a symlink to bin/burrow) and
// @expo/ngrok (its binary path is what `@expo/ngrok-bin` exports; the test points that module at the
// same symlink, the only change). Both start `ngrok start --none --log=stdout [--config=…]`, parse
// the logfmt lines, set the authtoken with `ngrok authtoken T`, then use /api/tunnels and
// /api/requests/http. Their install scripts (binary downloads) never run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Edge } from '../../tunnel/src/edge/edge';
import { TokenSet } from '../../tunnel/src/edge/tokens';
import { listen, request, Resources, waitFor } from '../support/tunnel';

const TOKEN = 'wrapper-token-0123456789';
const BURROW_BIN = path.resolve(__dirname, '../../bin/burrow');

interface WrapperApi {
  listTunnels(): Promise<{ tunnels: { name: string; public_url: string; proto: string; config: { addr: string } }[] }>;
  startTunnel(o: Record<string, unknown>): Promise<{ name: string; public_url: string }>;
  tunnelDetail(name: string): Promise<{ name: string; public_url: string }>;
  stopTunnel(name: string): Promise<boolean>;
  listRequests(
    o?: Record<string, unknown>,
  ): Promise<{ requests: { id: string; tunnel_name: string; request: { uri: string } }[] }>;
  replayRequest(id: string, tunnelName?: string): Promise<boolean>;
  deleteAllRequests(): Promise<boolean>;
  requestDetail(
    id: string,
  ): Promise<{ id: string; request: { method: string; uri: string }; response: { status_code: number } }>;
}
interface Wrapper {
  connect(o: Record<string, unknown>): Promise<string>;
  disconnect(url?: string): Promise<unknown>;
  kill(): Promise<void>;
  getApi(): WrapperApi;
  getUrl(): string | null;
  getVersion(o?: Record<string, unknown>): Promise<string>;
}

describe('ngrok wrappers (npm ngrok 4.x, @expo/ngrok) run Burrow as their binary', function () {
  this.timeout(60_000);
  const res = new Resources();
  let binDir: string;
  let home: string;
  let configPath: string;
  let upstreamPort: number;
  let edgePort: number;
  const hits: string[] = [];
  const savedEnv = { ...process.env };

  before(async () => {
    binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-ngrok-bin-'));
    fs.symlinkSync(BURROW_BIN, path.join(binDir, 'ngrok'));
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-wrapper-home-'));
    configPath = path.join(home, 'ngrok.yml');
    // the wrapper's own configPath option: the local API on any free port
    fs.writeFileSync(configPath, 'version: "2"\nweb_addr: 127.0.0.1:0\n');
    const edge = res.add(
      new Edge({ http: { host: '127.0.0.1', port: 0 }, domain: 'localhost', tokens: new TokenSet([TOKEN]) }),
      (e) => e.close(),
    );
    await edge.start();
    edgePort = edge.httpPort;
    const upstream = res.server(
      http.createServer((req, reply) => {
        hits.push(`${req.method} ${req.url}`);
        reply.end(`hello ${req.url}`);
      }),
    );
    upstreamPort = await listen(upstream);
    // The child inherits these: its own HOME, and the test's edge.
    Object.assign(process.env, {
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      BURROW_EDGE: `ws://127.0.0.1:${edgePort}`,
    });
    delete process.env.BURROW_AUTHTOKEN;
    delete process.env.NGROK_AUTHTOKEN;
  });

  after(async () => {
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    await res.closeAll();
  });

  /** The wrapper flow every user of these modules runs. */
  async function normalFlow(ngrok: Wrapper, extra: Record<string, unknown>): Promise<void> {
    const logs: string[] = [];
    const statuses: string[] = [];
    const url = await ngrok.connect({
      proto: 'http',
      addr: upstreamPort,
      authtoken: TOKEN,
      configPath,
      onLogEvent: (line: string) => logs.push(line),
      onStatusChange: (s: string) => statuses.push(s),
      ...extra,
    });
    assert.match(url, /^https?:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.match(ngrok.getUrl()!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(fs.readFileSync(configPath, 'utf8'), new RegExp(`authtoken: ${TOKEN}`), '`ngrok authtoken` saved it');

    const host = new URL(url).host;
    const page = await request(edgePort, host, { path: '/first' });
    assert.equal(page.body.toString(), 'hello /first');

    const api = ngrok.getApi();
    const { tunnels } = await api.listTunnels();
    assert.equal(tunnels.length, 1);
    const name = tunnels[0].name;
    assert.equal(tunnels[0].public_url, url);
    assert.equal((await api.tunnelDetail(name)).public_url, url);

    let listed: Awaited<ReturnType<WrapperApi['listRequests']>>['requests'] = [];
    await waitFor(
      () => {
        void api.listRequests().then((r) => (listed = r.requests));
        return listed.length > 0;
      },
      10_000,
      'the request to be captured',
    );
    assert.equal(listed[0].request.uri, '/first');
    const detail = await api.requestDetail(listed[0].id);
    assert.equal(detail.response.status_code, 200);
    // replayRequest sends {id, tunnelName}; the replay reaches the upstream again
    assert.equal(await api.replayRequest(listed[0].id, name), true);
    await waitFor(() => hits.filter((h) => h === 'GET /first').length >= 2, 10_000, 'the replay');
    assert.equal(await api.deleteAllRequests(), true);
    assert.equal((await api.listRequests()).requests.length, 0);

    // the wrapper's own options are dropped; any other unknown key is refused as ngrok 3 does (102)
    await assert.rejects(
      api.startTunnel({ name: 'bad', proto: 'http', addr: upstreamPort, options: {} }),
      (e: { body?: { error_code?: number; msg?: string } }) =>
        e.body?.error_code === 102 && e.body.msg === 'invalid tunnel configuration',
    );
    // a second tunnel through the API client, stopped through it
    const second = await api.startTunnel({ name: 'second', proto: 'http', addr: upstreamPort, configPath });
    assert.equal((await api.listTunnels()).tunnels.length, 2);
    assert.equal(await api.stopTunnel(second.name), true);

    await ngrok.disconnect(url);
    assert.equal((await api.listTunnels()).tunnels.length, 0);
    await ngrok.connect({ proto: 'http', addr: upstreamPort, configPath, ...extra });
    await ngrok.disconnect(); // all
    assert.equal((await api.listTunnels()).tunnels.length, 0);

    const all = logs.join('\n');
    assert.match(all, /msg="starting web service" obj=web addr=127\.0\.0\.1:\d+/);
    assert.match(all, /msg="client session established"/);
    assert.match(all, /msg="tunnel session started"/);
    assert.match(all, /msg="started tunnel" obj=tunnels name=\S+ addr=http:\/\/127\.0\.0\.1:\d+ url=http/);
    assert.ok(statuses.includes('connected'), `status changes: ${statuses.join(',')}`);

    const apiUrl = ngrok.getUrl()!;
    await ngrok.kill();
    await assert.rejects(fetch(`${apiUrl}/api/tunnels`), 'the process is gone after kill()');
  }

  it('npm ngrok 4.x: connect (binPath), API client, disconnect, kill, getVersion', async () => {
    const ngrok = require('ngrok') as Wrapper;
    assert.match(await ngrok.getVersion({ binPath: () => binDir }), /^3\.\d+\.\d+ \(burrow \d+\.\d+\.\d+\)$/);
    await normalFlow(ngrok, { binPath: () => binDir });
  });

  it('@expo/ngrok: connect, API client, disconnect, kill, getVersion', async () => {
    // @expo/ngrok runs whatever path `@expo/ngrok-bin` exports: make that our symlink.
    const binModule = require.resolve('@expo/ngrok-bin', { paths: [path.dirname(require.resolve('@expo/ngrok'))] });
    const saved = require.cache[binModule];
    require.cache[binModule] = {
      id: binModule,
      filename: binModule,
      loaded: true,
      exports: path.join(binDir, 'ngrok'),
    } as NodeJS.Module;
    try {
      const ngrok = require('@expo/ngrok') as Wrapper;
      assert.match(await ngrok.getVersion(), /^3\.\d+\.\d+ \(burrow \d+\.\d+\.\d+\)$/);
      await normalFlow(ngrok, {});
    } finally {
      if (saved) require.cache[binModule] = saved;
      else delete require.cache[binModule];
    }
  });
});
