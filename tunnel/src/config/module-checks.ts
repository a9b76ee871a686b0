// Each module's own option check — the code the edge runs at bind time (`edgeOptionErrors`, the
// same builders as `buildPipeline`) — run on every tunnel and endpoint of a document, each refusal
// located at the offending value. The module reports where in its own config the value is
// (`basicAuth.credentials[1]`); this file maps that back to the ngrok.yml keys it came from.
import type { EdgeOptions, EndpointSpec } from '../model';
import { ModuleConfigError, type ConfigPath } from '../modules/config-error';
import { connectionOptionErrors, connectionOptions } from '../modules/connection-gate';
import { edgeOptionErrors } from '../modules/pipeline';
import '../modules/oauth/register'; // OAuth/OIDC options and actions are judged as the edge judges them
import { endpointToSpec, tunnelToSpec } from './normalize';
import type { EndpointV3, TunnelV2 } from './types';
import type { PathSegment } from './yaml-nodes';

/** One module refusal at a document path (of the value when it exists, else of its nearest key). */
export interface ModuleProblem {
  path: PathSegment[];
  message: string;
  /** Point at the key rather than its value (an option refused as a whole). */
  atKey?: boolean;
  warning?: boolean;
}

/**
 * A client id without its secret (ERR_NGROK_384) is how the VS Code extension writes OAuth: the
 * secret stays in SecretStorage and is added when the extension starts the tunnel. Shown as a
 * warning (the edge still refuses it at bind if nothing adds the secret).
 */
function moduleProblem(path: PathSegment[], err: ModuleConfigError): ModuleProblem {
  if (err.warning) return { path, warning: true, message: `${err.message} [${err.code}]` };
  if (err.code !== 'ERR_NGROK_384') return { path, message: `${err.message} [${err.code}]` };
  return {
    path,
    warning: true,
    message: `${err.message}: the Burrow extension adds it from SecretStorage when it starts the endpoint; \`burrow start\` needs it in the file [${err.code}]`,
  };
}

type Obj = Record<string, unknown>;
const snake = (s: PathSegment) => (typeof s === 'string' ? s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : s);

/** EdgeOptions key + the module's path → the v2 tunnel keys (relative to the tunnel). */
function tunnelPath(key: string, rest: ConfigPath, t: Obj): PathSegment[] {
  const [first, ...more] = rest;
  switch (key) {
    case 'ipRestriction':
      return ['ip_restriction', ...rest.map(snake)];
    case 'mutualTls':
      return ['mutual_tls_cas'];
    case 'userAgentFilter':
      return ['user_agent_filter', ...rest];
    case 'circuitBreaker':
      return ['circuit_breaker'];
    case 'webhookVerification':
      return ['verify_webhook', ...rest.map(snake)];
    case 'basicAuth': {
      // `basic_auth: [...]` then `auth:` were concatenated into one credential list.
      const listed = Array.isArray(t.basic_auth) ? t.basic_auth.length : 0;
      if (first === 'credentials' && typeof more[0] === 'number')
        return more[0] < listed ? ['basic_auth', more[0]] : ['auth'];
      return [listed ? 'basic_auth' : 'auth'];
    }
    case 'oauth':
    case 'oidc':
      return [key, ...rest.map(snake)];
    case 'trafficPolicy':
      return [t.traffic_policy !== undefined ? 'traffic_policy' : 'policy', ...rest];
    case 'requestHeaders':
      return ['request_header', ...rest];
    case 'responseHeaders':
      return ['response_header', ...rest];
    case 'compression':
      return ['compression'];
    default:
      return [];
  }
}

function refusals(spec: EndpointSpec, toYaml: (key: string, rest: ConfigPath) => PathSegment[]): ModuleProblem[] {
  // The edge's own rule: HTTP endpoints build a pipeline, TCP/TLS endpoints a connection gate.
  const http = spec.proto === 'http';
  const { options, refused } = http ? { options: spec.edge, refused: [] } : connectionOptions(spec.edge);
  const out: ModuleProblem[] = refused.map((key) => ({
    path: toYaml(key, []),
    atKey: true,
    message: `${spec.proto} endpoints do not support this option in Burrow [ERR_BURROW_UNSUPPORTED_OPTION]`,
  }));
  for (const err of http ? edgeOptionErrors(options) : connectionOptionErrors(options)) {
    const [key, ...rest] = err.path;
    out.push(moduleProblem(toYaml(String(key), rest), err));
  }
  return out;
}

/** A file a key names could not be read (mutual_tls_cas, traffic_policy_file): at that key's value. */
function fileProblem(err: unknown): ModuleProblem {
  if (!(err instanceof ModuleConfigError)) throw err;
  return { path: err.path, message: `${err.message} [${err.code}]` };
}

/** Module refusals of one v2 tunnel (`tunnels.NAME`), paths relative to the tunnel. */
export function tunnelModuleProblems(name: string, t: Obj): ModuleProblem[] {
  let spec: EndpointSpec | undefined;
  try {
    spec = tunnelToSpec(name, t as unknown as TunnelV2, false);
  } catch (err) {
    return [fileProblem(err)];
  }
  return spec ? refusals(spec, (key, rest) => tunnelPath(key, rest, t)) : [];
}

/** Module refusals of one v3 endpoint, paths relative to the endpoint. */
export function endpointModuleProblems(ep: Obj): ModuleProblem[] {
  let spec: EndpointSpec;
  try {
    spec = endpointToSpec(ep as unknown as EndpointV3, false);
  } catch (err) {
    return [fileProblem(err)];
  }
  const fromFile = ep.traffic_policy === undefined && ep.traffic_policy_file !== undefined;
  return refusals(spec, (key, rest) =>
    key === 'trafficPolicy' ? (fromFile ? ['traffic_policy_file'] : ['traffic_policy', ...rest]) : [],
  );
}

/** Refusals of a traffic-policy document, at document paths. */
export function policyModuleProblems(doc: Obj): ModuleProblem[] {
  return edgeOptionErrors({ trafficPolicy: doc as EdgeOptions['trafficPolicy'] }).map((err) =>
    moduleProblem(err.path.slice(1), err),
  );
}
