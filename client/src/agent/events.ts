// The agent's event stream (`GET /api/events`, a WebSocket; format documented on EventStream in
// tunnel/src/agent/api/server.ts). Reconnects with capped exponential backoff: each new
// connection begins with a fresh `snapshot`, so a restarted agent simply re-fills the views.
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { lazyLibs } from '../lazyLibs';
import type { AgentEventJson } from '../../../tunnel/src/agent/api/contract';

/** One message of the event stream (declared with the server: tunnel/src/agent/api/contract.ts). */
export type AgentEvent = AgentEventJson;

export type StreamState = 'connecting' | 'open' | 'closed';

export interface EventStreamOptions {
  /** First reconnect delay (ms), doubled up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Requests in the first snapshot (the API's default is 1000). */
  snapshotLimit?: number;
}

export class AgentEventStream extends EventEmitter<{ event: [AgentEvent]; state: [StreamState] }> {
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private stopped = false;
  private current: StreamState = 'closed';

  constructor(
    private url: string,
    private readonly opts: EventStreamOptions = {},
  ) {
    super();
    this.delay = opts.minDelayMs ?? 250;
  }

  get state(): StreamState {
    return this.current;
  }

  start(): void {
    this.stopped = false;
    if (!this.ws) this.connect();
  }

  /** Points the stream at another agent (e.g. after a restart on a new port) and reconnects now. */
  retarget(url: string): void {
    this.url = url;
    this.delay = this.opts.minDelayMs ?? 250;
    clearTimeout(this.timer);
    this.timer = undefined;
    const old = this.ws;
    this.ws = undefined;
    old?.removeAllListeners();
    old?.on('error', () => undefined);
    old?.terminate();
    if (!this.stopped) this.connect();
  }

  /** Reconnect right away (the agent is known to be back) instead of waiting for the backoff. */
  reconnectNow(): void {
    if (this.stopped || this.current === 'open') return;
    this.retarget(this.url);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    ws?.removeAllListeners();
    ws?.on('error', () => undefined);
    ws?.terminate();
    this.setState('closed');
  }

  private setState(s: StreamState): void {
    if (s === this.current) return;
    this.current = s;
    this.emit('state', s);
  }

  private connect(): void {
    this.setState('connecting');
    const limit = this.opts.snapshotLimit;
    const ws = new (lazyLibs.WebSocket())(limit === undefined ? this.url : `${this.url}?limit=${limit}`, {
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.delay = this.opts.minDelayMs ?? 250;
      this.setState('open');
    });
    ws.on('message', (data) => {
      let msg: AgentEvent;
      try {
        msg = JSON.parse(String(data)) as AgentEvent;
      } catch {
        return; // a malformed message is skipped; the stream goes on
      }
      if (msg && typeof msg === 'object' && typeof msg.type === 'string') this.emit('event', msg);
    });
    ws.on('error', () => undefined); // 'close' follows and schedules the retry
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.setState('closed');
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.stopped && !this.ws) this.connect();
      }, this.delay);
      this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 5000);
    });
  }
}
