// The `burrow` command. ngrok's habits: `burrow http 3000`, `burrow tcp 22`, `burrow tls 443 --domain D`,
// `burrow start NAME…`, `burrow config check`, plus `burrow edge` for a standalone edge.
// Exit codes: 0 done, 1 runtime failure (refused, unreachable), 2 usage or config error.
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Agent, AgentError } from '../agent/agent';
import { AgentApiBackend } from '../agent/api/agent-backend';
import { startApiServer, type ApiServer } from '../agent/api/server';
import { CaptureStore } from '../capture/store';
import {
  formatProblem,
  hasErrors,
  loadConfig,
  runAddAuthtoken,
  runConfigCheck,
  type AgentSettings,
  type LoadedConfig,
} from '../config';
import { Edge } from '../edge/edge';
import { ClusterError, EdgeCluster } from '../edge/cluster';
import { buildPipeline, ModuleConfigError } from '../modules/pipeline';
import { loadCertificate } from '../edge/tls-cert';
import { TokenSet } from '../edge/tokens';
import { NgrokAgentServer } from '../ngrok-protocol/server';
import {
  AdminApi,
  createHttpsEdges,
  EdgeFileError,
  loadEdgeFiles,
  StateFileError,
  type EdgeStore,
  type HttpsEdges,
} from '../edge/admin';
import { IpPolicyStore } from '../modules/ip-restriction';
import { CertificateStore } from '../edge/certs/store';
import { AcmeManager, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from '../edge/acme';
import { readFileSync } from 'node:fs';
import { ManagedAppError, managedAppsFrom } from '../modules/oauth/managed';
import type { EndpointSpec } from '../model';
import { VERSION } from '../version';
import { consoleRates, startConsole } from './console';
import { ServiceError, runService } from './systemd';
import { ENDPOINT_FLAGS, UsageError, endpointFromFlags, type EndpointFlagValues } from './endpoint-flags';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './log';
import { applyV8Flags, capYoungGeneration } from './v8-flags';
import { trimHeapWhenIdle } from './idle-heap';
import { keepMallocTopResident } from './malloc-top';

const HELP = `burrow ${VERSION} — self-hosted, ngrok-compatible tunnels

Usage:
  burrow http ADDR [flags]     expose an HTTP service (ADDR: 3000, host:port, http(s)://…, file:///dir)
  burrow tcp ADDR [flags]      expose a TCP service
  burrow tls ADDR --domain D   expose a TLS service, routed by SNI without terminating
  burrow start NAME…|--all|--none   start tunnels/endpoints from ngrok.yml (--config FILE, repeatable)
  burrow config check          validate the config files (file:line:col: message)
  burrow config add-authtoken TOKEN   save the authtoken to the default config file
  burrow service install|start|stop|uninstall --config FILE   run the agent under systemd
  burrow edge [flags]          run a standalone edge for agents to connect to
  burrow version

Endpoint flags:
  --domain D, --url URL        host name (or URL) to bind; default: a random name
  --subdomain S                a name under the edge's domain
  --scheme http,https          public schemes (http endpoints)
  --host-header rewrite|VALUE  Host sent upstream
  --request-header-add "K: V"  --request-header-remove K   (repeatable)
  --response-header-add "K: V" --response-header-remove K  (repeatable)
  --upstream-protocol http2    speak h2c to the upstream
  --remote-addr PORT           tcp: public port to bind
  --inspect false              do not capture requests
  --name NAME                  tunnel name shown in the API

Protection and request handling (http endpoints; applied at the edge):
  --basic-auth USER:PASS       HTTP basic auth (repeatable; password 8-128 characters)
  --oauth PROVIDER             google, github, microsoft, gitlab, facebook, linkedin, twitch, amazon
    --oauth-client-id ID --oauth-client-secret S   your OAuth app (callback: URL/ngrok/callback)
    --oauth-allow-email E --oauth-allow-domain D --oauth-scope S   (repeatable)
  --oidc ISSUER_URL --oidc-client-id ID --oidc-client-secret S [--oidc-scope S]
  --cidr-allow CIDR --cidr-deny CIDR   IP restrictions, IPv4 and IPv6 (repeatable)
  --ua-filter-allow RE --ua-filter-deny RE   user-agent filter (repeatable)
  --verify-webhook PROVIDER --verify-webhook-secret S   github, stripe, slack, twilio, shopify, gitlab,
                               sendgrid, zoom, twitter, hmac
  --circuit-breaker RATIO      reject with 503 while the 5xx ratio is above RATIO (0-1)
  --compression                gzip/deflate/br responses by Accept-Encoding
  --mutual-tls-cas FILE        require visitor client certificates signed by these CAs
  --traffic-policy-file FILE   ngrok traffic policy (on_http_request/on_http_response rules, CEL)

Agent flags:
  --edge URL                   edge to connect to (default: an embedded edge on 127.0.0.1:8480)
  --authtoken T                also BURROW_AUTHTOKEN or NGROK_AUTHTOKEN
  --config FILE                ngrok.yml to read (repeatable; default: ngrok's default location)
  --web-addr HOST:PORT|false   local API and inspector (default 127.0.0.1:4040, next free port if taken)
  --log stdout|stderr|PATH|false   --log-format term|logfmt|json   --log-level info

Edge flags:
  --domain D                   base domain for endpoint names (default localhost)
  --listen HOST:PORT           public HTTP and agent listener (default 127.0.0.1:8080)
  --tls-listen HOST:PORT       public TLS listener (HTTPS and TLS passthrough)
  --cert FILE --key FILE       certificate for HTTPS (default: self-signed)
  --tokens FILE                accepted authtokens, one per line (also BURROW_EDGE_TOKENS)
  --ngrok-agent-listen HOST:PORT   also accept ngrok's own agents and SDKs here (TLS, ngrok's
                               agent protocol; they need server_addr and this edge's CA)
  --ngrok-response-timeout SECONDS   time an ngrok agent has to answer an HTTP request (default
                               300; then 504 ERR_NGROK_3007; 0 = no limit)
  --ngrok-inspect-db-size BYTES   with --admin-addr: the edge captures ngrok agents' HTTP requests
                               for its /requests/http (default 50 MB; --ngrok-inspect-db-size=-1: off)
  --admin-addr HOST:PORT       serve the admin API (ngrok API v2 subset: HTTPS edges, routes and
                               their modules, backends, reserved domains and addresses, IP policies,
                               credentials, TLS certificates, endpoint configurations, tunnel sessions)
  --api-key KEY                Bearer key the admin API requires (also BURROW_API_KEY)
  --state-dir DIR              where the edge keeps its admin state (edge-state.json); without it
                               the state lives in memory only
  --oauth-app PROVIDER=ID:SECRET   a managed OAuth app (repeatable; also BURROW_OAUTH_APP_GOOGLE=ID:SECRET…):
                               endpoints with --oauth PROVIDER and no client id use it. Register
                               --oauth-callback-url (default http://DOMAIN:PORT/_burrow/oauth/callback)
                               as its one redirect URI at the provider
  --edges FILE                 HTTPS edges to load at start, ngrok API v2 JSON (repeatable; see
                               schemas/edge-api.schema.json); reloading updates, never duplicates
  --headers-timeout SECONDS    time a visitor has to send a complete request head (default 30)
  --idle-timeout SECONDS       idle time of a visitor's keep-alive connection (default 75)
  Edges serve their hostports on the TLS listener (default 127.0.0.1:8443 when edges are on).
Automatic certificates (ACME; needs --state-dir, where the account key and certificates live):
  --acme                       turn ACME on with Let's Encrypt production (any --acme-* flag does too)
  --acme-directory URL         another ACME directory (step-ca, pebble, …)   --acme-staging  Let's Encrypt staging
  --acme-email ADDR            account contact   --acme-ca FILE  extra roots for the directory's TLS
  --acme-dns-hook CMD          DNS-01 for a *.DOMAIN wildcard: runs CMD set|unset RECORD VALUE
  --acme-challenges LIST       preference among http-01,tls-alpn-01 (default http-01,tls-alpn-01)
  --acme-orders-per-hour N     at most N orders an hour (default 30)
  Names: reserved domains with a certificate_management_policy (default for new ones), and each
  name an agent binds under --domain (ordered at bind time); renewed with a third of the lifetime left.
  Agents join a tunnel group with labels: ngrok.yml v2 \`labels: [team=web]\` in a tunnel.
  --tcp-host HOST              address TCP endpoints listen on (default: --listen's host)
  --redis URL                  run as one node of a cluster sharing names, admin state and
                               counters through Redis (redis://[:PASSWORD@]HOST:PORT/DB); needs
                               BURROW_CLUSTER_SECRET (same on every node) and --node-addr
  --node-addr HOST:PORT        where this node listens for other nodes and serves GET /healthz
                               (must be reachable from the other nodes); see docs/cluster.md
  --drain-timeout SECONDS      on SIGTERM a node drains: agents move, requests in flight finish,
                               for at most this long (default 30)
`;

const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string', multiple: true },
  'web-addr': { type: 'string' },
  authtoken: { type: 'string' },
  edge: { type: 'string' },
  log: { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  // ngrok v2's region flag, still sent by wrappers (npm ngrok, pyngrok); Burrow has no regions.
  region: { type: 'string' },
} as const;

const EDGE_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  domain: { type: 'string' },
  listen: { type: 'string' },
  'tls-listen': { type: 'string' },
  'ngrok-agent-listen': { type: 'string' },
  'ngrok-response-timeout': { type: 'string' },
  'ngrok-inspect-db-size': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  tokens: { type: 'string' },
  'admin-addr': { type: 'string' },
  'api-key': { type: 'string' },
  'state-dir': { type: 'string' },
  edges: { type: 'string', multiple: true },
  redis: { type: 'string' },
  'node-addr': { type: 'string' },
  'tcp-host': { type: 'string' },
  acme: { type: 'boolean' },
  'acme-directory': { type: 'string' },
  'acme-staging': { type: 'boolean' },
  'acme-email': { type: 'string' },
  'acme-ca': { type: 'string' },
  'acme-dns-hook': { type: 'string' },
  'acme-challenges': { type: 'string' },
  'acme-orders-per-hour': { type: 'string' },
  'oauth-app': { type: 'string', multiple: true },
  'oauth-callback-url': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  log: { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

function loggerFrom(
  values: { log?: string; 'log-format'?: string; 'log-level'?: string },
  fallback: string | false,
): Logger {
  const format = values['log-format'] ?? 'logfmt';
  if (!['term', 'logfmt', 'json'].includes(format))
    throw new UsageError(`--log-format "${format}": use term, logfmt or json`);
  const level = values['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error', 'crit'].includes(level))
    throw new UsageError(`--log-level "${level}": use debug, info, warn, error or crit`);
  return createLogger(values.log ?? fallback, format as LogFormat, level as LogLevel);
}

/** A positive number of seconds as milliseconds (undefined when the flag is absent). */
function seconds(text: string | undefined, flag: string, zeroOk = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk))
    throw new UsageError(`--${flag} needs a positive number of seconds, got "${text}"`);
  return Math.round(n * 1000);
}

