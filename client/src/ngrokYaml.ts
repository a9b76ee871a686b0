// ngrok.yml as the extension reads and edits it: find a tunnel (v2 `tunnels:` map, also legacy in
// v3) or endpoint (v3 `endpoints:` list) by name, turn it into the local API's v2 definition, and
// write protection changes back through `yaml`'s Document API so comments and order survive.
// The result is a minimal text edit (common prefix and suffix removed) for a reviewable WorkspaceEdit.
import type { Document, Node as YamlNode, Pair, YAMLMap, YAMLSeq } from 'yaml';
import type { Protection, TunnelDefinition } from './model/definitions';
import { lazyLibs } from './lazyLibs';

const yaml = () => lazyLibs.yaml();

export class NgrokYamlError extends Error {
  constructor(
    readonly code: 'ERR_BURROW_YAML_PARSE' | 'ERR_BURROW_YAML_NOT_FOUND' | 'ERR_BURROW_YAML_UNSUPPORTED',
    message: string,
  ) {
    super(message);
  }
}

export interface ConfigEntry {
  name: string;
  source: 'tunnel' | 'endpoint';
  /** Offset of the tunnel key / endpoint item start. */
  offset: number;
}

/** What may be written back: the secret of an OAuth app never goes into the file. */
export type FileProtection =
  | { kind: 'basic-auth'; username: string; password: string }
  | { kind: 'oauth'; provider: string; clientId: string; allowEmails?: string[]; allowDomains?: string[] }
  | { kind: 'none' };

export const OAUTH_SECRET_COMMENT =
  ' client_secret: kept in VS Code SecretStorage; the Burrow extension adds it when it starts this tunnel';

function parse(text: string): Document.Parsed {
  const doc = yaml().parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0];
    throw new NgrokYamlError(
      'ERR_BURROW_YAML_PARSE',
      `ngrok.yml${line ? `:${line.line}:${line.col}` : ''}: ${e.message.split('\n')[0]}`,
    );
  }
  return doc;
}

function scalarKey(p: Pair): string | undefined {
  return yaml().isScalar(p.key) ? String(p.key.value) : undefined;
}

function child(map: unknown, key: string): YamlNode | undefined {
  if (!yaml().isMap(map)) return undefined;
  const pair = map.items.find((p) => scalarKey(p) === key);
  return pair?.value as YamlNode | undefined;
}

interface Located {
  source: 'tunnel' | 'endpoint';
  /** The tunnel's value map or the endpoint item map. */
  node: YAMLMap;
  offset: number;
  /** End of the entry's text (its value's node end). */
  end: number;
}

function entries(doc: Document.Parsed): (Located & { name: string })[] {
  const out: (Located & { name: string })[] = [];
  const tunnels = child(doc.contents, 'tunnels');
  if (yaml().isMap(tunnels)) {
    for (const p of tunnels.items) {
      const name = scalarKey(p);
      if (name !== undefined && yaml().isMap(p.value))
        out.push({
          name,
          source: 'tunnel',
          node: p.value,
          offset: (p.key as YamlNode).range?.[0] ?? 0,
          end: p.value.range?.[2] ?? 0,
        });
    }
  }
  const endpoints = child(doc.contents, 'endpoints');
  if (yaml().isSeq(endpoints)) {
    for (const item of endpoints.items) {
      if (!yaml().isMap(item)) continue;
      const name = child(item, 'name');
      if (yaml().isScalar(name) && name.value !== null && name.value !== '')
        out.push({
          name: String(name.value),
          source: 'endpoint',
          node: item,
          offset: item.range?.[0] ?? 0,
          end: item.range?.[2] ?? 0,
        });
    }
  }
  return out;
}

export function listEntries(text: string): ConfigEntry[] {
  return entries(parse(text)).map(({ name, source, offset }) => ({ name, source, offset }));
}

function locate(doc: Document.Parsed, name: string): Located {
  const found = entries(doc).find((e) => e.name === name);
  if (!found)
    throw new NgrokYamlError('ERR_BURROW_YAML_NOT_FOUND', `no tunnel or endpoint named "${name}" in this file`);
  return found;
}

/** The `POST /api/tunnels` body that starts entry `name` of the file. */
export function entryToDefinition(text: string, name: string): TunnelDefinition {
  const doc = parse(text);
  const { node, source } = locate(doc, name);
  const js = node.toJS(doc) as Record<string, unknown>;
  if (source === 'tunnel') {
    if (!js.proto)
      throw new NgrokYamlError(
        'ERR_BURROW_YAML_UNSUPPORTED',
        `tunnel "${name}" has no proto (labeled tunnels cannot be started here)`,
      );
    return { ...js, name } as TunnelDefinition;
  }
  return endpointToDefinition(name, js);
}

