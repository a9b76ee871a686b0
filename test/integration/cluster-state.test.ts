// The admin state in Redis (edge/cluster/state.ts) with two in-process nodes on a real
// redis-server: any collection, including ones added to EdgeState later, is shared as it is.
import assert from 'node:assert/strict';
import { EdgeStore, emptyState } from '../../tunnel/src/edge/admin/store';
import { AdminApiError } from '../../tunnel/src/edge/admin/errors';
import { SharedCounter } from '../../tunnel/src/edge/cluster/counters';
import { RedisNode } from '../../tunnel/src/edge/cluster/redis';
import { ClusterSecret } from '../../tunnel/src/edge/cluster/secret';
import { RedisStateBacking, STATE_CHANNEL } from '../../tunnel/src/edge/cluster/state';
import { RedisProcess } from '../support/cluster';
import { delay, freePort } from '../support/tunnel';

describe('cluster admin state in Redis', function () {
  this.timeout(60_000);
  let redis: RedisProcess;
  const nodes: RedisNode[] = [];
  const secret = new ClusterSecret('state-test-secret-0123456789');

  async function node(name: string): Promise<EdgeStore> {
    const n = new RedisNode({ url: redis.url, secret, node: name, addr: '127.0.0.1:1' });
    nodes.push(n);
    await n.start([STATE_CHANNEL]);
    const backing = new RedisStateBacking(n, secret);
    return EdgeStore.backed(await backing.load(emptyState()), backing);
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await delay(20);
    assert.ok(check(), what);
  }

  before(async () => {
    redis = new RedisProcess(await freePort());
    await redis.start();
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    await redis?.stop();
  });

  it('shares every collection, also ones it has never heard of, and one cookie key', async () => {
    const a = await node('node_a');
    const b = await node('node_b');
    assert.equal(a.state.cookie_secret, b.state.cookie_secret, 'the first node seeds, the second adopts');
    let changes = 0;
    b.on('change', () => changes++);
    a.state.reserved_domains.push({ id: 'rd_1', domain: 'x.example.test' } as never);
    // A collection another engineer adds later (tls_certificates, reserved_addrs…): nothing to register.
    (a.state as unknown as Record<string, unknown>).future_collection = [{ id: 'fc_1' }];
    a.commit();
    await until(
      () => (b.state as unknown as Record<string, unknown[]>).future_collection?.length === 1,
      'the new collection did not reach the other node',
    );
    assert.equal(b.state.reserved_domains[0]?.id, 'rd_1');
    assert.ok(changes >= 1);
    const c = await node('node_c'); // a node started later loads it all
    assert.deepEqual((c.state as unknown as Record<string, unknown>).future_collection, [{ id: 'fc_1' }]);
  });

  it('shared counters: each node sees the cluster-wide count as soon as it counts', async () => {
    await node('node_f');
    await node('node_g');
    const [f, g] = nodes.slice(-2).map((n) => new SharedCounter(n, secret, 'auth-fail', 60_000));
    for (let i = 0; i < 3; i++) f.add('203.0.113.9');
    assert.equal(f.count('203.0.113.9'), 3);
    g.add('203.0.113.9');
    await until(() => g.count('203.0.113.9') === 4, 'the other node did not see the cluster-wide count');
    const stored = await nodes[nodes.length - 1].redis.keys('burrow:count:auth-fail:*');
    assert.equal(stored.length, 1);
    assert.ok(!stored[0].includes('203.0.113.9'), 'a client address reached Redis');
    g.reset('203.0.113.9');
    assert.equal(g.count('203.0.113.9'), 0);
  });

  it('refuses changes with a coded 503 while Redis is away, and resyncs when it is back', async () => {
    const a = await node('node_d');
    const b = await node('node_e');
    await redis.stop();
    await until(() => nodes.every((n) => !n.available), 'redis still looks available');
    a.state.ip_policies.push({ id: 'ipp_1' } as never);
    assert.throws(
      () => a.commit(),
      (err: AdminApiError) => err.status === 503 && err.code === 'ERR_BURROW_CLUSTER_UNAVAILABLE',
    );
    a.state.ip_policies.pop();
    await redis.start(); // empty: the nodes write back what it lost
    await until(() => nodes.every((n) => n.available), 'nodes did not reconnect');
    await delay(200);
    a.state.credentials.push({ id: 'cr_1' } as never);
    a.commit();
    await until(() => b.state.credentials.some((c) => c.id === 'cr_1'), 'change after the restart not shared');
    assert.ok(
      b.state.reserved_domains.some((d) => d.id === 'rd_1'),
      'state from before the restart lost',
    );
  });
});
