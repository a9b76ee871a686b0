// Runtime checks for JSON a peer sent, each typed against the interface it checks: `object<T>()`
// needs one checker per field of T with T's field type, so an interface and its check cannot drift
// apart without the compiler saying so. Used for the wire protocol's messages (messages.ts) and the
// local API's contract test. Small on purpose: no coercion, no defaults; a check either returns its
// input unchanged (typed) or throws ShapeError naming the path of the first bad value.

/** A value that is not what the interface says; `path` is like `bind.edge.ipRestriction.allowCidrs[0]`. */
export class ShapeError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'ShapeError';
  }
}

/** Checks `value` (found at `path`) and returns it typed, or throws ShapeError. */
export type Shape<T> = (value: unknown, path: string) => T;

/** One checker per field of T (optional fields take `optional(…)`). */
export type Fields<T> = { [K in keyof T]-?: Shape<T[K]> };

function fail(path: string, expected: string): never {
  throw new ShapeError(path, `expected ${expected}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export const str: Shape<string> = (v, path) => (typeof v === 'string' ? v : fail(path, `a string, not ${describe(v)}`));

/** A finite number. */
export const num: Shape<number> = (v, path) =>
  typeof v === 'number' && Number.isFinite(v) ? v : fail(path, `a finite number, not ${describe(v)}`);

/** A safe integer (ids, counts, ports). */
export const int: Shape<number> = (v, path) =>
  Number.isSafeInteger(v) ? (v as number) : fail(path, `an integer, not ${describe(v)}`);

export const bool: Shape<boolean> = (v, path) =>
  typeof v === 'boolean' ? v : fail(path, `true or false, not ${describe(v)}`);

/** Any JSON value (checked further by whoever uses it, e.g. a module's own config check). */
export const json: Shape<unknown> = (v) => v;

/** A JSON object whose keys are checked elsewhere. */
export const jsonObject: Shape<Record<string, unknown>> = (v, path) =>
  isPlainObject(v) ? v : fail(path, `an object, not ${describe(v)}`);

export function literal<const L extends readonly (string | number | boolean | null)[]>(...values: L): Shape<L[number]> {
  const expected = values.map((x) => JSON.stringify(x)).join(' | ');
  return (v, path) => (values.includes(v as L[number]) ? (v as L[number]) : fail(path, expected));
}

export function optional<T>(shape: Shape<T>): Shape<T | undefined> {
  return (v, path) => (v === undefined ? undefined : shape(v, path));
}

export function nullable<T>(shape: Shape<T>): Shape<T | null> {
  return (v, path) => (v === null ? null : shape(v, path));
}

/**
 * Checks `x`, the value at `key` inside the container at `path`. It is checked with the container's
 * path, and only if it fails checked again with its own path, built only then, to throw the error
 * that names it (checks are pure: it fails the same way). The wire's messages are checked per
 * request, and building a path string for every field and header that passes was most of the
 * cost of a check.
 */
function checkInner(check: Shape<unknown>, x: unknown, path: string, key: string | number): void {
  try {
    check(x, path);
  } catch (err) {
    if (err instanceof ShapeError) check(x, typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`);
    throw err;
  }
}

export function array<T>(item: Shape<T>): Shape<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) return fail(path, `an array, not ${describe(v)}`);
    for (let i = 0; i < v.length; i++) checkInner(item, v[i], path, i);
    return v as T[];
  };
}

/** A JSON object used as a map: any keys, every value checked. */
export function record<T>(value: Shape<T>): Shape<Record<string, T>> {
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path, `an object, not ${describe(v)}`);
    for (const k of Object.keys(v)) checkInner(value, v[k], path, k);
    return v as Record<string, T>;
  };
}

/**
 * An object with exactly T's fields. Unknown keys are refused unless `extra: 'allow'` (for
 * objects whose unknown keys someone else refuses with a better error).
 */
export function object<T>(fields: Fields<T>, opts: { extra?: 'refuse' | 'allow' } = {}): Shape<T> {
  const known = new Set(Object.keys(fields));
  const checks = Object.entries(fields) as [string, Shape<unknown>][];
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path, `an object, not ${describe(v)}`);
    for (const [k, check] of checks) checkInner(check, v[k], path, k);
    if (opts.extra !== 'allow')
      // (for…in: no array of keys per check; JSON has no inherited keys, hasOwn makes sure.)
      for (const k in v)
        if (!known.has(k) && Object.hasOwn(v, k)) throw new ShapeError(`${path}.${k}`, 'unknown field');
    return v as T;
  };
}

/** A union told apart by a string field (`type`, `kind`): the variant for its value checks the rest. */
export function tagged<T>(tag: string, variants: Record<string, Shape<T>>): Shape<T> {
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path, `an object, not ${describe(v)}`);
    const name = v[tag];
    const variant = typeof name === 'string' && Object.hasOwn(variants, name) ? variants[name] : undefined;
    if (!variant)
      return fail(
        `${path}.${tag}`,
        Object.keys(variants)
          .map((k) => JSON.stringify(k))
          .join(' | '),
      );
    return variant(v, path);
  };
}
