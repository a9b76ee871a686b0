// The bench's "ngrok SDK + edge" agent: @ngrok/ngrok's forward() pointed at a Burrow edge's
// --ngrok-agent-listen, as a user would (server_addr + the edge's certificate as CA).
// Usage: node ngrok-sdk-agent.mjs UPSTREAM_PORT SERVER_ADDR CA_PEM_FILE  (token in NGROK_AUTHTOKEN)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const ngrok = createRequire(import.meta.url)('@ngrok/ngrok');
const [upstreamPort, serverAddr, caFile] = process.argv.slice(2);
const listener = await ngrok.forward({
  addr: Number(upstreamPort),
  authtoken: process.env.NGROK_AUTHTOKEN,
  server_addr: serverAddr,
  session_ca_cert: readFileSync(caFile, 'utf8'),
  schemes: ['HTTP'],
});
// The same ready line as `burrow http`, so the bench waits for it the same way.
console.log(`Forwarding  ${listener.url()} -> http://127.0.0.1:${upstreamPort}`);
process.on('SIGTERM', () => process.exit(0));
setInterval(() => undefined, 1 << 30);