function integer(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} needs a whole number, got "${text}"`);
  return n;
}

function parseListen(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${flag} "${text}": expected HOST:PORT or PORT`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

/** Waits for Ctrl+C / SIGTERM, then runs `stop`. */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

class ConfigError extends Error {
  constructor(
    message: string,
    readonly code = 'ERR_BURROW_CONFIG',
  ) {
    super(message);
  }
}

type AgentFlags = {
  authtoken?: string;
  edge?: string;
  config?: string[];
  'web-addr'?: string;
  log?: string;
  'log-format'?: string;
  'log-level'?: string;
};

/** The config files (default location unless --config), with the CLI flag and env overriding the authtoken. */
function agentConfig(values: AgentFlags): LoadedConfig {
  // `--config a.yml,b.yml` as well as repeated --config, as ngrok's flag takes both
  const paths = values.config?.flatMap((c) => c.split(',')).filter(Boolean);
  const config = loadConfig({ paths, authtoken: values.authtoken });
  for (const p of config.problems) process.stderr.write(`${formatProblem(p)}\n`);
  if (hasErrors(config.problems))
    throw new ConfigError(
      `the configuration has errors (${config.files.join(', ')}): fix them or run burrow config check`,
    );
  // With the embedded edge its managed OAuth apps are known here: refuse before anything starts.
  if (!(values.edge ?? process.env.BURROW_EDGE ?? config.settings.edgeUrl)) {
    const env = { managedOAuth: { apps: managedAppsFrom([], process.env), callbackUrl: 'http://localhost/' } };
    for (const spec of config.endpoints) {
      try {
        if (spec.proto === 'http') buildPipeline(spec.edge, env);
      } catch (err) {
        if (err instanceof ModuleConfigError) throw new ConfigError(`tunnel "${spec.name}": ${err.message}`, err.code);
        throw err;
      }
    }
  }
  return config;
}

