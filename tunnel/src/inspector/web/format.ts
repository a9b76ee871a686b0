// Parsing captured `raw` bytes and rendering bodies (pretty JSON/XML, form tables, hex) as DOM.
// Everything captured is attacker-controlled: only textContent, never innerHTML.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false)
      node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export interface ParsedMessage {
  startLine: string;
  headers: [string, string][];
  /** Body bytes with chunked framing removed (Content-Encoding still applied). */
  body: Uint8Array;
}

function indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++)
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  return -1;
}

const latin1 = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
};

/** Splits the HTTP/1.1 bytes of ngrok's `raw` into head and (de-chunked) body. */
export function parseRaw(raw: Uint8Array): ParsedMessage {
  const end = indexOfCrlfCrlf(raw);
  const headText = latin1(end < 0 ? raw : raw.subarray(0, end));
  const lines = headText.split('\r\n');
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  let body = end < 0 ? new Uint8Array(0) : raw.subarray(end + 4);
  if (headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v))) body = dechunk(body);
  return { startLine: lines[0] ?? '', headers, body };
}

function dechunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    let j = i;
    while (j + 1 < bytes.length && !(bytes[j] === 13 && bytes[j + 1] === 10)) j++;
    const size = parseInt(latin1(bytes.subarray(i, j)).split(';')[0], 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(bytes.subarray(j + 2, Math.min(bytes.length, j + 2 + size)));
    i = j + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Undoes gzip/deflate with the browser's DecompressionStream; undefined when it cannot. */
export async function decodeBody(
  body: Uint8Array,
  contentEncoding: string | undefined,
): Promise<Uint8Array | undefined> {
  const enc = (contentEncoding ?? '').trim().toLowerCase();
  if (!enc || enc === 'identity') return body;
  const format = enc === 'gzip' || enc === 'x-gzip' ? 'gzip' : enc === 'deflate' ? 'deflate' : undefined;
  if (!format || typeof DecompressionStream === 'undefined') return undefined;
  try {
    const stream = new Blob([body as BlobPart]).stream().pipeThrough(new DecompressionStream(format));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return undefined;
  }
}

export function headerValue(headers: [string, string][], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ns: number): string {
  if (!ns) return '';
  const ms = ns / 1e6;
  if (ms < 1) return `${(ns / 1e3).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Renders a body according to its content type: JSON, XML, form, text or hex. */
export function renderBody(bytes: Uint8Array, contentType: string | undefined): HTMLElement {
  if (bytes.length === 0) return el('div', { class: 'muted' }, 'No body');
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const text = utf8(bytes);
  if (text === undefined) return hexDump(bytes);
  if (type.includes('json') || (!type && /^\s*[[{]/.test(text))) return renderJson(text);
  if (type.includes('xml') || (!type && /^\s*<\?xml/.test(text))) return renderXml(text);
  if (type === 'application/x-www-form-urlencoded') return renderForm(text);
  return el('pre', { class: 'body-text' }, text);
}

function renderJson(text: string): HTMLElement {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return syntaxError('JSON', (err as Error).message, text);
  }
  const pre = el('pre', { class: 'body-json' });
  writeJson(pre, value, 0);
  return pre;
}

function writeJson(out: HTMLElement, v: unknown, depth: number): void {
  const pad = '  '.repeat(depth);
  if (v === null || typeof v !== 'object') {
    const cls = v === null ? 'j-null' : typeof v === 'string' ? 'j-str' : typeof v === 'number' ? 'j-num' : 'j-bool';
    out.append(el('span', { class: cls }, JSON.stringify(v)));
    return;
  }
  const entries: [string | undefined, unknown][] = Array.isArray(v)
    ? v.map((x) => [undefined, x])
    : Object.entries(v as object);
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    out.append(open + close);
    return;
  }
  out.append(open + '\n');
  entries.forEach(([k, x], i) => {
    out.append(pad + '  ');
    if (k !== undefined) out.append(el('span', { class: 'j-key' }, JSON.stringify(k)), ': ');
    writeJson(out, x, depth + 1);
    out.append(i < entries.length - 1 ? ',\n' : '\n');
  });
  out.append(pad + close);
}

function renderXml(text: string): HTMLElement {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const err = doc.querySelector('parsererror');
  if (err) return syntaxError('XML', (err.textContent ?? '').trim().split('\n')[0], text);
  const lines: string[] = [];
  const walk = (node: Node, depth: number): void => {
    const pad = '  '.repeat(depth);
    if (node.nodeType === Node.TEXT_NODE) {
      const t = (node.textContent ?? '').trim();
      if (t) lines.push(pad + t);
      return;
    }
    if (node.nodeType === Node.COMMENT_NODE) {
      lines.push(`${pad}<!--${node.textContent ?? ''}-->`);
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const e = node as Element;
    const attrs = [...e.attributes].map((a) => ` ${a.name}="${a.value}"`).join('');
    const kids = [...e.childNodes].filter((c) => c.nodeType !== Node.TEXT_NODE || (c.textContent ?? '').trim());
    if (kids.length === 0) lines.push(`${pad}<${e.tagName}${attrs}/>`);
    else if (kids.length === 1 && kids[0].nodeType === Node.TEXT_NODE)
      lines.push(`${pad}<${e.tagName}${attrs}>${(kids[0].textContent ?? '').trim()}</${e.tagName}>`);
    else {
      lines.push(`${pad}<${e.tagName}${attrs}>`);
      for (const k of kids) walk(k, depth + 1);
      lines.push(`${pad}</${e.tagName}>`);
    }
  };
  walk(doc.documentElement, 0);
  return el('pre', { class: 'body-xml' }, lines.join('\n'));
}

function renderForm(text: string): HTMLElement {
  const table = el('table', { class: 'kv' });
  for (const [k, v] of new URLSearchParams(text)) table.append(el('tr', {}, el('th', {}, k), el('td', {}, v)));
  return table;
}

function syntaxError(kind: string, message: string, text: string): HTMLElement {
  return el(
    'div',
    {},
    el('div', { class: 'syntax-error' }, `${kind} syntax error: ${message}`),
    el('pre', { class: 'body-text' }, text),
  );
}

export function hexDump(bytes: Uint8Array, max = 64 * 1024): HTMLElement {
  const lines: string[] = [];
  const n = Math.min(bytes.length, max);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > max) lines.push(`… ${bytes.length - max} more bytes`);
  return el('pre', { class: 'body-hex' }, lines.join('\n'));
}

/** The raw message as text for the Raw tab (binary bodies summarised). */
export function rawText(raw: Uint8Array): string {
  const end = indexOfCrlfCrlf(raw);
  const head = latin1(end < 0 ? raw : raw.subarray(0, end + 4));
  const body = end < 0 ? new Uint8Array(0) : raw.subarray(end + 4);
  const text = utf8(body);
  return head + (text ?? `[${body.length} bytes of binary data]`);
}
