// The cluster secret's HMAC checks: what a node accepts from Redis and from other nodes.
import assert from 'node:assert/strict';
import { ClusterSecret } from '../../tunnel/src/edge/cluster/secret';

describe('cluster secret', () => {
  const secret = new ClusterSecret('0123456789abcdef-cluster');
  const other = new ClusterSecret('another-secret-entirely');

  it('signs and verifies values; another secret or another payload fails', () => {
    const sig = secret.sign('burrow:claim:http:a.localhost|owner|s|node|addr');
    assert.ok(secret.verify('burrow:claim:http:a.localhost|owner|s|node|addr', sig));
    assert.ok(!secret.verify('burrow:claim:http:b.localhost|owner|s|node|addr', sig));
    assert.ok(!other.verify('burrow:claim:http:a.localhost|owner|s|node|addr', sig));
    assert.ok(!secret.verify('x', 'not-hex'));
    assert.ok(!secret.verify('x', ''));
  });

  it('peer tokens: fresh ones pass, stale, foreign or tampered ones do not', () => {
    const now = Date.now();
    assert.ok(secret.checkPeerToken(secret.peerToken(now), now));
    assert.ok(secret.checkPeerToken(secret.peerToken(now - 30_000), now));
    assert.ok(!secret.checkPeerToken(secret.peerToken(now - 120_000), now));
    assert.ok(!secret.checkPeerToken(other.peerToken(now), now));
    const [ts, nonce, sig] = secret.peerToken(now).split('.');
    assert.ok(!secret.checkPeerToken(`${Number(ts) + 1}.${nonce}.${sig}`, now));
    assert.ok(!secret.checkPeerToken(undefined, now));
    assert.ok(!secret.checkPeerToken('a.b.c', now));
  });
});