/** A v3 endpoint → the equivalent v2 definition (url → proto/domain/remote_addr, upstream.url → addr). */
export function endpointToDefinition(name: string, e: Record<string, unknown>): TunnelDefinition {
  const upstream = (e.upstream ?? {}) as { url?: unknown; protocol?: unknown };
  if (upstream.url === undefined || upstream.url === null || upstream.url === '') {
    throw new NgrokYamlError('ERR_BURROW_YAML_UNSUPPORTED', `endpoint "${name}" has no upstream.url`);
  }
  const url = typeof e.url === 'string' ? e.url.trim() : '';
  const m = /^(?:(https?|tcp|tls):\/\/)?([^/:\s]*)(?::(\d+))?$/.exec(url);
  const scheme = m?.[1] ?? 'https';
  const host = m?.[2] ?? '';
  const proto = scheme === 'tcp' ? 'tcp' : scheme === 'tls' ? 'tls' : 'http';
  const def: TunnelDefinition = { name, proto, addr: upstream.url as string | number };
  if (proto === 'tcp') {
    if (host || m?.[3]) def.remote_addr = `${host}${m?.[3] ? `:${m[3]}` : ''}`;
  } else if (host) def.domain = host;
  if (scheme === 'http') def.schemes = ['http'];
  if (e.traffic_policy !== undefined) def.traffic_policy = e.traffic_policy;
  if (typeof e.metadata === 'string') def.metadata = e.metadata;
  if (e.pooling_enabled !== undefined) def.pooling_enabled = e.pooling_enabled;
  return def;
}

/** OAuth configs in a definition (v2 `oauth:` or the `oauth` action) that have a client id but no secret. */
export async function fillOAuthSecrets(
  def: TunnelDefinition,
  lookup: (provider: string, clientId: string) => Promise<string | undefined>,
): Promise<string[]> {
  const missing: string[] = [];
  const fill = async (cfg: Record<string, unknown>): Promise<void> => {
    if (typeof cfg.client_id !== 'string' || cfg.client_secret) return;
    const secret = await lookup(String(cfg.provider ?? ''), cfg.client_id);
    if (secret) cfg.client_secret = secret;
    else missing.push(`${String(cfg.provider ?? 'oauth')} (${cfg.client_id})`);
  };
  if (def.oauth && typeof def.oauth === 'object') await fill(def.oauth as Record<string, unknown>);
  const policy = def.traffic_policy as Record<string, unknown> | undefined;
  for (const phase of Object.values(policy ?? {})) {
    if (!Array.isArray(phase)) continue;
    for (const rule of phase as { actions?: { type?: string; config?: Record<string, unknown> }[] }[]) {
      for (const a of rule?.actions ?? []) if (a?.type === 'oauth' && a.config) await fill(a.config);
    }
  }
  return missing;
}

const AUTH_ACTIONS = new Set(['basic-auth', 'oauth', 'openid-connect']);
const ALLOW_RULE_NAME = 'Burrow: allowed users';

/**
 * The whole new text of the file with `p` applied to entry `name`. Only that entry's text changes:
 * the edited document is printed, and its new entry text is spliced into the original, so the rest
 * of the file keeps its exact bytes (yaml's printer would otherwise move some comments).
 */
export function applyProtection(text: string, name: string, p: FileProtection): string {
  const doc = parse(text);
  const { node, source, offset, end } = locate(doc, name);
  if (source === 'tunnel') {
    for (const k of ['auth', 'basic_auth', 'oauth', 'oidc']) node.delete(k);
    if (p.kind === 'basic-auth') node.set('basic_auth', doc.createNode([`${p.username}:${p.password}`]));
    if (p.kind === 'oauth') {
      const oauth = doc.createNode({
        provider: p.provider,
        ...(p.allowEmails?.length ? { allow_emails: p.allowEmails } : {}),
        ...(p.allowDomains?.length ? { allow_domains: p.allowDomains } : {}),
        client_id: p.clientId,
      }) as YAMLMap;
      oauth.comment = OAUTH_SECRET_COMMENT;
      node.set('oauth', oauth);
    }
  } else {
    editEndpointPolicy(doc, node, p);
  }
  const printed = doc.toString();
  const again = locate(parse(printed), name);
  return (
    text.slice(0, offset) +
    printed.slice(again.offset, blockEnd(printed, again.offset, again.end)) +
    text.slice(blockEnd(text, offset, end))
  );
}

/**
 * Where an entry's lines end: the first later line (from the node's own end on) that is not blank
 * and is indented no deeper than the entry's first line. Trailing comments of the entry, which the
 * node's range leaves out, stay with it.
 */
function blockEnd(text: string, start: number, nodeEnd: number): number {
  const lineStart = text.lastIndexOf('\n', start - 1) + 1;
  const indent = start - lineStart;
  let pos = text.lastIndexOf('\n', Math.max(nodeEnd - 1, start)) + 1;
  if (pos <= start) pos = text.indexOf('\n', start) + 1 || text.length;
  while (pos < text.length) {
    const next = text.indexOf('\n', pos);
    const line = text.slice(pos, next < 0 ? text.length : next);
    const depth = line.length - line.trimStart().length;
    if (line.trim() !== '' && depth <= indent) return pos;
    pos = next < 0 ? text.length : next + 1;
  }
  return text.length;
}

