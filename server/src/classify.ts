// Which of Burrow's formats is this document? Decided from, in order: an explicit association
// (setting), the language id the client gave (`ngrok-yaml`), a `$schema` reference, the file name,
// and finally the document's shape. Files that are merely *named* like an ngrok config but are
// something else (docker-compose, Kubernetes manifests, Ansible task lists) are recognised and left
// alone, so the server never floods them with false errors.
import { minimatch } from 'minimatch';
import type { AssociationKind, DocumentKind } from './protocol';
import { isPlainObject } from './yamlText';

export const NGROK_LANGUAGE_ID = 'ngrok-yaml';

/**
 * File names (base name) of ngrok agent configs, as found in the wild: `ngrok.yml`, `.ngrok.yml`,
 * `ngrok.dev.yml`, `ngrok_config.yml`, `ngrok-config.yaml`, `ngrok.yml.example`, `app.ngrok.yml`.
 */
export const CONFIG_NAME_RE =
  /^(?!.*policy)(?:\.?ngrok(?:[-_.][\w-]+)*\.ya?ml(?:\.(?:example|sample|dist|template|local|dev))?|[^/]+\.ngrok\.ya?ml)$/i;
/** Traffic-policy files by name: `traffic-policy.yml`, `ngrok-policy.yaml`, `api.policy.yml`, `*.traffic-policy.json`. */
export const POLICY_NAME_RE = /^(?:.*[-_.])?(?:traffic[-_]?policy|ngrok[-_]policy|policy)\.(?:ya?ml|json)$/i;
/** Directories where ngrok keeps its default config (Linux/macOS/Windows, agent 2.x). */
const CONFIG_DIR_RE =
  /(?:^|\/)(?:\.config\/ngrok|Library\/Application Support\/ngrok|AppData\/Local\/ngrok|\.ngrok2)\/[^/]+\.ya?ml$/i;

export const TRAFFIC_POLICY_PHASES = [
  'on_tcp_connect',
  'on_http_request',
  'on_http_response',
  'on_event_stream_message',
] as const;

/** Top-level keys of an ngrok edge/API object that no agent config or policy has. */
const EDGE_KEYS = [
  'hostports',
  'routes',
  'match_type',
  'tls_termination',
  'mutual_tls',
  'backend',
  'backends',
  'endpoint_configurations',
  'reserved_addrs',
  'tls_certificates',
];
const EDGE_ID_RE = /^(?:edghts|edghtsrt|edgtcp|edgtls|bkdtg|bkdfo|bkdhr|bkdwd|bkdsc)_/;

export interface Classification {
  kind: DocumentKind;
  /** ngrok config only: `2` or `3` as declared, or inferred from the keys when `version` is missing. */
  configVersion?: '2' | '3';
  /** Why a file named like an ngrok config was left alone (for the log). */
  foreign?: string;
}

export function uriPath(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri;
  }
}

export function matchAssociation(
  uri: string,
  associations: Record<string, AssociationKind> | undefined,
): AssociationKind | undefined {
  if (!associations) return undefined;
  const path = uriPath(uri);
  for (const [glob, kind] of Object.entries(associations)) {
    // Relative globs match anywhere (`deploy/*.yml`, `*.tunnels.yml`), like VS Code's `files.associations`.
    const pattern = glob.startsWith('/') || glob.startsWith('**') ? glob : `**/${glob}`;
    if (minimatch(path, pattern, { dot: true, nocase: process.platform === 'win32' })) return kind;
  }
  return undefined;
}

