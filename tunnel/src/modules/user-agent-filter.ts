// User-agent filter (`--ua-filter-allow/--ua-filter-deny`, `user_agent_filter:`, the
// EndpointUserAgentFilter module). Patterns are RE2 in ngrok; JavaScript regexes accept the RE2
// subset people use, and a leading `(?i)`/`(?s)`/`(?m)` flag group becomes the JS flag.
// Decision (as ngrok's module): a User-Agent matching an allow pattern passes; otherwise one
// matching a deny pattern is refused; with only allow patterns, anything not allowed is refused.
import { sendEdgeError } from '../edge-errors';
import { check, ModuleConfigError, within } from './config-error';
import type { HttpModule } from './types';

export interface UserAgentFilterConfig {
  allow?: string[];
  deny?: string[];
}

/** RE2 pattern → RegExp; ERR_NGROK_2090 when it does not compile. */
export function compileRe2(pattern: string, where: string): RegExp {
  if (typeof pattern !== 'string')
    throw new ModuleConfigError('ERR_NGROK_2090', `${where}: a pattern must be a string`);
  const m = /^\(\?([ims]+)\)/.exec(pattern);
  try {
    return new RegExp(m ? pattern.slice(m[0].length) : pattern, m ? [...new Set(m[1])].join('') : '');
  } catch (err) {
    throw new ModuleConfigError(
      'ERR_NGROK_2090',
      `${where}: invalid regular expression "${pattern}": ${(err as Error).message}`,
    );
  }
}

export function userAgentFilterModule(config: UserAgentFilterConfig): HttpModule {
  check(
    Array.isArray(config.allow ?? []) && Array.isArray(config.deny ?? []),
    'ERR_BURROW_MODULE_CONFIG',
    'userAgentFilter: allow and deny must be lists',
  );
  const allow = (config.allow ?? []).map((p, i) =>
    within(['allow', i], () => compileRe2(p, `userAgentFilter.allow[${i}]`)),
  );
  const deny = (config.deny ?? []).map((p, i) =>
    within(['deny', i], () => compileRe2(p, `userAgentFilter.deny[${i}]`)),
  );
  check(
    allow.length || deny.length,
    'ERR_BURROW_MODULE_CONFIG',
    'userAgentFilter: give at least one allow or deny pattern',
  );
  return {
    name: 'user-agent-filter',
    onRequest(ctx) {
      const ua = String(ctx.req.headers['user-agent'] ?? '');
      if (allow.some((r) => r.test(ua))) return;
      if (deny.length === 0 ? allow.length === 0 : !deny.some((r) => r.test(ua))) return;
      sendEdgeError(ctx.req, ctx.res, 'ERR_NGROK_3211', `User-Agent "${ua.slice(0, 200)}" is not allowed`);
      return 'handled';
    },
  };
}
