/**
 * MuxSession / MuxStream over an in-memory transport pair (messages delivered asynchronously, like
 * a socket): credit flow control, half-close, resets, session errors and heartbeats.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { FLAG_SPLIT, FrameType, decodeFrames, encodeFrame } from '../../tunnel/src/protocol/frames';
import type { WireError } from '../../tunnel/src/protocol/messages';
import { MuxSession, type MuxStream } from '../../tunnel/src/protocol/session';
import type { Transport } from '../../tunnel/src/protocol/transport';

class MemoryTransport implements Transport {
  peer!: MemoryTransport;
  /** Every message sent, for tests that inspect the wire. */
  readonly sent: Buffer[] = [];
  private messageListener: (message: Buffer) => void = () => undefined;
  private closeListener: (reason: string) => void = () => undefined;
  private closed = false;
  /** When false, messages are dropped (a peer that went silent). */
  deliver = true;
  bufferedAmount = 0;

  send(message: Buffer): void {
    if (this.closed) return;
    this.sent.push(message);
    const copy = Buffer.from(message);
    setImmediate(() => {
      if (this.deliver && !this.peer.closed) this.peer.messageListener(copy);
    });
  }
  onMessage(listener: (message: Buffer) => void): void {
    this.messageListener = listener;
  }
  onClose(listener: (reason: string) => void): void {
    this.closeListener = listener;
  }
  close(_code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => {
      this.closeListener(reason);
      this.peer.close(1000, reason);
    });
  }
  /** Injects raw bytes as if the peer had sent them. */
  inject(message: Buffer): void {
    this.messageListener(message);
  }
}

function pair(options: { window?: number; heartbeat?: [number, number] } = {}) {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  const [interval, tolerance] = options.heartbeat ?? [60_000, 120_000];
  const common = { initialWindow: options.window, heartbeatIntervalMs: interval, heartbeatToleranceMs: tolerance };
  const edge = new MuxSession(a, { role: 'edge', ...common });
  const agent = new MuxSession(b, { role: 'agent', ...common });
  return { edge, agent, edgeWire: a, agentWire: b };
}

/** The next stream the peer opens (with an error listener: session teardown aborts streams). */
async function nextStream(session: MuxSession): Promise<[MuxStream, unknown]> {
  const [stream, meta] = (await once(session, 'stream')) as [MuxStream, unknown];
  stream.on('error', () => undefined);
  return [stream, meta];
}

/** Opens a stream that tolerates being aborted when the test tears its session down. */
function open(session: MuxSession, meta: unknown = {}): MuxStream {
  return session.openStream(meta).on('error', () => undefined);
}

