// Checks of single values a schema cannot express (upstream addresses, endpoint URL ports) and one
// policy lint (rules no request can reach). Pure; validate.ts reports what they find.
import { rootSchema, type JsonSchema } from './schemas';

/** `${VAR}`, `$VAR`, `{{ tmpl }}` and `<placeholder>` values are filled in by a template tool; never judged. */
export function isTemplated(s: string): boolean {
  return /\$\{[^}]*\}|^\$[A-Za-z_]|\{\{.*\}\}|<[^>]+>/.test(s);
}

export function checkPort(port: string): string | undefined {
  if (!/^\d+$/.test(port)) return `port \`${port}\` is not a number`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `port ${n} is out of range (1–65535)`;
  return undefined;
}

/** v2 `addr` / v3 `upstream.url`: a port, `host:port`, or a URL. Returns the problem text, if any. */
export function checkUpstream(raw: string, proto: string | undefined): string | undefined {
  const s = raw.trim();
  if (s === '') return 'the upstream address is empty';
  if (isTemplated(s)) return undefined;
  if (/^\d+$/.test(s)) return checkPort(s);
  const url = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(s);
  if (url) {
    const scheme = url[1].toLowerCase();
    const allowed =
      proto === 'tcp' ? ['tcp'] : proto === 'tls' ? ['tls', 'tcp'] : ['http', 'https', 'file', 'tcp', 'tls'];
    if (!allowed.includes(scheme))
      return `\`${scheme}://\` upstreams are not supported${proto ? ` for ${proto} tunnels` : ''} (use ${allowed.map((a) => `\`${a}://\``).join(', ')})`;
    if (scheme === 'file')
      return url[2].startsWith('/') || /^[A-Za-z]:/.test(url[2])
        ? undefined
        : '`file://` needs an absolute path (`file:///srv/www`)';
    try {
      const u = new URL(s);
      if (u.port) return checkPort(u.port);
      if ((scheme === 'tcp' || scheme === 'tls') && !u.port) return `a \`${scheme}://\` upstream needs a port`;
    } catch {
      return `\`${s}\` is not a valid URL`;
    }
    return undefined;
  }
  const hostPort = /^(\[[0-9a-f:.]+\]|[^\s:/]+):([^:/]*)$/i.exec(s);
  if (hostPort) return checkPort(hostPort[2]);
  if (/^[a-z0-9.-]+$/i.test(s)) return proto === 'http' || proto === undefined ? undefined : `\`${s}\` has no port`;
  return `\`${s}\` is not a port, \`host:port\` or URL`;
}

let terminating: Set<string> | undefined;

/** Actions that always end the request, read from the policy schema ("… Terminating …"). */
function terminatingActions(): Set<string> {
  if (terminating) return terminating;
  const action = (rootSchema('traffic-policy').definitions as Record<string, JsonSchema>).action;
  const typeSchema = (action.properties as Record<string, JsonSchema>).type;
  const names = (typeSchema.enum ?? []) as string[];
  const docs = (typeSchema.markdownEnumDescriptions ?? []) as string[];
  return (terminating = new Set(names.filter((_, i) => /Terminating/.test(docs[i] ?? ''))));
}

/**
 * Actions no request reaches: after a rule without expressions (it always matches) whose actions
 * include a terminating one (`deny`, `custom-response`, …), every later rule of the phase is dead.
 * Yields [rule index, action index, the terminating action's type]. ngrok accepts these; a warning.
 */
export function* unreachableActions(rules: unknown): Generator<[number, number, string]> {
  if (!Array.isArray(rules)) return;
  let endedBy: string | undefined;
  for (const [i, rule] of rules.entries()) {
    if (typeof rule !== 'object' || rule === null) continue;
    const { expressions, actions } = rule as { expressions?: unknown; actions?: unknown };
    if (!Array.isArray(actions)) continue;
    if (endedBy) for (let j = 0; j < actions.length; j++) yield [i, j, endedBy];
    const always = !Array.isArray(expressions) || expressions.length === 0;
    const stop = actions.find(
      (a) => typeof a === 'object' && a !== null && terminatingActions().has(String((a as { type?: unknown }).type)),
    ) as { type: string } | undefined;
    if (always && stop && !endedBy) endedBy = stop.type;
  }
}
