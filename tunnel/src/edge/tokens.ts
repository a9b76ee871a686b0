// Authtokens the standalone edge accepts: from a tokens file (one per line, `#` comments) and/or
// the BURROW_EDGE_TOKENS environment variable (comma separated), plus the credentials of the edge
// admin API (`POST /credentials`, each with its bind ACL; admin/store.ts keeps only their sha256).
// Compared in constant time: every candidate digest is compared, whatever matched before.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a token grants: file/env tokens bind anything (empty ACL); credentials carry theirs. */
export interface Grant {
  /** `cr_…` when the token is an admin-API credential. */
  credentialId?: string;
  /** ngrok ACL rules (`*`, `bind:…`); empty = unrestricted. */
  acl: readonly string[];
}

/** A live list of token digests with their grants (the admin API's credentials). */
export interface GrantSource {
  grants(): Iterable<{ sha256: Buffer; grant: Grant }>;
}

export class TokenSet {
  private readonly digests: Buffer[];
  private readonly sources: GrantSource[] = [];

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

  /** Also accept the tokens of `source` (read at every check, so new credentials work at once). */
  addSource(source: GrantSource): this {
    this.sources.push(source);
    return this;
  }

  /** Fixed tokens plus credentials right now. */
  get size(): number {
    let n = this.digests.length;
    for (const s of this.sources) for (const _ of s.grants()) n++;
    return n;
  }

  /** True when a source is attached (tokens may come later through the admin API). */
  get hasSources(): boolean {
    return this.sources.length > 0;
  }

  accepts(token: string | undefined): boolean {
    return this.grantFor(token) !== undefined;
  }

  /** The grant of `token`, or undefined. Hashing first makes every comparison the same length. */
  grantFor(token: string | undefined): Grant | undefined {
    if (!token) return undefined;
    const d = digest(token);
    let found: Grant | undefined;
    for (const known of this.digests) if (timingSafeEqual(d, known) && !found) found = { acl: [] };
    for (const source of this.sources) {
      for (const { sha256, grant } of source.grants()) if (timingSafeEqual(d, sha256) && !found) found = grant;
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
