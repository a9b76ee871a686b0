// Request and response header rules (`--request-header-add`, `request_header:`, the
// EndpointRequestHeaders/ResponseHeaders modules, and the add-headers/remove-headers actions).
// Removal is case-insensitive; added names are canonicalised as ngrok does: Go's canonical
// MIME form (`x-foo` → `X-Foo`) for the module rules, lower case for traffic-policy actions.
// Values may hold templates: `${.ngrok.request_id}`-style legacy paths (request-vars.ts) or
// `${cel expression}` as in traffic policy.
import type { HeaderRules } from '../model';
import { removeRawHeaders } from '../net/raw-headers';
import { compileInterpolation, splitTemplate, type Interpolation } from './cel';
import { check, ModuleConfigError, within } from './config-error';
import { celVariables, isLegacyVariable, legacyVariable, LEGACY_VARIABLES } from './request-vars';
import type { HttpModule, RequestContext, ResponseContext } from './types';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Go's textproto.CanonicalMIMEHeaderKey for valid tokens. */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

type Value = (ctx: RequestContext | ResponseContext) => string;

/** Compiles a header value template: legacy `${.a.b}` paths and CEL `${expr}` parts. */
export function compileHeaderValue(value: string, where: string): Value {
  if (!value.includes('${')) return () => value;
  // Only legacy paths (the common `${.ngrok.request_id}` case): plain getters, no CEL activation.
  const parts = splitTemplate(value);
  if (parts.every((p) => typeof p === 'string' || /^\.[A-Za-z0-9_.]+$/.test(p.expr))) {
    const getters = parts.map((p) => {
      if (typeof p === 'string') return () => p;
      const path = p.expr.slice(1);
      if (!isLegacyVariable(path)) {
        throw new ModuleConfigError(
          'ERR_NGROK_2213',
          `${where}: unknown template variable "\${.${path}}"; known: ${LEGACY_VARIABLES()
            .map((v) => `\${.${v}}`)
            .join(', ')}`,
        );
      }
      return (ctx: RequestContext | ResponseContext) => legacyVariable(path, ctx);
    });
    return (ctx) => getters.map((g) => g(ctx)).join('');
  }
  // Legacy paths are swapped for CEL-safe placeholders, so one parser handles both forms.
  const legacy: string[] = [];
  const text = value.replace(/\$\{\s*\.([A-Za-z0-9_.]+)\s*\}/g, (_m, path: string) => {
    if (!isLegacyVariable(path)) {
      throw new ModuleConfigError(
        'ERR_NGROK_2213',
        `${where}: unknown template variable "\${.${path}}"; known: ${LEGACY_VARIABLES()
          .map((v) => `\${.${v}}`)
          .join(', ')}`,
      );
    }
    legacy.push(path);
    return `\${burrow_legacy[${legacy.length - 1}]}`;
  });
  const interpolate: Interpolation = compileInterpolation(text, where);
  return (ctx) => {
    const vars = legacy.length
      ? { ...celVariables(ctx), burrow_legacy: legacy.map((p) => legacyVariable(p, ctx)) }
      : celVariables(ctx);
    return interpolate(vars);
  };
}

export interface CompiledHeaderRules {
  remove: Set<string>;
  add: { name: string; value: Value }[];
}

/** Validates and compiles `{add: ["Name: value"], remove: ["Name"]}` (module form). */
export function compileHeaderRules(rules: HeaderRules, side: 'request' | 'response'): CompiledHeaderRules {
  const field = side === 'request' ? 'requestHeaders' : 'responseHeaders';
  check(
    Array.isArray(rules.add ?? []) && Array.isArray(rules.remove ?? []),
    'ERR_BURROW_MODULE_CONFIG',
    `${field}: add and remove must be lists`,
  );
  const add = (rules.add ?? []).map((line, i) =>
    within(['add', i], () => {
      const colon = typeof line === 'string' ? line.indexOf(':') : -1;
      check(
        colon > 0,
        side === 'request' ? 'ERR_NGROK_370' : 'ERR_NGROK_371',
        `${field}.add[${i}]: header should be in key:value format, got "${String(line)}"`,
      );
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      check(TOKEN.test(name), 'ERR_NGROK_372', `${field}.add[${i}]: "${name}" is not a valid header name`);
      check(
        !/[\r\n\0]/.test(value),
        'ERR_NGROK_373',
        `${field}.add[${i}]: the value of "${name}" has a control character`,
      );
      return { name: canonicalHeaderName(name), value: compileHeaderValue(value, `${field}.add[${i}]`) };
    }),
  );
  const remove = new Set(
    (rules.remove ?? []).map((name, i) => {
      check(
        typeof name === 'string' && TOKEN.test(name.trim()),
        'ERR_NGROK_372',
        `${field}.remove[${i}]: "${String(name)}" is not a valid header name`,
        ['remove', i],
      );
      return name.trim().toLowerCase();
    }),
  );
  return { add, remove };
}

/** Applies compiled rules to a raw header list in place: removals, then additions. */
export function applyCompiledRules(
  raw: string[],
  rules: CompiledHeaderRules,
  ctx: RequestContext | ResponseContext,
): void {
  if (rules.remove.size) {
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      if (rules.remove.has(raw[r].toLowerCase())) continue;
      raw[w++] = raw[r];
      raw[w++] = raw[r + 1];
    }
    raw.length = w;
  }
  for (const { name, value } of rules.add) {
    const v = value(ctx);
    if (name.toLowerCase() === 'host') {
      // One Host only: adding it replaces the client's.
      removeRawHeaders(raw, (n) => n === 'host');
    }
    raw.push(name, v);
  }
}

export function requestHeadersModule(rules: HeaderRules): HttpModule {
  const compiled = compileHeaderRules(rules, 'request');
  return { name: 'request-headers', onRequest: (ctx) => applyCompiledRules(ctx.upstreamHeaders, compiled, ctx) };
}

export function responseHeadersModule(rules: HeaderRules): HttpModule {
  const compiled = compileHeaderRules(rules, 'response');
  return { name: 'response-headers', onResponse: (ctx) => applyCompiledRules(ctx.responseHeaders, compiled, ctx) };
}
