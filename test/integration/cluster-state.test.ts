// The admin state in Redis (edge/cluster/state.ts) with two in-process nodes on a real
// redis-server: any collection, including ones added to EdgeState later, is shared as it is.
import assert from 'node:assert/strict';
import { EdgeStore, emptyState } from '../../tunnel/src/edge/admin/store';
import { AdminApiError } from '../../tunnel/src/edge/admin/errors';
import { SharedRateWindows } from '../../tunnel/src/edge/cluster/counters';
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

  it('rate windows: nodes admitting at once never let more than the capacity through', async () => {
    await node('node_f');
    await node('node_g');
    let clock = 60_000 * 1000 + 10; // just after a window starts
    const [f, g] = nodes.slice(-2).map((n) => new SharedRateWindows(n, secret, () => clock));
    const bucket = 'route:rt_1|rule|203.0.113.9';
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? f : g).take(bucket, 5, 60_000)!));
    assert.equal(answers.filter((a) => a.ok).length, 5);
    assert.ok(answers.filter((a) => !a.ok).every((a) => a.retryAfterS === 60));
    const stored = await nodes[nodes.length - 1].redis.keys('burrow:rate:*');
    assert.equal(stored.length, 1);
    assert.ok(!stored.some((k) => k.includes('203.0.113.9')), 'a client address reached Redis');
    // Half way into the next window half of the previous one still counts: 5 * 0.5 + 1 > 3.
    clock += 90_000;
    assert.equal((await f.take(bucket, 3, 60_000)!).ok, false);
    assert.equal((await g.take(bucket, 4, 60_000)!).ok, true);
    assert.equal((await f.take('another', 1, 60_000)!).ok, true, 'buckets are apart');
  });

  it('refuses changes with a coded 503 while Redis is away, and resyncs when it is back', async () => {
    const a = await node('node_d');
    const b = await node('node_e');
    await redis.stop();
    await until(() => nodes.every((n) => !n.available), 'redis still looks available');
    assert.equal(new SharedRateWindows(nodes[0], secret).take('b', 1, 1000), undefined, 'counts locally meanwhile');
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
