// Keep-alive connections of HTTPS servers (HTTP/2 with HTTP/1.1 allowed), closed when a node
// drains so balancers move their clients to another node. `http.Server.closeIdleConnections` does
// this for plain HTTP/1.1 only: an Http2SecureServer has the method but it does not reach its
// HTTP/1.1 connections, and an HTTP/2 session has no "idle" state to find from outside.
import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';

export class IdleConnections {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 connections, with how many requests each is answering now. */
  private readonly h1 = new Map<net.Socket, number>();
  private draining = false;
  /** HTTP/1.1 connections to close after their current response (drainSome). */
  private readonly closing = new WeakSet<net.Socket>();

  /** Follows `server`'s connections from now on. */
  track(server: http2.Http2SecureServer): void {
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      // A client that reached a draining node anyway: its first request is served, then the GOAWAY.
      if (this.draining) {
        session.once('stream', () => setImmediate(() => session.close()));
        setTimeout(() => !session.closed && session.close(), 1000).unref();
      }
      session.once('close', () => this.sessions.delete(session));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return;
      this.h1.set(socket, 0);
      socket.once('close', () => this.h1.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse) => {
      const socket = req.socket as net.Socket;
      if (req.httpVersionMajor !== 1 || !this.h1.has(socket)) return;
      this.h1.set(socket, this.h1.get(socket)! + 1);
      if (this.draining || this.closing.has(socket)) res.shouldKeepAlive = false;
      res.once('close', () => {
        const left = (this.h1.get(socket) ?? 1) - 1;
        if (!this.h1.has(socket)) return;
        this.h1.set(socket, left);
        if ((this.draining || this.closing.has(socket)) && left === 0) socket.end();
      });
    });
    // An upgraded connection (a websocket) is the visitor's until it ends.
    server.on('upgrade', (req: http.IncomingMessage) => this.h1.delete(req.socket));
  }

  /** Like drain, for the connections `match` picks only (another node drains that carried them here). */
  drainSome(match: (socket: tls.TLSSocket) => boolean): void {
    for (const session of this.sessions) if (match(session.socket as tls.TLSSocket)) session.close();
    for (const [socket, active] of this.h1) {
      if (!match(socket as tls.TLSSocket)) continue;
      if (active === 0) socket.end();
      else this.closing.add(socket);
    }
  }

  /**
   * HTTP/2 sessions get a GOAWAY (streams in flight finish, the client opens its next ones
   * elsewhere); HTTP/1.1 connections close once idle, now or after their current response.
   */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
    for (const [socket, active] of this.h1) if (active === 0) socket.end();
  }
}
