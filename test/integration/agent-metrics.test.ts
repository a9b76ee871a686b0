// The agent API's tunnel metrics (tunnel/src/agent/api/agent-backend.ts) are counters changed in
// place per request and computed when read: nothing is built per request when nobody subscribed,
// and a subscriber (the API's event stream, which coalesces per flush) gets one event object per
// tunnel whose `metrics` are the live counters whenever it reads them.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from '../../tunnel/src/agent/agent';
import { AgentApiBackend } from '../../tunnel/src/agent/api/agent-backend';
import type { TunnelEvent } from '../../tunnel/src/agent/api/backend';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { Resources, waitFor } from '../support/tunnel';

describe('agent API metrics: counted in place, published on read or to subscribers', function () {
  this.timeout(30_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('counts requests without subscribers; a subscriber gets one live event object per tunnel', async () => {
    const upstream = res.server(http.createServer((_req, rsp) => rsp.end('ok')));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const capture = CaptureStore.fromInspectDbSize(0);
    const agent = res.agent(new Agent({ embedded: { port: 0 }, capture }));
    const backend = new AgentApiBackend(agent, capture);
    await agent.start();
    const t = await agent.startTunnel({
      name: 'web',
      proto: 'http',
      upstream: String((upstream.address() as AddressInfo).port),
      inspect: false,
    });
    const url = new URL(t.urls[0]);
    const get = () =>
      new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: url.port, headers: { host: url.host }, agent: false }, (rsp) => {
            rsp.resume();
            rsp.on('end', resolve);
          })
          .on('error', reject);
      });
    const httpCount = () => backend.tunnels().find((x) => x.name === 'web')!.metrics.http.count;

    for (let i = 0; i < 3; i++) await get();
    await waitFor(() => httpCount() === 3, 5_000, 'three requests counted (read from the API)');

    const events: TunnelEvent[] = [];
    backend.on('tunnel', (e) => events.push(e));
    for (let i = 0; i < 2; i++) await get();
    await waitFor(() => httpCount() === 5, 5_000, 'five requests counted');
    const metricEvents = events.filter((e) => e.type === 'tunnel_metrics');
    assert.ok(metricEvents.length >= 2, 'a subscriber hears of each change');
    assert.ok(
      metricEvents.every((e) => e === metricEvents[0]),
      'one event object per tunnel, not one per request',
    );
    const first = metricEvents[0] as TunnelEvent & { type: 'tunnel_metrics' };
    assert.equal(first.name, 'web');
    assert.equal(first.metrics.http.count, 5, 'its metrics are the live counters when read');
    assert.equal(first.metrics.conns.count, 5);
    assert.equal(first.metrics.conns.gauge, 0, 'no connection open now');
  });
});
