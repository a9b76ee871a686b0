// The JSON Schemas are the single source of truth: they compile under strict ajv, document every
// key for editor hovers, forbid unknown keys everywhere, and agree with the TypeScript types.
import assert from 'node:assert/strict';
import { getAjv, rootSchema, schemaAtPath, type JsonSchema, type SchemaKind } from '../../tunnel/src/config';
import * as types from '../../tunnel/src/config/types';

type Visit = (schema: JsonSchema, where: string) => void;
function walk(node: unknown, where: string, visit: Visit): void {
  if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}/${i}`, visit));
  if (typeof node !== 'object' || node === null) return;
  visit(node as JsonSchema, where);
  for (const [k, v] of Object.entries(node))
    if (k !== 'enum' && k !== 'const' && k !== 'default') walk(v, `${where}/${k}`, visit);
}
const KINDS: SchemaKind[] = ['v2', 'v3', 'traffic-policy'];
const props = (s: JsonSchema) => Object.keys((s.properties ?? {}) as object).sort();

describe('schemas/', () => {
  it('compile in one strict ajv instance with cross-file $refs', () => {
    const ajv = getAjv();
    for (const kind of KINDS) assert.equal(typeof ajv.getSchema(rootSchema(kind).$id as string), 'function');
  });

  it('describe every property (markdownDescription) and name the replacement of every deprecated key', () => {
    for (const kind of KINDS) {
      walk(rootSchema(kind), kind, (s, where) => {
        if (/\/(if|then)(\/|$)/.test(where)) return;
        for (const [key, p] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) {
          assert.equal(typeof p.markdownDescription, 'string', `${where}/properties/${key} has no markdownDescription`);
          if (p.deprecated)
            assert.equal(
              typeof p.deprecationMessage,
              'string',
              `${where}/properties/${key} is deprecated without a deprecationMessage`,
            );
        }
      });
    }
  });

  it('forbid unknown keys on every object that lists its properties', () => {
    for (const kind of KINDS) {
      walk(rootSchema(kind), kind, (s, where) => {
        if (s.properties && !/\/(if|then)(\/|$)/.test(where))
          assert.equal(s.additionalProperties, false, `${where} allows unknown keys`);
      });
    }
  });

  it('agree with the TypeScript types in tunnel/src/config/types.ts', () => {
    const v2 = rootSchema('v2');
    const v3 = rootSchema('v3');
    const branches = (v2.definitions as Record<string, JsonSchema>).tunnel.oneOf as JsonSchema[];
    const byTitle = (t: string) => branches.find((b) => b.title === t)!;
    const v3Props = v3.properties as Record<string, JsonSchema>;
    const pairs: [string, string[], JsonSchema][] = [
      ['ConfigV2', types.CONFIG_V2_KEYS, v2],
      ['ConfigV3', types.CONFIG_V3_KEYS, v3],
      ['AgentV3', types.AGENT_V3_KEYS, v3Props.agent],
      ['EndpointV3', types.ENDPOINT_V3_KEYS, (v3.definitions as Record<string, JsonSchema>).endpoint],
      ['HttpTunnelV2', types.HTTP_TUNNEL_KEYS, byTitle('HTTPv2Tunnel')],
      ['TcpTunnelV2', types.TCP_TUNNEL_KEYS, byTitle('TCPv2Tunnel')],
      ['TlsTunnelV2', types.TLS_TUNNEL_KEYS, byTitle('TLSv2Tunnel')],
      ['LabeledTunnelV2', types.LABELED_TUNNEL_KEYS, byTitle('LabeledTunnel')],
    ];
    for (const [name, keys, schema] of pairs)
      assert.deepEqual([...keys].sort(), props(schema), `${name} keys differ from the schema`);
  });

  it('give each action type its own config shape, and tunnels their own keys per proto', () => {
    const policy = { on_http_request: [{ actions: [{ type: 'oauth', config: { provider: 'github' } }] }] };
    const config = schemaAtPath('traffic-policy', policy, ['on_http_request', 0, 'actions', 0, 'config']);
    assert.ok(config && props(config).includes('provider') && props(config).includes('idle_session_timeout'));
    const tcp = schemaAtPath('v2', { version: '2', tunnels: { t: { proto: 'tcp', addr: 1 } } }, ['tunnels', 't']);
    assert.ok(tcp && props(tcp).includes('remote_addr') && !props(tcp).includes('host_header'));
    const ep = schemaAtPath('v3', { version: '3', tunnels: { t: { proto: 'http', addr: 1 } } }, [
      'tunnels',
      't',
      'hostname',
    ]);
    assert.equal(ep?.deprecated, true);
  });
});
