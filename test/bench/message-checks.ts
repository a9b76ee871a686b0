// Cost of checking wire messages against their types (tunnel/src/protocol/messages.ts), beside
// the JSON.parse every message already pays: per HTTP request the agent checks one Open and the
// edge one response head; binds are rare. Run: npx tsx test/bench/message-checks.ts
import type { Shape } from '../../tunnel/src/protocol/shape';
import { controlMessage, httpResponseHead, streamOpen } from '../../tunnel/src/protocol/messages';

const rawHeaders: string[] = [];
for (let i = 0; i < 20; i++) rawHeaders.push(`X-Header-${i}`, `value-${i}`);
const cases: [string, Shape<unknown>, unknown][] = [
  [
    'Open (http, 20 headers)',
    streamOpen,
    {
      kind: 'http',
      binding: 'ep_1',
      remoteAddr: '1.2.3.4',
      scheme: 'https',
      method: 'GET',
      url: '/x',
      httpVersion: '1.1',
      rawHeaders,
    },
  ],
  [
    'Meta (response head, 20 headers)',
    httpResponseHead,
    { kind: 'http-response', statusCode: 200, statusMessage: 'OK', rawHeaders },
  ],
  [
    'bind (two modules)',
    controlMessage,
    {
      type: 'bind',
      reqId: 1,
      name: 'web',
      proto: 'http',
      edge: { basicAuth: { credentials: ['a:password1'] }, ipRestriction: { allowCidrs: ['10.0.0.0/8'] } },
    },
  ],
];
const N = 200_000;
const perCall = (fn: () => void): number => {
  for (let i = 0; i < 10_000; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - start) / N;
};
for (const [name, check, value] of cases) {
  const text = JSON.stringify(value);
  const checkNs = perCall(() => check(value, 'x'));
  const parseNs = perCall(() => JSON.parse(text));
  console.log(
    `${name}: check ${checkNs.toFixed(0)} ns, JSON.parse ${parseNs.toFixed(0)} ns, check/parse ${(checkNs / parseNs).toFixed(2)}`,
  );
}
