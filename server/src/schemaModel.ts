// Reading the JSON Schemas in `schemas/` for completion and hover: which sub-schemas apply to the
// value at a path, given the document as it is now. Validation itself is not done here (that is
// `tunnel/src/config`, shared with `burrow config check`); this only *navigates* the schemas,
// picking the `oneOf`/`anyOf` branch the document most likely means (a `proto: tcp` tunnel gets the
// tcp branch, so completion offers `remote_addr`, not `host_header`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { rootSchema } from '../../tunnel/src/config';
import { isPlainObject, type Segment, valueAtPath } from './yamlText';

export interface JsonSchemaObject {
  $id?: string;
  $ref?: string;
  $schema?: string;
  type?: string | string[];
  title?: string;
  description?: string;
  markdownDescription?: string;
  default?: unknown;
  examples?: unknown[];
  enum?: unknown[];
  const?: unknown;
  enumDescriptions?: string[];
  markdownEnumDescriptions?: string[];
  deprecated?: boolean;
  deprecationMessage?: string;
  doNotSuggest?: boolean;
  defaultSnippets?: {
    label?: string;
    description?: string;
    markdownDescription?: string;
    body?: unknown;
    bodyText?: string;
  }[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  not?: JsonSchema;
  if?: JsonSchema;
  then?: JsonSchema;
  else?: JsonSchema;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  [k: string]: unknown;
}
export type JsonSchema = boolean | JsonSchemaObject;

export type SchemaName = 'ngrok-v2' | 'ngrok-v3' | 'traffic-policy' | `edge-${string}`;

/** Where `schemas/` is: next to the bundle (`dist/../schemas`) or the source tree (`server/src/../../schemas`). */
export function findSchemasDir(): string | undefined {
  const candidates = [
    process.env.BURROW_SCHEMAS_DIR,
    path.resolve(__dirname, '../schemas'),
    path.resolve(__dirname, '../../schemas'),
    path.resolve(__dirname, '../../../schemas'),
  ];
  return candidates.find((d): d is string => !!d && existsSync(path.join(d, 'ngrok-v3.schema.json')));
}

/** The schema files, loaded once. Missing files are simply absent (edge schemas arrive later). */
export class SchemaStore {
  private readonly byName = new Map<string, JsonSchemaObject>();
  private readonly byId = new Map<string, JsonSchemaObject>();

  constructor(readonly dir: string | undefined = findSchemasDir()) {
    // The three config schemas come from tunnel/src/config (bundled, the very objects ajv validates
    // with); files on disk only add what it does not have: the edge schemas.
    this.add('ngrok-v2', rootSchema('v2') as JsonSchemaObject, 'ngrok-v2.schema.json');
    this.add('ngrok-v3', rootSchema('v3') as JsonSchemaObject, 'ngrok-v3.schema.json');
    this.add('traffic-policy', rootSchema('traffic-policy') as JsonSchemaObject, 'traffic-policy.schema.json');
    if (!dir || !existsSync(dir)) return;
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.schema.json') && !this.byId.has(f))
      .sort()) {
      try {
        const schema = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as JsonSchemaObject;
        this.add(file.replace(/\.schema\.json$/, ''), schema, file);
      } catch {
        // A schema that does not parse is reported by the schema tests; the server keeps going.
      }
    }
  }

  add(name: string, schema: JsonSchemaObject, file = `${name}.schema.json`): void {
    this.byName.set(name, schema);
    this.byId.set(file, schema);
    if (schema.$id) this.byId.set(schema.$id, schema);
  }

  get(name: SchemaName | string): JsonSchemaObject | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Edge schema names present (`edge-https`, …): edge JSON is validated only when one exists. */
  edgeNames(): string[] {
    return this.names().filter((n) => n.startsWith('edge-'));
  }

  /** Resolves `$ref` relative to `base` (a schema document): `#/$defs/x`, `other.schema.json#/…`, or an `$id`. */
  resolveRef(ref: string, base: JsonSchemaObject): { schema: JsonSchema; base: JsonSchemaObject } | undefined {
    const [file, pointer = ''] = ref.split('#');
    let doc: JsonSchemaObject | undefined = base;
    if (file) {
      doc =
        this.byId.get(file) ??
        this.byId.get(path.basename(file)) ??
        [...this.byId.entries()].find(([id]) => id.endsWith(`/${path.basename(file)}`))?.[1];
      if (!doc) return undefined;
    }
    let node: unknown = doc;
    for (const raw of pointer.split('/').filter(Boolean)) {
      const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
      node = (node as Record<string, unknown>)[seg];
    }
    if (node === undefined) return undefined;
    return { schema: node as JsonSchema, base: doc };
  }
}

