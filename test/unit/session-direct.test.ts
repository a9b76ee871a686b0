// The agent's cheap paths in the session (protocol/session.ts): a response sent with
// sendData/endData (a small one is Meta + one DATA frame with FIN in one message; a big one waits
// for credit and loses nothing), and in-process pairs made with `directStreams`, where the streams
// one session opens reach the other as objects, with no transport message at all.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { FLAG_FIN, FrameType, decodeParts, type Frame } from '../../tunnel/src/protocol/frames';
import { MuxSession, StreamResetError, type MuxStream } from '../../tunnel/src/protocol/session';
import { createTransportPair, type Transport } from '../../tunnel/src/protocol/transport';

/** Records the frames of every message a transport sends (decoded as the peer would). */
function spy(transport: Transport): Frame[][] {
  const messages: Frame[][] = [];
  const send = transport.send.bind(transport);
  // The in-process transport's sendParts goes through send() with the parts array.
  transport.send = (m: Buffer | Buffer[]) => {
    messages.push(decodeParts(Array.isArray(m) ? m : [m]));
    send(m as Buffer);
  };
  return messages;
}

function pair(directStreams: boolean, initialWindow?: number) {
  const [edgeEnd, agentEnd] = createTransportPair({ directStreams });
  const sent = { edge: spy(edgeEnd), agent: spy(agentEnd) };
  const edge = new MuxSession(edgeEnd, { role: 'edge', initialWindow });
  const agent = new MuxSession(agentEnd, { role: 'agent', initialWindow });
  return { edge, agent, sent, close: () => (edge.close(), agent.close()) };
}