function editEndpointPolicy(doc: Document.Parsed, endpoint: YAMLMap, p: FileProtection): void {
  let policy = endpoint.get('traffic_policy', true) as YamlNode | undefined;
  if (policy !== undefined && !yaml().isMap(policy))
    throw new NgrokYamlError('ERR_BURROW_YAML_UNSUPPORTED', 'traffic_policy is not a mapping; edit it by hand');
  let phase = yaml().isMap(policy) ? (policy.get('on_http_request', true) as YamlNode | undefined) : undefined;
  if (phase !== undefined && !yaml().isSeq(phase))
    throw new NgrokYamlError('ERR_BURROW_YAML_UNSUPPORTED', 'on_http_request is not a list; edit it by hand');
  // Drop earlier authentication (and the allow rule written with it).
  if (yaml().isSeq(phase)) {
    const seq = phase as YAMLSeq;
    seq.items = seq.items.filter((rule) => {
      if (!yaml().isMap(rule)) return true;
      if (String(rule.get('name') ?? '') === ALLOW_RULE_NAME) return false;
      const actions = rule.get('actions', true);
      if (!yaml().isSeq(actions)) return true;
      actions.items = actions.items.filter((a) => !(yaml().isMap(a) && AUTH_ACTIONS.has(String(a.get('type')))));
      return actions.items.length > 0;
    });
  }
  const rules: unknown[] = [];
  if (p.kind === 'basic-auth')
    rules.push({
      name: 'Burrow: basic auth',
      actions: [{ type: 'basic-auth', config: { credentials: [`${p.username}:${p.password}`] } }],
    });
  if (p.kind === 'oauth') {
    rules.push({
      name: 'Burrow: OAuth',
      actions: [{ type: 'oauth', config: { provider: p.provider, client_id: p.clientId } }],
    });
    const allow = allowExpression(p.allowEmails ?? [], p.allowDomains ?? []);
    if (allow) rules.push({ name: ALLOW_RULE_NAME, expressions: [allow], actions: [{ type: 'deny' }] });
  }
  if (rules.length) {
    if (!yaml().isMap(policy)) {
      policy = doc.createNode({}) as YAMLMap;
      endpoint.set('traffic_policy', policy);
    }
    if (!yaml().isSeq(phase)) {
      phase = doc.createNode([]) as YAMLSeq;
      (policy as YAMLMap).set('on_http_request', phase);
    }
    const created = rules.map((r) => doc.createNode(r) as YAMLMap);
    if (p.kind === 'oauth') {
      const action = (created[0].get('actions', true) as unknown as YAMLSeq).items[0] as YAMLMap;
      (action.get('config', true) as unknown as YAMLMap).comment = OAUTH_SECRET_COMMENT;
    }
    (phase as YAMLSeq).items.unshift(...created);
  }
  // Leave no empty containers behind.
  if (yaml().isSeq(phase) && phase.items.length === 0 && yaml().isMap(policy)) policy.delete('on_http_request');
  if (yaml().isMap(policy) && policy.items.length === 0) endpoint.delete('traffic_policy');
}

/** CEL that is true for a signed-in user who is NOT allowed (the `deny` rule's condition). */
export function allowExpression(emails: string[], domains: string[]): string | undefined {
  const email = 'actions.ngrok.oauth.identity.email';
  const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const allowed = [
    ...(emails.length ? [`${email} in [${emails.map(q).join(', ')}]`] : []),
    ...domains.map((d) => `${email}.endsWith(${q(`@${d.replace(/^@/, '')}`)})`),
  ];
  return allowed.length ? `!(${allowed.join(' || ')})` : undefined;
}

/** The smallest single replacement turning `before` into `after` (offsets into `before`). */
export function minimalEdit(before: string, after: string): { start: number; end: number; text: string } | undefined {
  if (before === after) return undefined;
  let start = 0;
  const max = Math.min(before.length, after.length);
  while (start < max && before[start] === after[start]) start++;
  // Start at a line boundary so the review shows whole lines.
  start = before.lastIndexOf('\n', start - 1) + 1;
  let end = 0;
  while (end < max - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
  return { start, end: before.length - end, text: after.slice(start, after.length - end) };
}

/** Protection in the file's terms (the OAuth secret stays out). */
export function toFileProtection(p: Protection): FileProtection {
  if (p.kind === 'oauth')
    return {
      kind: 'oauth',
      provider: p.provider,
      clientId: p.clientId,
      allowEmails: p.allowEmails,
      allowDomains: p.allowDomains,
    };
  return p;
}