/** A schema with the document it came from (needed to resolve its `$ref`s). */
export interface Located {
  schema: JsonSchemaObject;
  base: JsonSchemaObject;
}

function typesOf(s: JsonSchemaObject): string[] {
  return s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeOk(s: JsonSchemaObject, v: unknown): boolean {
  const t = typesOf(s);
  if (!t.length || v === undefined) return true;
  const vt = jsonType(v);
  return t.includes(vt) || (vt === 'integer' && t.includes('number'));
}

/**
 * A cheap "does this branch fit" score used to choose among `oneOf`/`anyOf` branches, in the order
 * the JSON and YAML language servers use: discriminator hits (const/enum of a present property)
 * first, then known properties present, minus properties the branch forbids. -Infinity = ruled out.
 */
export function branchScore(store: SchemaStore, loc: Located, value: unknown, depth = 0): number {
  const expanded = expand(store, loc, value, depth + 1);
  if (!expanded.length) return 0;
  let score = 0;
  for (const { schema: s } of expanded) {
    if (!typeOk(s, value)) return -Infinity;
    if (s.const !== undefined && value !== undefined) score += s.const === value ? 100 : -Infinity;
    if (s.enum && value !== undefined && !isPlainObject(value)) score += s.enum.includes(value) ? 50 : -1000;
    if (!isPlainObject(value)) continue;
    const props = s.properties ?? {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null) continue; // `key:` with no value yet: being typed, says nothing about the branch
      const ps = props[k];
      if (ps !== undefined) {
        score += 10;
        if (typeof ps === 'object' && (ps.const !== undefined || ps.enum || ps.$ref)) {
          const sub = branchScore(store, { schema: ps, base: loc.base }, v, depth + 1);
          if (sub === -Infinity) return -Infinity; // a discriminator mismatch (proto: tcp vs const http)
          score += Math.min(sub, 100);
        }
        if (ps === false) score -= 40;
      } else if (
        s.additionalProperties === false &&
        !Object.keys(s.patternProperties ?? {}).some((p) => new RegExp(p, 'u').test(k))
      ) {
        score -= 20;
      }
    }
    for (const r of s.required ?? []) if (!(r in value)) score -= 5;
  }
  return score;
}

function chooseBranches(
  store: SchemaStore,
  branches: JsonSchema[],
  base: JsonSchemaObject,
  value: unknown,
  depth: number,
): Located[] {
  const locs = branches.filter((b): b is JsonSchemaObject => typeof b === 'object').map((schema) => ({ schema, base }));
  if (value === undefined || depth > 12) return locs;
  const scored = locs.map((l) => ({ l, s: branchScore(store, l, value, depth) }));
  const best = Math.max(...scored.map((x) => x.s));
  if (best === -Infinity) return locs; // nothing fits: offer everything rather than nothing
  return scored.filter((x) => x.s === best).map((x) => x.l);
}

/** Flattens `$ref`, `allOf`, chosen `oneOf`/`anyOf` branches and `if/then/else` into plain schemas. */
export function expand(store: SchemaStore, loc: Located, value: unknown, depth = 0): Located[] {
  if (depth > 24) return [];
  const out: Located[] = [];
  const { schema, base } = loc;
  out.push(loc);
  if (schema.$ref) {
    const r = store.resolveRef(schema.$ref, base);
    if (r && typeof r.schema === 'object')
      out.push(...expand(store, { schema: r.schema, base: r.base }, value, depth + 1));
  }
  for (const s of schema.allOf ?? [])
    if (typeof s === 'object') out.push(...expand(store, { schema: s, base }, value, depth + 1));
  for (const key of ['oneOf', 'anyOf'] as const) {
    const branches = schema[key];
    if (branches)
      for (const b of chooseBranches(store, branches, base, value, depth))
        out.push(...expand(store, b, value, depth + 1));
  }
  if (schema.if && typeof schema.if === 'object') {
    const fits = value !== undefined && ifHolds(schema.if, value);
    const next = fits ? schema.then : schema.else;
    if (next && typeof next === 'object') out.push(...expand(store, { schema: next, base }, value, depth + 1));
  }
  return out;
}

