import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  CaptureStore,
  DEFAULT_INSPECT_DB_SIZE,
  storeBytesFromInspectDbSize,
  type CaptureStart,
} from '../../tunnel/src/capture/store';
import { exchangeToNgrokJson, requestListToNgrokJson } from '../../tunnel/src/capture/ngrok-json';
import { canonicalHeaderName, decodeContent } from '../../tunnel/src/capture/http';
import { sendRaw, startCapturingServer } from './capture-support';

const start = (over: Partial<CaptureStart> = {}): CaptureStart => ({
  tunnelName: 'web',
  remoteAddr: '127.0.0.1',
  method: 'POST',
  uri: '/x',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'a.localhost', 'Content-Type', 'text/plain'],
  ...over,
});

describe('capture store', () => {
  it('gives ngrok-shaped ids (16 hex chars), unique and in order', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const ids = Array.from({ length: 50 }, () => store.begin(start()).id);
    for (const id of ids) assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(new Set(ids).size, 50);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('copies body chunks, so the data path may reuse its buffers', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const rec = store.begin(start());
    const chunk = Buffer.from('hello world');
    rec.requestData(chunk);
    chunk.fill(0x2d); // the caller reuses its buffer: the capture keeps what was sent
    rec.requestEnd();
    const ex = store.get(rec.id)!;
    assert.equal(ex.request.body.bytes().toString(), 'hello world');
    rec.requestData(Buffer.from('!'));
    const bytes = ex.request.body.bytes();
    assert.equal(bytes.toString(), 'hello world!');
    bytes.fill(0x2d); // and a reader's copy is its own
    assert.equal(ex.request.body.bytes().toString(), 'hello world!');
  });

  it('copies a small view into a large shared buffer so accounting stays honest', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const rec = store.begin(start());
    const big = Buffer.alloc(1 << 20, 0x61);
    rec.requestData(big.subarray(10, 20));
    rec.requestEnd();
    const kept = store.get(rec.id)!.request.body.bytes();
    assert.equal(kept.toString(), 'a'.repeat(10));
    assert.ok(kept.buffer.byteLength < 1 << 20, 'the 1 MiB backing store is not pinned');
  });

  it('caps each body and marks it truncated while still counting the wire size', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6, maxBodyBytes: 10 });
    const rec = store.begin(start());
    rec.requestData(Buffer.from('0123456'));
    rec.requestData(Buffer.from('789abcdef'));
    rec.requestData(Buffer.from('more'));
    rec.requestEnd();
    rec.response(200, 'OK', '1.1', ['Content-Length', '3']);
    rec.responseData(Buffer.from('abc'));
    rec.finish();
    const ex = store.get(rec.id)!;
    assert.equal(ex.request.body.bytes().toString(), '0123456789');
    assert.equal(ex.request.body.size, 20);
    assert.equal(ex.request.body.truncated, true);
    assert.equal(ex.response!.body.truncated, false);
    const json = exchangeToNgrokJson(ex);
    assert.equal(json.request.body_truncated, true);
    assert.equal(json.request.body_size, 20);
  });

  it('bounds the store in bytes and evicts oldest first, never the exchange that is growing', () => {
    const store = new CaptureStore({ maxTotalBytes: 10_000, maxBodyBytes: 4_000 });
    const evicted: string[] = [];
    store.on('evicted', (id) => evicted.push(id));
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const rec = store.begin(start());
      ids.push(rec.id);
      rec.requestData(Buffer.alloc(3_000));
      rec.requestEnd();
      rec.response(200, 'OK', '1.1', []);
      rec.finish();
      assert.ok(store.size <= 10_000, `size ${store.size} within the cap`);
    }
    assert.ok(evicted.length >= 7, `evicted ${evicted.length}`);
    assert.deepEqual(evicted, ids.slice(0, evicted.length), 'oldest first');
    assert.deepEqual(
      store.list().map((e) => e.id),
      ids.slice(evicted.length).reverse(),
    );
    // An evicted recording keeps accepting calls without effect.
    const first = store.begin(start());
    for (let i = 0; i < 5; i++) store.begin(start()).requestData(Buffer.alloc(3_000));
    assert.equal(store.get(first.id), undefined);
    first.requestData(Buffer.alloc(100));
    first.response(500, 'Internal Server Error', '1.1', []);
    first.finish();
    assert.ok(store.size <= 10_000);
  });

  it('clamps the per-body cap to half the store', () => {
    const store = new CaptureStore({ maxTotalBytes: 1000, maxBodyBytes: 1e6 });
    assert.equal(store.maxBodyBytes, 500);
  });

  it('follows inspect_db_size: 0 → 50 MB, -1 → disabled', () => {
    assert.equal(storeBytesFromInspectDbSize(0), DEFAULT_INSPECT_DB_SIZE);
    assert.equal(storeBytesFromInspectDbSize(undefined), 50 * 1024 * 1024);
    assert.equal(storeBytesFromInspectDbSize(1234), 1234);
    const off = CaptureStore.fromInspectDbSize(-1);
    assert.equal(off.enabled, false);
    let events = 0;
    off.on('exchange', () => events++);
    const rec = off.begin(start());
    rec.requestData(Buffer.from('x'));
    rec.response(200, 'OK', '1.1', []);
    rec.finish();
    assert.equal(off.list().length, 0);
    assert.equal(off.get(rec.id), undefined);
    assert.equal(events, 0);
  });

  it('lists newest first with limit and tunnel filter; get, delete and clear emit events', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const events: string[] = [];
    store.on('exchange', (e) => events.push(`start ${e.id}`));
    store.on('exchange-update', (e) => events.push(`update ${e.id} ${e.state}`));
    store.on('deleted', (id) => events.push(`deleted ${id}`));
    store.on('cleared', () => events.push('cleared'));
    const a = store.begin(start({ tunnelName: 'a' }));
    const b = store.begin(start({ tunnelName: 'b' }));
    const c = store.begin(start({ tunnelName: 'a' }));
    assert.deepEqual(
      store.list().map((e) => e.id),
      [c.id, b.id, a.id],
    );
    assert.deepEqual(
      store.list({ limit: 2 }).map((e) => e.id),
      [c.id, b.id],
    );
    assert.deepEqual(
      store.list({ tunnelName: 'a' }).map((e) => e.id),
      [c.id, a.id],
    );
    a.response(204, 'No Content', '1.1', []);
    a.finish();
    assert.equal(store.delete(b.id), true);
    assert.equal(store.delete(b.id), false);
    store.clear();
    assert.equal(store.list().length, 0);
    assert.equal(store.size, 0);
    assert.deepEqual(events, [
      `start ${a.id}`,
      `start ${b.id}`,
      `start ${c.id}`,
      `update ${a.id} response`,
      `update ${a.id} complete`,
      `deleted ${b.id}`,
      'cleared',
    ]);
  });

  it('records timing and failures with their edge error code; hides interim 1xx responses', async () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const rec = store.begin(start());
    rec.response(100, 'Continue', '1.1', []);
    assert.equal(store.get(rec.id)!.response, null);
    await new Promise((r) => setTimeout(r, 5));
    rec.finish({ code: 'ERR_NGROK_8012', message: 'dial tcp 127.0.0.1:1: connect: connection refused' });
    const ex = store.get(rec.id)!;
    assert.equal(ex.state, 'error');
    assert.ok(ex.durationNs >= 4e6, `duration ${ex.durationNs}ns`);
    const json = exchangeToNgrokJson(ex);
    assert.equal(json.response, null);
    assert.deepEqual(json.error, {
      code: 'ERR_NGROK_8012',
      message: 'dial tcp 127.0.0.1:1: connect: connection refused',
    });
    rec.finish(); // a second finish changes nothing
    assert.equal(store.get(rec.id)!.state, 'error');
  });
});

