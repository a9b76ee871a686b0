// ngrok-style object ids: a type prefix (`edghts_`, `edghtsrt_`, `cr_`, `ipp_`, …) and 27 base62
// characters, time-ordered like ngrok's (a KSUID: 4 bytes of seconds then 16 random bytes), so
// sorting ids sorts by creation time, which list pagination relies on.
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** KSUID epoch (2014-05-13T16:53:20Z), as ngrok's ids use. */
const EPOCH_S = 1_400_000_000;

function base62(bytes: Buffer, length: number): string {
  let n = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(length, '0').slice(-length);
}

export function newId(prefix: string, nowMs = Date.now()): string {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(Math.max(0, Math.floor(nowMs / 1000) - EPOCH_S));
  return `${prefix}_${base62(Buffer.concat([head, randomBytes(16)]), 27)}`;
}

/** A stable id for an object from an edge file that has none: same file and place, same id. */
export function stableId(prefix: string, seed: string): string {
  return `${prefix}_${base62(createHash('sha256').update(seed).digest().subarray(0, 20), 27)}`;
}

/** An authtoken in ngrok's shape: `<27 chars>_<random>`; shown once, stored only as a digest. */
export function newToken(): string {
  return `${base62(randomBytes(20), 27)}_${base62(randomBytes(24), 32)}`;
}
