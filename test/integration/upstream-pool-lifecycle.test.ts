// The raw upstream pool's lifecycle (tunnel/src/agent/raw-http-forwarder.ts): connections keep one
// set of listeners for life and expire by one shared sweep, not a timer per request. Checked here
// on real sockets: an idle connection is closed by the sweep once its time is up (and never used
// after it); one the upstream closed or talked on while idle is never reused; a reused connection
// that fails before any response byte is retried once, and only once; the pool keeps at most
// MAX_IDLE_PER_UPSTREAM connections per upstream.
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  idleConnections,
  MAX_IDLE_PER_UPSTREAM,
  rawRequest,
  type RawRequestHead,
} from '../../tunnel/src/agent/raw-http-forwarder';
import { Resources, listen, waitFor } from '../support/tunnel';

interface Conn {
  id: number;
  socket: net.Socket;
  requests: string[];
  closed: boolean;
}

/**
 * A raw upstream: each complete request head (no bodies here) is recorded on its connection and
 * answered by `answer` (a string to write, or undefined to write nothing and keep waiting).
 */
function upstream(answer: (path: string, conn: Conn) => string | undefined): { server: net.Server; conns: Conn[] } {
  const conns: Conn[] = [];
  const server = net.createServer((socket) => {
    const conn: Conn = { id: conns.length + 1, socket, requests: [], closed: false };
    conns.push(conn);
    socket.on('error', () => undefined);
    socket.on('close', () => (conn.closed = true));
    let buf = '';
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1];
        buf = buf.slice(end + 4);
        conn.requests.push(path);
        const reply = answer(path, conn);
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
  return { server, conns };
}

type Outcome = { status: number; body: string } | { error: string; retried: boolean };

function send(port: number, path: string, timeoutMs = 10_000): Promise<Outcome> {
  const head: RawRequestHead = { method: 'GET', url: path, rawHeaders: ['Host', 'x'] };
  return new Promise((resolve) => {
    rawRequest({ host: '127.0.0.1', port, responseTimeoutMs: timeoutMs }, head, {
      response(status, _message, _version, _raw, body) {
        const chunks: Buffer[] = [];
        body.on('data', (c: Buffer) => chunks.push(c));
        body.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('latin1') }));
      },
      upgrade: () => resolve({ error: 'upgrade', retried: false }),
      error: (e, retried) => resolve({ error: String(e.code), retried }),
    }).endBody();
  });
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
/** Announces a 2 s keep-alive: the pool keeps the connection 1 s (the hint minus 1 s). */
const OK_SHORT_KEEPALIVE = 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok';