describe('capture ngrok JSON', () => {
  it("serialises a real exchange in ngrok's shape with raw = the HTTP/1.1 bytes on the wire", async () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const server = await startCapturingServer(
      store,
      () => ({
        status: 201,
        headers: ['Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '11'],
        chunks: [Buffer.from('{"ok":true}')],
      }),
      'my-tunnel',
    );
    try {
      const head =
        'POST /items?q=1 HTTP/1.1\r\nHost: app.localhost\r\nx-lower-case: v\r\nX-Multi: 1\r\nX-Multi: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n';
      const requestBytes = head + 'hello';
      const reply = await sendRaw(server.port, requestBytes);
      assert.match(reply.toString(), /^HTTP\/1.1 201 Created/);
      const [ex] = await server.waitFor(1);
      const json = exchangeToNgrokJson(ex);
      assert.deepEqual(Object.keys(json).slice(0, 8), [
        'uri',
        'id',
        'tunnel_name',
        'remote_addr',
        'start',
        'duration',
        'request',
        'response',
      ]);
      assert.equal(json.uri, `/api/requests/http/${ex.id}`);
      assert.equal(json.tunnel_name, 'my-tunnel');
      assert.equal(json.remote_addr, '127.0.0.1');
      assert.match(json.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
      assert.ok(Number.isInteger(json.duration) && json.duration > 0);
      assert.equal(json.request.method, 'POST');
      assert.equal(json.request.proto, 'HTTP/1.1');
      assert.equal(json.request.uri, '/items?q=1');
      assert.deepEqual(json.request.headers, {
        Host: ['app.localhost'],
        'X-Lower-Case': ['v'],
        'X-Multi': ['1', '2'],
        'Content-Length': ['5'],
        Connection: ['close'],
      });
      assert.equal(Buffer.from(json.request.raw!, 'base64').toString('latin1'), requestBytes);
      assert.ok(json.response);
      assert.equal(json.response.status, '201 Created');
      assert.equal(json.response.status_code, 201);
      assert.deepEqual(json.response.headers['Set-Cookie'], ['a=1', 'b=2']);
      const rawRes = Buffer.from(json.response.raw!, 'base64').toString('latin1');
      assert.equal(
        rawRes,
        'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 11\r\n\r\n{"ok":true}',
      );
      const list = requestListToNgrokJson(store.list());
      assert.equal(list.uri, '/api/requests/http');
      assert.equal(list.requests[0].id, ex.id);
      assert.equal(exchangeToNgrokJson(ex, { raw: false }).request.raw, undefined);
    } finally {
      await server.close();
    }
  });

  it('re-frames a chunked body in raw and keeps binary bytes exact', async () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const binary = Buffer.from([0, 1, 2, 255, 254, 13, 10, 0]);
    const server = await startCapturingServer(store, () => ({
      status: 200,
      headers: ['Content-Type', 'application/octet-stream', 'Transfer-Encoding', 'chunked'],
      chunks: [binary, binary],
    }));
    try {
      await sendRaw(
        server.port,
        Buffer.concat([
          Buffer.from('PUT /bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n'),
          binary,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      );
      const [ex] = await server.waitFor(1);
      const json = exchangeToNgrokJson(ex);
      const raw = Buffer.from(json.request.raw!, 'base64');
      assert.deepEqual(
        raw,
        Buffer.concat([
          Buffer.from('PUT /bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n'),
          binary,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      );
      // Two chunks on the wire become one re-framed chunk of 16 bytes.
      const rawRes = Buffer.from(json.response!.raw!, 'base64');
      assert.deepEqual(
        rawRes,
        Buffer.concat([
          Buffer.from(
            'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n',
          ),
          binary,
          binary,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      );
    } finally {
      await server.close();
    }
  });

  it('renders HTTP/2 exchanges as HTTP/1.1 bytes (pseudo-headers → request line and Host)', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    const rec = store.begin(
      start({
        method: 'GET',
        uri: '/h2',
        httpVersion: '2.0',
        rawHeaders: [':method', 'GET', ':authority', 'h2.localhost', ':path', '/h2', 'accept', '*/*'],
      }),
    );
    rec.finish();
    const json = exchangeToNgrokJson(store.get(rec.id)!);
    assert.equal(json.request.proto, 'HTTP/2.0');
    assert.deepEqual(json.request.headers, { Accept: ['*/*'] });
    assert.equal(
      Buffer.from(json.request.raw!, 'base64').toString(),
      'GET /h2 HTTP/1.1\r\nHost: h2.localhost\r\naccept: */*\r\n\r\n',
    );
  });

  it('canonicalises header names as Go does', () => {
    assert.equal(canonicalHeaderName('content-type'), 'Content-Type');
    assert.equal(canonicalHeaderName('X-FORWARDED-FOR'), 'X-Forwarded-For');
    assert.equal(canonicalHeaderName('www-authenticate'), 'Www-Authenticate');
    assert.equal(canonicalHeaderName('bad header'), 'bad header');
  });

  it('decodes gzip, deflate (both framings) and br, and refuses what it cannot decode', () => {
    const text = Buffer.from('x'.repeat(1000));
    assert.deepEqual(decodeContent(zlib.gzipSync(text), 'gzip'), text);
    assert.deepEqual(decodeContent(zlib.deflateSync(text), 'deflate'), text);
    assert.deepEqual(decodeContent(zlib.deflateRawSync(text), 'deflate'), text);
    assert.deepEqual(decodeContent(zlib.brotliCompressSync(text), 'br'), text);
    assert.deepEqual(decodeContent(zlib.gzipSync(zlib.deflateSync(text)), 'deflate, gzip'), text);
    assert.equal(decodeContent(zlib.gzipSync(text).subarray(0, 10), 'gzip'), undefined);
    assert.equal(decodeContent(text, 'zstd'), undefined);
  });
});
