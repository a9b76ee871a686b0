// Light exchanges (protocol/session.ts MuxExchange): one HTTP exchange as callbacks instead of a
// Duplex, with the same credit windows, resets and session endings as a MuxStream. Each case runs
// in process (two twin exchanges calling each other), over framed messages (an in-process
// transport without direct streams) and over a real WebSocket (loopback).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { WireError } from '../../tunnel/src/protocol/messages';
import { MuxExchange, MuxSession, type ExchangeHandler, type MuxStream } from '../../tunnel/src/protocol/session';
import { createTransportPair, type Transport } from '../../tunnel/src/protocol/transport';
import { openWebSocket } from '../../tunnel/src/protocol/ws-handshake';
import { linkServer } from '../support/ws-link';

type Mode = 'in process' | 'framed' | 'websocket';

async function transports(mode: Mode): Promise<{ edge: Transport; agent: Transport; stop: () => void }> {
  if (mode !== 'websocket') {
    const [edge, agent] = createTransportPair({ directStreams: mode === 'in process' });
    return { edge, agent, stop: () => undefined };
  }
  let accept!: (t: Transport) => void;
  const accepted = new Promise<Transport>((resolve) => (accept = resolve));
  const server = await linkServer(accept);
  const agent = await openWebSocket(`ws://127.0.0.1:${server.port}/`, { timeoutMs: 10_000 });
  return { edge: await accepted, agent, stop: () => server.close() };
}

async function pair(mode: Mode, initialWindow?: number) {
  const t = await transports(mode);
  const edge = new MuxSession(t.edge, { role: 'edge', initialWindow });
  const agent = new MuxSession(t.agent, { role: 'agent', initialWindow, exchange: () => true });
  return {
    edge,
    agent,
    close: () => {
      edge.close();
      agent.close();
      t.stop();
    },
  };
}

/** A handler that records everything; `hold` makes data() return false (no credit back). */
function recorder(hold = false) {
  const got = {
    metas: [] as unknown[],
    chunks: [] as Buffer[],
    bytes: 0,
    ended: false,
    closed: undefined as undefined | { error?: WireError },
    hold,
  };
  let onClose: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  const handler: ExchangeHandler = {
    meta: (m) => got.metas.push(m),
    data: (c) => {
      got.chunks.push(c);
      got.bytes += c.length;
      return !got.hold;
    },
    end: () => (got.ended = true),
    close: (error) => {
      got.closed = { error };
      onClose();
    },
  };
  return { got, handler, closed, body: () => Buffer.concat(got.chunks) };
}

function nextExchange(agent: MuxSession): Promise<{ ex: MuxExchange; meta: unknown }> {
  return new Promise((resolve) => agent.once('exchange', (ex, meta) => resolve({ ex, meta })));
}

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends `body` in `size` pieces, waiting for resume() whenever send() says so, then ends. */
function sendAll(ex: MuxExchange, body: Buffer, size: number): Promise<void> {
  return new Promise((resolve) => {
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        const piece = body.subarray(at, at + size);
        at += piece.length;
        if (!ex.send(piece, pump)) return;
      }
      ex.end();
      resolve();
    };
    pump();
  });
}

