// The local API against a real agent, a real embedded edge and a real upstream: ngrok's JSON
// shapes, replay, the event stream, Host/Origin checks and redaction.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import net from 'node:net';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json';
import WebSocket from 'ws';
import { Agent } from '../../tunnel/src/agent/agent';
import { AgentApiBackend } from '../../tunnel/src/agent/api/agent-backend';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { startApiServer } from '../../tunnel/src/agent/api/server';
import { PROTOCOL_VERSION } from '../../tunnel/src/protocol/frames';
import type { ControlMessage } from '../../tunnel/src/protocol/messages';
import { DEFAULT_WINDOW, MuxSession } from '../../tunnel/src/protocol/session';
import { HostAllowList, isCrossOrigin } from '../../tunnel/src/agent/api/hosts';
import { redactSecrets, REDACTED } from '../../tunnel/src/agent/api/redact';
import { Meter, Timer } from '../../tunnel/src/agent/api/metrics';
import type { CaptureJson, TunnelJson } from '../../tunnel/src/agent/api/contract';
import { linkServer } from '../support/ws-link';
import { eventually, request, startRig, startUpstream, throughTunnel, type Rig, type Upstream } from './api-support';

const METRIC_KEYS = ['count', 'rate1', 'rate5', 'rate15', 'p50', 'p90', 'p95', 'p99'];
const json = { 'content-type': 'application/json' };

