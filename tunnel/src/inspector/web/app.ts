// The inspector UI: a live request list fed by /api/events, filters, and a detail pane with
// summary, headers, raw bytes, replay, edit-then-replay, copy as curl and HAR download.

import {
  base64ToBytes,
  decodeBody,
  el,
  formatBytes,
  formatDuration,
  headerValue,
  hexDump,
  parseRaw,
  rawText,
  renderBody,
} from './format';
import type { ConnectionState, Transport } from './transport';
import type { AgentEventJson, CaptureJson, TunnelJson } from '../../agent/api/contract';

/** Either side of a capture: headers, raw bytes, body size. */
type MessageJson = CaptureJson['request'] | NonNullable<CaptureJson['response']>;

const MAX_ROWS = 1000;

export class InspectorApp {
  private readonly requests = new Map<string, CaptureJson>();
  private order: string[] = []; // newest first
  private readonly tunnels = new Map<string, TunnelJson>();
  private selected: string | undefined;
  private tab: 'summary' | 'headers' | 'raw' | 'edit' = 'summary';
  private renderQueued = false;
  private detailToken = 0;
  /** Replays we sent: select the new request when it shows up. */
  private followReplay: string | undefined;

  private readonly listEl = el('ul', { class: 'list', role: 'listbox', 'aria-label': 'Requests' });
  private readonly detailEl = el('section', { class: 'detail', 'aria-live': 'polite' });
  private readonly tunnelsEl = el('div', { class: 'tunnels' });
  private readonly connEl = el('span', { class: 'conn', title: 'event stream' });
  private readonly countEl = el('span', { class: 'count muted' });
  private readonly filter = {
    method: el('select', { 'aria-label': 'Method', 'data-filter': 'method' }),
    status: el('select', { 'aria-label': 'Status', 'data-filter': 'status' }),
    path: el('input', { type: 'search', placeholder: 'Path', 'aria-label': 'Path filter', 'data-filter': 'path' }),
    text: el('input', {
      type: 'search',
      placeholder: 'Search headers, bodies…',
      'aria-label': 'Text filter',
      'data-filter': 'text',
    }),
  };

  constructor(
    private readonly root: HTMLElement,
    private readonly api: Transport,
  ) {}

  start(): void {
    for (const m of ['', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])
      this.filter.method.append(el('option', { value: m }, m || 'All methods'));
    for (const [v, label] of [
      ['', 'All statuses'],
      ['2', '2xx'],
      ['3', '3xx'],
      ['4', '4xx'],
      ['5', '5xx'],
      ['error', 'Failed'],
      ['pending', 'Pending'],
    ])
      this.filter.status.append(el('option', { value: v }, label));
    for (const f of Object.values(this.filter)) f.addEventListener('input', () => this.queueRender());
    const clear = el('button', { type: 'button', class: 'btn', 'data-action': 'clear' }, 'Clear');
    clear.addEventListener('click', () => void this.api.request('DELETE', '/api/requests/http'));
    const harAll = el('button', { type: 'button', class: 'btn', 'data-action': 'har-all' }, 'Download HAR');
    harAll.addEventListener('click', () => void this.api.download('/api/requests/http.har', 'burrow-requests.har'));
    this.root.replaceChildren(
      el(
        'header',
        { class: 'top' },
        el('h1', {}, 'Burrow inspector'),
        this.connEl,
        this.tunnelsEl,
        el('span', { class: 'spacer' }),
        harAll,
        clear,
      ),
      el(
        'div',
        { class: 'filters' },
        this.filter.method,
        this.filter.status,
        this.filter.path,
        this.filter.text,
        this.countEl,
      ),
      el('main', { class: 'panes' }, el('nav', { class: 'list-pane' }, this.listEl), this.detailEl),
    );
    this.listEl.addEventListener('keydown', (e) => this.onListKey(e));
    this.listEl.tabIndex = 0;
    this.renderDetail();
    this.api.events(
      (m) => this.onEvent(m as AgentEventJson),
      (s) => this.onConnection(s),
    );
  }

