// Upstream HTTP + WebSocket server for `npm run bench` (modelled on the peer benchmark
// harness's upstream, so Burrow's numbers compare with it). Listens on 127.0.0.1 only and prints
// "PORT=<n>" once listening.
//
//   GET  /small   -> fixed 12-byte body "hello world\n"
//   GET  /1mib    -> 1 MiB body (preallocated)
//   POST /echo    -> streams the request body back
//   POST /upload  -> consumes the body, replies {"bytes":N}
//   WS   /ws      -> echoes every message back
//
// Usage: node test/bench/upstream.mjs [port]   (0 or absent = ephemeral)
import http from 'node:http';
import { WebSocketServer } from 'ws';

const SMALL = Buffer.from('hello world\n');
const ONE_MIB = Buffer.alloc(1024 * 1024, 0x61);

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/small') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL.length });
    res.end(SMALL);
  } else if (req.method === 'GET' && path === '/1mib') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ONE_MIB.length });
    res.end(ONE_MIB);
  } else if (req.method === 'POST' && path === '/echo') {
    const headers = { 'content-type': 'application/octet-stream' };
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    req.pipe(res);
  } else if (req.method === 'POST' && path === '/upload') {
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
    });
    req.on('end', () => {
      const body = JSON.stringify({ bytes: n });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  } else {
    req.resume();
    res.writeHead(404, { 'content-length': 10 });
    res.end('not found\n');
  }
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  if (req.url.split('?')[0] !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
});

const port = Number(process.argv[2] || 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`PORT=${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
