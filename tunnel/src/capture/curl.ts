// "Copy as curl": a POSIX-shell command that sends the captured request again.
//
// Fidelity rules (checked by running the output through real curl in the tests):
// - every end-to-end header is sent as captured, in order, with its exact case and value;
//   hop-by-hop headers, Content-Length (curl computes it) and a Host equal to the URL's are dropped;
// - headers curl would add on its own (User-Agent, Accept, Content-Type for bodies, Expect) are
//   suppressed with `-H 'Name:'` when the captured request did not have them;
// - a UTF-8 text body goes inline as a single-quoted `--data-raw` argument (no @file meaning); any other body is
//   piped in as base64 (`printf %s … | base64 --decode | curl … --data-binary @-`), which survives
//   NUL bytes and any shell;
// - a truncated body is sent as captured, with a comment saying so.

import { headerPairs, hopByHopNames, requestUrl, utf8OrUndefined } from './http';
import type { CapturedExchange } from './store';

export interface CurlOptions {
  /** Send to this origin instead of the captured Host (e.g. the tunnel's public URL). */
  baseUrl?: string;
}

/** Single-quotes a string for POSIX shells (`'` becomes `'\''`). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Printable UTF-8 text (tabs and newlines allowed): safe to put inside single quotes. */
function inlineText(bytes: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }

  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

export function exchangeToCurl(ex: CapturedExchange, opts: CurlOptions = {}): string {
  const req = ex.request;
  const url = requestUrl(ex, opts.baseUrl);
  const urlHost = hostOf(url);
  const hop = hopByHopNames(req.rawHeaders);
  // Each part is one flag with its argument; they are joined with line continuations.
  const parts: string[] = ['curl'];
  const comments: string[] = [];

  const body = req.body.stored > 0 ? req.body.bytes() : undefined;
  const method = req.method.toUpperCase();
  if (method === 'HEAD') parts.push('--head');
  else if (!(method === 'GET' && !body) && !(method === 'POST' && body)) parts.push(`-X ${shellQuote(req.method)}`);
  if (req.httpVersion === '1.0') parts.push('--http1.0');
  // curl would otherwise squash /./ and /../ segments and expand [] {} as globs.
  if (/(^|\/)\.\.?(\/|$)/.test(req.uri.split('?')[0])) parts.push('--path-as-is');
  if (/[[\]{}]/.test(url)) parts.push('--globoff');
  parts[0] += ' ' + shellQuote(url);

  const present = new Set<string>();
  for (const { name, value } of headerPairs(req.rawHeaders)) {
    const lower = name.toLowerCase();
    if (hop.has(lower) || lower === 'content-length') continue;
    if (lower === 'host' && value.toLowerCase() === urlHost) continue;
    present.add(lower);
    // Node hands header bytes over as Latin-1; the command is UTF-8 text, so re-read them as UTF-8.
    const shown = utf8OrUndefined(Buffer.from(value, 'latin1'));
    if (shown === undefined) comments.push(`# header ${name} has bytes that are not UTF-8; written as Latin-1`);
    // `-H 'Name;'` is curl's spelling of a header with an empty value.
    parts.push(`-H ${shellQuote(value === '' ? `${name};` : `${name}: ${shown ?? value}`)}`);
  }
  const suppress = ['User-Agent', 'Accept'];
  if (body) suppress.push('Content-Type', 'Expect');
  for (const name of suppress) if (!present.has(name.toLowerCase())) parts.push(`-H ${shellQuote(`${name}:`)}`);

  let stdin: string | undefined;
  if (body) {
    const text = inlineText(body);
    if (text !== undefined) parts.push(`--data-raw ${shellQuote(text)}`);
    else {
      parts.push('--data-binary @-');
      stdin = body.toString('base64');
    }
  } else if (req.body.size > 0) comments.push(`# request body of ${req.body.size} bytes was not captured`);
  if (req.body.truncated) comments.push(`# body truncated: captured ${req.body.stored} of ${req.body.size} bytes`);

  const command = parts.join(' \\\n  ');
  const pipeline = stdin === undefined ? command : `printf %s ${shellQuote(stdin)} | base64 --decode | ${command}`;
  return [...comments, pipeline].join('\n') + '\n';
}

function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return '';
  }
}