/** Evaluates an `if` schema with the keywords such conditions use (no `$ref`s), without a validator. */
function ifHolds(cond: JsonSchemaObject, value: unknown): boolean {
  const holds = (b: JsonSchema) => (typeof b === 'boolean' ? b : ifHolds(b, value));
  if (!typeOk(cond, value)) return false;
  if (cond.required && !(isPlainObject(value) && cond.required.every((k) => k in value))) return false;
  if (cond.properties && isPlainObject(value)) {
    for (const [k, ps] of Object.entries(cond.properties)) {
      if (!(k in value) || typeof ps !== 'object') continue;
      if (ps.const !== undefined && ps.const !== value[k]) return false;
      if (ps.enum && !ps.enum.includes(value[k])) return false;
    }
  }
  if (cond.const !== undefined && cond.const !== value) return false;
  if (cond.enum && !cond.enum.includes(value)) return false;
  if (cond.anyOf && !cond.anyOf.some(holds)) return false;
  if (cond.oneOf && cond.oneOf.filter(holds).length !== 1) return false;
  if (cond.allOf && !cond.allOf.every(holds)) return false;
  if (cond.not !== undefined && holds(cond.not)) return false;
  return true;
}

/** The schemas that apply to the child `seg` of a value described by `parents`. */
export function childSchemas(store: SchemaStore, parents: Located[], seg: Segment, childValue: unknown): Located[] {
  const out: Located[] = [];
  for (const { schema: s, base } of parents) {
    if (typeof seg === 'number' || /^\d+$/.test(String(seg))) {
      const i = Number(seg);
      const tuple = s.prefixItems ?? (Array.isArray(s.items) ? s.items : undefined);
      const item = tuple?.[i] ?? (Array.isArray(s.items) ? undefined : s.items);
      if (item && typeof item === 'object') out.push(...expand(store, { schema: item, base }, childValue));
      if (typeof seg === 'number') continue;
    }
    const key = String(seg);
    const prop = s.properties?.[key];
    if (prop !== undefined) {
      if (typeof prop === 'object') out.push(...expand(store, { schema: prop, base }, childValue));
      continue;
    }
    let matched = false;
    for (const [pattern, ps] of Object.entries(s.patternProperties ?? {})) {
      if (new RegExp(pattern, 'u').test(key) && typeof ps === 'object') {
        out.push(...expand(store, { schema: ps, base }, childValue));
        matched = true;
      }
    }
    if (!matched && typeof s.additionalProperties === 'object')
      out.push(...expand(store, { schema: s.additionalProperties, base }, childValue));
  }
  return out;
}

/** All schemas that apply to the value at `path` of `root` (the document's value). */
export function schemasAtPath(
  store: SchemaStore,
  rootSchema: JsonSchemaObject,
  root: unknown,
  path: readonly Segment[],
): Located[] {
  let current = expand(store, { schema: rootSchema, base: rootSchema }, root);
  for (let i = 0; i < path.length && current.length; i++) {
    current = childSchemas(store, current, path[i], valueAtPath(root, path.slice(0, i + 1)));
  }
  return current;
}

export interface PropertyInfo {
  name: string;
  schemas: Located[];
  required: boolean;
}

/** Property names the object described by `schemas` may have, with their schemas, in schema order. */
export function propertiesOf(store: SchemaStore, schemas: Located[], value: unknown): PropertyInfo[] {
  const map = new Map<string, PropertyInfo>();
  for (const { schema: s, base } of schemas) {
    for (const [name, ps] of Object.entries(s.properties ?? {})) {
      if (ps === false) continue;
      const info = map.get(name) ?? { name, schemas: [], required: false };
      if (typeof ps === 'object')
        info.schemas.push(...expand(store, { schema: ps, base }, isPlainObject(value) ? value[name] : undefined));
      map.set(name, info);
    }
    for (const r of s.required ?? []) {
      const info = map.get(r);
      if (info) info.required = true;
    }
  }
  return [...map.values()];
}

/** First non-empty of a field across the expanded schemas (descriptions live on the outer schema or the `$ref` target). */
export function firstOf<K extends keyof JsonSchemaObject>(schemas: Located[], key: K): JsonSchemaObject[K] | undefined {
  for (const { schema } of schemas) if (schema[key] !== undefined) return schema[key];
  return undefined;
}

export function enumValues(schemas: Located[]): { value: unknown; description?: string }[] {
  const seen = new Map<string, { value: unknown; description?: string }>();
  for (const { schema: s } of schemas) {
    const descs = s.markdownEnumDescriptions ?? s.enumDescriptions;
    s.enum?.forEach((v, i) => {
      const k = JSON.stringify(v);
      if (!seen.has(k)) seen.set(k, { value: v, description: descs?.[i] });
    });
    if (s.const !== undefined && !seen.has(JSON.stringify(s.const)))
      seen.set(JSON.stringify(s.const), { value: s.const, description: s.markdownDescription ?? s.description });
  }
  return [...seen.values()];
}

export function isDeprecated(schemas: Located[]): string | undefined {
  for (const { schema } of schemas) {
    if (schema.deprecationMessage) return schema.deprecationMessage;
    if (schema.deprecated === true) return 'Deprecated.';
  }
  return undefined;
}
