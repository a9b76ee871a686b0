// A test server for Burrow's WebSocket links: an http(s) server whose upgrades get the edge's own
// handshake (edge/ws-upgrade.ts acceptLink), handing each accepted link's transport to `onLink`.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { acceptLink } from '../../tunnel/src/edge/ws-upgrade';
import type { WebSocketTransport } from '../../tunnel/src/protocol/transport';

export interface LinkServer {
  server: http.Server;
  port: number;
  close(): void;
}

export async function linkServer(
  onLink: (transport: WebSocketTransport, req: http.IncomingMessage) => void,
  tlsOptions?: https.ServerOptions,
): Promise<LinkServer> {
  const server = tlsOptions ? https.createServer(tlsOptions) : http.createServer();
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const transport = acceptLink(req, socket, head);
    if (transport) onLink(transport, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
