// The API's view of recorded exchanges (ngrok JSON with `raw`, HAR, curl, the replay request) must
// not change with how the store keeps them. test/fixtures/capture-golden.json was written by the
// store as it was before the compact records (issue 11, round 4); ids, times and durations are
// normalised. Regenerate only on purpose: CAPTURE_GOLDEN_WRITE=1 npx mocha test/unit/capture-golden.test.ts
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { CaptureStore, type CaptureStart, type CapturedExchange } from '../../tunnel/src/capture/store';
import { exchangeToNgrokJson, requestListToNgrokJson } from '../../tunnel/src/capture/ngrok-json';
import { exchangesToHar } from '../../tunnel/src/capture/har';
import { exchangeToCurl } from '../../tunnel/src/capture/curl';
import { buildReplayRequest } from '../../tunnel/src/agent/api/replay';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'capture-golden.json');

const start = (over: Partial<CaptureStart> = {}): CaptureStart => ({
  tunnelName: 'web',
  remoteAddr: '127.0.0.1:50000',
  method: 'GET',
  uri: '/small',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'clever-owl.localhost:8480', 'X-Forwarded-For', '127.0.0.1', 'X-Forwarded-Proto', 'http'],
  ...over,
});

/** Every kind of exchange the data path records, in one store. */
export function recordScenario(store: CaptureStore): void {
  // A small GET, as the benchmark sends.
  let r = store.begin(start());
  r.requestEnd();
  r.response(200, 'OK', '1.1', ['Content-Type', 'text/plain', 'Content-Length', '12', 'Connection', 'keep-alive']);
  r.responseData(Buffer.from('hello world\n'));
  r.finish();
  // A POST with a body in several chunks, a 100 Continue first, a chunked gzip JSON answer.
  r = store.begin(
    start({
      method: 'POST',
      uri: '/api/items?x=1&y=%20z',
      rawHeaders: [
        'Host',
        'a.localhost',
        'Content-Type',
        'application/json',
        'Cookie',
        'a=1; b=2',
        'Expect',
        '100-continue',
      ],
    }),
  );
  r.addPolicyLogs([{ metadata: { rule: 'one', n: 1 } }]);
  r.requestData(Buffer.from('{"name":'));
  r.requestData(Buffer.from('"thing"}'));
  r.requestEnd();
  r.response(100, 'Continue', '1.1', []);
  r.response(201, 'Created', '1.1', [
    'Content-Type',
    'application/json',
    'Content-Encoding',
    'gzip',
    'Transfer-Encoding',
    'chunked',
    'Set-Cookie',
    'sid=abc; Path=/; HttpOnly',
    'Set-Cookie',
    'theme=dark',
  ]);
  r.responseData(zlib.gzipSync(Buffer.from('{"id":7,"name":"thing"}')));
  r.finish();
  // Truncated request body (the per-body cap is 4 KiB here), an upstream error, no response.
  r = store.begin(
    start({ method: 'PUT', uri: '/upload', rawHeaders: ['Host', 'a.localhost', 'Content-Length', '6000'] }),
  );
  r.requestData(Buffer.alloc(3000, 0x61));
  r.requestData(Buffer.alloc(3000, 0x62));
  r.finish({ code: 'ERR_NGROK_8012', message: 'upstream refused the connection' });
  // HTTP/2 shaped (pseudo-headers, no reason phrase), a latin1 header value, a binary body.
  r = store.begin(
    start({
      httpVersion: '2.0',
      uri: '/h2',
      rawHeaders: [
        ':method',
        'GET',
        ':authority',
        'h2.localhost',
        ':scheme',
        'https',
        ':path',
        '/h2',
        'X-Name',
        'caf\u00e9',
      ],
    }),
  );
  r.requestEnd();
  r.response(404, '', '2.0', [':status', '404', 'Content-Type', 'application/octet-stream']);
  r.responseData(Buffer.from([0, 1, 2, 0xff, 0xfe]));
  r.finish();
  // A websocket upgrade (101) still open.
  r = store.begin(
    start({
      uri: '/ws',
      rawHeaders: ['Host', 'a.localhost', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k=='],
    }),
  );
  r.requestEnd();
  r.response(101, 'Switching Protocols', '1.1', ['Connection', 'Upgrade', 'Upgrade', 'websocket']);
  // A replay, and a request the edge answered itself.
  r = store.begin(start({ remoteAddr: '10.0.0.1:1234', uri: '/again' }), { replayOf: '0123456789abcdef' });
  r.requestEnd();
  r.response(204, 'No Content', '1.0', []);
  r.finish();
  store.recordAnswered(start({ uri: '/private' }), {
    module: 'basic-auth',
    statusCode: 401,
    statusMessage: 'Unauthorized',
    responseHeaders: ['WWW-Authenticate', 'Basic realm="burrow"', 'Content-Length', '0'],
    logs: [{ metadata: { denied: true } }],
  });
  // Still waiting for the upstream.
  r = store.begin(start({ tunnelName: 'other', uri: '/slow' }));
  r.requestData(Buffer.from('x'));
}

/** The API's outputs for every exchange, with ids, times and durations normalised. */
function outputs(store: CaptureStore): unknown {
  const list = store.list({ limit: 100 });
  const ids = new Map(list.map((ex, i) => [ex.id, `id${list.length - 1 - i}`]));
  const norm = (text: string): string => {
    let out = text;
    for (const [id, name] of ids) out = out.split(id).join(name);
    return out
      .replace(/"start(edDateTime)?":"[^"]+"/g, '"start$1":"T"')
      .replace(/"duration":\d+/g, '"duration":0')
      .replace(/"(time|send|wait|receive)":[\d.]+/g, '"$1":0');
  };
  const replay = (ex: CapturedExchange): unknown => {
    try {
      const r = buildReplayRequest(ex, undefined);
      return { ...r, body: r.body.toString('base64') };
    } catch (err) {
      return { error: String((err as Error).message) };
    }
  };
  return JSON.parse(
    norm(
      JSON.stringify({
        list: requestListToNgrokJson(list, { raw: false }),
        each: list.map((ex) => exchangeToNgrokJson(ex)),
        har: exchangesToHar(list, { baseUrlFor: (n) => (n === 'web' ? 'https://web.example' : undefined) }),
        curl: list.map((ex) => exchangeToCurl(ex)),
        replay: list.map(replay),
      }),
    ),
  );
}

describe('capture output is unchanged (golden)', () => {
  it('gives the same ngrok JSON, HAR, curl and replay requests as before the compact store', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6, maxBodyBytes: 4096 });
    recordScenario(store);
    const got = outputs(store);
    if (process.env.CAPTURE_GOLDEN_WRITE) fs.writeFileSync(FIXTURE, JSON.stringify(got, null, 1) + '\n');
    assert.deepEqual(got, JSON.parse(fs.readFileSync(FIXTURE, 'utf8')));
  });
});
