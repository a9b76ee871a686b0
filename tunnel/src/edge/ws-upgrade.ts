// The edge's end of a link's WebSocket handshake (an agent's session, a cluster peer's link):
// the 101 and the transport, or the refusal as an edge error (ERR_BURROW_WS_*), never a stack trace.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { rawEdgeError } from '../edge-errors';
import { WebSocketTransport } from '../protocol/transport';
import { acceptUpgrade } from '../protocol/ws-handshake';

/** The link's transport, or undefined when the request was refused (answered here) or the client left. */
export function acceptLink(req: http.IncomingMessage, socket: Duplex, head: Buffer): WebSocketTransport | undefined {
  const accepted = acceptUpgrade(req, socket, head);
  if (accepted === undefined || accepted instanceof WebSocketTransport) return accepted;
  const page =
    accepted.status === 426
      ? rawEdgeError('ERR_BURROW_WS_VERSION', accepted.reason, { 'sec-websocket-version': '13' })
      : rawEdgeError('ERR_BURROW_WS_HANDSHAKE', accepted.reason);
  // Closed once the answer is out: a client that keeps its end open holds nothing here.
  socket.once('finish', () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.end(page);
  return undefined;
}
