// The SDK as a library user calls it: forward() → url() → close().
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { forward, getListeners } from '../../tunnel/src/sdk';

describe('SDK forward()', () => {
  let upstream: http.Server;
  before(async () => {
    upstream = http.createServer((req, res) => res.end(`sdk ${req.headers['x-added'] ?? ''}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  });
  after(() => upstream.close());

  it('returns a listener whose URL reaches the upstream until close()', async () => {
    const port = (upstream.address() as AddressInfo).port;
    const listener = await forward({ addr: port, request_header_add: ['X-Added: yes'] });
    const url = listener.url();
    assert.ok(url, 'has a url');
    assert.match(url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/);
    assert.equal(listener.forwardsTo(), `http://127.0.0.1:${port}`);
    const u = new URL(url);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: u.port, headers: { host: u.host } }, (res) => {
          let b = '';
          res.on('data', (c) => {
            b += c;
          });
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    assert.equal(body, 'sdk yes');
    assert.equal(getListeners().length, 1);
    await listener.close();
    assert.equal(getListeners().length, 0);
    await assert.rejects(
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: u.port, headers: { host: u.host }, agent: false }, resolve)
          .on('error', reject);
      }),
      /ECONNREFUSED/,
      'the embedded edge is gone with the last listener',
    );
  });
});