async function runEndpoint(proto: 'http' | 'tcp' | 'tls', args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON_FLAGS, ...ENDPOINT_FLAGS });
  if (values.help) return help();
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const spec = endpointFromFlags(proto, positionals[0], values as EndpointFlagValues);
  if (proto === 'tls' && !spec.domain && !spec.subdomain)
    throw new UsageError('burrow tls needs --domain (TLS endpoints are routed by SNI)');
  return runAgent([spec], agentConfig(values).settings, values);
}

/** `burrow start NAME… | --all | --none`: tunnels and endpoints from the config files. */
async function runStart(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON_FLAGS, all: { type: 'boolean' }, none: { type: 'boolean' } });
  if (values.help) return help();
  if ([values.all, values.none, positionals.length > 0].filter(Boolean).length !== 1) {
    throw new UsageError('burrow start needs tunnel names, --all, or --none');
  }
  const config = agentConfig(values);
  let specs = config.endpoints;
  if (values.none) specs = [];
  else if (!values.all) {
    const known = new Map(config.endpoints.map((e) => [e.name, e]));
    const missing = positionals.filter((n) => !known.has(n));
    if (missing.length) {
      throw new ConfigError(
        `no tunnel or endpoint named ${missing.map((n) => `"${n}"`).join(', ')} in ${config.files.join(', ') || 'the config (no file found)'}; defined: ${[...known.keys()].join(', ') || 'none'}`,
      );
    }
    specs = positionals.map((n) => known.get(n)!);
  }
  return runAgent(specs, config.settings, values);
}

