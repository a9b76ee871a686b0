// The edge's head rewriting (tunnel/src/edge/http-proxy.ts) in one pass that lower-cases only the
// names it may have to look up: checked against the plain reading of the rules (every name
// lower-cased, one filter after the other, as the code was before) on random heads full of
// hop-by-hop fields in random case, Connection-named fields, pseudo-headers, forwarding headers
// and forged error codes; and the raw header lookups (net/raw-headers.ts) against a plain scan.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientResponseHeaders, forwardingHeaders, markBodyFraming } from '../../tunnel/src/edge/http-proxy';
import { rawHeader, rawHeaderValues } from '../../tunnel/src/net/raw-headers';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
];

/** The rules read plainly: drop pseudo-headers, hop-by-hop and Connection-named fields. */
function reference(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i].toLowerCase() === 'connection') for (const t of raw[i + 1].split(',')) named.add(t.trim().toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower.startsWith(':') || HOP_BY_HOP.includes(lower) || named.has(lower)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function referenceForwarding(raw: string[], host: string, clientIp: string, upgrade?: string): string[] {
  const kept = reference(raw);
  const out: string[] = [];
  // Repeated values are joined; an empty one adds nothing.
  let xff = '';
  let xfp = '';
  for (let i = 0; i < kept.length; i += 2) {
    const lower = kept[i].toLowerCase();
    if (lower === 'x-forwarded-for') xff = xff ? `${xff}, ${kept[i + 1]}` : kept[i + 1];
    else if (lower === 'x-forwarded-proto') xfp = xfp ? `${xfp}, ${kept[i + 1]}` : kept[i + 1];
    else out.push(kept[i], kept[i + 1]);
  }
  const has = (n: string) => out.some((v, i) => i % 2 === 0 && v.toLowerCase() === n);
  if (!has('host') && host) out.unshift('Host', host);
  out.push('X-Forwarded-For', xff ? `${xff}, ${clientIp}` : clientIp);
  out.push('X-Forwarded-Proto', xfp ? `${xfp}, http` : 'http');
  if (!has('x-forwarded-host') && host) out.push('X-Forwarded-Host', host);
  if (upgrade !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);
  return out;
}

const randomCase = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
const names = fc.oneof(
  fc.constantFrom(...HOP_BY_HOP).chain(randomCase),
  fc
    .constantFrom(
      'host',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
      'ngrok-error-code',
      'content-length',
      'x-secret',
      'cookie',
      'close',
    )
    .chain(randomCase),
  fc.constantFrom(':path', ':authority', 'X-A', 'Accept', 'User-Agent'),
);
const values = fc.oneof(
  fc.constantFrom('keep-alive', 'close', 'X-Secret, keep-alive', ' cookie ,upgrade', 'x-a', 'a, b', ''),
  fc.stringMatching(/^[ -~]{0,12}$/),
);
const heads = fc.array(fc.tuple(names, values), { maxLength: 10 }).map((pairs) => pairs.flat());

describe('edge head rewriting: one pass, same result as the plain rules', () => {
  it('forwardingHeaders (with and without an upgrade) and clientResponseHeaders', () => {
    fc.assert(
      fc.property(heads, fc.constantFrom('example.test', ''), fc.option(fc.constant('websocket')), (raw, host, up) => {
        const upgrade = up ?? undefined;
        assert.deepEqual(
          forwardingHeaders(raw, host, 'http', '10.0.0.1', upgrade),
          referenceForwarding(raw, host, '10.0.0.1', upgrade),
        );
        assert.deepEqual(
          clientResponseHeaders(raw),
          reference(raw).filter((_, i, a) => a[i - (i % 2)].toLowerCase() !== 'ngrok-error-code'),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('markBodyFraming adds chunked framing only to a body without Content-Length', () => {
    const a = ['Host', 'x'];
    markBodyFraming(a, true);
    assert.deepEqual(a, ['Host', 'x', 'Transfer-Encoding', 'chunked']);
    const b = ['CONTENT-LENGTH', '3'];
    markBodyFraming(b, true);
    assert.deepEqual(b, ['CONTENT-LENGTH', '3']);
    const c = ['Host', 'x'];
    markBodyFraming(c, false);
    assert.deepEqual(c, ['Host', 'x']);
  });

  it('rawHeaderValues and rawHeader find every value of a name in any case', () => {
    fc.assert(
      fc.property(heads, names, (raw, name) => {
        const plain = raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === name.toLowerCase());
        assert.deepEqual(rawHeaderValues(raw, name), plain);
        assert.equal(rawHeader(raw, name), plain[0]);
      }),
      { numRuns: 1000 },
    );
  });
});
