// HAR 1.2 export (http://www.softwareishard.com/blog/har-12-spec/) of captured exchanges.
//
// Bodies: HAR wants response `content.text` decoded (no chunking, no Content-Encoding), so gzip,
// deflate and br are undone; `content.compression` then says how many bytes that saved. Text that is
// valid UTF-8 goes in as is; anything else as base64 (`content.encoding: "base64"`). HAR has no
// encoding field for request bodies, so binary `postData.text` is base64 and marked with the custom
// field `_encoding: "base64"` (custom fields start with "_", as the spec allows). Truncated bodies
// carry `_truncated: true` and the full wire size in `bodySize`.

import {
  decodeContent,
  headerPairs,
  requestHead,
  requestUrl,
  responseHead,
  statusText,
  utf8OrUndefined,
  type HeaderPair,
} from './http';
import { cookiePairs, setCookiePair } from '../net/cookies';
import { rawHeader } from '../net/raw-headers';
import type { CapturedExchange } from './store';

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarPostData {
  mimeType: string;
  text: string;
  _encoding?: 'base64';
  _truncated?: boolean;
}

export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: 'base64';
  comment?: string;
  _truncated?: boolean;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: HarPostData;
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: HarContent;
    redirectURL: string;
    headersSize: number;
    bodySize: number;
    _error?: string;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  _id: string;
  _tunnelName: string;
  _remoteAddr: string;
}

export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

export interface HarOptions {
  /** Public URL per tunnel name, so `request.url` is what the client used. */
  baseUrlFor?: (tunnelName: string) => string | undefined;
  creatorVersion?: string;
}

const NS_PER_MS = 1e6;

export function exchangeToHarEntry(ex: CapturedExchange, opts: HarOptions = {}): HarEntry {
  const req = ex.request;
  const url = requestUrl(ex, opts.baseUrlFor?.(ex.tunnelName));
  const reqHeaders = pairs(headerPairs(req.rawHeaders));
  const entry: HarEntry = {
    startedDateTime: new Date(ex.startedAt).toISOString(),
    time: ex.durationNs / NS_PER_MS,
    request: {
      method: req.method,
      url,
      httpVersion: `HTTP/${req.httpVersion}`,
      cookies: requestCookies(req.rawHeaders),
      headers: reqHeaders,
      queryString: queryString(url),
      headersSize: Buffer.byteLength(requestHead(req), 'latin1'),
      bodySize: req.body.size,
    },
    response: emptyResponse(ex),
    cache: {},
    timings: timings(ex),
    _id: ex.id,
    _tunnelName: ex.tunnelName,
    _remoteAddr: ex.remoteAddr,
  };
  if (req.body.size > 0 || req.body.stored > 0) {
    const bytes = req.body.bytes();
    const text = utf8OrUndefined(bytes);
    entry.request.postData = {
      mimeType: rawHeader(req.rawHeaders, 'content-type') ?? '',
      text: text ?? bytes.toString('base64'),
      ...(text === undefined ? { _encoding: 'base64' as const } : {}),
      ...(req.body.truncated ? { _truncated: true } : {}),
    };
  }
  const res = ex.response;
  if (res) {
    const wire = res.body.bytes();
    const encoding = rawHeader(res.rawHeaders, 'content-encoding');
    const decoded = res.body.truncated ? undefined : decodeContent(wire, encoding);
    const bytes = decoded ?? wire;
    const text = utf8OrUndefined(bytes);
    const content: HarContent = {
      size: bytes.length,
      mimeType: rawHeader(res.rawHeaders, 'content-type') ?? '',
      text: text ?? bytes.toString('base64'),
      ...(text === undefined ? { encoding: 'base64' as const } : {}),
    };
    if (decoded && encoding) content.compression = decoded.length - wire.length;
    if (!decoded && encoding)
      content.comment = `still ${encoding}-encoded (${res.body.truncated ? 'truncated' : 'could not decode'})`;
    if (res.body.truncated) content._truncated = true;
    entry.response = {
      status: res.statusCode,
      statusText: statusText(res),
      httpVersion: `HTTP/${res.httpVersion}`,
      cookies: responseCookies(res.rawHeaders),
      headers: pairs(headerPairs(res.rawHeaders)),
      content,
      redirectURL: rawHeader(res.rawHeaders, 'location') ?? '',
      headersSize: Buffer.byteLength(responseHead(res), 'latin1'),
      bodySize: res.body.size,
      ...(ex.error ? { _error: `${ex.error.code}: ${ex.error.message}` } : {}),
    };
  }
  return entry;
}

/** No response (yet, or ever): HAR still needs one; browsers use status 0. */
function emptyResponse(ex: CapturedExchange): HarEntry['response'] {
  return {
    status: 0,
    statusText: ex.error ? ex.error.code : '',
    httpVersion: '',
    cookies: [],
    headers: [],
    content: { size: 0, mimeType: '' },
    redirectURL: '',
    headersSize: -1,
    bodySize: -1,
    ...(ex.error ? { _error: `${ex.error.code}: ${ex.error.message}` } : {}),
  };
}

function timings(ex: CapturedExchange): HarEntry['timings'] {
  const wait = ex.waitNs / NS_PER_MS;
  const total = ex.durationNs / NS_PER_MS;
  return { send: 0, wait, receive: Math.max(0, total - wait) };
}

export function exchangesToHar(list: CapturedExchange[], opts: HarOptions = {}): Har {
  // HAR entries are in chronological order; the store lists newest first.
  const entries = [...list]
    .sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1))
    .map((ex) => exchangeToHarEntry(ex, opts));
  return { log: { version: '1.2', creator: { name: 'Burrow', version: opts.creatorVersion ?? '0.0.0' }, entries } };
}

function pairs(list: HeaderPair[]): HarNameValue[] {
  return list.map(({ name, value }) => ({ name, value }));
}

function queryString(url: string): HarNameValue[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  return [...parsed.searchParams].map(([name, value]) => ({ name, value }));
}

function requestCookies(rawHeaders: string[]): HarNameValue[] {
  return cookiePairs(
    headerPairs(rawHeaders)
      .filter((h) => h.name.toLowerCase() === 'cookie')
      .map((h) => h.value),
  );
}

function responseCookies(rawHeaders: string[]): HarNameValue[] {
  return headerPairs(rawHeaders)
    .filter((h) => h.name.toLowerCase() === 'set-cookie')
    .map((h) => setCookiePair(h.value))
    .filter((c) => c !== undefined);
}