describe('protocol: sessions and streams', () => {
  const sessions: MuxSession[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.close();
  });
  function track<T extends { edge: MuxSession; agent: MuxSession }>(p: T): T {
    sessions.push(p.edge, p.agent);
    return p;
  }

  it('opens streams with metadata; edge ids are even, agent ids odd', async () => {
    const { edge, agent } = track(pair());
    const incoming = nextStream(agent);
    const s1 = open(edge, { kind: 'tcp', n: 1 });
    const [r1, meta] = await incoming;
    assert.deepEqual(meta, { kind: 'tcp', n: 1 });
    assert.equal(s1.id % 2, 0);
    assert.equal(r1.id, s1.id);
    const back = nextStream(edge);
    const a1 = open(agent, { kind: 'x' });
    assert.equal(a1.id % 2, 1);
    assert.equal((await back)[0].id, a1.id);
  });

  it('sends bulk DATA split (payload as its own message) only to a peer that takes it, bytes intact both ways', async () => {
    const { edge, agent, edgeWire, agentWire } = track(pair({ window: 4 * 1024 * 1024 }));
    edge.splitData = true; // the agent announced split-data; the edge did not (agent.splitData stays false)
    const incoming = nextStream(agent);
    const s = open(edge);
    const [r] = await incoming;
    const down = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < down.length; i++) down[i] = (i * 7) & 0xff;
    const up = Buffer.from(down).reverse();
    const got = (stream: MuxStream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      return once(stream, 'end').then(() => Buffer.concat(chunks));
    };
    const atAgent = got(r);
    const atEdge = got(s);
    s.write('small first');
    s.end(down);
    r.end(up);
    assert.deepEqual(await atAgent, Buffer.concat([Buffer.from('small first'), down]));
    assert.deepEqual(await atEdge, up);
    // The edge's bulk payloads travelled as messages of their own, each after a message ending in a split header.
    const splitHeaders = edgeWire.sent.filter((m) => {
      try {
        return decodeFrames(m, undefined, true).at(-1)!.flags & FLAG_SPLIT;
      } catch {
        return false; // a payload message is not frames
      }
    });
    assert.ok(splitHeaders.length >= 12, `split frames sent: ${splitHeaders.length}`);
    assert.ok(
      agentWire.sent.every((m) => decodeFrames(m).every((f) => !(f.flags & FLAG_SPLIT))),
      'the agent sent nothing split to an edge that did not announce it',
    );
  });

  it('ends the session when the message after a split DATA header is not its payload', async () => {
    const { edge, agent, agentWire } = track(pair());
    const incoming = nextStream(agent);
    open(edge);
    await incoming;
    const closed = once(edge, 'close');
    const header = encodeFrame(FrameType.Data, FLAG_SPLIT, 2);
    header.writeUInt32BE(100, 6);
    agentWire.peer.inject(header);
    agentWire.peer.inject(Buffer.alloc(99));
    const [error] = (await closed) as [WireError];
    assert.equal(error.code, 'ERR_BURROW_FRAME_MALFORMED');
  });

  it('carries bytes both ways with half-close, then forgets the stream', async () => {
    const { edge, agent } = track(pair());
    const incoming = nextStream(agent);
    const s = open(edge);
    const [r] = await incoming;
    r.on('data', (c: Buffer) => r.write(Buffer.from(c.toString().toUpperCase())));
    r.on('end', () => r.end('!'));
    s.end('hello');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const closed = Promise.all([once(s, 'close'), once(r, 'close')]);
    await once(s, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'HELLO!');
    await closed;
    assert.equal(edge.streamCount, 0);
    assert.equal(agent.streamCount, 0);
  });

  it("a sender stops at the receiver's window until the reader consumes", async () => {
    const window = 64 * 1024;
    const { edge, agent } = track(pair({ window }));
    const incoming = nextStream(agent);
    const s = open(edge);
    const [r] = await incoming;
    r.pause();
    let accepted = 0;
    const total = 1024 * 1024;
    const writeAll = (async () => {
      for (let sent = 0; sent < total; sent += 16 * 1024) {
        if (!s.write(Buffer.alloc(16 * 1024, 1))) await once(s, 'drain');
        accepted += 16 * 1024;
      }
      s.end();
    })();
    await new Promise((r2) => setTimeout(r2, 100));
    // Window in flight/buffered at the receiver, plus one writable buffer at the sender.
    assert.ok(
      accepted <= 2 * window + 64 * 1024 + 16 * 1024,
      `accepted ${accepted} bytes with a ${window}-byte window`,
    );
    assert.ok(r.readableLength <= 2 * window, `receiver buffered ${r.readableLength}`);
    let received = 0;
    r.on('data', (c: Buffer) => {
      received += c.length;
    });
    r.resume();
    await once(r, 'end');
    await writeAll;
    assert.equal(received, total);
  });

  it('ends the session with ERR_BURROW_FLOW_CONTROL when a peer sends past its credit', async () => {
    const window = 1024;
    const { edge, agent, agentWire } = track(pair({ window }));
    const incoming = nextStream(agent);
    const s = edge.openStream({});
    await incoming;
    s.on('error', () => undefined);
    const closed = once(edge, 'close') as Promise<[WireError]>;
    // The agent's side sends DATA beyond the window the edge granted (bypassing its own accounting).
    agentWire.send(encodeFrame(FrameType.Data, 0, s.id, Buffer.alloc(window + 1)));
    const [error] = await closed;
    assert.equal(error.code, 'ERR_BURROW_FLOW_CONTROL');
  });

  it("reset() aborts the peer's stream with the code and never throws locally", async () => {
    const { edge, agent } = track(pair());
    const incoming = nextStream(agent);
    const s = edge.openStream({});
    const [r] = await incoming;
    const peerError = once(r, 'error') as Promise<[Error & { code: string }]>;
    // No 'error' listener on `s`: a local reset must not become an uncaught exception.
    s.reset({ code: 'ERR_TEST_RESET', message: 'because' });
    const [err] = await peerError;
    assert.equal(err.code, 'ERR_TEST_RESET');
    assert.equal(s.destroyed, true);
  });

  it('a locally destroyed stream tells the peer ERR_BURROW_STREAM_CANCELLED', async () => {
    const { edge, agent } = track(pair());
    const incoming = nextStream(agent);
    const s = edge.openStream({});
    const [r] = await incoming;
    const peerError = once(r, 'error') as Promise<[Error & { code: string }]>;
    s.destroy();
    assert.equal((await peerError)[0].code, 'ERR_BURROW_STREAM_CANCELLED');
  });

  it("closing a session aborts its open streams with the session's error", async () => {
    const { edge, agent } = track(pair());
    const incoming = nextStream(agent);
    const s = edge.openStream({});
    const [r] = await incoming;
    const local = once(s, 'error') as Promise<[Error & { code: string }]>;
    const remote = once(r, 'error') as Promise<[Error & { code: string }]>;
    edge.close({ code: 'ERR_TEST_SHUTDOWN', message: 'bye' });
    assert.equal((await local)[0].code, 'ERR_TEST_SHUTDOWN');
    assert.equal((await remote)[0].code, 'ERR_TEST_SHUTDOWN', 'the peer learns the code from GoAway');
    assert.throws(
      () => edge.openStream({}),
      (e: { code?: string }) => e.code === 'ERR_BURROW_SESSION_CLOSED',
    );
  });

  it('drops late frames for closed streams quietly but ends the session for never-opened ones', async () => {
    const { edge, agent, edgeWire } = track(pair());
    const incoming = nextStream(agent);
    const s = edge.openStream({});
    const [r] = await incoming;
    r.destroy();
    await once(s, 'error');
    // Late data for the finished stream: ignored.
    edgeWire.inject(encodeFrame(FrameType.Window, 0, s.id, Buffer.alloc(4)));
    edgeWire.inject(encodeFrame(FrameType.Data, 0, s.id, Buffer.from('late')));
    await new Promise((r2) => setImmediate(r2));
    assert.equal(edge.isClosed, false);
    const closed = once(edge, 'close') as Promise<[WireError]>;
    // A stream id the edge never opened.
    edgeWire.inject(encodeFrame(FrameType.Data, 0, s.id + 2, Buffer.from('x')));
    assert.equal((await closed)[0].code, 'ERR_BURROW_STREAM_ID');
  });

  it('refuses stream ids that do not grow or have the wrong parity', async () => {
    for (const id of [0, 2, 1]) {
      const { edge, agent, agentWire } = track(pair());
      if (id === 1) {
        const first = nextStream(edge);
        open(agent);
        await first;
      }
      const closed = once(edge, 'close') as Promise<[WireError]>;
      agentWire.send(encodeFrame(FrameType.Open, 0, id, Buffer.from('{}')));
      assert.equal((await closed)[0].code, 'ERR_BURROW_STREAM_ID', `id ${id}`);
    }
  });

  it('answers pings and measures latency', async () => {
    const { edge, agent } = track(pair({ heartbeat: [20, 1000] }));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(edge.latencyMs !== undefined && agent.latencyMs !== undefined);
    assert.equal(edge.isClosed, false);
  });

  it('ends a session whose peer stops sending within the tolerance', async () => {
    // From before the sessions exist: their silence is counted from their creation.
    const started = Date.now();
    const { edge, agentWire } = track(pair({ heartbeat: [20, 150] }));
    agentWire.deliver = false; // the agent goes silent
    const [error] = (await once(edge, 'close')) as [WireError];
    assert.equal(error.code, 'ERR_BURROW_HEARTBEAT_TIMEOUT');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 600, `after ${elapsed} ms`);
  });

  it('batches the frames of one tick into one transport message', async () => {
    const { edge, agent, edgeWire } = track(pair());
    const incoming = nextStream(agent);
    const s = open(edge);
    s.write('a');
    s.write('b');
    s.end('c');
    await incoming;
    assert.equal(edgeWire.sent.length, 1);
    assert.deepEqual(
      decodeFrames(edgeWire.sent[0]).map((f) => f.type),
      [FrameType.Open, FrameType.Data, FrameType.Data, FrameType.Data, FrameType.Data],
    );
  });
});
