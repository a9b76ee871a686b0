// The JSON Schemas in schemas/ loaded into one ajv instance (compiled once, cached), plus a small
// walker that answers "which schema applies at this path" for deprecations and editor features.
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import v2Schema from '../../../schemas/ngrok-v2.schema.json';
import v3Schema from '../../../schemas/ngrok-v3.schema.json';
import policySchema from '../../../schemas/traffic-policy.schema.json';

export type SchemaKind = 'v2' | 'v3' | 'traffic-policy';
export type JsonSchema = { [key: string]: unknown };

export const SCHEMA_IDS: Record<SchemaKind, string> = {
  v2: v2Schema.$id,
  v3: v3Schema.$id,
  'traffic-policy': policySchema.$id,
};
const roots: Record<string, JsonSchema> = {
  [v2Schema.$id]: v2Schema as JsonSchema,
  [v3Schema.$id]: v3Schema as JsonSchema,
  [policySchema.$id]: policySchema as JsonSchema,
};

let ajv: Ajv | undefined;
const validators = new Map<SchemaKind, ValidateFunction>();

/** The shared ajv instance with all three schemas registered by `$id`. */
export function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
    // Annotation keywords that editors (VS Code's JSON service, our language server) read.
    ajv.addVocabulary([
      'markdownDescription',
      'deprecationMessage',
      'patternErrorMessage',
      'errorMessage',
      'markdownEnumDescriptions',
    ]);
    for (const schema of Object.values(roots)) ajv.addSchema(schema);
  }
  return ajv;
}

export function getValidator(kind: SchemaKind): ValidateFunction {
  let v = validators.get(kind);
  if (!v) {
    v = getAjv().getSchema(SCHEMA_IDS[kind]);
    if (!v) throw new Error(`schema ${SCHEMA_IDS[kind]} not registered`);
    validators.set(kind, v);
  }
  return v;
}

export function rootSchema(kind: SchemaKind): JsonSchema {
  return roots[SCHEMA_IDS[kind]];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Located {
  schema: JsonSchema;
  /** `$id` of the file the schema lives in, to resolve local `$ref`s. */
  base: string;
}

function resolvePointer(root: JsonSchema, pointer: string): JsonSchema | undefined {
  let node: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  return isObject(node) ? node : undefined;
}

function deref(loc: Located): Located {
  let { schema, base } = loc;
  for (let hops = 0; typeof schema.$ref === 'string' && hops < 10; hops++) {
    const [file, pointer = ''] = schema.$ref.split('#');
    const nextBase = file ? file : base;
    const root = roots[nextBase];
    const target = root ? resolvePointer(root, pointer) : undefined;
    if (!target) break;
    // Annotations written next to a $ref (descriptions, deprecation) win over the target's.
    const { $ref: _ref, ...siblings } = schema;
    schema = { ...target, ...siblings };
    base = nextBase;
  }
  return { schema, base };
}

/**
 * For a `oneOf` discriminated by `proto` (v2 tunnels), the branch the data means: the branch
 * whose `proto` const equals the data's `proto`, or the `labels` branch when there is no proto.
 */
export function pickOneOfBranch(branches: readonly unknown[], data: unknown): number {
  if (!isObject(data)) return -1;
  const propsOf = (b: unknown): Record<string, unknown> => (isObject(b) && isObject(b.properties) ? b.properties : {});
  return branches.findIndex((b, i) => {
    if (!isObject(b)) return false;
    const proto = isObject(propsOf(b).proto) ? (propsOf(b).proto as JsonSchema).const : undefined;
    if (proto !== undefined) return data.proto === proto;
    // A branch without `proto` (labeled tunnels) is meant when the data has its own required key.
    const required = Array.isArray(b.required) ? b.required.filter((r): r is string => typeof r === 'string') : [];
    const own = required.filter((r) => branches.every((other, j) => j === i || !(r in propsOf(other))));
    return data.proto === undefined && own.length > 0 && own.every((r) => r in data);
  });
}

function childSchema(loc: Located, data: unknown, seg: string | number): Located | undefined {
  const here = narrow(deref(loc), data);
  const s = here.schema;
  if (typeof seg === 'number' || Array.isArray(data)) {
    return isObject(s.items) ? { schema: s.items, base: here.base } : undefined;
  }
  if (isObject(s.properties) && isObject(s.properties[seg]))
    return { schema: s.properties[seg] as JsonSchema, base: here.base };
  if (isObject(s.additionalProperties)) return { schema: s.additionalProperties, base: here.base };
  return undefined;
}

/** Chooses the `oneOf` branch and merges the matching `if/then` parts for `data`. */
function narrow(loc: Located, data: unknown): Located {
  let { schema } = loc;
  if (Array.isArray(schema.oneOf)) {
    const i = pickOneOfBranch(schema.oneOf, data);
    if (i >= 0) schema = { ...schema, ...(schema.oneOf[i] as JsonSchema) };
  }
  if (Array.isArray(schema.allOf) && isObject(data)) {
    for (const part of schema.allOf) {
      if (!isObject(part) || !isObject(part.if) || !isObject(part.then)) continue;
      const cond = isObject(part.if.properties) ? part.if.properties : {};
      const matches = Object.entries(cond).every(([k, v]) => isObject(v) && v.const === data[k]);
      if (!matches) continue;
      const then = deref({ schema: part.then, base: loc.base }).schema;
      const props = {
        ...(isObject(schema.properties) ? schema.properties : {}),
        ...(isObject(then.properties) ? then.properties : {}),
      };
      schema = { ...schema, properties: props };
    }
  }
  return { schema, base: loc.base };
}

/**
 * The schema that applies at `path` inside a document of `kind`, given the document's data (needed
 * to pick tunnel branches and action configs). Undefined when the path is outside the schema.
 */
export function schemaAtPath(
  kind: SchemaKind,
  data: unknown,
  path: readonly (string | number)[],
): JsonSchema | undefined {
  let loc: Located | undefined = { schema: rootSchema(kind), base: SCHEMA_IDS[kind] };
  let value: unknown = data;
  for (const seg of path) {
    loc = childSchema(loc, value, seg);
    if (!loc) return undefined;
    value = isObject(value) || Array.isArray(value) ? (value as Record<string, unknown>)[seg as string] : undefined;
  }
  return narrow(deref(loc), value).schema;
}

/** Calls `visit` for every key in `data` whose schema is marked `deprecated: true`. */
export function findDeprecated(
  kind: SchemaKind,
  data: unknown,
  visit: (path: (string | number)[], message: string) => void,
): void {
  const walk = (loc: Located, value: unknown, path: (string | number)[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        const c = childSchema(loc, value, i);
        if (c) walk(c, item, [...path, i]);
      });
      return;
    }
    if (!isObject(value)) return;
    for (const [k, v] of Object.entries(value)) {
      const c = childSchema(loc, value, k);
      if (!c) continue;
      const s = deref(c).schema;
      if (s.deprecated === true)
        visit([...path, k], typeof s.deprecationMessage === 'string' ? s.deprecationMessage : 'deprecated');
      walk(c, v, [...path, k]);
    }
  };
  walk({ schema: rootSchema(kind), base: SCHEMA_IDS[kind] }, data, []);
}