async function runConfig(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    help: { type: 'boolean', short: 'h' },
    config: { type: 'string', multiple: true },
    // accepted as ngrok does (pyngrok runs `config add-authtoken T --log=stdout`); nothing to log here
    log: { type: 'string' },
    'log-format': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.help) return help();
  const stdout = { write: (t: string) => process.stdout.write(t) };
  const stderr = { write: (t: string) => process.stderr.write(t) };
  if (sub === 'check') {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (use --config FILE)`);
    return runConfigCheck(values.config, stdout) === 0 ? 0 : 2;
  }
  if (sub === 'add-authtoken') {
    if (positionals.length !== 1) throw new UsageError('usage: burrow config add-authtoken TOKEN [--config FILE]');
    return runAddAuthtoken(positionals[0], values.config?.at(-1), stdout, stderr);
  }
  throw new UsageError(`unknown config command "${sub ?? ''}": use burrow config check | add-authtoken TOKEN`);
}

async function runAgent(specs: EndpointSpec[], settings: AgentSettings, values: AgentFlags): Promise<number> {
  const logger = loggerFrom(
    {
      ...values,
      log: values.log ?? (settings.log === false ? undefined : settings.log),
      'log-format': values['log-format'] ?? settings.logFormat,
    },
    false,
  );
  const edgeUrl = values.edge ?? process.env.BURROW_EDGE ?? settings.edgeUrl;
  const webAddr = values['web-addr'] === 'false' ? false : (values['web-addr'] ?? settings.webAddr);
  // Per-body capture cap: the VS Code setting burrow.capture.maxBodyBytes arrives through the environment.
  const maxBodyBytes = Number(process.env.BURROW_CAPTURE_MAX_BODY_BYTES) || undefined;
  const capture = CaptureStore.fromInspectDbSize(settings.inspectDbSize, maxBodyBytes);
  const agent = new Agent({ edgeUrl, authtoken: settings.authtoken, capture });
  agent.on('tunnel', (t) =>
    logger.log(
      t.status === 'online' ? 'info' : 'warn',
      t.status === 'online' ? 'started tunnel' : `tunnel ${t.status}`,
      {
        obj: 'tunnels',
        name: t.name,
        addr: t.upstreamUrl,
        url: t.urls.join(' '),
        err: t.error?.message,
      },
    ),
  );
  // One record per HTTP request, modelled on ngrok's http_request_complete.v0 log event.
  agent.on('exchange', (x) => {
    if (!logger.logs('info')) return; // no record built per request when nothing is written
    // A TCP/TLS connection is logged (ngrok's tcp_connection_closed.v0) when its policy logged something.
    if (x.tcp?.logs?.length)
      logger.log('info', 'tcp_connection_closed.v0', {
        obj: 'tcp',
        name: x.tunnel,
        'conn.client_ip': x.remoteAddr,
        'conn.duration_ms': Math.round(x.durationMs * 1000) / 1000,
        'traffic_policy.logs': x.tcp.logs,
      });
    if (!x.http) return;
    const q = x.http.url.indexOf('?');
    logger.log('info', 'http_request_complete.v0', {
      obj: 'http',
      name: x.tunnel,
      'conn.client_ip': x.remoteAddr,
      'http.request.method': x.http.method,
      'http.request.url.path': q === -1 ? x.http.url : x.http.url.slice(0, q),
      'http.request.url.query': q === -1 ? undefined : x.http.url.slice(q + 1),
      'http.response.status_code': x.http.statusCode,
      'http.duration_ms': Math.round(x.durationMs * 1000) / 1000,
      'error.code': x.http.errorCode,
      // The traffic-policy `log` action's entries, under ngrok's event key.
      'traffic_policy.logs': x.http.logs,
    });
  });
  // Session lines in ngrok's words: wrappers wait for "client session established" and "tunnel
  // session started" (pyngrok) and watch for "session closed, starting reconnect loop" (npm ngrok).
  agent.on('offline', (e) =>
    logger.log('warn', 'session closed, starting reconnect loop', { obj: 'csess', err: `${e.code}: ${e.message}` }),
  );
  agent.on('online', ({ reconnected }) => {
    logger.log('info', 'client session established', { obj: 'csess', reconnected: reconnected || undefined });
    logger.log('info', 'tunnel session started', { obj: 'tunnels.session' });
  });
  // The API backend also owns the per-tunnel metrics the console shows, with or without the API.
  const backend = new AgentApiBackend(agent, capture);
  let api: ApiServer | undefined;
  try {
    await agent.start();
    // The local API (ngrok's :4040) and inspector; the next free port if 4040 is taken.
    if (webAddr !== false) {
      api = await startApiServer({ backend, webAddr, allowHosts: settings.webAllowHosts });
      // ngrok's words and fields: wrappers read `addr=IP:PORT` from this line (no scheme).
      logger.log('info', 'starting web service', { obj: 'web', addr: api.url.replace(/^https?:\/\//, '') });
    }
    for (const spec of specs) await agent.startTunnel(spec);
  } catch (err) {
    await api?.close();
    await agent.close();
    logger.close();
    const e = err as { code?: string; message: string };
    printError(`${e.message}`, e.code, hintFor(e.code));
    return 1;
  }
  const edgeLabel = agent.embedded ? `embedded (127.0.0.1:${agent.embedded.httpPort})` : agent.edgeUrl;
  const stopConsole = logger.toStdout
    ? () => undefined
    : startConsole(agent, { edge: edgeLabel, webUrl: api?.url }, () => consoleRates(backend));
  let fatal: { code: string; message: string } | undefined;
  agent.on('fatal', (e) => {
    fatal = e;
    process.kill(process.pid, 'SIGTERM');
  });
  await untilSignal(async () => {
    stopConsole();
    await api?.close();
    await agent.close();
  });
  logger.close();
  if (fatal) {
    printError(fatal.message, fatal.code, hintFor(fatal.code));
    return 1;
  }
  return 0;
}

async function runEdge(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, EDGE_FLAGS);
  if (values.help) return help();
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const logger = loggerFrom(values, 'stdout');
  const tokens = TokenSet.load({ file: values.tokens, env: process.env.BURROW_EDGE_TOKENS });
  const apiKey = values['api-key'] ?? process.env.BURROW_API_KEY;
  const adminAddr = values['admin-addr'] ? parseListen(values['admin-addr'], 'admin-addr') : undefined;
  if (adminAddr && !apiKey) throw new UsageError('the admin API needs an API key: --api-key KEY or BURROW_API_KEY');
  if (tokens.size === 0 && !adminAddr)
    throw new UsageError(
      'the edge needs at least one authtoken: --tokens FILE or BURROW_EDGE_TOKENS=t1,t2 (or --admin-addr to create credentials)',
    );
  if (!!values.cert !== !!values.key) throw new UsageError('--cert and --key go together');
  const certificate = values.cert && values.key ? await loadCertificate(values.cert, values.key) : undefined;
  const domain = (values.domain ?? 'localhost').toLowerCase();
  const acmeOn = !!(
    values.acme ||
    values['acme-directory'] ||
    values['acme-staging'] ||
    values['acme-email'] ||
    values['acme-ca'] ||
    values['acme-dns-hook']
  );
  if (acmeOn && !values['state-dir'])
    throw new UsageError('ACME needs --state-dir DIR: the account key and the certificates are kept there');
  if (values['acme-directory'] && values['acme-staging'])
    throw new UsageError('--acme-directory and --acme-staging are exclusive');
  const challenges = (values['acme-challenges'] ?? 'http-01,tls-alpn-01').split(',').map((c) => c.trim());
  if (challenges.some((c) => c !== 'http-01' && c !== 'tls-alpn-01'))
    throw new UsageError(`--acme-challenges "${values['acme-challenges']}": use http-01 and/or tls-alpn-01`);
  const ordersPerHour = Number(values['acme-orders-per-hour'] ?? 30);
  if (!Number.isInteger(ordersPerHour) || ordersPerHour < 1)
    throw new UsageError('--acme-orders-per-hour needs a positive whole number');
  let acmeCa: string | undefined;
  if (values['acme-ca']) {
    try {
      acmeCa = readFileSync(values['acme-ca'], 'utf8');
    } catch (err) {
      throw new UsageError(`--acme-ca ${values['acme-ca']}: ${(err as Error).message}`);
    }
    if (!acmeCa.includes('-----BEGIN CERTIFICATE-----'))
      throw new UsageError(`--acme-ca ${values['acme-ca']}: no PEM certificate in it`);
  }
  let managedOAuth;
  try {
    managedOAuth = {
      apps: managedAppsFrom(values['oauth-app'] ?? [], process.env),
      callbackUrl: values['oauth-callback-url'],
    };
  } catch (err) {
    if (err instanceof ManagedAppError) throw new UsageError(err.message);
    throw err;
  }
  if (managedOAuth.callbackUrl !== undefined && !/^https?:\/\/[^/]+\/\S*$/.test(managedOAuth.callbackUrl))
    throw new UsageError(`--oauth-callback-url "${managedOAuth.callbackUrl}": expected an http(s) URL`);
  const edgesOn = !!(adminAddr || values.edges?.length || values['state-dir'] || values.redis);
  const ipPolicies = new IpPolicyStore();
  let cluster: EdgeCluster | undefined;
  if (values.redis || values['node-addr']) {
    if (!values.redis || !values['node-addr'])
      throw new UsageError('--redis and --node-addr go together (a cluster node needs both)');
    if (values['state-dir']) throw new UsageError('with --redis the admin state lives in Redis: drop --state-dir');
    try {
      cluster = new EdgeCluster({
        redisUrl: values.redis,
        nodeAddr: parseListen(values['node-addr'], 'node-addr'),
        secret: process.env.BURROW_CLUSTER_SECRET ?? '',
        log: (level, msg, fields) => logger.log(level, msg, fields ?? {}),
      });
    } catch (err) {
      if (err instanceof ClusterError) throw new ConfigError(err.message, err.code);
      throw err;
    }
  }
  const rateLimiter = cluster?.rateLimiter();
  const drainMs = (seconds(values['drain-timeout'], 'drain-timeout') ?? 30_000) as number;
  const httpListen = parseListen(values.listen ?? '127.0.0.1:8080', 'listen');
  const wildcardHost = httpListen.host === '0.0.0.0' || httpListen.host === '::';
  let httpsEdges: HttpsEdges | undefined;
  let store: EdgeStore | undefined;
  if (cluster) {
    try {
      store = await cluster.connect();
    } catch (err) {
      printError(
        (err as Error).message,
        (err as { code?: string }).code,
        'is redis-server running, and is --redis right?',
      );
      return 1;
    }
  }
  if (edgesOn) {
    try {
      httpsEdges = createHttpsEdges({
        stateDir: values['state-dir'],
        store,
        domain,
        ipPolicies,
        tokens,
        tcpHost: wildcardHost ? domain : httpListen.host,
        tcpBindHost: httpListen.host,
        acme: acmeOn,
        rateLimiter,
        boundInCluster: cluster && ((host) => cluster!.isBound(host)),
        remoteLabeled: cluster && (() => cluster!.labeledElsewhere()),
      });
      const loaded = await loadEdgeFiles(httpsEdges.service, values.edges ?? []);
      if (values.edges?.length)
        logger.log('info', 'edges loaded', {
          obj: 'edges',
          files: values.edges.join(' '),
          edges: loaded.edges,
          backends: loaded.backends,
        });
    } catch (err) {
      if (err instanceof EdgeFileError || err instanceof StateFileError) throw new ConfigError(err.message, err.code);
      throw err;
    }
  }
  const certificates = edgesOn
    ? new CertificateStore(httpsEdges && ((host) => httpsEdges!.overlay.uploadedCertificate(host)))
    : undefined;
  const edge = new Edge({
    domain,
    http: httpListen,
    tls: values['tls-listen']
      ? parseListen(values['tls-listen'], 'tls-listen')
      : edgesOn
        ? { host: '127.0.0.1', port: 8443 }
        : undefined,
    certificate,
    tokens,
    ipPolicies,
    httpsEdges: httpsEdges?.router,
    cluster,
    authThrottle: cluster?.authThrottle(),
    rateLimiter,
    tcpHost: values['tcp-host'],
    account: httpsEdges?.overlay,
    certificates,
    managedOAuth,
    limits: {
      headersTimeoutMs: seconds(values['headers-timeout'], 'headers-timeout'),
      keepAliveTimeoutMs: seconds(values['idle-timeout'], 'idle-timeout'),
    },
  });
  httpsEdges?.attach(edge);
  const acme =
    acmeOn && certificates && httpsEdges
      ? new AcmeManager(
          {
            directoryUrl:
              values['acme-directory'] ?? (values['acme-staging'] ? LETSENCRYPT_STAGING : LETSENCRYPT_PRODUCTION),
            email: values['acme-email'],
            caPem: acmeCa,
            stateDir: values['state-dir']!,
            domain,
            challenges: challenges as ('http-01' | 'tls-alpn-01')[],
            dnsHook: values['acme-dns-hook'],
            ordersPerHour,
            // Test hooks: how often to look for due renewals, and a file shifting the clock.
            checkIntervalMs: Number(process.env.BURROW_ACME_CHECK_MS) || undefined,
            clockOffsetFile: process.env.BURROW_ACME_CLOCK_OFFSET_FILE,
            log: (level, msg, fields) => logger.log(level, msg, fields),
          },
          certificates,
          {
            isHostBound: (host) => edge.isHostBound(host),
            reservedDomains: () => httpsEdges!.store.state.reserved_domains,
            setStatus: (name, status) => httpsEdges!.account.setCertificateStatus(name, status),
          },
        )
      : undefined;
  if (acme) {
    // HTTP endpoints only: TLS endpoints pass TLS through to the agent, whose certificate is its own.
    edge.on('bind', (b) => {
      if (b.proto === 'http') acme.onBind(b.hosts);
    });
    // A reserved domain added or given a policy is looked at without waiting for the next check.
    let queued = false;
    httpsEdges!.store.on('change', () => {
      if (queued) return;
      queued = true;
      setImmediate(() => {
        queued = false;
        void acme.check();
      });
    });
  }
  // Only the admin API reads the capture: without one, capturing would be work for nobody.
  const ngrokCapture =
    values['ngrok-agent-listen'] && adminAddr
      ? CaptureStore.fromInspectDbSize(integer(values['ngrok-inspect-db-size'], 'ngrok-inspect-db-size'))
      : undefined;
  const ngrokAgents = values['ngrok-agent-listen']
    ? new NgrokAgentServer({
        edge,
        tokens,
        listen: parseListen(values['ngrok-agent-listen'], 'ngrok-agent-listen'),
        capture: ngrokCapture?.enabled ? ngrokCapture : undefined,
        responseTimeoutMs: seconds(values['ngrok-response-timeout'], 'ngrok-response-timeout', true),
      })
    : undefined;
  const admin =
    adminAddr && httpsEdges
      ? new AdminApi({
          service: httpsEdges.service,
          router: httpsEdges.router,
          account: httpsEdges.account,
          captures: ngrokCapture?.enabled ? ngrokCapture : undefined,
          apiKey: apiKey!,
          ...adminAddr,
        })
      : undefined;
  edge.on('session', (s) =>
    logger.log('info', 'agent connected', { obj: 'sess', id: s.sessionId, addr: s.remoteAddr }),
  );
  edge.on('session-closed', (s) =>
    logger.log('info', 'agent disconnected', { obj: 'sess', id: s.sessionId, err: s.error?.message }),
  );
  edge.on('bind', (b) =>
    logger.log('info', 'endpoint bound', { obj: 'endpoint', name: b.name, url: b.urls.join(' ') }),
  );
  edge.on('unbind', (b) =>
    logger.log('info', 'endpoint unbound', { obj: 'endpoint', name: b.name, url: b.urls.join(' ') }),
  );
  try {
    await edge.start();
    await ngrokAgents?.start();
    await admin?.start();
    await cluster?.listen(edge);
    acme?.start();
  } catch (err) {
    await admin?.close().catch(() => undefined);
    await ngrokAgents?.close().catch(() => undefined);
    await edge.close().catch(() => undefined);
    await cluster?.close().catch(() => undefined);
    printError(`could not start the edge: ${(err as Error).message}`, (err as { code?: string }).code);
    return 1;
  }
  logger.log('info', 'edge listening', {
    obj: 'edge',
    http: edge.httpPort,
    tls: edge.tlsPort || undefined,
    agents: `ws://HOST:${edge.httpPort}/_burrow/session`,
    ngrok_agents: ngrokAgents ? `${values['ngrok-agent-listen']!.replace(/:\d+$/, '')}:${ngrokAgents.port}` : undefined,
    admin: admin ? `http://${adminAddr!.host}:${admin.port}` : undefined,
    node: cluster ? `${cluster.node} ${values['node-addr']} (redis ${cluster.redisLabel})` : undefined,
  });
  await untilSignal(async () => {
    // A cluster node drains first: agents move to other nodes, in-flight requests finish.
    if (cluster) {
      logger.log('info', 'draining', { obj: 'cluster', node: cluster.node });
      await edge.drain(drainMs, ngrokAgents ? [(handoffUntil) => ngrokAgents.drain(handoffUntil)] : []);
    }
    acme?.stop();
    await admin?.close();
    await ngrokAgents?.close();
    await edge.close();
    await cluster?.close();
  });
  logger.close();
  return 0;
}

