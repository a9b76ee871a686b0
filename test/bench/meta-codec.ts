// CPU per HTTP exchange of its two metadata payloads, JSON (what an older peer gets) against the
// binary form of `binary-meta` (protocol/binary-meta.ts): the edge encodes an Open and decodes a
// response head, the agent decodes the Open (and checks it) and encodes the head. The payloads are
// those of the edge + agent benchmark's small GET (wrk's head after the edge's forwarding headers;
// upstream.mjs's response head). In process, no I/O: the machine's load matters little.
//   npx tsx test/bench/meta-codec.ts [iterations=200000]
import { decodeHttpOpen, decodeHttpResponseHead, encodeBinaryMeta } from '../../tunnel/src/protocol/binary-meta';
import { decodeFrames, encodeJsonFrame, FrameType, parseJsonPayload } from '../../tunnel/src/protocol/frames';
import { httpResponseHead, streamOpen, type HttpOpen, type HttpResponseHead } from '../../tunnel/src/protocol/messages';

const open: HttpOpen = {
  kind: 'http',
  binding: 'ep_2f1c9a7be0d34c55a1e4',
  remoteAddr: '127.0.0.1',
  scheme: 'http',
  method: 'GET',
  url: '/small',
  httpVersion: '1.1',
  rawHeaders: [
    'Host',
    'bench.example.test:8480',
    'X-Forwarded-For',
    '127.0.0.1',
    'X-Forwarded-Proto',
    'http',
    'X-Forwarded-Host',
    'bench.example.test:8480',
  ],
};
const head: HttpResponseHead = {
  kind: 'http-response',
  statusCode: 200,
  statusMessage: 'OK',
  rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '13', 'Date', new Date().toUTCString()],
};

function jsonExchange(): number {
  const o = decodeFrames(encodeJsonFrame(FrameType.Open, 1, 2, open))[0];
  const gotOpen = streamOpen(parseJsonPayload(o), 'open') as HttpOpen;
  const m = decodeFrames(encodeJsonFrame(FrameType.Meta, 0, 2, head))[0];
  const gotHead = httpResponseHead(parseJsonPayload(m), 'meta');
  return gotOpen.rawHeaders.length + gotHead.rawHeaders.length;
}

function binaryExchange(): number {
  const o = decodeFrames(encodeBinaryMeta(FrameType.Open, 1, 2, open)!)[0];
  const gotOpen = decodeHttpOpen(o.payload);
  const m = decodeFrames(encodeBinaryMeta(FrameType.Meta, 0, 2, head)!)[0];
  const gotHead = decodeHttpResponseHead(m.payload);
  return gotOpen.rawHeaders.length + gotHead.rawHeaders.length;
}

const n = Number(process.argv[2] ?? 200_000);
const sizes = {
  json: encodeJsonFrame(FrameType.Open, 1, 2, open).length + encodeJsonFrame(FrameType.Meta, 0, 2, head).length,
  binary: encodeBinaryMeta(FrameType.Open, 1, 2, open)!.length + encodeBinaryMeta(FrameType.Meta, 0, 2, head)!.length,
};
const results: Record<string, number[]> = { json: [], binary: [] };
let sink = 0;
// Interleaved rounds, after a warm-up each, so both forms see the same machine.
for (let round = 0; round < 5; round++) {
  for (const [name, fn] of [
    ['json', jsonExchange],
    ['binary', binaryExchange],
  ] as const) {
    for (let i = 0; i < n / 10; i++) sink += fn();
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) sink += fn();
    const used = process.cpuUsage(start);
    results[name].push(((used.user + used.system) / n) * 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`per exchange (Open + response head, encode + decode + check), ${n} × 5 rounds, sink ${sink % 7}`);
for (const name of ['json', 'binary'])
  console.log(
    `${name.padEnd(6)} ${median(results[name]).toFixed(0).padStart(5)} ns CPU (rounds ${results[name].map((x) => x.toFixed(0)).join(', ')}), ${sizes[name as 'json' | 'binary']} bytes on the wire`,
  );
console.log(`binary / json: ${(median(results.binary) / median(results.json)).toFixed(2)}`);
