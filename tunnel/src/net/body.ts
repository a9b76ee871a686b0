// The one reader for bodies that must be whole before use (API JSON, a webhook signature over the
// raw bytes): it holds at most `limit` bytes, and past that it stops buffering at once and rejects
// with BodyTooLargeError, which each caller turns into its own coded answer.
import type { Readable } from 'node:stream';

export class BodyTooLargeError extends Error {
  readonly code = 'ERR_BURROW_BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`body larger than ${limit} bytes`);
  }
}

/**
 * Reads `stream` to its end. Over `limit`: `drain` discards the rest (so a server can still answer
 * on the connection), `destroy` ends the stream (and its socket) at once.
 */
export function readBody(stream: Readable, limit: number, overflow: 'drain' | 'destroy' = 'destroy'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size <= limit) return void chunks.push(buf);
      cleanup();
      chunks.length = 0;
      stream.on('error', () => {}); // the caller has its answer; a late error must not go unhandled
      if (overflow === 'drain') stream.resume();
      else stream.destroy();
      reject(new BodyTooLargeError(limit));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}