function collect(stream: MuxStream): Promise<{ meta: unknown; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let meta: unknown;
    const chunks: Buffer[] = [];
    stream.once('meta', (m) => (meta = m));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ meta, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('protocol: direct response writes and in-process stream hand-off', () => {
  it('a small response (head, body, end) is one message: Meta and one DATA frame carrying FIN', async () => {
    const { edge, agent, sent, close } = pair(false);
    try {
      agent.on('stream', (stream: MuxStream) => {
        stream.resume();
        stream.sendMeta({ kind: 'http-response', statusCode: 200, rawHeaders: ['Content-Length', '12'] });
        stream.endData(Buffer.from('hello world\n'));
      });
      const got = collect(edge.openStream({ kind: 'test' }, true));
      const { meta, body } = await got;
      assert.deepEqual(meta, { kind: 'http-response', statusCode: 200, rawHeaders: ['Content-Length', '12'] });
      assert.equal(body.toString(), 'hello world\n');
      const streamMessages = sent.agent.filter((m) => m.some((f) => f.stream !== 0));
      assert.equal(streamMessages.length, 1, 'one transport message for the whole response');
      const frames = streamMessages[0].map((f) => [f.type, f.flags, f.payload.length]);
      assert.deepEqual(frames, [
        [FrameType.Meta, 0, frames[0][2]],
        [FrameType.Data, FLAG_FIN, 12],
      ]);
    } finally {
      close();
    }
  });

  it('sendData past the window waits for credit, keeps order across a backlog, and the FIN follows it', async () => {
    const { edge, agent, close } = pair(false, 64 * 1024);
    const body = randomBytes(1024 * 1024 + 123);
    let pauses = 0;
    try {
      agent.on('stream', (stream: MuxStream) => {
        stream.resume();
        stream.sendMeta({ kind: 'm' });
        // Like the raw forwarder: slices in a row, a pause when sendData says so.
        let at = 0;
        const next = (): void => {
          while (at < body.length) {
            const piece = body.subarray(at, at + 40_000);
            at += piece.length;
            if (at >= body.length) return stream.endData(piece);
            if (!stream.sendData(piece, next)) {
              pauses++;
              // A second slice queued behind the first one (the decoder emits several per read).
              const extra = body.subarray(at, Math.min(at + 1000, body.length - 1));
              at += extra.length;
              stream.sendData(extra, next);
              return;
            }
          }
        };
        next();
      });
      const stream = edge.openStream({ kind: 'test' }, true);
      const { body: got } = await collect(stream);
      assert.equal(got.length, body.length);
      assert.equal(sha(got), sha(body));
      assert.ok(pauses > 0, 'the 64 KiB window made the sender wait');
    } finally {
      close();
    }
  });

  for (const direct of [false, true]) {
    it(`${direct ? 'direct hand-off' : 'frames'}: an 8 MiB upload, a reset download and small exchanges side by side lose nothing`, async () => {
      const { edge, agent, sent, close } = pair(direct, 256 * 1024);
      try {
        agent.on('stream', (stream: MuxStream, meta) => {
          const { kind } = meta as { kind: string };
          if (kind === 'upload') {
            const hash = createHash('sha256');
            let n = 0;
            stream.on('data', (c: Buffer) => (hash.update(c), (n += c.length)));
            stream.on('end', () => stream.endData(Buffer.from(`${n} ${hash.digest('hex')}`)));
          } else if (kind === 'download') {
            stream.resume();
            const piece = Buffer.alloc(64 * 1024, 7);
            const more = (): void => {
              while (!stream.destroyed) if (!stream.sendData(piece, more)) return;
            };
            stream.on('error', () => undefined);
            more();
          } else {
            stream.resume();
            stream.sendMeta({ kind: 'small', n: (meta as { n: number }).n });
            stream.endData(Buffer.from('ok'));
          }
        });
        const upload = randomBytes(8 * 1024 * 1024);
        const up = edge.openStream({ kind: 'upload' });
        const upDone = collect(up);
        for (let at = 0; at < upload.length; at += 100_000) up.write(upload.subarray(at, at + 100_000));
        up.end();

        const down = edge.openStream({ kind: 'download' }, true);
        let received = 0;
        const reset = new Promise<Error>((resolve) => down.on('error', resolve));
        down.on('data', (c: Buffer) => {
          received += c.length;
          if (received > 2 * 1024 * 1024) down.destroy(); // the visitor went away mid-download
        });

        const smalls = await Promise.all(
          Array.from({ length: 20 }, (_, n) => collect(edge.openStream({ kind: 'small', n }, true))),
        );
        for (const [n, s] of smalls.entries()) {
          assert.deepEqual(s.meta, { kind: 'small', n });
          assert.equal(s.body.toString(), 'ok');
        }
        const { body } = await upDone;
        assert.equal(body.toString(), `${upload.length} ${sha(upload)}`);
        if (!down.destroyed) await reset;
        // Both sides forget every stream: nothing is left behind by the abort.
        const deadline = Date.now() + 5000;
        while ((edge.streamCount || agent.streamCount) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        assert.equal(edge.streamCount, 0, 'edge streams left');
        assert.equal(agent.streamCount, 0, 'agent streams left');
        const streamMessages = [...sent.edge, ...sent.agent].filter((m) => m.some((f) => f.stream !== 0));
        if (direct) assert.equal(streamMessages.length, 0, 'no stream frame crossed the transport');
        else assert.ok(streamMessages.length > 0);
      } finally {
        close();
      }
    });
  }

  it('direct hand-off: a reset reaches the twin with its code; a session closing aborts the twins', async () => {
    const { edge, agent, close } = pair(true);
    try {
      agent.once('stream', (stream: MuxStream) => stream.reset({ code: 'ERR_NGROK_3200', message: 'gone' }));
      const first = edge.openStream({ kind: 'x' }, true);
      const err = await new Promise<Error>((resolve) => first.on('error', resolve));
      assert.ok(err instanceof StreamResetError && err.code === 'ERR_NGROK_3200', String(err));

      const opened = new Promise<MuxStream>((resolve) => agent.once('stream', resolve));
      const second = edge.openStream({ kind: 'y' });
      const secondErr = new Promise<Error>((resolve) => second.on('error', resolve));
      const twin = await opened;
      const twinErr = new Promise<Error>((resolve) => twin.on('error', resolve));
      edge.close({ code: 'ERR_BURROW_TEST', message: 'bye' });
      assert.equal(((await secondErr) as StreamResetError).code, 'ERR_BURROW_TEST');
      assert.ok((await twinErr) instanceof StreamResetError);
    } finally {
      close();
    }
  });
});
