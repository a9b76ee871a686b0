// The in-process transport pair the agent uses to reach its own embedded edge: messages arrive
// in order and asynchronously, a close reaches both ends after what was sent before it, and a
// full MuxSession pair runs over it (control message, stream data both ways, flow control).
import assert from 'node:assert/strict';
import { createTransportPair } from '../../tunnel/src/protocol/transport';
import { MuxSession, type MuxStream } from '../../tunnel/src/protocol/session';

describe('protocol: in-process transport pair', () => {
  it('delivers messages in order, never synchronously', async () => {
    const [a, b] = createTransportPair();
    const got: string[] = [];
    b.onMessage((m) => got.push(m.toString()));
    a.send(Buffer.from('one'));
    a.send(Buffer.from('two'));
    assert.deepEqual(got, [], 'nothing is delivered inside send()');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(got, ['one', 'two']);
  });

  it('closes both ends after the messages sent before the close', async () => {
    const [a, b] = createTransportPair();
    const events: string[] = [];
    b.onMessage((m) => events.push(`msg ${m.toString()}`));
    a.onClose((reason) => events.push(`a closed: ${reason}`));
    b.onClose((reason) => events.push(`b closed: ${reason}`));
    a.send(Buffer.from('last'));
    a.close(1000, 'bye');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(events, ['msg last', 'a closed: bye (1000)', 'b closed: bye (1000)']);
    a.send(Buffer.from('after close'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(events.length, 3, 'a closed transport delivers nothing');
  });

  it('carries a mux session: control, a 3 MiB stream each way (beyond the window), and its end', async () => {
    const [edgeEnd, agentEnd] = createTransportPair();
    const edge = new MuxSession(edgeEnd, { role: 'edge', initialWindow: 256 * 1024 });
    const agent = new MuxSession(agentEnd, { role: 'agent', initialWindow: 256 * 1024 });
    try {
      const control = new Promise((resolve) => edge.once('control', resolve));
      agent.sendControl({ type: 'unbind', reqId: 7, id: 'x' });
      assert.deepEqual(await control, { type: 'unbind', reqId: 7, id: 'x' });

      // The agent echoes every stream the edge opens.
      agent.on('stream', (stream: MuxStream) => stream.pipe(stream));
      const body = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
      const stream = edge.openStream({ kind: 'test' });
      const chunks: Buffer[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      stream.end(body);
      await done;
      assert.ok(Buffer.concat(chunks).equals(body), 'echoed bytes are identical');
    } finally {
      edge.close();
      agent.close();
    }
  });
});