function hintFor(code: string | undefined): string | undefined {
  switch (code) {
    case 'ERR_NGROK_107':
      return "check the authtoken (--authtoken, BURROW_AUTHTOKEN or NGROK_AUTHTOKEN) against the edge's tokens file";
    case 'ERR_NGROK_4018':
      return 'this edge needs an authtoken: pass --authtoken or set BURROW_AUTHTOKEN';
    case 'ERR_NGROK_334':
      return 'another agent already serves that name: pick another --domain, or stop the other agent';
    case 'ERR_BURROW_EDGE_UNREACHABLE':
      return 'is the edge running, and is --edge right (e.g. wss://edge.example.com)?';
    case 'ERR_BURROW_UPSTREAM_ADDR':
      return 'give a port (3000), host:port, http(s)://host:port or file:///abs/path';
    default:
      return undefined;
  }
}

function printError(message: string, code?: string, hint?: string): void {
  process.stderr.write(`ERROR: ${message}\n`);
  if (code) process.stderr.write(`ERROR: code ${code}\n`);
  if (hint) process.stderr.write(`HINT:  ${hint}\n`);
}

/** The ngrok agent version whose interface Burrow follows (v3 config, /api/endpoints, pooling). */
export const NGROK_COMPAT_VERSION = '3.30.0';