  private onConnection(s: ConnectionState): void {
    this.connEl.className = `conn ${s}`;
    this.connEl.textContent = s === 'open' ? 'live' : s === 'connecting' ? 'connecting…' : 'offline';
  }

  private onEvent(m: AgentEventJson): void {
    switch (m.type) {
      case 'snapshot':
        this.requests.clear();
        this.tunnels.clear();
        for (const t of m.tunnels) this.tunnels.set(t.name, t);
        for (const r of m.requests) this.requests.set(r.id, r);
        this.order = m.requests.map((r) => r.id);
        break;
      case 'request_started':
      case 'request_updated': {
        const known = this.requests.has(m.request.id);
        this.requests.set(m.request.id, m.request);
        if (!known) {
          this.order.unshift(m.request.id);
          for (const id of this.order.splice(MAX_ROWS)) this.requests.delete(id);
        }
        if (this.followReplay && m.request.replay_of !== undefined && m.request.id === this.followReplay) {
          this.followReplay = undefined;
          this.select(m.request.id);
        }
        if (m.request.id === this.selected && m.type === 'request_updated') this.renderDetail();
        break;
      }
      case 'request_deleted':
        this.requests.delete(m.id);
        this.order = this.order.filter((id) => id !== m.id);
        if (this.selected === m.id) this.select(undefined);
        break;
      case 'requests_cleared':
        this.requests.clear();
        this.order = [];
        this.select(undefined);
        break;
      case 'tunnel_started':
      case 'tunnel_updated':
        this.tunnels.set(m.tunnel.name, m.tunnel);
        break;
      case 'tunnel_stopped':
        this.tunnels.delete(m.name);
        break;
    }
    this.queueRender();
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderList();
      this.renderTunnels();
    });
  }

  private matches(r: CaptureJson): boolean {
    const method = this.filter.method.value;
    if (method && r.request.method !== method) return false;
    const status = this.filter.status.value;
    if (status === 'error' && r.state !== 'error') return false;
    if (status === 'pending' && r.response) return false;
    if (/^\d$/.test(status) && String(r.response?.status_code ?? '')[0] !== status) return false;
    const path = this.filter.path.value.trim();
    if (path && !r.request.uri.toLowerCase().includes(path.toLowerCase())) return false;
    const text = this.filter.text.value.trim().toLowerCase();
    if (text) {
      const hay = [
        r.request.method,
        r.request.uri,
        r.tunnel_name,
        r.remote_addr,
        r.response?.status ?? '',
        r.error?.code ?? '',
        ...Object.entries(r.request.headers).flatMap(([k, v]) => [k, ...v]),
        ...Object.entries(r.response?.headers ?? {}).flatMap(([k, v]) => [k, ...v]),
      ]
        .join('\n')
        .toLowerCase();
      if (!hay.includes(text)) return false;
    }
    return true;
  }

  private renderTunnels(): void {
    this.tunnelsEl.replaceChildren(
      ...[...this.tunnels.values()].map((t) =>
        el(
          'span',
          { class: 'tunnel', title: `${t.name} → ${t.config.addr}` },
          el('strong', {}, t.name),
          ' ',
          el('span', { class: 'muted' }, t.public_url),
        ),
      ),
    );
  }

  private renderList(): void {
    const rows: HTMLElement[] = [];
    let shown = 0;
    for (const id of this.order) {
      const r = this.requests.get(id);
      if (!r || !this.matches(r)) continue;
      shown++;
      rows.push(this.row(r));
    }
    this.countEl.textContent = `${shown} of ${this.order.length}`;
    this.listEl.replaceChildren(
      ...(rows.length
        ? rows
        : [
            el(
              'li',
              { class: 'empty muted' },
              this.order.length ? 'No request matches the filters' : 'Waiting for requests…',
            ),
          ]),
    );
  }

  private row(r: CaptureJson): HTMLElement {
    const code = r.response?.status_code;
    const statusClass = r.state === 'error' ? 's-err' : code === undefined ? 's-pending' : `s-${String(code)[0]}xx`;
    const li = el(
      'li',
      {
        class: `row${r.id === this.selected ? ' selected' : ''}`,
        role: 'option',
        'data-id': r.id,
        'aria-selected': String(r.id === this.selected),
      },
      el('span', { class: 'method' }, r.request.method),
      el('span', { class: 'path', title: r.request.uri }, r.request.uri),
      el(
        'span',
        { class: `status ${statusClass}` },
        r.state === 'error' ? (r.error?.code ?? 'error') : code === undefined ? '…' : String(code),
      ),
      el('span', { class: 'dur muted' }, formatDuration(r.duration)),
      r.replay_of ? el('span', { class: 'badge', title: `replay of ${r.replay_of}` }, 'replay') : null,
      r.edge_module
        ? el('span', { class: 'badge', title: `answered by the edge (${r.edge_module})` }, r.edge_module)
        : null,
    );
    li.addEventListener('click', () => this.select(r.id));
    return li;
  }

  private onListKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const visible = this.order.filter((id) => {
      const r = this.requests.get(id);
      return r && this.matches(r);
    });
    const i = this.selected ? visible.indexOf(this.selected) : -1;
    const next = visible[Math.max(0, Math.min(visible.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) this.select(next);
  }

  /** Shows one request (a row click, or the VS Code tree picking one through the webview host). */
  select(id: string | undefined): void {
    if (this.selected !== id) this.tab = this.tab === 'edit' ? 'summary' : this.tab;
    this.selected = id;
    this.queueRender();
    this.renderDetail();
  }

  /** Fetches the full capture (with raw bytes) and renders the detail pane. */
  private async renderDetail(): Promise<void> {
    const token = ++this.detailToken;
    const id = this.selected;
    if (!id) {
      this.detailEl.replaceChildren(el('div', { class: 'placeholder muted' }, 'Select a request to see its details'));
      return;
    }
    const res = await this.api.request('GET', `/api/requests/http/${encodeURIComponent(id)}`);
    if (token !== this.detailToken) return; // a newer selection won
    if (res.status !== 200) {
      this.detailEl.replaceChildren(el('div', { class: 'placeholder muted' }, 'This request is no longer captured'));
      return;
    }
    const r = JSON.parse(res.body) as CaptureJson;
    const content = await this.detailContent(r);
    if (token !== this.detailToken) return;
    this.detailEl.replaceChildren(this.detailHeader(r), this.tabs(), content);
  }

  private detailHeader(r: CaptureJson): HTMLElement {
    const button = (label: string, action: string, fn: () => void): HTMLElement => {
      const b = el('button', { type: 'button', class: 'btn', 'data-action': action }, label);
      b.addEventListener('click', fn);
      return b;
    };
    const status =
      r.state === 'error'
        ? `${r.error?.code}: ${r.error?.message}`
        : (r.response?.status ?? 'waiting for the response…');
    return el(
      'div',
      { class: 'detail-head' },
      el(
        'div',
        { class: 'title' },
        el('span', { class: 'method' }, r.request.method),
        ' ',
        el('span', { class: 'path' }, r.request.uri),
      ),
      // One span per fact: a narrow sidebar wraps between them, never inside a date or an address.
      el(
        'div',
        { class: 'meta muted' },
        ...[
          status,
          r.edge_module ? `answered by the edge (${r.edge_module})` : '',
          formatDuration(r.duration) || 'in progress',
          new Date(r.start).toLocaleString(),
          `from ${r.remote_addr}`,
          `tunnel ${r.tunnel_name}`,
          r.replay_of ? `replay of ${r.replay_of}` : '',
        ]
          .filter(Boolean)
          .map((text) => el('span', { class: 'fact' }, text)),
      ),
      el(
        'div',
        { class: 'actions' },
        button('Replay', 'replay', () => void this.replay(r.id)),
        button('Edit & replay', 'edit', () => {
          this.tab = 'edit';
          void this.renderDetail();
        }),
        button('Copy as curl', 'curl', () => void this.copyCurl(r.id)),
        button('HAR', 'har', () => void this.api.download(`/api/requests/http/${r.id}/har`, `request-${r.id}.har`)),
        button('Delete', 'delete', () => void this.api.request('DELETE', `/api/requests/http/${r.id}`)),
      ),
    );
  }

  private tabs(): HTMLElement {
    const bar = el('div', { class: 'tabs', role: 'tablist' });
    for (const [t, label] of [
      ['summary', 'Summary'],
      ['headers', 'Headers'],
      ['raw', 'Raw'],
      ['edit', 'Edit & replay'],
    ] as const) {
      const b = el(
        'button',
        {
          type: 'button',
          role: 'tab',
          class: `tab${this.tab === t ? ' active' : ''}`,
          'aria-selected': String(this.tab === t),
          'data-tab': t,
        },
        label,
      );
      b.addEventListener('click', () => {
        this.tab = t;
        void this.renderDetail();
      });
      bar.append(b);
    }
    return bar;
  }

  private async detailContent(r: CaptureJson): Promise<HTMLElement> {
    const req = r.request.raw ? parseRaw(base64ToBytes(r.request.raw)) : undefined;
    const res = r.response?.raw ? parseRaw(base64ToBytes(r.response.raw)) : undefined;
    if (this.tab === 'edit') return this.editForm(r, req);
    if (this.tab === 'raw') {
      return el(
        'div',
        { class: 'raw' },
        el('h3', {}, 'Request'),
        el('pre', { class: 'raw-text' }, r.request.raw ? rawText(base64ToBytes(r.request.raw)) : ''),
        el('h3', {}, 'Response'),
        el('pre', { class: 'raw-text' }, r.response?.raw ? rawText(base64ToBytes(r.response.raw)) : '(none yet)'),
      );
    }
    if (this.tab === 'headers') {
      return el(
        'div',
        {},
        el('h3', {}, 'Request headers'),
        headerTable(req?.headers ?? []),
        el('h3', {}, 'Response headers'),
        headerTable(res?.headers ?? []),
      );
    }
    const query = new URL(r.request.uri, 'http://x').searchParams;
    const parts: (HTMLElement | null)[] = [
      el('h3', {}, 'Timing'),
      el(
        'table',
        { class: 'kv' },
        el(
          'tr',
          {},
          el('th', {}, 'Started'),
          // The time of day to the millisecond (the date is in the head line); the full ISO time on hover.
          el(
            'td',
            { class: 'time', title: new Date(r.start).toISOString() },
            new Date(r.start).toISOString().slice(11),
          ),
        ),
        el('tr', {}, el('th', {}, 'Duration'), el('td', {}, formatDuration(r.duration) || 'in progress')),
      ),
      [...query].length ? el('h3', {}, 'Query') : null,
      [...query].length
        ? el('table', { class: 'kv' }, ...[...query].map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))))
        : null,
      el('h3', {}, `Request body ${bodyNote(r.request)}`),
      req ? await bodyView(req, r.request) : el('div', {}),
      el('h3', {}, `Response body ${r.response ? bodyNote(r.response) : ''}`),
      res && r.response
        ? await bodyView(res, r.response)
        : el('div', { class: 'muted' }, r.error ? `${r.error.code}: ${r.error.message}` : 'No response yet'),
      ...policyLogView(r),
    ];
    return el('div', { class: 'summary' }, ...parts);
  }

  private editForm(r: CaptureJson, req: ReturnType<typeof parseRaw> | undefined): HTMLElement {
    const method = el('input', { value: r.request.method, 'aria-label': 'Method', name: 'method' });
    const uri = el('input', { value: r.request.uri, 'aria-label': 'Path', name: 'uri' });
    const headers = el('textarea', { rows: '8', 'aria-label': 'Headers', name: 'headers', spellcheck: 'false' });
    headers.value = (req?.headers ?? [])
      .filter(([n]) => !/^(content-length|transfer-encoding|connection)$/i.test(n))
      .map(([n, v]) => `${n}: ${v}`)
      .join('\n');
    const body = el('textarea', { rows: '10', 'aria-label': 'Body', name: 'body', spellcheck: 'false' });
    const bodyText = req ? new TextDecoder().decode(req.body) : '';
    body.value = bodyText;
    const message = el(
      'div',
      { class: 'muted' },
      r.request.body_truncated ? 'The captured body was truncated: edit or replace it before sending.' : '',
    );
    const send = el('button', { type: 'submit', class: 'btn primary', 'data-action': 'send-edited' }, 'Send');
    const form = el(
      'form',
      { class: 'edit' },
      el('label', {}, 'Method', method),
      el('label', {}, 'Path', uri),
      el('label', {}, 'Headers (Name: value per line)', headers),
      el('label', {}, 'Body', body),
      el('div', {}, send, ' ', message),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const pairs: [string, string][] = [];
      for (const line of headers.value.split('\n')) {
        const colon = line.indexOf(':');
        if (line.trim() && colon > 0) pairs.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
      }
      void this.replay(
        r.id,
        { method: method.value.trim(), uri: uri.value.trim(), headers: pairs, body: body.value },
        message,
      );
    });
    return form;
  }

  private async replay(id: string, modifications?: object, messageEl?: HTMLElement): Promise<void> {
    const res = await this.api.request('POST', '/api/requests/http', {
      id,
      ...(modifications ? { modifications } : {}),
    });
    if (res.status !== 204) {
      let msg = `replay failed (${res.status})`;
      try {
        const e = JSON.parse(res.body) as { msg: string; details?: { err?: string } };
        msg = `${e.msg}${e.details?.err ? `: ${e.details.err}` : ''}`;
      } catch {
        /* not JSON */
      }
      if (messageEl) messageEl.textContent = msg;
      else this.toast(msg);
      return;
    }
    const newId = res.headers['burrow-replay-id'];
    if (newId) {
      if (this.requests.has(newId)) this.select(newId);
      else this.followReplay = newId;
    }
    this.tab = 'summary';
  }

  private async copyCurl(id: string): Promise<void> {
    const res = await this.api.request('GET', `/api/requests/http/${id}/curl`);
    try {
      await navigator.clipboard.writeText(res.body);
      this.toast('curl command copied');
    } catch {
      // Clipboard refused (permissions): show the command to copy by hand.
      const pre = el('pre', { class: 'raw-text', 'data-curl': '' }, res.body);
      this.detailEl.append(pre);
    }
  }

  private toast(text: string): void {
    const t = el('div', { class: 'toast', role: 'status' }, text);
    this.root.append(t);
    setTimeout(() => t.remove(), 2500);
  }
}

