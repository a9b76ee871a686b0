// Authtokens the standalone edge accepts: from a tokens file (one per line, `#` comments) and/or
// the BURROW_EDGE_TOKENS environment variable (comma separated). Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export class TokenSet {
  private readonly digests: Buffer[];

  constructor(tokens: Iterable<string>) {
    this.digests = [...tokens].filter(Boolean).map(digest);
  }

  static load(opts: { file?: string; env?: string }): TokenSet {
    const tokens: string[] = [];
    if (opts.file) {
      for (const line of readFileSync(opts.file, 'utf8').split(/\r?\n/)) {
        const t = line.replace(/#.*/, '').trim();
        if (t) tokens.push(t);
      }
    }
    if (opts.env) tokens.push(...opts.env.split(',').map((t) => t.trim()));
    return new TokenSet(tokens);
  }

  get size(): number {
    return this.digests.length;
  }

  /** Hashing first makes every comparison the same length, so timing reveals nothing. */
  accepts(token: string | undefined): boolean {
    if (!token) return false;
    const d = digest(token);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(d, known) || ok;
    return ok;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
