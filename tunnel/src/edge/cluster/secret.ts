// The cluster secret (BURROW_CLUSTER_SECRET): every value a node reads from Redis and every
// node-to-node connection is checked against an HMAC under it, so a Redis that others can write
// to, or a stranger dialling the node address, cannot route visitors or change admin state.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Header a node sends when it opens a peer link: `<unix ms>.<nonce>.<hmac>`. */
export const PEER_AUTH_HEADER = 'x-burrow-cluster-auth';
/** How far a peer's clock and the handshake may drift before a token is refused. */
const TOKEN_MAX_AGE_MS = 60_000;

export class ClusterSecret {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(secret, 'utf8');
  }

  sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('hex');
  }

  verify(payload: string, signature: string): boolean {
    const want = Buffer.from(this.sign(payload), 'hex');
    const got = Buffer.from(signature, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /** A fresh token for one peer handshake. */
  peerToken(now = Date.now()): string {
    const head = `${now}.${randomBytes(12).toString('hex')}`;
    return `${head}.${this.sign(`peer|${head}`)}`;
  }

  checkPeerToken(token: string | undefined, now = Date.now()): boolean {
    const parts = (token ?? '').split('.');
    if (parts.length !== 3) return false;
    const [ts, nonce, sig] = parts;
    if (!/^\d{13}$/.test(ts) || !/^[0-9a-f]{24}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) return false;
    if (Math.abs(now - Number(ts)) > TOKEN_MAX_AGE_MS) return false;
    return this.verify(`peer|${ts}.${nonce}`, sig);
  }
}
