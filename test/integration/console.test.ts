// The foreground console's status block, fed by a real agent and the metrics the local API keeps.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from '../../tunnel/src/agent/agent';
import { AgentApiBackend } from '../../tunnel/src/agent/api/agent-backend';
import { CaptureStore } from '../../tunnel/src/capture/store';
import { consoleRates, renderStatus } from '../../tunnel/src/cli/console';

describe('CLI console', () => {
  it('shows the forwarding line and live connection counts, rates and latencies', async () => {
    const upstream = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 5));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const capture = CaptureStore.fromInspectDbSize(0);
    const agent = new Agent({ embedded: { port: 0 }, capture });
    const backend = new AgentApiBackend(agent, capture);
    try {
      await agent.start();
      const t = await agent.startTunnel({
        name: 'web',
        proto: 'http',
        upstream: String((upstream.address() as AddressInfo).port),
        inspect: true,
      });
      const url = new URL(t.urls[0]);
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: url.port, headers: { host: url.host }, agent: false }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
      }
      // The exchange is counted when its stream closes, just after the response ends.
      const deadline = Date.now() + 5000;
      while (agent.tunnel('web')!.conns.count < 3 || consoleRates(backend).get('web')!.p50 === 0) {
        if (Date.now() > deadline) throw new Error('metrics never arrived');
        await new Promise((r) => setTimeout(r, 20));
      }
      const text = renderStatus(agent, { edge: 'embedded' }, consoleRates(backend));
      assert.match(text, /^Session Status\s+online$/m);
      assert.match(text, new RegExp(`^Forwarding\\s+${t.urls[0]} -> ${t.upstreamUrl}$`, 'm'));
      const row = text.split('\n').at(-1)!.trim().split(/\s+/).map(Number);
      assert.equal(row[0], 3, 'ttl');
      assert.equal(row[1], 0, 'opn');
      assert.ok(row[3] >= 0.005 && row[3] < 5, `p50 in seconds covers the upstream's 5 ms delay: ${row[3]}`);
      assert.doesNotMatch(
        renderStatus(agent, { edge: 'embedded' }),
        /Connections/,
        'the static block has no live rows',
      );
    } finally {
      await agent.close();
      upstream.close();
    }
  });
});
