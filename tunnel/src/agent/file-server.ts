/**
 * Static file server behind `file:///abs/path` upstreams.
 *
 * The agent starts one per file upstream on 127.0.0.1 (ephemeral port) and forwards to its `url`
 * like any HTTP upstream, so capture, modules and the inspector need nothing special.
 *
 * - Files are served by `send` (the express project's file sender): Content-Type, Content-Length,
 *   ETag/Last-Modified with conditional GET (304/412), single Range requests (206/416), HEAD, and
 *   streaming from disk.
 * - Directories: `/dir` redirects to `/dir/`; `index.html` is served if present, otherwise a small
 *   HTML listing (names, sizes, dates, parent link; names escaped, strict CSP).
 * - Only GET and HEAD (405 otherwise). Paths are decoded segment by segment here, never by `send`:
 *   `..` (plain or %2e%2e) and NUL bytes are refused with 403; every target is resolved with
 *   realpath and must stay inside the root's realpath, so symlinks out of the root are 404.
 * - Dotfiles (`.env`, `.git/…`) are hidden and 404 unless `dotfiles: 'allow'`; `.well-known` is
 *   always served. Exposing a directory publicly should not leak its secrets by accident.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import send from 'send';

export type FileServer = { url: string; close(): Promise<void> };
export type FileServerOptions = { dotfiles?: 'allow' | 'ignore' };

/** Most entries shown in one listing; the rest are counted, not listed (bounded memory). */
const MAX_LISTING_ENTRIES = 5000;

export class FileRootError extends Error {
  readonly code = 'ERR_BURROW_FILE_ROOT';
  constructor(message: string) {
    super(message);
    this.name = 'FileRootError';
  }
}

