// TCP and TLS-passthrough streams: bytes both ways between the stream and a TCP upstream.
import net from 'node:net';
import type { MuxStream } from '../protocol/session';

export function forwardRaw(stream: MuxStream, host: string, port: number): void {
  // Half-open allowed both ways: a FIN travels as end-of-stream, the other direction goes on.
  const socket = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
  let connected = false;
  socket.once('connect', () => {
    connected = true;
    stream.pipe(socket).pipe(stream);
  });
  socket.on('error', (err) => {
    if (!connected) stream.reset({ code: 'ERR_NGROK_8012', message: `${host}:${port}: ${err.message}` });
    else stream.destroy();
  });
  stream.on('error', () => socket.destroy());
}