/** Why this value is not an ngrok config although it is in a file named like one, or undefined. */
export function foreignShape(root: unknown, documentCount: number): string | undefined {
  if (Array.isArray(root)) return 'a YAML list at the top level (Ansible tasks or similar), not an ngrok config';
  if (!isPlainObject(root)) return undefined;
  if ('apiVersion' in root && 'kind' in root)
    return `a Kubernetes object (kind ${String(root.kind)}), not an ngrok config`;
  if ('services' in root && !('tunnels' in root) && !('endpoints' in root))
    return 'a docker-compose file, not an ngrok config';
  const services = Object.values(root).filter((v) => isPlainObject(v) && ('image' in v || 'build' in v));
  if (services.length && !('tunnels' in root) && !('endpoints' in root))
    return 'docker-compose services, not an ngrok config';
  if (documentCount > 1 && !('tunnels' in root) && !('endpoints' in root))
    return 'a multi-document YAML stream, not an ngrok config';
  return undefined;
}

export function configVersionOf(root: unknown): '2' | '3' {
  if (isPlainObject(root)) {
    const v = String(root.version ?? '').trim();
    if (v === '3' || v === '2') return v;
    if ('agent' in root || 'endpoints' in root) return '3';
  }
  return '2';
}

function isTrafficPolicyShape(root: unknown): boolean {
  if (!isPlainObject(root)) return false;
  const keys = Object.keys(root);
  return (
    keys.some((k) => (TRAFFIC_POLICY_PHASES as readonly string[]).includes(k)) &&
    !('tunnels' in root) &&
    !('endpoints' in root)
  );
}

function isEdgeShape(root: unknown): boolean {
  if (!isPlainObject(root)) return false;
  if (typeof root.id === 'string' && EDGE_ID_RE.test(root.id)) return true;
  return EDGE_KEYS.filter((k) => k in root).length >= 1 && !('tunnels' in root) && !('version' in root);
}

function schemaKind(root: unknown): AssociationKind | undefined {
  if (!isPlainObject(root) || typeof root.$schema !== 'string') return undefined;
  const s = root.$schema;
  if (/traffic[-_]?policy/i.test(s)) return 'traffic-policy';
  if (/edge/i.test(s)) return 'edge-json';
  if (/ngrok-v[23]/i.test(s)) return 'ngrok-config';
  return undefined;
}

export interface ClassifyInput {
  uri: string;
  languageId: string;
  /** The parsed first document (`toJS()`), undefined when it does not parse to a value. */
  root: unknown;
  documentCount: number;
  associations?: Record<string, AssociationKind>;
}

export function classify(input: ClassifyInput): Classification {
  const { uri, languageId, root } = input;
  const withVersion = (kind: DocumentKind): Classification =>
    kind === 'ngrok-config' ? { kind, configVersion: configVersionOf(root) } : { kind };

  const associated = matchAssociation(uri, input.associations);
  if (associated) return withVersion(associated);

  const bySchema = schemaKind(root);
  if (bySchema) return withVersion(bySchema);

  const path = uriPath(uri);
  const base = path.split('/').pop() ?? '';
  if (languageId !== NGROK_LANGUAGE_ID && POLICY_NAME_RE.test(base) && !CONFIG_NAME_RE.test(base)) {
    const foreign = foreignShape(root, input.documentCount);
    if (foreign) return { kind: 'none', foreign: foreign.replace('an ngrok config', 'a Traffic Policy') };
    return { kind: 'traffic-policy' };
  }
  const namedConfig = languageId === NGROK_LANGUAGE_ID || CONFIG_NAME_RE.test(base) || CONFIG_DIR_RE.test(path);
  if (namedConfig && languageId !== 'json' && languageId !== 'jsonc') {
    const foreign = foreignShape(root, input.documentCount);
    if (foreign) return { kind: 'none', foreign };
    // Phase keys and no `version`: a policy file, as tunnel/src/config's validator also decides.
    if (isTrafficPolicyShape(root) && !(isPlainObject(root) && 'version' in root)) return { kind: 'traffic-policy' };
    return withVersion('ngrok-config');
  }
  if (isTrafficPolicyShape(root)) return { kind: 'traffic-policy' };
  if ((languageId === 'json' || languageId === 'jsonc') && isEdgeShape(root)) return { kind: 'edge-json' };
  return { kind: 'none' };
}