function headerTable(headers: [string, string][]): HTMLElement {
  if (!headers.length) return el('div', { class: 'muted' }, 'None');
  return el('table', { class: 'kv' }, ...headers.map(([n, v]) => el('tr', {}, el('th', {}, n), el('td', {}, v))));
}

function bodyNote(m: MessageJson): string {
  const parts = [formatBytes(m.body_size)];
  if (m.content_type) parts.push(m.content_type);
  if (m.body_truncated) parts.push('truncated');
  return `(${parts.join(', ')})`;
}

async function bodyView(msg: ReturnType<typeof parseRaw>, meta: MessageJson): Promise<HTMLElement> {
  const encoding = headerValue(msg.headers, 'content-encoding');
  // A truncated compressed body cannot be inflated; a truncated plain one still reads fine.
  const decoded = meta.body_truncated && encoding ? undefined : await decodeBody(msg.body, encoding);
  if (!decoded)
    return el(
      'div',
      {},
      el('div', { class: 'muted' }, `${encoding ?? ''}-encoded body, shown as bytes`),
      hexDump(msg.body),
    );
  return renderBody(decoded, meta.content_type);
}

/** The traffic policy's `log` entries (ngrok's http_request_complete.v0 `traffic_policy.logs`), one block each. */
function policyLogView(r: CaptureJson): HTMLElement[] {
  const logs = r.traffic_policy?.logs ?? [];
  if (!logs.length) return [];
  return [
    el('h3', {}, `Traffic policy log (${logs.length})`),
    ...logs.map((entry) => el('pre', { class: 'body-text policy-log' }, JSON.stringify(entry.metadata, null, 2))),
  ];
}
