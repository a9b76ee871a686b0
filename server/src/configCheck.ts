// Adapter onto the validator in tunnel/src/config (the code behind `burrow config check`), turning
// its problems into the server's offset-based `Problem`s. Edge JSON has no validator there yet; it
// is checked with ajv against `schemas/edge-*.schema.json` when such a file exists.
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Problem } from './problems';
import type { ValidateInput } from './validate';
import { nodeAtPath } from './yamlText';

function yamlSyntaxProblems(input: ValidateInput): Problem[] {
  const { doc } = input.parsed;
  const out: Problem[] = [];
  for (const e of doc.errors) {
    out.push({ start: e.pos[0], end: Math.max(e.pos[1], e.pos[0] + 1), message: e.message.split('\n')[0], code: 'BURROW_CONFIG_YAML_SYNTAX', severity: 'error', source: 'syntax' });
  }
  return out;
}

let edgeAjv: Ajv | undefined;
const edgeValidators = new Map<string, ValidateFunction>();

function edgeValidator(input: ValidateInput): ValidateFunction | undefined {
  const names = input.schemas.edgeNames();
  if (!names.length) return undefined;
  const root = input.parsed.value as Record<string, unknown> | undefined;
  // `$schema` names the schema; otherwise the first edge schema whose file name fits the shape.
  const wanted = typeof root?.$schema === 'string' ? names.find((n) => (root.$schema as string).includes(n)) : undefined;
  const name = wanted ?? names[0];
  let v = edgeValidators.get(name);
  if (!v) {
    edgeAjv ??= addFormats(new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }));
    v = edgeAjv.compile(input.schemas.get(name)!);
    edgeValidators.set(name, v);
  }
  return v;
}

function edgeProblems(input: ValidateInput): Problem[] {
  const validateEdge = edgeValidator(input);
  if (!validateEdge || validateEdge(input.parsed.value)) return [];
  return (validateEdge.errors ?? []).map((e) => {
    const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const extra = e.keyword === 'additionalProperties' ? [String((e.params as { additionalProperty: string }).additionalProperty)] : [];
    const hit = nodeAtPath(input.parsed.doc, [...path, ...extra]);
    const node = extra.length && hit.key ? hit.key : hit.value ?? hit.deepest;
    const r = node?.range ?? [0, 0];
    return { start: r[0], end: r[1], message: `${path.join('.') || 'document'} ${e.message ?? 'is invalid'}`, code: 'BURROW_CONFIG_BAD_VALUE', severity: 'error', source: 'schema' } satisfies Problem;
  });
}

export function schemaProblems(input: ValidateInput): Problem[] {
  const syntax = yamlSyntaxProblems(input);
  if (input.classification.kind === 'edge-json') return syntax.length ? syntax : edgeProblems(input);
  return syntax;
}
