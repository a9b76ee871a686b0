import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { exchangeToHarEntry, exchangesToHar, type Har } from '../../tunnel/src/capture/har';
import { sendRaw, startCapturingServer } from './capture-support';

// har-schema 2.0.0 is written in JSON Schema draft-06 and uses a few non-standard keywords
// ("optional", "min"), hence strict: false.
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addMetaSchema(draft06);
// har-schema ships no types; it is a plain map of schema name → JSON schema.
const harSchemas = require('har-schema') as Record<string, object>;
for (const schema of Object.values(harSchemas)) ajv.addSchema(schema);
const validateHar = ajv.getSchema('har.json#')!;

function assertValidHar(har: Har): void {
  const ok = validateHar(har);
  assert.ok(ok, `HAR invalid: ${ajv.errorsText(validateHar.errors)}`);
}

describe('HAR 1.2 export', () => {
  it('validates against the HAR 1.2 schema and round-trips text, binary and gzip bodies', async () => {
    const store = new CaptureStore({ maxTotalBytes: 1e7 });
    const json = Buffer.from(JSON.stringify({ hello: 'wörld', n: [1, 2, 3] }));
    const gz = zlib.gzipSync(json);
    const binary = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
    let n = 0;
    const server = await startCapturingServer(
      store,
      () => {
        n++;
        if (n === 1)
          return {
            status: 200,
            headers: [
              'Content-Type',
              'application/json',
              'Content-Encoding',
              'gzip',
              'Content-Length',
              String(gz.length),
              'Set-Cookie',
              'sid=abc; HttpOnly',
            ],
            chunks: [gz],
          };
        return {
          status: 302,
          headers: [
            'Location',
            '/next',
            'Content-Type',
            'application/octet-stream',
            'Content-Length',
            String(binary.length),
          ],
          chunks: [binary.subarray(0, 100), binary.subarray(100)],
        };
      },
      'web',
    );
    try {
      await sendRaw(
        server.port,
        `POST /api/items?x=1&y=two%20words HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-Proto: https\r\nCookie: a=1; b=2\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n${json.toString('latin1')}`,
      );
      await sendRaw(
        server.port,
        Buffer.concat([
          Buffer.from(
            `PUT /upload HTTP/1.1\r\nHost: web.localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${binary.length}\r\nConnection: close\r\n\r\n`,
          ),
          binary,
        ]),
      );
      const [first, second] = await server.waitFor(2);

      const har = exchangesToHar(store.list(), { creatorVersion: '0.1.0' });
      assertValidHar(har);
      assert.equal(har.log.version, '1.2');
      assert.deepEqual(
        har.log.entries.map((e) => e._id),
        [first.id, second.id],
        'chronological',
      );

      const [a, b] = har.log.entries;
      assert.equal(a.request.url, 'https://web.localhost/api/items?x=1&y=two%20words');
      assert.deepEqual(a.request.queryString, [
        { name: 'x', value: '1' },
        { name: 'y', value: 'two words' },
      ]);
      assert.deepEqual(a.request.cookies, [
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
      ]);
      assert.equal(a.request.postData!.mimeType, 'application/json');
      assert.deepEqual(Buffer.from(a.request.postData!.text), json, 'UTF-8 request body round-trips');
      assert.equal(a.request.bodySize, json.length);
      assert.equal(a.response.status, 200);
      assert.deepEqual(a.response.cookies, [{ name: 'sid', value: 'abc' }]);
      assert.equal(a.response.content.text, json.toString(), 'gzip is undone, as HAR wants');
      assert.equal(a.response.content.size, json.length);
      assert.equal(a.response.content.compression, json.length - gz.length);
      assert.equal(a.response.bodySize, gz.length);
      assert.ok(a.response.headersSize > 0);
      assert.ok(a.time > 0 && a.timings.wait >= 0 && a.timings.receive >= 0);

      assert.equal(b.request.postData!._encoding, 'base64');
      assert.deepEqual(Buffer.from(b.request.postData!.text, 'base64'), binary, 'binary request body round-trips');
      assert.equal(b.response.content.encoding, 'base64');
      assert.deepEqual(Buffer.from(b.response.content.text!, 'base64'), binary, 'binary response body round-trips');
      assert.equal(b.response.redirectURL, '/next');
    } finally {
      await server.close();
    }
  });

  it('exports unanswered, failed and truncated exchanges as valid HAR', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6, maxBodyBytes: 8 });
    const pending = store.begin({
      tunnelName: 't',
      remoteAddr: '10.0.0.1',
      method: 'GET',
      uri: '/slow',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'x.localhost'],
    });
    const failed = store.begin({
      tunnelName: 't',
      remoteAddr: '10.0.0.1',
      method: 'GET',
      uri: '/down',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'x.localhost'],
    });
    failed.finish({ code: 'ERR_NGROK_8012', message: 'connection refused' });
    const big = store.begin({
      tunnelName: 't',
      remoteAddr: '10.0.0.1',
      method: 'POST',
      uri: '/big',
      httpVersion: '2.0',
      rawHeaders: [':authority', 'x.localhost', 'content-type', 'text/plain'],
    });
    big.requestData(Buffer.from('0123456789abcdef'));
    big.response(200, '', '2.0', ['content-type', 'text/plain', 'content-encoding', 'gzip']);
    big.responseData(zlib.gzipSync(Buffer.from('a'.repeat(1000))));
    big.finish();
    const har = exchangesToHar(store.list());
    assertValidHar(har);
    const [p, f, g] = har.log.entries;
    assert.equal(p._id, pending.id);
    assert.equal(p.response.status, 0);
    assert.equal(f.response._error, 'ERR_NGROK_8012: connection refused');
    assert.equal(g.request.url, 'http://x.localhost/big');
    assert.equal(g.request.postData!.text, '01234567');
    assert.equal(g.request.postData!._truncated, true);
    assert.equal(g.request.bodySize, 16);
    assert.equal(g.response.content._truncated, true);
    assert.match(g.response.content.comment!, /gzip-encoded \(truncated\)/);
    assertValidHar({
      log: {
        ...har.log,
        entries: [exchangeToHarEntry(store.get(big.id)!, { baseUrlFor: () => 'https://public.example' })],
      },
    });
    assert.equal(
      exchangeToHarEntry(store.get(big.id)!, { baseUrlFor: () => 'https://public.example' }).request.url,
      'https://public.example/big',
    );
  });

  it('the validator really rejects a broken HAR', () => {
    const store = new CaptureStore({ maxTotalBytes: 1e6 });
    store
      .begin({ tunnelName: 't', remoteAddr: '', method: 'GET', uri: '/', httpVersion: '1.1', rawHeaders: [] })
      .finish();
    const har = exchangesToHar(store.list()) as unknown as { log: { entries: { request: { headers: unknown } }[] } };
    har.log.entries[0].request.headers = 'nope';
    assert.equal(validateHar(har), false);
  });
});
