// Chunked transfer coding (RFC 9112 §7.1) for the raw data path: a streaming decoder for
// upstream responses and the encoder for request bodies of unknown length. As strict as the head
// parser (head.ts): CRLF only (a bare LF or CR is refused), hex sizes without sign or spaces,
// bounded size and trailer lines. Trailers are checked and dropped, as Node's own client does
// when a response is piped on.
import { HeadParseError, MAX_HEAD_BYTES } from './head';

const CR = 13;
const LF = 10;
/** A size line with extensions, or one trailer field, may be at most this long. */
const MAX_LINE = 4096;
// 1*HEXDIG, then optional extensions `;name[=value]` with token names and token values (RFC 9112
// 7.1.1 minus quoted values and whitespace, which upstreams do not send and parsers disagree on;
// `2;` and `2 ;a` are refused as Node's llhttp refuses them). At most 13 significant digits keeps every size a
// safe integer.
const EXT_TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const SIZE_LINE = new RegExp(`^0*([0-9A-Fa-f]{1,13})(?:;${EXT_TOKEN}(?:=${EXT_TOKEN})?)*$`);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const enum State {
  Size,
  Data,
  DataEnd,
  Trailer,
  Done,
}

export class ChunkedDecoder {
  private state = State.Size;
  private line = '';
  private remaining = 0;
  /** Bytes of the CRLF after a chunk's data seen so far (0 or 1). */
  private crlfSeen = 0;
  private trailerBytes = 0;

  /** The terminating chunk and its trailers have been read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Decodes the next bytes of the coded body. `onData` gets the body's pieces (views into
   * `input`, no copy). Returns how many bytes of `input` belong to the body: less than its length
   * only once `done` (the rest is what the connection carries next). Throws HeadParseError
   * (ERR_NGROK_3004) on anything malformed.
   */
  write(input: Buffer, onData: (piece: Buffer) => void): number {
    let i = 0;
    while (i < input.length && this.state !== State.Done) {
      if (this.state === State.Data) {
        const n = Math.min(this.remaining, input.length - i);
        onData(input.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = State.DataEnd;
      } else if (this.state === State.DataEnd) {
        if (input[i] !== (this.crlfSeen === 0 ? CR : LF)) throw bad('chunk data not followed by CRLF');
        i++;
        if (++this.crlfSeen === 2) {
          this.crlfSeen = 0;
          this.state = State.Size;
        }
      } else {
        const lf = input.indexOf(LF, i);
        const end = lf === -1 ? input.length : lf + 1;
        if (this.line.length + (end - i) > MAX_LINE) throw bad('chunk size or trailer line too long');
        this.line += input.toString('latin1', i, end);
        i = end;
        if (lf === -1) break;
        const line = this.line;
        this.line = '';
        if (line.length < 2 || line.charCodeAt(line.length - 2) !== CR) throw bad('bare LF in chunked framing');
        const text = line.slice(0, -2);
        if (text.includes('\r')) throw bad('bare CR in chunked framing');
        if (this.state === State.Size) this.sizeLine(text);
        else this.trailerLine(text, line.length);
      }
    }
    return i;
  }

  private sizeLine(text: string): void {
    const m = SIZE_LINE.exec(text);
    if (!m) throw bad(`invalid chunk size line ${JSON.stringify(text.slice(0, 40))}`);
    const size = parseInt(m[1], 16);
    if (size === 0) this.state = State.Trailer;
    else {
      this.remaining = size;
      this.state = State.Data;
    }
  }

  private trailerLine(text: string, bytes: number): void {
    if (text === '') {
      this.state = State.Done;
      return;
    }
    this.trailerBytes += bytes;
    if (this.trailerBytes > MAX_HEAD_BYTES) throw bad('trailer section too large');
    const colon = text.indexOf(':');
    if (colon <= 0 || !TOKEN.test(text.slice(0, colon)) || !FIELD_VALUE.test(text.slice(colon + 1)))
      throw bad('invalid trailer field');
  }
}

function bad(message: string): HeadParseError {
  return new HeadParseError('ERR_NGROK_3004', message);
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** The wire pieces of one chunk (nothing for an empty piece: that would end the body). */
export function encodeChunk(data: Buffer): Buffer[] {
  return data.length === 0 ? [] : [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF];
}

/** The end of a chunked body (last chunk, no trailers). */
export function lastChunk(): Buffer {
  return LAST_CHUNK;
}
