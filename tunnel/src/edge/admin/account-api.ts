// Admin API routes of the account resources (account.ts): same paging, codes and shapes as the
// edge resources in admin-api.ts.
//   /tls_certificates[/{id}]                      GET list, POST, GET, PATCH, DELETE
//   /reserved_addrs[/{id}]                        GET list, POST, GET, PATCH, DELETE
//   /endpoint_configurations[/{id}]               GET list, POST, GET, PATCH, DELETE
//   /endpoint_configurations/{id}/{module}        GET, PUT (replace), DELETE
//   /tunnel_sessions[/{id}]                       GET list, GET
//   /tunnel_sessions/{id}/{stop|restart|update}   POST: ngrok's commands to the agent (204 once it agreed)
import { ENDPOINT_CONFIG_MODULES, type EndpointConfigModuleKey } from './types';
import {
  renderCertificate,
  renderEndpointConfig,
  renderEndpointConfigModule,
  renderReservedAddr,
  renderSession,
  type AccountService,
} from './account';
import { created, gone, need, ok, page, type Call, type Route } from './api-kit';

export function accountRoutes(acct: AccountService): Route[] {
  const ID = '([A-Za-z0-9_]+)';
  return [
    {
      pattern: /^\/tls_certificates$/,
      methods: {
        GET: (c) =>
          page(c, 'tls_certificates', acct.store.state.tls_certificates, (x) => renderCertificate(c.render, x)),
        POST: (c) => created(renderCertificate(c.render, acct.createCertificate(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/tls_certificates/${ID}$`),
      methods: {
        GET: (c) => ok(renderCertificate(c.render, acct.getCertificate(c.params[0]))),
        PATCH: (c) => ok(renderCertificate(c.render, acct.updateCertificate(c.params[0], need(c.body)))),
        DELETE: (c) => (acct.deleteCertificate(c.params[0]), gone()),
      },
    },
    {
      pattern: /^\/reserved_addrs$/,
      methods: {
        GET: (c) => page(c, 'reserved_addrs', acct.store.state.reserved_addrs, (x) => renderReservedAddr(c.render, x)),
        POST: async (c) => created(renderReservedAddr(c.render, await acct.createReservedAddr(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/reserved_addrs/${ID}$`),
      methods: {
        GET: (c) => ok(renderReservedAddr(c.render, acct.getReservedAddr(c.params[0]))),
        PATCH: (c) => ok(renderReservedAddr(c.render, acct.updateReservedAddr(c.params[0], need(c.body)))),
        DELETE: (c) => (acct.deleteReservedAddr(c.params[0]), gone()),
      },
    },
    {
      pattern: /^\/endpoint_configurations$/,
      methods: {
        GET: (c) =>
          page(c, 'endpoint_configurations', acct.store.state.endpoint_configurations, (x) =>
            renderEndpointConfig(c.render, x),
          ),
        POST: (c) => created(renderEndpointConfig(c.render, acct.createEndpointConfig(need(c.body)))),
      },
    },
    {
      pattern: new RegExp(`^/endpoint_configurations/${ID}$`),
      methods: {
        GET: (c) => ok(renderEndpointConfig(c.render, acct.getEndpointConfig(c.params[0]))),
        PATCH: (c) => ok(renderEndpointConfig(c.render, acct.updateEndpointConfig(c.params[0], need(c.body)))),
        DELETE: (c) => (acct.deleteEndpointConfig(c.params[0]), gone()),
      },
    },
    ...(Object.keys(ENDPOINT_CONFIG_MODULES) as EndpointConfigModuleKey[]).map((key) => ({
      pattern: new RegExp(`^/endpoint_configurations/${ID}/${key}$`),
      methods: {
        GET: (c: Call) =>
          ok(renderEndpointConfigModule(c.render, key, acct.getEndpointConfig(c.params[0])[key] ?? null)),
        PUT: (c: Call) =>
          ok(renderEndpointConfigModule(c.render, key, acct.putEndpointConfigModule(c.params[0], key, need(c.body)))),
        DELETE: (c: Call) => (acct.putEndpointConfigModule(c.params[0], key, null), gone()),
      },
    })),
    {
      pattern: /^\/tunnel_sessions$/,
      methods: {
        GET: (c) => page(c, 'tunnel_sessions', acct.listSessions(), (s) => renderSession(c.render, s)),
      },
    },
    {
      pattern: new RegExp(`^/tunnel_sessions/${ID}$`),
      methods: {
        GET: (c) => ok(renderSession(c.render, acct.getSession(c.params[0]))),
      },
    },
    ...(['stop', 'restart', 'update'] as const).map((command): Route => ({
      pattern: new RegExp(`^/tunnel_sessions/${ID}/${command}$`),
      idBody: true,
      methods: { POST: async (c) => (await acct.commandSession(c.params[0], command), gone()) },
    })),
  ];
}