/** Serve `root` (an existing directory) on 127.0.0.1; resolves once listening. */
export async function startFileServer(root: string, options: FileServerOptions = {}): Promise<FileServer> {
  const rootReal = await resolveRoot(root);
  const allowDotfiles = options.dotfiles === 'allow';
  const server = http.createServer((req, res) => {
    handle(req, res, rootReal, allowDotfiles).catch(() => {
      if (!res.headersSent) respond(res, 500);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function resolveRoot(root: string): Promise<string> {
  if (!path.isAbsolute(root)) throw new FileRootError(`file server root must be an absolute path: ${root}`);
  let real: string;
  try {
    real = await fs.realpath(root);
  } catch {
    throw new FileRootError(`file server root does not exist: ${root}`);
  }
  if (!(await fs.stat(real)).isDirectory()) throw new FileRootError(`file server root is not a directory: ${root}`);
  return real;
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rootReal: string,
  allowDotfiles: boolean,
): Promise<void> {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return respond(res, 405);
  }
  const target = parseTarget(req.url ?? '/');
  if (typeof target === 'number') return respond(res, target);
  if (!allowDotfiles && target.segments.some((s) => s.startsWith('.') && s !== '.well-known')) return respond(res, 404);

  const real = await realpathInside(rootReal, path.join(rootReal, ...target.segments));
  if (real === undefined) return respond(res, 404);
  const stats = await fs.stat(real);

  if (stats.isDirectory()) {
    if (!target.pathname.endsWith('/')) {
      // Rebuilt from decoded segments: `//evil.example` cannot become a protocol-relative redirect.
      res.setHeader(
        'Location',
        `/${target.segments.map((seg) => `${encodeURIComponent(seg)}/`).join('')}${target.search}`,
      );
      return respond(res, 301);
    }
    const index = await realpathInside(rootReal, path.join(real, 'index.html'));
    if (index !== undefined && (await fs.stat(index)).isFile()) return sendFile(req, res, rootReal, index);
    return sendListing(req, res, rootReal, real, target.segments, allowDotfiles);
  }
  if (!stats.isFile()) return respond(res, 404); // sockets, FIFOs, devices
  return sendFile(req, res, rootReal, real);
}

type Target = { pathname: string; search: string; segments: string[] };

/** Split the request target into decoded path segments, or an HTTP status to refuse it with. */
function parseTarget(url: string): Target | number {
  // Absolute-form targets (`GET http://host/path`) carry an origin we do not need.
  const originForm = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
  if (!originForm.startsWith('/')) return 400;
  const queryAt = originForm.search(/[?#]/);
  const pathname = queryAt === -1 ? originForm : originForm.slice(0, queryAt);
  const search = queryAt === -1 ? '' : originForm.slice(queryAt).replace(/#.*/, '');
  const segments: string[] = [];
  for (const raw of pathname.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return 400;
    }
    if (segment === '' || segment === '.') continue;
    if (segment === '..' || segment.includes('\0')) return 403;
    if (segment.includes('/') || (process.platform === 'win32' && /[\\:]/.test(segment))) return 403;
    segments.push(segment);
  }
  return { pathname, search, segments };
}

/** realpath of `candidate` if it exists and lies inside the root (symlinks resolved), else undefined. */
async function realpathInside(rootReal: string, candidate: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    return undefined;
  }
  const inside = real === rootReal || real.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep);
  return inside ? real : undefined;
}

function sendFile(req: http.IncomingMessage, res: http.ServerResponse, rootReal: string, real: string): void {
  // `send` decodes its path argument, so hand it the already-resolved path re-encoded.
  const relative = path.relative(rootReal, real).split(path.sep).map(encodeURIComponent).join('/');
  send(req, `/${relative}`, { root: rootReal, dotfiles: 'allow', index: false })
    .on('error', (err: { status?: number }) => respond(res, err.status ?? 500))
    .pipe(res);
}

type Entry = { name: string; isDirectory: boolean; size: number; modified: Date };

async function sendListing(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rootReal: string,
  dirReal: string,
  segments: string[],
  allowDotfiles: boolean,
): Promise<void> {
  const dir = await fs.opendir(dirReal);
  const entries: Entry[] = [];
  let omitted = 0;
  for await (const dirent of dir) {
    if (!allowDotfiles && dirent.name.startsWith('.') && dirent.name !== '.well-known') continue;
    if (entries.length >= MAX_LISTING_ENTRIES) {
      omitted++;
      continue;
    }
    const real = await realpathInside(rootReal, path.join(dirReal, dirent.name));
    if (real === undefined) continue; // dangling, or a symlink leading out of the root
    const stats = await fs.stat(real).catch(() => undefined);
    if (!stats || !(stats.isFile() || stats.isDirectory())) continue;
    entries.push({ name: dirent.name, isDirectory: stats.isDirectory(), size: stats.size, modified: stats.mtime });
  }
  entries.sort((a, b) => Number(b.isDirectory) - Number(a.isDirectory) || a.name.localeCompare(b.name));

  const body = Buffer.from(renderListing(segments, entries, omitted));
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function renderListing(segments: string[], entries: Entry[], omitted: number): string {
  const title = `/${segments.map((s) => `${s}/`).join('')}`;
  const rows = entries.map((e) => {
    const href = encodeURIComponent(e.name) + (e.isDirectory ? '/' : '');
    const name = escapeHtml(e.name) + (e.isDirectory ? '/' : '');
    const size = e.isDirectory ? '—' : `<span title="${e.size} bytes">${formatSize(e.size)}</span>`;
    const date = e.modified.toISOString().slice(0, 16).replace('T', ' ');
    return `<tr><td><a href="${href}">${name}</a></td><td class="n">${size}</td><td>${date}</td></tr>`;
  });
  if (segments.length > 0) rows.unshift('<tr><td><a href="../">../</a></td><td class="n"></td><td></td></tr>');
  if (omitted > 0) rows.push(`<tr><td colspan="3">… and ${omitted} more entries not shown</td></tr>`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Index of ${escapeHtml(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td{padding:.2em 1.5em .2em 0}
.n{text-align:right;font-variant-numeric:tabular-nums}a{text-decoration:none}a:hover{text-decoration:underline}</style>
</head><body><h1>Index of ${escapeHtml(title)}</h1>
<table><thead><tr><th align="left">Name</th><th>Size</th><th align="left">Modified (UTC)</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></body></html>
`;
}

function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function respond(res: http.ServerResponse, status: number): void {
  if (res.headersSent) return void res.destroy();
  const body = `${status} ${http.STATUS_CODES[status] ?? ''}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
