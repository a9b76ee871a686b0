// A raw Burrow agent hello, for tests of what an edge answers to an authtoken (throttle, refusals).
import { PROTOCOL_VERSION } from '../../tunnel/src/protocol/frames';
import type { ControlMessage } from '../../tunnel/src/protocol/messages';
import { MuxSession } from '../../tunnel/src/protocol/session';
import { openWebSocket } from '../../tunnel/src/protocol/ws-handshake';

/** Opens a raw agent session, says hello with `authtoken`, resolves with the welcome or the refusal code. */
export async function helloWith(port: number, authtoken: string): Promise<string> {
  const transport = await openWebSocket(`ws://127.0.0.1:${port}/_burrow/session`, { timeoutMs: 5_000 });
  const session = new MuxSession(transport, { role: 'agent' });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to hello within 5 s')), 5_000);
      session.on('control', (msg: ControlMessage) => {
        clearTimeout(timer);
        resolve(msg.type);
      });
      session.on('close', (error) => {
        clearTimeout(timer);
        resolve(error?.code ?? 'closed');
      });
      session.sendControl({
        type: 'hello',
        version: PROTOCOL_VERSION,
        authtoken,
        clientId: 'raw-client-0001',
        agent: { version: 'test', os: 'test' },
      });
    });
  } finally {
    session.close();
    transport.close(1000, 'done');
  }
}