describe('agent upstream pool: lifecycle (shared sweep, permanent listeners)', function () {
  this.timeout(60_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  function serve(up: { server: net.Server; conns: Conn[] }): Promise<number> {
    const port = listen(res.server(up.server));
    res.add(up, (u) => u.conns.forEach((c) => c.socket.destroy())); // closed first (last in)
    return port;
  }

  it('reuses an idle connection, and the sweep closes it once its idle time is up (never used after)', async () => {
    const up = upstream(() => OK_SHORT_KEEPALIVE);
    const port = await serve(up);
    const key = `127.0.0.1:${port}`;
    assert.deepEqual(await send(port, '/a'), { status: 200, body: 'ok' });
    assert.deepEqual(await send(port, '/b'), { status: 200, body: 'ok' });
    assert.equal(up.conns.length, 1, 'the second request reused the pooled connection');
    assert.equal(idleConnections(key), 1);
    // Idle 1 s, then closed by the sweep (ticking once a second) — well before the upstream's 2 s.
    await waitFor(() => up.conns[0].closed, 5_000, 'the sweep to close the expired connection');
    assert.equal(idleConnections(key), 0);
    assert.deepEqual(await send(port, '/c'), { status: 200, body: 'ok' });
    assert.equal(up.conns.length, 2, 'a new connection after the expiry');
    assert.deepEqual(up.conns[0].requests, ['/a', '/b']);
  });

  it('never takes a connection past its idle time, even before the sweep closed it', async () => {
    const up = upstream(() => OK_SHORT_KEEPALIVE);
    const port = await serve(up);
    assert.equal((await send(port, '/a')) && up.conns.length, 1);
    // Past the 1 s idle time as soon as possible: the sweep may not have run yet; the take checks the time.
    await new Promise((r) => setTimeout(r, 1_050));
    assert.deepEqual(await send(port, '/b'), { status: 200, body: 'ok' });
    assert.equal(up.conns.length, 2);
    assert.deepEqual(up.conns[0].requests, ['/a']);
  });

  it('drops an idle connection the upstream closed or talked on; the next request opens a new one, no retry needed', async () => {
    const up = upstream((path, conn) => {
      // Answer, then close (/eof) or send a stray byte (/talk) while the connection is idle.
      if (path === '/eof') setTimeout(() => conn.socket.end(), 20);
      if (path === '/talk') setTimeout(() => conn.socket.write('x'), 20);
      return OK;
    });
    const port = await serve(up);
    const key = `127.0.0.1:${port}`;
    assert.deepEqual(await send(port, '/eof'), { status: 200, body: 'ok' });
    await waitFor(() => idleConnections(key) === 0, 5_000, 'the closed connection to leave the pool');
    assert.deepEqual(await send(port, '/talk'), { status: 200, body: 'ok' });
    await waitFor(() => up.conns[1].closed, 5_000, 'the talkative idle connection to be closed');
    assert.equal(idleConnections(key), 0);
    assert.deepEqual(await send(port, '/next'), { status: 200, body: 'ok' });
    assert.deepEqual(
      up.conns.map((c) => c.requests),
      [['/eof'], ['/talk'], ['/next']],
      'each request on its own connection: none was sent on a dropped one',
    );
  });

  it('retries once on a fresh connection when a reused one fails before any response byte, and only once', async () => {
    // Connection 1 answers its first request and resets on the next; every later connection resets at once.
    const up = upstream((_path, conn) => {
      if (conn.id === 1 && conn.requests.length === 1) return OK;
      conn.socket.resetAndDestroy();
      return undefined;
    });
    const port = await serve(up);
    assert.deepEqual(await send(port, '/first'), { status: 200, body: 'ok' });
    const failed = await send(port, '/second');
    assert.deepEqual(failed, { error: 'ECONNRESET', retried: true });
    assert.equal(up.conns.length, 2, 'one retry on one fresh connection, not a second one');
    assert.deepEqual(
      up.conns.map((c) => c.requests),
      [['/first', '/second'], ['/second']],
    );
  });

  it(`keeps at most MAX_IDLE_PER_UPSTREAM (${MAX_IDLE_PER_UPSTREAM}) idle connections per upstream`, async () => {
    const n = MAX_IDLE_PER_UPSTREAM + 4;
    // Answers only once all n requests are in, so n connections are open at once.
    const waiting: net.Socket[] = [];
    const up = upstream((_path, conn) => {
      waiting.push(conn.socket);
      if (waiting.length === n) for (const s of waiting) s.write(OK);
      return undefined;
    });
    const port = await serve(up);
    const key = `127.0.0.1:${port}`;
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => send(port, `/${i}`)));
    assert.ok(outcomes.every((o) => 'status' in o && o.status === 200));
    assert.equal(up.conns.length, n);
    assert.equal(idleConnections(key), MAX_IDLE_PER_UPSTREAM);
    await waitFor(() => up.conns.filter((c) => c.closed).length === 4, 5_000, 'the surplus to be closed');
  });

  it('the response timeout still fires (on the shared sweep) when the upstream never answers', async () => {
    const up = upstream(() => undefined);
    const port = await serve(up);
    const started = Date.now();
    assert.deepEqual(await send(port, '/never', 300), { error: 'ERR_BURROW_UPSTREAM_TIMEOUT', retried: false });
    // Never early; late by at most the sweep's tick (a quarter of the timeout) plus a loaded machine's lag.
    assert.ok(Date.now() - started >= 300, `fired after ${Date.now() - started} ms`);
    await waitFor(() => up.conns[0].closed, 5_000, 'the timed-out connection to be closed');
  });

  it('the response timeout applies on a reused connection and on the fresh one of a retry', async () => {
    // /ok answers; /silent never does; /reset (on a reused connection) resets, so the request is retried.
    const up = upstream((path, conn) => {
      if (path === '/ok') return OK;
      if (path === '/reset' && conn.requests.length > 1) conn.socket.resetAndDestroy();
      return undefined;
    });
    const port = await serve(up);
    assert.deepEqual(await send(port, '/ok', 300), { status: 200, body: 'ok' });
    assert.deepEqual(await send(port, '/silent', 300), { error: 'ERR_BURROW_UPSTREAM_TIMEOUT', retried: false });
    assert.deepEqual(up.conns[0].requests, ['/ok', '/silent'], 'the silent request was sent on the reused connection');
    assert.deepEqual(await send(port, '/ok', 300), { status: 200, body: 'ok' });
    assert.deepEqual(await send(port, '/reset', 300), { error: 'ERR_BURROW_UPSTREAM_TIMEOUT', retried: true });
    assert.deepEqual(
      up.conns.map((c) => c.requests),
      [['/ok', '/silent'], ['/ok', '/reset'], ['/reset']],
    );
  });
});