for (const mode of ['in process', 'framed', 'websocket'] as const) {
  describe(`protocol: light exchanges (${mode})`, () => {
    it('a small exchange: Open with FIN, then the head, the body with the end, and both sides close clean', async () => {
      const { edge, agent, close } = await pair(mode);
      try {
        const agentSide = recorder();
        const opened = nextExchange(agent);
        const edgeSide = recorder();
        edge.openExchange({ kind: 'http', url: '/' }, true, edgeSide.handler);
        const { ex, meta } = await opened;
        assert.deepEqual(meta, { kind: 'http', url: '/' });
        assert.equal(ex.remoteEnded, true);
        ex.attach(agentSide.handler);
        assert.equal(agentSide.got.ended, true, 'the FIN of the Open reaches the handler at attach');
        ex.sendMeta({ kind: 'http-response', statusCode: 200 });
        ex.end(Buffer.from('hello'));
        await Promise.all([edgeSide.closed, agentSide.closed]);
        assert.deepEqual(edgeSide.got.metas, [{ kind: 'http-response', statusCode: 200 }]);
        assert.equal(edgeSide.body().toString(), 'hello');
        assert.equal(edgeSide.got.ended, true);
        assert.deepEqual(edgeSide.got.closed, { error: undefined });
        assert.deepEqual(agentSide.got.closed, { error: undefined });
        assert.equal(edge.streamCount, 0);
        assert.equal(agent.streamCount, 0);
      } finally {
        close();
      }
    });

    it('bodies far larger than the window cross both ways intact, the reader holding and releasing credit', async () => {
      const window = 64 * 1024;
      const { edge, agent, close } = await pair(mode, window);
      try {
        const request = randomBytes(1024 * 1024 + 17);
        const response = randomBytes(3 * 1024 * 1024 + 5);
        const opened = nextExchange(agent);
        // The edge's reader holds every other chunk for a while, as a visitor socket that fills up.
        const edgeSide = recorder();
        let edgeEx: MuxExchange | undefined;
        let n = 0;
        const data = edgeSide.handler.data;
        edgeSide.handler.data = (c) => {
          data(c);
          if (n++ % 2 === 0) return true;
          setTimeout(() => edgeEx!.release(), 1);
          return false;
        };
        edgeEx = edge.openExchange({ kind: 'http' }, false, edgeSide.handler);
        const { ex } = await opened;
        const agentSide = recorder();
        ex.attach(agentSide.handler);
        await Promise.all([sendAll(edgeEx, request, 50_000), sendAll(ex, response, 70_000)]);
        await Promise.all([edgeSide.closed, agentSide.closed]);
        assert.equal(sha(agentSide.body()), sha(request));
        assert.equal(sha(edgeSide.body()), sha(response));
        assert.deepEqual(edgeSide.got.closed, { error: undefined });
      } finally {
        close();
      }
    });

    it('a reader that holds its bytes stops the sender after one window; release lets the rest through', async () => {
      const window = 128 * 1024;
      const { edge, agent, close } = await pair(mode, window);
      try {
        const opened = nextExchange(agent);
        const edgeSide = recorder(true);
        const edgeEx = edge.openExchange({ kind: 'http' }, true, edgeSide.handler);
        const { ex } = await opened;
        ex.attach(recorder().handler);
        const body = randomBytes(2 * 1024 * 1024);
        let refused = 0;
        let resumed = 0;
        let at = 0;
        // The agent sends as fast as it is let: 16 KiB at a time while send() says yes.
        while (at < body.length && ex.send(body.subarray(at, at + 16384), () => resumed++)) at += 16384;
        at += 16384;
        refused++;
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(refused, 1);
        assert.ok(edgeSide.got.bytes <= window, `the reader got ${edgeSide.got.bytes} bytes with a ${window} window`);
        assert.ok(at <= window + 16384, `the sender was let through ${at} bytes`);
        assert.equal(resumed, 0);
        edgeSide.got.hold = false;
        edgeEx.release();
        await waitFor(() => resumed === 1, 'resume after the release');
        while (at < body.length) {
          const piece = body.subarray(at, at + 16384);
          at += piece.length;
          if (!ex.send(piece, () => resumed++)) await waitFor(() => resumed > 1, 'more credit');
          resumed = 1;
        }
        ex.end();
        await edgeSide.closed;
        assert.equal(sha(edgeSide.body()), sha(body));
      } finally {
        close();
      }
    });

    it('a reset from the edge (the visitor went away) reaches the agent with its code; sends after it are dropped', async () => {
      const { edge, agent, close } = await pair(mode);
      try {
        const opened = nextExchange(agent);
        const edgeSide = recorder();
        const edgeEx = edge.openExchange({ kind: 'http' }, false, edgeSide.handler);
        const { ex } = await opened;
        const agentSide = recorder();
        ex.attach(agentSide.handler);
        edgeEx.send(Buffer.from('part of a body'), () => undefined);
        edgeEx.reset({ code: 'ERR_BURROW_STREAM_CANCELLED', message: 'the visitor went away' });
        await agentSide.closed;
        assert.equal(agentSide.got.closed?.error?.code, 'ERR_BURROW_STREAM_CANCELLED');
        assert.equal(agentSide.body().toString(), 'part of a body');
        assert.deepEqual(edgeSide.got.closed, { error: undefined }, 'the side that reset closes without an error');
        assert.equal(
          ex.send(Buffer.from('late'), () => undefined),
          true,
        );
        ex.end();
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(edgeSide.got.bytes, 0);
        assert.equal(edge.streamCount + agent.streamCount, 0);
      } finally {
        close();
      }
    });

    it('a reset from the agent after the head (the upstream failed) reaches the edge with its code', async () => {
      const { edge, agent, close } = await pair(mode);
      try {
        const opened = nextExchange(agent);
        const edgeSide = recorder();
        edge.openExchange({ kind: 'http' }, true, edgeSide.handler);
        const { ex } = await opened;
        ex.attach(recorder().handler);
        ex.sendMeta({ kind: 'http-response', statusCode: 200 });
        ex.send(Buffer.from('half'), () => undefined);
        ex.reset({ code: 'ERR_NGROK_3004', message: 'the app closed the connection' });
        await edgeSide.closed;
        assert.equal(edgeSide.got.metas.length, 1);
        assert.equal(edgeSide.body().toString(), 'half');
        assert.equal(edgeSide.got.ended, false);
        assert.deepEqual(edgeSide.got.closed?.error, {
          code: 'ERR_NGROK_3004',
          message: 'the app closed the connection',
        });
      } finally {
        close();
      }
    });

    it('the session ending closes open exchanges on both sides with an error', async () => {
      const { edge, agent, close } = await pair(mode);
      try {
        const opened = nextExchange(agent);
        const edgeSide = recorder();
        edge.openExchange({ kind: 'http' }, false, edgeSide.handler);
        const { ex } = await opened;
        const agentSide = recorder();
        ex.attach(agentSide.handler);
        agent.close({ code: 'ERR_BURROW_TEST', message: 'gone' });
        await Promise.all([edgeSide.closed, agentSide.closed]);
        assert.ok(edgeSide.got.closed?.error, 'the edge side has an error');
        assert.equal(agentSide.got.closed?.error?.code, 'ERR_BURROW_TEST');
      } finally {
        close();
      }
    });

    it('calls that come before the agent attaches its handler wait for it, in order', async () => {
      const { edge, agent, close } = await pair(mode);
      try {
        const opened = nextExchange(agent);
        const edgeEx = edge.openExchange({ kind: 'http' }, false, recorder().handler);
        edgeEx.send(Buffer.from('one '), () => undefined);
        edgeEx.send(Buffer.from('two'), () => undefined);
        edgeEx.end();
        const { ex } = await opened;
        await new Promise((r) => setTimeout(r, 20));
        const agentSide = recorder();
        ex.attach(agentSide.handler);
        assert.equal(agentSide.body().toString(), 'one two');
        assert.equal(agentSide.got.ended, true);
      } finally {
        close();
      }
    });
  });
}

describe('protocol: a MuxStream opener and a light exchange in process', () => {
  it('the edge opens a Duplex (modules path), the agent takes it as an exchange: head and body both ways', async () => {
    const { edge, agent, close } = await pair('in process', 64 * 1024);
    try {
      const opened = nextExchange(agent);
      const stream: MuxStream = edge.openStream({ kind: 'http' });
      const request = randomBytes(300_000);
      stream.end(request);
      const { ex } = await opened;
      const agentSide = recorder();
      ex.attach(agentSide.handler);
      await waitFor(() => agentSide.got.ended, 'the request body');
      assert.equal(sha(agentSide.body()), sha(request));
      const meta = new Promise((resolve) => stream.once('meta', resolve));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise((resolve) => stream.once('end', resolve));
      const response = randomBytes(500_000);
      ex.sendMeta({ kind: 'http-response', statusCode: 201 });
      await sendAll(ex, response, 100_000);
      assert.deepEqual(await meta, { kind: 'http-response', statusCode: 201 });
      await ended;
      assert.equal(sha(Buffer.concat(chunks)), sha(response));
    } finally {
      close();
    }
  });
});
