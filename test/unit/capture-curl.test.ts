// "Copy as curl" is checked by running its output through the real curl and comparing what a real
// server receives with what was captured.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { exchangeToCurl, shellQuote } from '../../tunnel/src/capture/curl';
import { sendRaw, startCapturingServer, type CapturingServer } from './capture-support';

function runShell(command: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr }),
    );
  });
}

/** Headers as [name, value] pairs minus the ones curl computes itself (Host, Content-Length). */
function endToEnd(rawHeaders: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i].toLowerCase();
    if (lower !== 'host' && lower !== 'content-length') out.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return out;
}

describe('capture copy-as-curl (real curl, real server)', () => {
  let store: CaptureStore;
  let original: CapturingServer;
  let target: CapturingServer;

  beforeEach(async () => {
    store = new CaptureStore({ maxTotalBytes: 1e7 });
    original = await startCapturingServer(store, () => ({
      status: 200,
      headers: ['Content-Length', '2'],
      chunks: [Buffer.from('ok')],
    }));
    target = await startCapturingServer(undefined, () => ({
      status: 200,
      headers: ['Content-Length', '2'],
      chunks: [Buffer.from('ok')],
    }));
  });
  afterEach(async () => {
    await original.close();
    await target.close();
  });

  /** Captures `request`, replays it with the generated curl, and checks the target saw the same. */
  async function roundTrip(request: Buffer | string, hopByHop: string[] = []): Promise<string> {
    await sendRaw(original.port, request);
    const [ex] = await original.waitFor(1);
    const command = exchangeToCurl(ex, { baseUrl: `http://127.0.0.1:${target.port}` });
    await runShell(command.trimEnd() + ' --silent --show-error --max-time 5 -o /dev/null');
    assert.equal(target.seen.length, 1, 'curl sent exactly one request');
    const [sent] = original.seen;
    const [got] = target.seen;
    assert.equal(got.method, sent.method);
    assert.equal(got.url, sent.url);
    const expected = endToEnd(sent.rawHeaders).filter(([n]) => !hopByHop.includes(n.toLowerCase()));
    assert.deepEqual(endToEnd(got.rawHeaders), expected);
    assert.deepEqual(got.body, sent.body, 'body byte-for-byte');
    return command;
  }

  it('reproduces a text POST with shell metacharacters in headers and body', async () => {
    const body = `it's "quoted" $HOME \`id\` $(echo no) \\ back\nslash\ttab 'end'\n`;
    const len = Buffer.byteLength(body);
    const command = await roundTrip(
      `POST /submit?a=1&b=%20x HTTP/1.1\r\nHost: app.localhost\r\nUser-Agent: Mozilla/5.0 (X11; "test")\r\nX-Quote: it's $(echo pwned) & ; | <>\r\nX-Dup: 1\r\nX-Dup: 2\r\nX-Empty: \r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nConnection: keep-alive, X-Hop\r\nX-Hop: dropped\r\nKeep-Alive: timeout=5\r\nContent-Length: ${len}\r\n\r\n${body}`,
      ['connection', 'keep-alive', 'x-hop'],
    );
    assert.doesNotMatch(command, /Keep-Alive|X-Hop|Connection/);
    assert.match(command, /--data-raw '/);
  });

  it('reproduces UTF-8 header values and body byte-for-byte', async () => {
    const body = Buffer.from('{"name":"José 🦫"}');
    await roundTrip(
      Buffer.concat([
        Buffer.from(
          `POST /u HTTP/1.1\r\nHost: u.localhost\r\nX-Name: Zoë “smart”\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]),
    );
  });

  it('reproduces a binary PUT (NUL bytes) without Content-Type, User-Agent or Accept', async () => {
    const binary = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) % 256));
    const command = await roundTrip(
      Buffer.concat([
        Buffer.from(`PUT /blob HTTP/1.1\r\nHost: b.localhost\r\nContent-Length: ${binary.length}\r\n\r\n`),
        binary,
      ]),
    );
    assert.match(command, /\| base64 --decode \| curl /);
    assert.match(command, /-H 'User-Agent:'/);
    assert.match(command, /-H 'Content-Type:'/);
  });

  it('reproduces odd paths (dot segments, brackets) and a body starting with @', async () => {
    await roundTrip(
      'PATCH /a/../b/./c[1]{x}?q=[2] HTTP/1.1\r\nHost: p.localhost\r\nAccept: application/json\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n@/etc/passwd',
    );
  });

  it('reproduces a DELETE without a body, keeping credentials headers as captured', async () => {
    await roundTrip('DELETE /items/7 HTTP/1.1\r\nHost: d.localhost\r\nAuthorization: Bearer abc\r\n\r\n');
    const [ex] = await original.waitFor(1);
    assert.match(
      exchangeToCurl(ex),
      /^curl 'http:\/\/d\.localhost\/items\/7' \\\n  -X 'DELETE' \\\n  -H 'Authorization: Bearer abc'/,
    );
  });

  it('HEAD uses --head, a plain GET has no -X, and a truncated body says so', () => {
    const s = new CaptureStore({ maxTotalBytes: 1e6, maxBodyBytes: 4 });
    const head = s.begin({
      tunnelName: 't',
      remoteAddr: '',
      method: 'HEAD',
      uri: '/',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'h.localhost'],
    });
    const get = s.begin({
      tunnelName: 't',
      remoteAddr: '',
      method: 'GET',
      uri: '/x',
      httpVersion: '1.0',
      rawHeaders: ['Host', 'other.example', 'Accept', '*/*'],
    });
    const post = s.begin({
      tunnelName: 't',
      remoteAddr: '',
      method: 'POST',
      uri: '/',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'h.localhost', 'Content-Type', 'text/plain'],
    });
    post.requestData(Buffer.from('abcdefgh'));
    assert.equal(
      exchangeToCurl(s.get(head.id)!),
      "curl 'http://h.localhost/' \\\n  --head \\\n  -H 'User-Agent:' \\\n  -H 'Accept:'\n",
    );
    assert.equal(
      exchangeToCurl(s.get(get.id)!, { baseUrl: 'https://pub.example' }),
      "curl 'https://pub.example/x' \\\n  --http1.0 \\\n  -H 'Host: other.example' \\\n  -H 'Accept: */*' \\\n  -H 'User-Agent:'\n",
    );
    assert.match(exchangeToCurl(s.get(post.id)!), /^# body truncated: captured 4 of 8 bytes\ncurl /);
  });

  it('quotes for POSIX shells', async () => {
    for (const s of ['', 'plain', "it's", '$HOME', '`x`', 'a\nb', '\\', '"', '*', '~', '!']) {
      const { stdout } = await runShell(`printf %s ${shellQuote(s)}`);
      assert.equal(stdout, s);
    }
  });
});