describe('local API (real agent, edge and upstream)', function () {
  let rig: Rig;
  let up: Upstream;
  let other: Upstream;

  beforeEach(async () => {
    rig = await startRig();
    up = await startUpstream('main');
    other = await startUpstream('other');
    const r = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'web', proto: 'http', addr: up.port }),
    });
    assert.equal(r.status, 201, r.text);
  });
  afterEach(async () => {
    await rig.close();
    await up.close();
    await other.close();
  });

  it("lists tunnels in ngrok's shape, so pyngrok-style polling for public_url works", async () => {
    const r = await request(rig.apiPort, 'GET', '/api/tunnels');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /application\/json/);
    const body = r.json<{ tunnels: TunnelJson[]; uri: string }>();
    assert.equal(body.uri, '/api/tunnels');
    const web = body.tunnels.find((t) => t.name === 'web')!;
    assert.equal(web.uri, '/api/tunnels/web');
    assert.equal(web.public_url, rig.agent.tunnel('web')!.urls[0]);
    assert.match(web.public_url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.equal(web.proto, 'http');
    assert.deepEqual(web.config, { addr: `http://127.0.0.1:${up.port}`, inspect: true });
    assert.deepEqual(Object.keys(web.metrics.conns), ['count', 'gauge', ...METRIC_KEYS.slice(1)]);
    assert.deepEqual(Object.keys(web.metrics.http), METRIC_KEYS);

    // Traffic shows up in the metrics.
    await throughTunnel(rig, 'web', 'GET', '/m');
    await throughTunnel(rig, 'web', 'GET', '/m');
    const after = await eventually(async () => {
      const t = (await request(rig.apiPort, 'GET', '/api/tunnels/web')).json<TunnelJson>();
      return t.metrics.http.count === 2 && t;
    }, 'http metrics');
    assert.ok(after.metrics.http.p50 > 0 && after.metrics.http.p99 >= after.metrics.http.p50);
    assert.equal(after.metrics.conns.count, 2);
  });

  it("starts, shows and stops tunnels; bad definitions get ngrok's error body", async () => {
    const r = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({
        name: 'two words (http)',
        proto: 'http',
        addr: `127.0.0.1:${other.port}`,
        inspect: false,
      }),
    });
    assert.equal(r.status, 201, r.text);
    const t = r.json<TunnelJson>();
    assert.equal(t.uri, '/api/tunnels/two%20words%20(http)');
    assert.equal(t.config.inspect, false);
    assert.equal((await request(rig.apiPort, 'GET', t.uri)).json<TunnelJson>().name, 'two words (http)');
    assert.equal((await request(rig.apiPort, 'DELETE', t.uri)).status, 204);
    const gone = await request(rig.apiPort, 'GET', t.uri);
    assert.equal(gone.status, 404);
    assert.deepEqual(Object.keys(gone.json<object>()), ['error_code', 'status_code', 'msg', 'details']);

    const bad = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'x', proto: 'http', addr: 80, bogus_key: true }),
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), {
      error_code: 102,
      status_code: 400,
      msg: 'invalid tunnel configuration',
      details: { err: 'field bogus_key not found in type HTTPv2Tunnel' },
    });
    const dup = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'web', proto: 'http', addr: 80 }),
    });
    assert.equal(dup.status, 409);
    const notJson = await request(rig.apiPort, 'POST', '/api/tunnels', { headers: json, body: '{nope' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json<{ msg: string }>().msg, 'invalid JSON body');
    const wrongMethod = await request(rig.apiPort, 'PUT', '/api/tunnels');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, 'GET, POST');
  });

  it("serves captured requests in ngrok's shape with limit and tunnel_name, one by one, and deletes them", async () => {
    await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'other', proto: 'http', addr: other.port }),
    });
    const reply = await throughTunnel(rig, 'web', 'POST', '/items?q=1', {
      headers: { 'content-type': 'text/plain', 'x-test': 'a' },
      body: 'hello',
    });
    assert.equal(reply.status, 200);
    await throughTunnel(rig, 'other', 'GET', '/o');
    await throughTunnel(rig, 'web', 'GET', '/second');
    await eventually(() => rig.capture.list().filter((e) => e.state === 'complete').length === 3, 'three captures');

    const all = (await request(rig.apiPort, 'GET', '/api/requests/http')).json<{
      requests: CaptureJson[];
      uri: string;
    }>();
    assert.equal(all.uri, '/api/requests/http');
    assert.deepEqual(
      all.requests.map((r) => r.request.uri),
      ['/second', '/o', '/items?q=1'],
      'newest first',
    );
    assert.deepEqual(
      (await request(rig.apiPort, 'GET', '/api/requests/http?limit=1'))
        .json<{ requests: CaptureJson[] }>()
        .requests.map((r) => r.request.uri),
      ['/second'],
    );
    assert.deepEqual(
      (await request(rig.apiPort, 'GET', '/api/requests/http?tunnel_name=other'))
        .json<{ requests: CaptureJson[] }>()
        .requests.map((r) => r.request.uri),
      ['/o'],
    );
    assert.equal((await request(rig.apiPort, 'GET', '/api/requests/http?limit=-2')).status, 400);

    const first = all.requests[2];
    const one = (await request(rig.apiPort, 'GET', first.uri)).json<CaptureJson>();
    assert.deepEqual(Object.keys(one).slice(0, 8), [
      'uri',
      'id',
      'tunnel_name',
      'remote_addr',
      'start',
      'duration',
      'request',
      'response',
    ]);
    assert.match(one.id, /^[0-9a-f]{16}$/);
    assert.equal(one.tunnel_name, 'web');
    assert.equal(one.remote_addr, '127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(one.start)));
    assert.ok(one.duration > 0);
    assert.equal(one.request.method, 'POST');
    assert.equal(one.request.proto, 'HTTP/1.1');
    assert.deepEqual(one.request.headers['X-Test'], ['a']);
    const raw = Buffer.from(one.request.raw!, 'base64').toString();
    assert.match(raw, /^POST \/items\?q=1 HTTP\/1\.1\r\n/);
    assert.ok(raw.endsWith('\r\n\r\nhello'));
    assert.equal(one.response!.status, '200 OK');
    assert.equal(one.response!.status_code, 200);
    assert.deepEqual(one.response!.headers['X-Upstream'], ['main']);
    // The upstream answered chunked; raw keeps that framing.
    assert.match(
      Buffer.from(one.response!.raw!, 'base64').toString(),
      /^HTTP\/1\.1 200 OK\r\n(?:[^\r\n]+\r\n)*Transfer-Encoding: chunked\r\n(?:[^\r\n]+\r\n)*\r\n[0-9a-f]+\r\n\{[^\r\n]*"bytes":5\}\r\n0\r\n\r\n$/,
    );

    const har = await request(rig.apiPort, 'GET', `${first.uri}/har`);
    assert.equal(
      har.json<{ log: { entries: { request: { url: string } }[] } }>().log.entries[0].request.url,
      `${rig.agent.tunnel('web')!.urls[0]}/items?q=1`,
    );
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    ajv.addMetaSchema(draft06);
    for (const s of Object.values(require('har-schema') as Record<string, object>)) ajv.addSchema(s);
    const whole = await request(rig.apiPort, 'GET', '/api/requests/http.har');
    assert.match(String(whole.headers['content-disposition']), /attachment/);
    assert.ok(ajv.getSchema('har.json#')!(whole.json()), 'whole-store HAR validates');
    assert.equal(whole.json<{ log: { entries: unknown[] } }>().log.entries.length, 3);
    const curl = await request(rig.apiPort, 'GET', `${first.uri}/curl`);
    assert.match(curl.text, new RegExp(`^curl '${rig.agent.tunnel('web')!.urls[0]}/items\\?q=1'`));
    assert.match(curl.text, /--data-raw 'hello'/);

    assert.equal((await request(rig.apiPort, 'DELETE', first.uri)).status, 204);
    assert.equal((await request(rig.apiPort, 'GET', first.uri)).status, 404);
    assert.equal((await request(rig.apiPort, 'DELETE', '/api/requests/http')).status, 204);
    assert.deepEqual(
      (await request(rig.apiPort, 'GET', '/api/requests/http')).json<{ requests: unknown[] }>().requests,
      [],
    );
  });

  it('replays a capture to the upstream again, captured as a new request; with modifications and to another tunnel', async () => {
    await throughTunnel(rig, 'web', 'POST', '/orig?x=1', {
      headers: { 'content-type': 'application/json', 'x-keep': 'k' },
      body: '{"a":1}',
    });
    const original = await eventually(() => rig.capture.list().find((e) => e.state === 'complete'), 'capture');
    assert.equal(up.seen.length, 1);

    const r = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: original.id }),
    });
    assert.equal(r.status, 204, r.text);
    const newId = String(r.headers['burrow-replay-id']);
    assert.match(newId, /^[0-9a-f]{16}$/);
    await eventually(() => up.seen.length === 2, 'replay at the upstream');
    assert.equal(up.seen[1].method, 'POST');
    assert.equal(up.seen[1].url, '/orig?x=1');
    assert.equal(up.seen[1].body.toString(), '{"a":1}');
    assert.ok(up.seen[1].rawHeaders.includes('x-keep'));
    const replayed = await eventually(async () => {
      const c = (await request(rig.apiPort, 'GET', `/api/requests/http/${newId}`)).json<CaptureJson>();
      return c.response ? c : undefined;
    }, 'replayed capture');
    assert.equal(replayed.replay_of, original.id);
    assert.equal(replayed.tunnel_name, 'web');
    assert.equal(replayed.response!.status_code, 200);
    assert.equal(Buffer.from(replayed.request.raw!, 'base64').toString().split('\r\n\r\n')[1], '{"a":1}');

    const mods = {
      method: 'PUT',
      uri: '/edited',
      headers: [
        ['Content-Type', 'text/plain'],
        ['X-Edited', 'yes'],
      ],
      body: 'new body',
    };
    const m = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: original.id, modifications: mods }),
    });
    assert.equal(m.status, 204, m.text);
    await eventually(() => up.seen.length === 3, 'edited replay');
    assert.equal(up.seen[2].method, 'PUT');
    assert.equal(up.seen[2].url, '/edited');
    assert.equal(up.seen[2].body.toString(), 'new body');
    assert.ok(up.seen[2].rawHeaders.includes('X-Edited'));
    assert.ok(!up.seen[2].rawHeaders.includes('x-keep'), 'headers were replaced');

    await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'other', proto: 'http', addr: other.port }),
    });
    const moved = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: original.id, tunnel_name: 'other' }),
    });
    assert.equal(moved.status, 204);
    await eventually(() => other.seen.length === 1, 'replay to the other tunnel');
    assert.equal(rig.capture.get(String(moved.headers['burrow-replay-id']))!.tunnelName, 'other');

    const missing = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: 'ffffffffffffffff' }),
    });
    assert.equal(missing.status, 404);
    const badMods = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: original.id, modifications: { headers: [['Bad Name', 'x']] } }),
    });
    assert.equal(badMods.status, 400);
    assert.match(badMods.json<{ details: { err: string } }>().details.err, /invalid header name/);
  });

  it('refuses to replay a truncated body unless the body is replaced', async () => {
    await rig.close();
    rig = await startRig({ maxBodyBytes: 8 });
    await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'web', proto: 'http', addr: up.port }),
    });
    await throughTunnel(rig, 'web', 'POST', '/big', { body: 'x'.repeat(100) });
    const ex = await eventually(() => rig.capture.list().find((e) => e.state === 'complete'), 'capture');
    assert.equal(ex.request.body.truncated, true);
    const r = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: ex.id }),
    });
    assert.equal(r.status, 409);
    const ok = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: ex.id, modifications: { body: 'eHl6', body_encoding: 'base64' } }),
    });
    assert.equal(ok.status, 204);
    await eventually(() => up.seen.some((s) => s.body.toString() === 'xyz'), 'replay with new body');
  });

  it('replays to a file:// tunnel through the same forwarder as live traffic', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-replay-files-'));
    fs.writeFileSync(path.join(dir, 'page.txt'), 'static page');
    const started = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({ name: 'files', proto: 'http', addr: pathToFileURL(dir).href }),
    });
    assert.equal(started.status, 201, started.text);
    await throughTunnel(rig, 'files', 'GET', '/page.txt');
    const first = await eventually(
      () => rig.capture.list({ tunnelName: 'files' }).find((e) => e.state === 'complete'),
      'file capture',
    );
    const r = await request(rig.apiPort, 'POST', '/api/requests/http', {
      headers: json,
      body: JSON.stringify({ id: first.id }),
    });
    assert.equal(r.status, 204, r.text);
    const replayed = await eventually(() => rig.capture.get(String(r.headers['burrow-replay-id'])), 'replayed capture');
    await eventually(() => replayed.state === 'complete', 'replay finished');
    assert.equal(replayed.response!.statusCode, 200);
    assert.equal(replayed.response!.body.bytes().toString(), 'static page');
  });

  it('streams a snapshot, then tunnel and request events over /api/events', async () => {
    await throughTunnel(rig, 'web', 'GET', '/before');
    await eventually(() => rig.capture.list()[0]?.state === 'complete', 'first capture');
    const ws = new WebSocket(`ws://127.0.0.1:${rig.apiPort}/api/events`);
    const messages: { type: string; [k: string]: unknown }[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    try {
      const snapshot = (await eventually(() => messages[0], 'snapshot')) as {
        type: string;
        tunnels: TunnelJson[];
        requests: CaptureJson[];
        status: { status: string };
      };
      assert.equal(snapshot.type, 'snapshot');
      assert.deepEqual(
        snapshot.tunnels.map((t) => t.name),
        ['web'],
      );
      assert.equal(snapshot.requests[0].request.uri, '/before');
      assert.equal(snapshot.requests[0].request.raw, undefined, 'summaries carry no raw bytes');
      assert.equal(snapshot.status.status, 'online');

      await throughTunnel(rig, 'web', 'POST', '/live', { body: 'x' });
      const done = await eventually(
        () =>
          messages.find(
            (m) =>
              (m.type === 'request_updated' || m.type === 'request_started') &&
              (m.request as CaptureJson).request.uri === '/live' &&
              (m.request as CaptureJson).response,
          ),
        'live request event',
      );
      const id = (done.request as CaptureJson).id;
      assert.ok(
        messages.some((m) => m.type === 'request_started' && (m.request as CaptureJson).id === id),
        'started before updated',
      );

      await request(rig.apiPort, 'DELETE', `/api/requests/http/${id}`);
      await eventually(() => messages.find((m) => m.type === 'request_deleted' && m.id === id), 'deleted event');
      await request(rig.apiPort, 'DELETE', '/api/requests/http');
      await eventually(() => messages.find((m) => m.type === 'requests_cleared'), 'cleared event');

      await request(rig.apiPort, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({ name: 'late', proto: 'http', addr: other.port }),
      });
      const started = await eventually(
        () => messages.find((m) => m.type === 'tunnel_started' && (m.tunnel as TunnelJson).name === 'late'),
        'tunnel_started',
      );
      assert.match((started.tunnel as TunnelJson).public_url, /^http:\/\//);
      await request(rig.apiPort, 'DELETE', '/api/tunnels/late');
      await eventually(() => messages.find((m) => m.type === 'tunnel_stopped' && m.name === 'late'), 'tunnel_stopped');
    } finally {
      ws.terminate();
    }
  });

  it('refuses Host headers outside web_allow_hosts and cross-origin state changes (DNS-rebinding defence)', async () => {
    const evil = await request(rig.apiPort, 'GET', '/api/tunnels', { headers: { host: 'attacker.example:4040' } });
    assert.equal(evil.status, 403);
    assert.equal(evil.json<{ error_code: number; msg: string }>().msg, 'host not allowed');
    assert.equal(
      (await request(rig.apiPort, 'GET', '/', { headers: { host: 'attacker.example' } })).status,
      403,
      'the UI too',
    );
    for (const host of ['localhost:4040', '127.0.0.1', 'app.localhost:1', '[::1]:4040']) {
      assert.equal((await request(rig.apiPort, 'GET', '/api/status', { headers: { host } })).status, 200, host);
    }
    const cross = await request(rig.apiPort, 'DELETE', '/api/requests/http', {
      headers: { origin: 'http://attacker.example' },
    });
    assert.equal(cross.status, 403);
    assert.equal(
      (await request(rig.apiPort, 'DELETE', '/api/requests/http', { headers: { 'sec-fetch-site': 'cross-site' } }))
        .status,
      403,
    );
    assert.equal(
      (
        await request(rig.apiPort, 'DELETE', '/api/requests/http', {
          headers: { origin: `http://127.0.0.1:${rig.apiPort}` },
        })
      ).status,
      204,
      'same origin passes',
    );
    assert.equal(
      (await request(rig.apiPort, 'GET', '/api/tunnels', { headers: { origin: 'http://attacker.example' } })).status,
      200,
      'reads are left to CORS',
    );

    // The event stream leaks captures to any page that can open it, so it checks Origin too.
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${rig.apiPort}/api/events`, { origin: 'http://attacker.example' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    assert.equal(refused, 403);
    const rebind = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${rig.apiPort}/api/events`, { headers: { host: 'attacker.example' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    assert.equal(rebind, 403);

    const allowed = await startApiServer({
      backend: rig.backend,
      webAddr: '127.0.0.1:0',
      allowHosts: ['.example.test', '10.0.0.0/8', 'exact.host'],
    });
    try {
      const port = Number(new URL(allowed.url).port);
      for (const host of ['example.test', 'a.b.example.test:99', '10.1.2.3', 'exact.host', 'localhost']) {
        assert.equal((await request(port, 'GET', '/api/status', { headers: { host } })).status, 200, host);
      }
      for (const host of ['badexample.test', 'exact.host.evil', '11.0.0.1']) {
        assert.equal((await request(port, 'GET', '/api/status', { headers: { host } })).status, 403, host);
      }
    } finally {
      await allowed.close();
    }
  });

  it('redacts secrets in tunnel definitions', async () => {
    const r = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: json,
      body: JSON.stringify({
        name: 'secret',
        proto: 'http',
        addr: other.port,
        request_header: { add: ['Authorization: Bearer topsecret-123', 'X-Plain: visible'] },
      }),
    });
    assert.equal(r.status, 201, r.text);
    for (const path of ['/api/tunnels', '/api/tunnels/secret']) {
      const text = (await request(rig.apiPort, 'GET', path)).text;
      assert.ok(!text.includes('topsecret-123'), `${path} leaks the header secret`);
      assert.ok(text.includes('X-Plain: visible'));
      assert.ok(text.includes(`Authorization: ${REDACTED}`));
    }
    assert.ok(!r.text.includes('topsecret-123'));
  });

  it('serves the inspector UI with a strict CSP and nothing outside its folder', async () => {
    const page = await request(rig.apiPort, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.text, /<script src="inspector\.js"/);
    assert.equal((await request(rig.apiPort, 'GET', '/inspector.js')).status, 200);
    assert.equal((await request(rig.apiPort, 'GET', '/%2e%2e/%2e%2e/package.json')).status, 404);
    assert.equal((await request(rig.apiPort, 'GET', '/../package.json')).status, 404);
  });
});

