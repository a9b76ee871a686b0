// Adapter onto the validator in tunnel/src/config — `validateDocument`, the same code behind
// `burrow config check` — turning its 1-based line/column problems into the server's offset-based
// `Problem`s, with the validator's structured fix data for quick fixes.
// Edge JSON has no validator there yet; it is checked with ajv against `schemas/edge-*.schema.json`
// only when such a file exists.
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { describePath, validateDocument, type ConfigProblem } from '../../tunnel/src/config';
import type { Problem } from './problems';
import type { Classification } from './classify';
import type { SchemaStore } from './schemaModel';
import type { ParsedText } from './yamlText';
import { findNodeAtPath, parseInstancePath } from '../../tunnel/src/config/yaml-nodes';
import { valueAtPath as valueAt } from './yamlText';

const SYNTAX_CODES = new Set(['BURROW_CONFIG_YAML_SYNTAX', 'BURROW_CONFIG_TAB_INDENT', 'BURROW_CONFIG_DUPLICATE_KEY']);

/** Offsets where each line starts. */
export function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function offsetOf(text: string, starts: readonly number[], line: number, col: number): number {
  const lineStart = starts[Math.min(Math.max(line - 1, 0), starts.length - 1)] ?? 0;
  return Math.min(lineStart + Math.max(col - 1, 0), text.length);
}

/** The validator's 1-based line/column problems as offset-based `Problem`s of `text`. */
export function fromConfigProblems(text: string, starts: readonly number[], problems: ConfigProblem[]): Problem[] {
  return problems.map((p) => {
    const start = offsetOf(text, starts, p.line, p.col);
    let end = Math.max(offsetOf(text, starts, p.endLine, p.endCol), start);
    while (end > start && /\s/.test(text[end - 1])) end--; // a block collection's range ends after its newline
    return {
      start,
      end,
      message: p.message,
      code: p.code,
      severity: p.severity,
      source: SYNTAX_CODES.has(p.code) ? 'syntax' : 'schema',
      ...(p.code === 'BURROW_CONFIG_DEPRECATED' ? { tags: ['deprecated' as const] } : {}),
      ...(p.code === 'BURROW_CONFIG_UNREACHABLE' ? { tags: ['unnecessary' as const] } : {}),
      ...(p.fix ? { data: p.fix } : {}),
    } satisfies Problem;
  });
}

export interface ValidateInput {
  uri: string;
  parsed: ParsedText;
  classification: Classification;
  schemas: SchemaStore;
}

let edgeAjv: Ajv | undefined;
const edgeValidators = new Map<string, ValidateFunction>();

function edgeValidator(input: ValidateInput): ValidateFunction | undefined {
  const names = input.schemas.edgeNames();
  if (!names.length) return undefined;
  const root = input.parsed.value as Record<string, unknown> | undefined;
  // `$schema` names the schema; otherwise the first edge schema.
  const wanted =
    typeof root?.$schema === 'string' ? names.find((n) => (root.$schema as string).includes(n)) : undefined;
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
  const { doc } = input.parsed;
  if (doc.errors.length) {
    return doc.errors.map((e) => ({
      start: e.pos[0],
      end: Math.max(e.pos[1], e.pos[0] + 1),
      message: e.message.split('\n')[0],
      code: 'BURROW_CONFIG_YAML_SYNTAX',
      severity: 'error',
      source: 'syntax',
    }));
  }
  const validateEdge = edgeValidator(input);
  if (!validateEdge || validateEdge(input.parsed.value)) return [];
  // `if` errors only say "must match then/else": the branch's own errors are reported anyway.
  return (validateEdge.errors ?? [])
    .filter((e) => e.keyword !== 'if')
    .map((e) => {
      const path = parseInstancePath(e.instancePath);
      const extra =
        e.keyword === 'additionalProperties'
          ? [String((e.params as { additionalProperty: string }).additionalProperty)]
          : [];
      const hit = findNodeAtPath(doc, [...path, ...extra]);
      const node = extra.length && hit.key ? hit.key : (hit.value ?? hit.deepest);
      const r = node?.range ?? [0, 0];
      const where = `\`${describePath(path)}\``;
      const message =
        e.keyword === 'enum'
          ? `${where} must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(valueAt(input.parsed.value, path))}`
          : e.keyword === 'additionalProperties'
            ? `unknown key \`${extra[0]}\` in ${where}`
            : e.keyword === 'required'
              ? `missing required key \`${(e.params as { missingProperty: string }).missingProperty}\` in ${where}`
              : `${where} ${e.message ?? 'is invalid'}`;
      const code =
        e.keyword === 'additionalProperties'
          ? 'BURROW_CONFIG_UNKNOWN_KEY'
          : e.keyword === 'required'
            ? 'BURROW_CONFIG_MISSING_KEY'
            : e.keyword === 'type'
              ? 'BURROW_CONFIG_WRONG_TYPE'
              : 'BURROW_CONFIG_BAD_VALUE';
      return { start: r[0], end: r[1], message, code, severity: 'error', source: 'schema' } satisfies Problem;
    });
}

export function schemaProblems(input: ValidateInput): Problem[] {
  const { classification, parsed, uri } = input;
  if (classification.kind === 'edge-json') return edgeProblems(input);
  if (classification.kind === 'none') return [];
  const fileName = decodeURIComponent(uri.replace(/^file:\/\//, ''));
  const result = validateDocument(parsed.text, fileName, {
    kind: classification.kind === 'traffic-policy' ? 'traffic-policy' : 'agent',
  });
  return fromConfigProblems(parsed.text, parsed.lineCounter.lineStarts, result.problems);
}
