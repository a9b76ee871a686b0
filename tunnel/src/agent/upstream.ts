// Parses an upstream address as ngrok accepts it: `3000`, `host:port`, `http://…`, `https://…`
// (port 443 implies https), `tcp://host:port`, `file:///abs/path`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proto } from '../model';

export type Upstream =
  | { kind: 'http'; protocol: 'http:' | 'https:'; host: string; port: number; hostPort: string }
  | { kind: 'tcp'; host: string; port: number; hostPort: string }
  | { kind: 'file'; root: string };

export class UpstreamError extends Error {
  readonly code = 'ERR_BURROW_UPSTREAM_ADDR';
}

export function parseUpstream(addr: string | number, proto: Proto): Upstream {
  const text = String(addr).trim();
  if (/^file:/i.test(text)) {
    if (proto !== 'http') throw new UpstreamError(`file:// upstreams only work for http endpoints, not ${proto}`);
    let root: string;
    try {
      root = fileURLToPath(text);
    } catch {
      throw new UpstreamError(`"${text}" is not a valid file URL: use file:///absolute/path`);
    }
    if (!path.isAbsolute(root)) throw new UpstreamError(`"${text}" must name an absolute path (file:///abs/path)`);
    return { kind: 'file', root };
  }
  let scheme: string | undefined;
  let rest = text;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(text);
  if (m) {
    scheme = m[1].toLowerCase();
    rest = m[2].replace(/\/.*$/, '');
  }
  let host = '127.0.0.1';
  let portText = rest;
  if (/^\d+$/.test(rest)) {
    // bare port
  } else {
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
    const colon = rest.lastIndexOf(':');
    if (bracket) {
      host = bracket[1];
      portText = bracket[2] ?? '';
    } else if (colon > 0 && rest.indexOf(':') === colon) {
      host = rest.slice(0, colon);
      portText = rest.slice(colon + 1);
    } else {
      host = rest;
      portText = '';
    }
  }
  if (!host) throw new UpstreamError(`"${text}" has no host`);
  if (scheme && !['http', 'https', 'tcp', 'tls'].includes(scheme)) {
    throw new UpstreamError(`"${text}": unsupported scheme ${scheme}:// (use http, https, tcp or file)`);
  }
  let port = portText ? Number(portText) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UpstreamError(`"${text}" has no valid port (1-65535): give a port like 3000 or host:port`);
  }
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  if (proto !== 'http') return { kind: 'tcp', host, port, hostPort };
  const protocol = scheme === 'https' || (!scheme && port === 443) ? 'https:' : 'http:';
  port = Number(port);
  return { kind: 'http', protocol, host, port, hostPort };
}
