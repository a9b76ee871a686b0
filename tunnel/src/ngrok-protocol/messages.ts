// ngrok's agent RPCs over typed muxado streams (tunnel/NGROK-PROTOCOL.md §3): stream types, the
// JSON messages as named types, and the helpers every handler needs (case-insensitive keys, one
// JSON value read from a stream with a size cap, errors carrying ERR_NGROK_* codes).
import type { Duplex } from 'node:stream';

/** The u32 big-endian type a typed stream starts with. */
export const enum StreamType {
  Auth = 0,
  Bind = 1,
  Unbind = 2,
  Proxy = 3,
  Restart = 4,
  Stop = 5,
  Update = 6,
  BindLabeled = 7,
  SrvInfo = 8,
  StopTunnel = 9,
  PatchTunnelState = 10,
  Heartbeat = 0xffffffff,
}

/** Largest RPC request we read (a Bind with a traffic policy and CAs fits easily). */
export const MAX_RPC_JSON = 1024 * 1024;

export interface AuthExtra {
  OS?: string;
  Arch?: string;
  Authtoken?: string;
  Version?: string;
  Hostname?: string;
  UserAgent?: string;
  Metadata?: string;
  Cookie?: string;
  HeartbeatInterval?: number;
  HeartbeatTolerance?: number;
  ClientType?: string;
}

export interface Auth {
  Version?: string[];
  ClientId?: string;
  Extra?: AuthExtra;
}

export interface AuthResp {
  Version: string;
  ClientId: string;
  Error?: string;
  Extra: { Version?: string; Region?: string; Cookie?: string; AccountName?: string; Banner?: string };
}

export interface Bind {
  Id?: string;
  Proto?: string;
  ForwardsTo?: string;
  ForwardsProto?: string;
  Opts?: Record<string, unknown>;
  Extra?: { Token?: string; IPPolicyRef?: string; Metadata?: string; Bindings?: string[]; PoolingEnabled?: boolean };
}

export interface BindResp {
  Id: string;
  URL: string;
  Proto: string;
  Opts: Record<string, unknown>;
  Error?: string;
  Extra: { Token: string };
}

export interface BindLabeled {
  Labels?: Record<string, string>;
  ForwardsTo?: string;
  ForwardsProto?: string;
  Metadata?: string;
}

/** The header the edge writes at the start of each proxied (type 3) stream. */
export interface ProxyHeader {
  Id: string;
  ClientAddr: string;
  Proto: string;
  EdgeType: '' | '0' | '1' | '2' | '3';
  PassthroughTLS: boolean;
}

/** A refusal on the wire: ngrok's SDKs take the code from a line starting with ERR_NGROK_. */
export function errorText(code: string, message: string): string {
  return `${message}\n\n${code}`;
}

/** Looks a key up the way Go's encoding/json does: exact first, then case-insensitively. */
export function field(obj: unknown, key: string): unknown {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const o = obj as Record<string, unknown>;
  if (key in o) return o[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

export function stringField(obj: unknown, key: string): string | undefined {
  const v = field(obj, key);
  return typeof v === 'string' ? v : undefined;
}

export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads one JSON value from `stream` (the peer does not half-close, so we parse as bytes arrive)
 * and stops reading. Rejects with a coded RpcError when it is not JSON, too big, or cut short.
 */
export function readJson(stream: Duplex, maxBytes = MAX_RPC_JSON, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > maxBytes) return done(new RpcError('ERR_BURROW_RPC_TOO_LARGE', `RPC body over ${maxBytes} bytes`));
      const text = Buffer.concat(chunks, size).toString('utf8').trim();
      try {
        done(undefined, JSON.parse(text));
      } catch {
        // not complete yet (or never will be: the size cap and the timeout end that)
      }
    };
    const onEnd = () => done(new RpcError('ERR_BURROW_RPC_MALFORMED', 'the RPC body is not one JSON value'));
    const onError = (err: Error) => done(err);
    const timer = setTimeout(
      () => done(new RpcError('ERR_BURROW_RPC_TIMEOUT', `no complete RPC body within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/** Writes the response and half-closes: the Rust SDK reads the answer until EOF. */
export function respond(stream: Duplex, body: unknown): void {
  if (stream.destroyed || stream.writableEnded) return;
  stream.end(Buffer.from(JSON.stringify(body)));
}

/** Reads the 4-byte type a peer-opened stream starts with; the rest stays unshifted in the stream. */
export function readStreamType(stream: Duplex, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error, type?: number, rest?: Buffer) => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      if (rest?.length) stream.unshift(rest);
      if (err) reject(err);
      else resolve(type!);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= 4) {
          const all = Buffer.concat(chunks, size);
          return done(undefined, all.readUInt32BE(0), all.subarray(4));
        }
      }
    };
    const onEnd = () => done(new RpcError('ERR_BURROW_RPC_MALFORMED', 'stream ended before its type'));
    const timer = setTimeout(
      () => done(new RpcError('ERR_BURROW_RPC_TIMEOUT', `no stream type within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onEnd);
  });
}