/**
 * What `burrow version` / `--version` print: `burrow version X`; run through a file named `ngrok` (a symlink to bin/burrow, for wrappers
 * that start "ngrok"), `ngrok version 3.30.0 (burrow X)`: wrappers read the text after
 * "ngrok version" (npm ngrok's getVersion) or its leading semver, and it still says it is Burrow.
 */
export function versionLine(invokedAs: string = path.basename(process.argv[1] ?? '')): string {
  return /^ngrok(\.exe)?$/i.test(invokedAs)
    ? `ngrok version ${NGROK_COMPAT_VERSION} (burrow ${VERSION})\n`
    : `burrow version ${VERSION}\n`;
}

function help(): number {
  process.stdout.write(HELP);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'http':
      case 'tcp':
      case 'tls':
        return await runEndpoint(command, rest);
      case 'edge':
        return await runEdge(rest);
      case 'start':
        return await runStart(rest);
      case 'config':
        return await runConfig(rest);
      case 'service': {
        const { values, positionals } = parse(rest, {
          help: { type: 'boolean', short: 'h' },
          config: { type: 'string', multiple: true },
        });
        if (values.help) return help();
        return runService(positionals[0], values.config ?? [], process.stdout);
      }
      case 'version':
      case '--version':
        process.stdout.write(versionLine());
        return 0;
      case 'authtoken':
        // ngrok v2's command (v3 keeps it as an alias of `config add-authtoken`); the npm wrapper uses it
        return await runConfig(['add-authtoken', ...rest]);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return help();
      default:
        throw new UsageError(`unknown command "${command}"; run burrow help`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof ServiceError) {
      printError(err.message, err.code);
      return 2;
    }
    const e = err as { code?: string; message: string };
    printError(e.message, e.code ?? (err instanceof AgentError ? err.code : 'ERR_BURROW_INTERNAL'));
    return 1;
  }
}

/** Runs the command and exits with its code: what bin/burrow (and `node dist/burrow.js`) do. */
export function run(argv: string[]): void {
  applyV8Flags();
  capYoungGeneration();
  keepMallocTopResident();
  trimHeapWhenIdle();
  main(argv).then(
    (code) => process.exit(code),
    (err) => {
      printError(String((err as Error)?.message ?? err), 'ERR_BURROW_INTERNAL');
      process.exit(1);
    },
  );
}

// `node dist/burrow.js …` (tests, benchmarks, the extension's child process, service units) runs this
// bundle as the main script; bin/burrow requires it and calls run() itself, so the command works
// however it is reached (npx, a global install, a symlink to the bin).
if (require.main === module) run(process.argv.slice(2));
