// Validation of edge JSON (files and admin API bodies) against schemas/edge-api.schema.json, in
// the shared ajv instance (tunnel/src/config/schemas.ts). The first problem becomes an AdminApiError
// with ngrok's code: each schema property may carry `errorCode` (and `requiredErrorCode` for a
// missing required field); unknown fields are ERR_NGROK_214, anything else ERR_NGROK_215.
import type { ErrorObject, ValidateFunction } from 'ajv';
import schema from '../../../../schemas/edge-api.schema.json';
import { getAjv } from '../../config/schemas';
import { badRequest, type AdminApiError } from './errors';

export const EDGE_SCHEMA_ID = schema.$id;
const validators = new Map<string, ValidateFunction>();

function validatorFor(definition: string | undefined): ValidateFunction {
  const key = definition ?? '';
  let v = validators.get(key);
  if (!v) {
    const ajv = getAjv();
    if (!ajv.getSchema(EDGE_SCHEMA_ID)) {
      // Annotation keywords (ajv's getKeyword cannot see those, so register them with the schema).
      for (const keyword of ['errorCode', 'requiredErrorCode']) {
        try {
          ajv.addKeyword(keyword);
        } catch {
          // already registered
        }
      }
    }
    if (!ajv.getSchema(EDGE_SCHEMA_ID)) ajv.addSchema(schema as object);
    v = ajv.getSchema(definition ? `${EDGE_SCHEMA_ID}#/definitions/${definition}` : EDGE_SCHEMA_ID);
    if (!v) throw new Error(`edge schema definition ${definition} missing`);
    validators.set(key, v);
  }
  return v;
}

type Annotated = { errorCode?: string; requiredErrorCode?: string; properties?: Record<string, Annotated> };

/** The most useful single error: skip combinator noise (anyOf/if), prefer the deepest path. */
function primary(errors: ErrorObject[]): ErrorObject {
  const concrete = errors.filter((e) => !['anyOf', 'oneOf', 'if', 'then', 'else'].includes(e.keyword));
  const pool = concrete.length ? concrete : errors;
  // A `null` alternative of a nullable module reports "must be null": never the real problem.
  const real = pool.filter((e) => !(e.keyword === 'type' && (e.params as { type?: string }).type === 'null'));
  return (real.length ? real : pool).reduce((best, e) => (e.instancePath.length > best.instancePath.length ? e : best));
}

function fieldOf(e: ErrorObject): string {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'additionalProperties')
    path.push(String((e.params as { additionalProperty: string }).additionalProperty));
  if (e.keyword === 'required') path.push(String((e.params as { missingProperty: string }).missingProperty));
  return path.join('.') || 'body';
}

export function schemaError(errors: ErrorObject[]): AdminApiError {
  const e = primary(errors);
  const field = fieldOf(e);
  const parent = e.parentSchema as Annotated | undefined;
  if (e.keyword === 'additionalProperties') {
    const supported = Object.keys(parent?.properties ?? {}).filter((k) => k !== '$schema');
    return badRequest(
      'ERR_NGROK_214',
      `The request parameter '${field}' is unknown and not expected. The supported fields are: ${supported.join(', ')}.`,
      { field },
    );
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    const prop = parent?.properties?.[missing];
    const code = prop?.requiredErrorCode ?? parent?.errorCode ?? prop?.errorCode ?? 'ERR_NGROK_215';
    return badRequest(code, `The request parameter '${field}' is required.`, { field });
  }
  const code = parent?.errorCode ?? 'ERR_NGROK_215';
  return badRequest(
    code,
    `The value provided for the request parameter '${field}' is invalid: it ${e.message ?? 'is invalid'}.`,
    { field },
  );
}

/** Validates `body` against a schema definition (or the edge file root); throws an AdminApiError. */
export function validateBody(body: unknown, definition?: string): void {
  const v = validatorFor(definition);
  if (!v(body)) throw schemaError(v.errors ?? []);
}
