// When a session sends what it queued (protocol/turn-batch.ts): the frames of a lone I/O callback
// leave at once, without waiting for the check phase; when one event-loop turn has several
// callbacks queueing frames, they share one transport message at the turn's end, and so does the
// next turn; order holds across the switch. The same for an in-process peer's direct calls.
import assert from 'node:assert/strict';
import { FrameType, decodeParts, type Frame } from '../../tunnel/src/protocol/frames';
import { MuxSession, type MuxStream } from '../../tunnel/src/protocol/session';
import { createTransportPair, type Transport } from '../../tunnel/src/protocol/transport';
import { TurnBatch } from '../../tunnel/src/protocol/turn-batch';

/** Records the frames of every message a transport sends. */
function spy(transport: Transport): Frame[][] {
  const messages: Frame[][] = [];
  const send = transport.send.bind(transport);
  transport.send = (m: Buffer | Buffer[]) => {
    messages.push(decodeParts(Array.isArray(m) ? m : [m]));
    send(m as Buffer);
  };
  return messages;
}

function pair(directStreams: boolean) {
  const [edgeEnd, agentEnd] = createTransportPair({ directStreams });
  const sent = spy(edgeEnd);
  const edge = new MuxSession(edgeEnd, { role: 'edge' });
  const agent = new MuxSession(agentEnd, { role: 'agent' });
  const opened: number[] = [];
  agent.on('stream', (stream: MuxStream) => {
    stream.on('error', () => undefined);
    opened.push(stream.id);
  });
  return { edge, agent, sent, opened, close: () => (edge.close(), agent.close()) };
}

const nextIteration = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs each of `callbacks` in its own setImmediate of one check phase (microtasks run between
 * them, as between I/O callbacks of one poll phase), then waits until that turn's end has passed.
 */
async function oneTurn(callbacks: (() => void)[]): Promise<void> {
  await new Promise<void>((resolve) => {
    for (const cb of callbacks) setImmediate(cb);
    setImmediate(resolve);
  });
  await nextIteration();
  await nextIteration();
}

/** The Open frames' stream ids of each message. */
const opens = (messages: Frame[][]) =>
  messages.map((m) => m.filter((f) => f.type === FrameType.Open).map((f) => f.stream)).filter((ids) => ids.length);

describe('protocol: lone frames go at once, a busy turn goes in one message', () => {
  it('a lone frame is sent before a setImmediate scheduled ahead of it runs', async () => {
    const { edge, sent, close } = pair(false);
    try {
      await nextIteration();
      const seen = new Promise<number>((resolve) => setImmediate(() => resolve(sent.length)));
      edge.openStream({ kind: 'lone' }, true).on('error', () => undefined);
      assert.equal(sent.length, 0, 'not within the call itself');
      assert.equal(await seen, 1, 'sent in the same turn, before the check phase');
      assert.deepEqual(opens(sent), [[2]]);
    } finally {
      close();
    }
  });

  it('frames of one callback share one message; of several callbacks in a turn, the later ones share one', async () => {
    const { edge, sent, opened, close } = pair(false);
    try {
      const open = () => edge.openStream({ kind: 't' }, true).on('error', () => undefined);
      await nextIteration();
      // Turn 1: three callbacks. The first goes at once; the other two wait for the turn's end, together.
      await oneTurn([() => (open(), open()), open, open]);
      assert.deepEqual(opens(sent), [
        [2, 4],
        [6, 8],
      ]);
      // Turn 2 follows a busy turn: all its callbacks go in one message.
      await oneTurn([open, open, open]);
      assert.deepEqual(opens(sent).slice(2), [[10, 12, 14]]);
      // Turn 3: one callback, still batched (turn 2 was busy); turn 4: quiet again, at once.
      await oneTurn([open]);
      const seen = new Promise<number>((resolve) => setImmediate(() => resolve(sent.length)));
      open();
      assert.equal(await seen, 5, 'a lone frame after a quiet turn goes at once');
      await nextIteration();
      assert.deepEqual(opens(sent).slice(3), [[16], [18]]);
      // Every stream reached the peer, in the order opened.
      while (opened.length < 9) await nextIteration();
      assert.deepEqual(opened, [2, 4, 6, 8, 10, 12, 14, 16, 18]);
    } finally {
      close();
    }
  });

  it('an in-process peer hears a lone open before an earlier setImmediate, and busy turns in order', async () => {
    const { edge, opened, sent, close } = pair(true);
    try {
      const open = () => edge.openStream({ kind: 'direct' }, true).on('error', () => undefined);
      await nextIteration();
      const seen = new Promise<number>((resolve) => setImmediate(() => resolve(opened.length)));
      open();
      assert.equal(await seen, 1, "the peer's 'stream' event came before the check phase");
      await oneTurn([open, open, open]);
      await oneTurn([open, open]);
      await oneTurn([open]);
      open();
      while (opened.length < 8) await nextIteration();
      assert.deepEqual(opened, [2, 4, 6, 8, 10, 12, 14, 16]);
      assert.deepEqual(opens(sent), [], 'direct streams send no Open frame');
    } finally {
      close();
    }
  });

  it('TurnBatch: runs once per quiet group, once per busy turn, never re-entering note()', async () => {
    const runs: string[] = [];
    let queued: string[] = [];
    const batch = new TurnBatch(() => {
      if (queued.length) runs.push(queued.join(','));
      queued = [];
    });
    const add = (x: string) => () => {
      queued.push(x);
      batch.note();
      assert.equal(runs.includes(x), false, 'never run inside note()');
    };
    await oneTurn([add('a')]);
    await oneTurn([add('b'), add('c'), add('d')]);
    await oneTurn([add('e'), add('f')]);
    await oneTurn([add('g')]);
    await oneTurn([add('h')]);
    assert.deepEqual(runs, ['a', 'b', 'c,d', 'e,f', 'g', 'h']);
  });
});
