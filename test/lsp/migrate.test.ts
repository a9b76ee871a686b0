// v2 → v3 migration over the real-world corpus: every valid v2 file migrates to a v3 file that
// validates (tunnel/src/config, same as `burrow config check`) and normalizes to the very same
// EndpointSpec list as the original.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { endpointsFrom, unify, validateDocument, type ConfigProblem } from '../../tunnel/src/config';
import type { ConfigV2, ConfigV3 } from '../../tunnel/src/config/types';
import type { EndpointSpec } from '../../tunnel/src/model';
import { migrateToV3 } from '../../server/src/migrate';
import { parseText } from '../../server/src/yamlText';
import { CORPUS } from './harness';

/**
 * An EndpointSpec with its edge modules as a sorted list of Traffic Policy actions: a v2 module key
 * (`basic_auth` → edge.basicAuth) and the action the migration writes (`basic-auth` in
 * `traffic_policy`) are the same thing to the edge. Everything else is compared as it is.
 */
function comparable(spec: EndpointSpec): { name: string } & Record<string, unknown> {
  const { edge, ...rest } = spec;
  if (!edge) return rest;
  const { basicAuth, ipRestriction, webhookVerification, circuitBreaker, compression, trafficPolicy, ...otherEdge } =
    edge;
  const actions: unknown[] = [];
  if (basicAuth) actions.push({ type: 'basic-auth', config: { credentials: basicAuth.credentials } });
  if (ipRestriction)
    actions.push({
      type: 'restrict-ips',
      config: {
        ...(ipRestriction.allowCidrs ? { allow: ipRestriction.allowCidrs } : {}),
        ...(ipRestriction.denyCidrs ? { deny: ipRestriction.denyCidrs } : {}),
      },
    });
  if (webhookVerification)
    actions.push({
      type: 'verify-webhook',
      config: {
        provider: webhookVerification.provider,
        ...(webhookVerification.secret ? { secret: webhookVerification.secret } : {}),
      },
    });
  if (circuitBreaker)
    actions.push({ type: 'circuit-breaker', config: { error_threshold: circuitBreaker.errorThreshold } });
  if (compression) actions.push({ type: 'compress-response' });
  const policy = (trafficPolicy ?? {}) as Record<
    string,
    { expressions?: unknown[]; actions?: unknown[] }[] | undefined
  >;
  const rules = Object.entries(policy).flatMap(([phase, list]) => (list ?? []).map((r) => ({ phase, ...r })));
  const plainRules = rules.filter(
    (r) => !r.expressions?.length && r.phase === 'on_http_request' && r.actions?.length === 1,
  );
  for (const r of plainRules) actions.push(r.actions![0]);
  const otherRules = rules.filter((r) => !plainRules.includes(r));
  const key = (a: unknown) => JSON.stringify(a);
  return { ...rest, edge: otherEdge, modules: actions.map(key).sort(), rules: otherRules.map(key) };
}

const errorsOf = (problems: ConfigProblem[]) =>
  problems.filter((p) => p.severity === 'error' && p.code !== 'BURROW_CONFIG_UNSUPPORTED');

describe('v2 → v3 migration over the corpus', () => {
  const candidates = readdirSync(CORPUS)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('policy-'))
    .map((f) => ({ file: f, text: readFileSync(path.join(CORPUS, f), 'utf8') }))
    .map((c) => ({ ...c, before: validateDocument(c.text, c.file, { kind: 'agent' }) }))
    // Valid v2 files: ngrok accepts them (module refusals aside) and they declare version 2.
    .filter(
      (c) => c.before.kind === 'v2' && errorsOf(c.before.problems).length === 0 && c.before.data?.version !== undefined,
    );

  it('covers a real share of the corpus', () => {
    assert.ok(candidates.length >= 40, `only ${candidates.length} valid v2 files`);
  });

  it('turns module keys into the equivalent policy actions (same modules at the edge)', () => {
    const text = [
      'version: "2"',
      'tunnels:',
      '  shop:',
      '    proto: http',
      '    addr: 8080',
      '    domain: shop.example.com',
      '    basic_auth: ["alice:correct-horse"]',
      '    ip_restriction:',
      '      allow_cidrs: [10.0.0.0/8]',
      '      deny_cidrs: [10.1.0.0/16]',
      '    verify_webhook:',
      '      provider: github',
      '      secret: s3cret',
      '    circuit_breaker: 0.5',
      '    compression: true',
      '  sso:',
      '    proto: http',
      '    addr: 8081',
      '    oauth:',
      '      provider: google',
      '      client_id: id.apps.example.com',
      '      client_secret: s3cret',
      '',
    ].join('\n');
    const before = validateDocument(text, 'modules.yml', { kind: 'agent' });
    assert.deepEqual(errorsOf(before.problems), []);
    const result = migrateToV3(parseText(text));
    const after = validateDocument(result.text!, 'modules.yml', { kind: 'agent' });
    assert.deepEqual(errorsOf(after.problems), [], result.text);
    assert.match(result.text!, /- name: shop\n {4}url: shop\.example\.com\n/);
    assert.match(result.text!, /type: basic-auth/);
    assert.match(
      result.text!,
      /# kept as a legacy tunnel: OAuth\/OIDC are not available as Traffic Policy actions in Burrow yet\n {2}sso:/,
    );
    const specs = (data: unknown) =>
      endpointsFrom(unify(data as ConfigV2 | ConfigV3))
        .map(comparable)
        .sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(specs(after.data), specs(before.data));
    const shop = specs(after.data).find((s) => s.name === 'shop')!;
    assert.equal((shop.modules as string[]).length, 5, 'all five modules carried over');
  });

  for (const c of candidates) {
    it(c.file, () => {
      const result = migrateToV3(parseText(c.text));
      assert.ok(result.text !== undefined, result.reason);
      const after = validateDocument(result.text, c.file, { kind: 'agent' });
      assert.equal(after.kind, 'v3');
      assert.deepEqual(
        errorsOf(after.problems).map((p) => `${p.line}:${p.col} ${p.message}`),
        [],
        result.text,
      );
      // Refusals stay refusals (a module moved into a policy is still refused, never dropped).
      assert.equal(
        after.problems.some((p) => p.code === 'BURROW_CONFIG_UNSUPPORTED'),
        c.before.problems.some((p) => p.code === 'BURROW_CONFIG_UNSUPPORTED'),
      );
      const specsBefore = endpointsFrom(unify(c.before.data as unknown as ConfigV2)).map(comparable);
      const specsAfter = endpointsFrom(unify(after.data as unknown as ConfigV3)).map(comparable);
      const byName = (s: { name: string }[]) => [...s].sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(byName(specsAfter), byName(specsBefore), result.text);
      // Comments survive.
      const comments = (t: string) => t.split('\n').filter((l) => /^\s*#/.test(l)).length;
      assert.ok(comments(result.text) >= comments(c.text), 'no comment line is lost');
    });
  }
});
