// How the inspector talks to the agent. In a browser on :4040 it is plain fetch + WebSocket; the
// VS Code webview plugs in a transport that forwards each call over postMessage to the extension
// host, which owns the connection to the agent.

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface Transport {
  request(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** Subscribes to /api/events; `onMessage` gets each parsed message. Returns an unsubscribe. */
  events(onMessage: (msg: unknown) => void, onState: (s: ConnectionState) => void): () => void;
  /** Saves the resource at `path` as a file. */
  download(path: string, filename: string): Promise<void>;
}

export class HttpTransport implements Transport {
  constructor(private readonly base: string) {}

  private url(path: string): string {
    return this.base.replace(/\/+$/, '') + path;
  }

  async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const res = await fetch(this.url(path), {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    return { status: res.status, headers, body: await res.text() };
  }

  events(onMessage: (msg: unknown) => void, onState: (s: ConnectionState) => void): () => void {
    let ws: WebSocket | undefined;
    let stopped = false;
    let delay = 250;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connect = (): void => {
      onState('connecting');
      const http = new URL(this.url('/api/events'), location.href);
      http.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
      ws = new WebSocket(http.href);
      ws.onopen = () => {
        delay = 250;
        onState('open');
      };
      ws.onmessage = (e) => {
        try {
          onMessage(JSON.parse(String(e.data)));
        } catch {
          /* a malformed message is skipped, the stream goes on */
        }
      };
      ws.onclose = () => {
        onState('closed');
        if (stopped) return;
        // Reconnect with backoff; the server sends a fresh snapshot each time.
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 5000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ws?.close();
    };
  }

  async download(path: string, filename: string): Promise<void> {
    const res = await fetch(this.url(path));
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}

/**
 * Messages of the postMessage transport (webview ⇄ extension host):
 *   webview → host  {burrow: 'request', id, method, path, body?}   host → webview {burrow: 'response', id, status, headers, body}
 *   webview → host  {burrow: 'subscribe'} / {burrow: 'unsubscribe'} host → webview {burrow: 'event', message} and {burrow: 'state', state}
 *   webview → host  {burrow: 'download', path, filename}
 */
export interface PostMessageTarget {
  postMessage(msg: unknown): void;
}

export class PostMessageTransport implements Transport {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ApiResponse) => void>();
  private onEvent: ((m: unknown) => void) | undefined;
  private onState: ((s: ConnectionState) => void) | undefined;

  constructor(
    private readonly target: PostMessageTarget,
    source: Window = window,
  ) {
    source.addEventListener('message', (e: MessageEvent) => {
      const m = e.data as { burrow?: string; id?: number; message?: unknown; state?: ConnectionState } & ApiResponse;
      if (!m || typeof m !== 'object') return;
      if (m.burrow === 'response' && typeof m.id === 'number') {
        this.pending.get(m.id)?.({ status: m.status, headers: m.headers ?? {}, body: m.body ?? '' });
        this.pending.delete(m.id);
      } else if (m.burrow === 'event') this.onEvent?.(m.message);
      else if (m.burrow === 'state' && m.state) this.onState?.(m.state);
    });
  }

  request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.target.postMessage({ burrow: 'request', id, method, path, body });
    });
  }

  events(onMessage: (msg: unknown) => void, onState: (s: ConnectionState) => void): () => void {
    this.onEvent = onMessage;
    this.onState = onState;
    this.target.postMessage({ burrow: 'subscribe' });
    return () => {
      this.onEvent = undefined;
      this.target.postMessage({ burrow: 'unsubscribe' });
    };
  }

  async download(path: string, filename: string): Promise<void> {
    this.target.postMessage({ burrow: 'download', path, filename });
  }
}