describe('local API listening', () => {
  it('takes the next port when web_addr is busy, and refuses web_addr false', async () => {
    const rig = await startRig();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const api = await startApiServer({ backend: rig.backend, webAddr: `127.0.0.1:${busy}` });
      try {
        assert.ok(Number(new URL(api.url).port) > busy && Number(new URL(api.url).port) <= busy + 10);
      } finally {
        await api.close();
      }
      await assert.rejects(startApiServer({ backend: rig.backend, webAddr: false }), /disabled/);
    } finally {
      blocker.close();
      await rig.close();
    }
  });
});

describe('local API while a tunnel binds', () => {
  // A stand-in edge speaking Burrow's documented protocol (tunnel/PROTOCOL.md) through the real
  // MuxSession, which holds a bind's answer until the test releases it: the one way to keep a real
  // agent's tunnel in "starting" for as long as a test needs.
  it('lists a tunnel only once it is bound, as ngrok does; an edge that never answers fails the start with a code', async () => {
    const held: { reqId: number; session: MuxSession }[] = [];
    const wss = await linkServer((transport) => {
      const session = new MuxSession(transport, { role: 'edge', initialWindow: DEFAULT_WINDOW });
      session.on('control', (msg: ControlMessage) => {
        if (msg.type === 'hello')
          session.sendControl({
            type: 'welcome',
            version: PROTOCOL_VERSION,
            sessionId: 'stand-in',
            initialWindow: DEFAULT_WINDOW,
            heartbeatIntervalMs: 2000,
            heartbeatToleranceMs: 6000,
          });
        if (msg.type === 'bind') held.push({ reqId: msg.reqId, session });
      });
    });
    const capture = new CaptureStore({ maxTotalBytes: 1024 * 1024 });
    const agent = new Agent({
      edgeUrl: `ws://127.0.0.1:${wss.port}/_burrow/session`,
      authtoken: 'stand-in-token',
      capture,
      edgeRequestTimeoutMs: 1500,
    });
    await agent.start();
    const api = await startApiServer({
      backend: new AgentApiBackend(agent, capture),
      webAddr: '127.0.0.1:0',
      eventFlushMs: 10,
    });
    const port = Number(new URL(api.url).port);
    try {
      const created = request(port, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({ name: 'slow', proto: 'http', addr: '3000' }),
      });
      await eventually(() => held.length === 1, 'the bind to reach the edge');
      const listed = (await request(port, 'GET', '/api/tunnels')).json<{ tunnels: TunnelJson[] }>();
      assert.deepEqual(listed.tunnels, [], 'not listed while binding (no public_url yet)');
      assert.equal((await request(port, 'GET', '/api/tunnels/slow')).status, 404);
      // The event stream (the extension's tree) does show it, as starting.
      const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events`);
      const snapshot = await new Promise<{ tunnels: { name: string; status: string }[] }>((resolve, reject) => {
        ws.once('message', (m) => resolve(JSON.parse(String(m))));
        ws.once('error', reject);
      });
      ws.close();
      assert.deepEqual(
        snapshot.tunnels.map((t) => [t.name, t.status]),
        [['slow', 'starting']],
      );

      held[0].session.sendControl({
        type: 'bind-result',
        reqId: held[0].reqId,
        binding: { id: 'ep_standin', urls: ['https://slow.stand-in.test'] },
      });
      assert.equal((await created).status, 201);
      const after = (await request(port, 'GET', '/api/tunnels')).json<{ tunnels: TunnelJson[] }>();
      assert.deepEqual(
        after.tunnels.map((t) => [t.name, t.public_url]),
        [['slow', 'https://slow.stand-in.test']],
      );

      // A bind the edge never answers: the start fails with a code instead of hanging, and the
      // name is free again.
      const never = await request(port, 'POST', '/api/tunnels', {
        headers: json,
        body: JSON.stringify({ name: 'never', proto: 'http', addr: '3001' }),
      });
      assert.equal(never.status, 502);
      assert.match(never.text, /ERR_BURROW_EDGE_TIMEOUT/);
      assert.deepEqual(
        agent.tunnels().map((t) => t.name),
        ['slow'],
      );
    } finally {
      await api.close();
      await agent.close();
      wss.close();
    }
  });
});

describe('local API parts', () => {
  it('matches web_allow_hosts entries like ngrok (IP, CIDR, exact, .suffix; port ignored)', () => {
    const list = new HostAllowList(['192.168.1.5', '2001:db8::/32', 'dev.example', '.corp.test']);
    for (const h of [
      'localhost',
      'LOCALHOST:4040',
      'x.localhost',
      '127.0.0.1:4040',
      '127.9.9.9',
      '[::1]:4040',
      '192.168.1.5:80',
      '[2001:db8::1]:4040',
      'dev.example',
      'corp.test',
      'a.corp.test.',
    ])
      assert.ok(list.allows(h), h);
    for (const h of [
      undefined,
      '',
      'evil.com',
      'localhost.evil.com',
      '192.168.1.6',
      '[2001:db9::1]',
      'x.dev.example',
      'xcorp.test',
    ])
      assert.ok(!list.allows(h), String(h));
    assert.throws(() => new HostAllowList(['10.0.0.0/33']), /not a valid CIDR/);
    assert.throws(() => new HostAllowList(['bad host']), /not an IP, CIDR/);
  });

  it('calls a request cross-origin only when a browser says so', () => {
    assert.equal(isCrossOrigin({ host: '127.0.0.1:4040' }), false);
    assert.equal(isCrossOrigin({ host: '127.0.0.1:4040', origin: 'http://127.0.0.1:4040' }), false);
    assert.equal(isCrossOrigin({ host: '127.0.0.1:4040', origin: 'http://127.0.0.1:4041' }), true);
    assert.equal(isCrossOrigin({ host: '127.0.0.1:4040', origin: 'null' }), true);
    assert.equal(isCrossOrigin({ host: '127.0.0.1:4040', 'sec-fetch-site': 'same-origin' }), false);
  });

  it('redacts authtokens, passwords, client secrets and credential headers, deeply', () => {
    const out = redactSecrets({
      authtoken: 'tok',
      api_key: 'k',
      edge_url: 'wss://user:pw@edge.test/x',
      tunnels: [
        {
          basic_auth: ['alice:wonderland', 'bob:builder'],
          auth: 'u:p',
          oauth: { provider: 'google', client_id: 'id', client_secret: 'shh' },
          oidc: { clientSecret: 'camel' },
        },
      ],
      verify_webhook: { provider: 'github', secret: 'whsec' },
      headers: ['Cookie: a=1', 'X-Ok: 1'],
    });
    assert.deepEqual(out, {
      authtoken: REDACTED,
      api_key: REDACTED,
      edge_url: `wss://user:${REDACTED}@edge.test/x`,
      tunnels: [
        {
          basic_auth: [`alice:${REDACTED}`, `bob:${REDACTED}`],
          auth: `u:${REDACTED}`,
          oauth: { provider: 'google', client_id: 'id', client_secret: REDACTED },
          oidc: { clientSecret: REDACTED },
        },
      ],
      verify_webhook: { provider: 'github', secret: REDACTED },
      headers: [`Cookie: ${REDACTED}`, 'X-Ok: 1'],
    });
  });

  it('computes go-metrics style EWMA rates and percentiles', () => {
    let now = 0;
    const meter = new Meter(() => now);
    for (let i = 0; i < 50; i++) meter.mark(); // 50 events in the first 5 s tick → 10/s
    now = 5000;
    assert.deepEqual(meter.rates15(), [10, 10, 10]);
    now = 65_000; // a minute of silence: the 1-minute rate decays by e^-1, the 15-minute one barely
    const [r1, r5, r15] = meter.rates15();
    assert.ok(Math.abs(r1 - 10 * Math.exp(-1)) < 0.01, `rate1 ${r1}`);
    assert.ok(r1 < r5 && r5 < r15 && r15 < 10);
    now = 10 * 24 * 3600 * 1000; // days later: all rates ~0, without a million-tick loop
    assert.ok(meter.rates15().every((r) => r < 1e-6));
    const timer = new Timer(() => now);
    for (let i = 1; i <= 100; i++) timer.update(i); // 1..100 ms
    const j = timer.toJSON();
    assert.equal(j.count, 100);
    assert.ok(Math.abs(j.p50 - 50.5e6) < 1e6 && Math.abs(j.p99 - 99.99e6) < 1e6, JSON.stringify(j));
  });
});
