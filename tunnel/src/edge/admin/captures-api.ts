// Requests the edge captured itself: the HTTP exchanges of ngrok's agents, which carry bytes only
// (tunnel/NGROK-PROTOCOL.md §5; Burrow's own agents capture in the agent). Same JSON as the agent's
// local API (ngrok's `GET /api/requests/http`), so one client reads both; `tunnel_name` is the
// endpoint's URL. Bounded like the agent's store (`burrow edge --ngrok-inspect-db-size`).
//   GET    /requests/http            ?limit= (default 50) &tunnel_name=URL → {requests, uri}, newest first
//   DELETE /requests/http            clear → 204
//   GET    /requests/http/{id}       one capture (with `raw`); DELETE → 204
//   GET    /requests/http/{id}/har   HAR 1.2 of one capture
import { exchangesToHar } from '../../capture/har';
import { exchangeToNgrokJson } from '../../capture/ngrok-json';
import type { CaptureStore, CapturedExchange } from '../../capture/store';
import { VERSION } from '../../version';
import { gone, ok, type Call, type Route } from './api-kit';
import { badRequest, notFound } from './errors';

export function captureRoutes(store: CaptureStore): Route[] {
  const render = (c: Call, ex: CapturedExchange, raw: boolean) => ({
    ...exchangeToNgrokJson(ex, { raw }),
    uri: `${c.render.base}/requests/http/${ex.id}`,
  });
  const find = (id: string): CapturedExchange => {
    const ex = store.get(id);
    if (!ex) throw notFound('ERR_BURROW_NOT_FOUND', `Captured request ${id} not found.`);
    return ex;
  };
  return [
    {
      pattern: /^\/requests\/http$/,
      methods: {
        GET: (c) => {
          for (const k of c.query.keys())
            if (k !== 'limit' && k !== 'tunnel_name')
              throw badRequest(
                'ERR_NGROK_231',
                `The query part of the requested URI includes unknown parameters: ${k}. The supported parameters are: limit, tunnel_name.`,
              );
          const text = c.query.get('limit');
          const limit = text === null ? 50 : Number(text);
          if (!Number.isInteger(limit) || limit < 0)
            throw badRequest('ERR_NGROK_233', `The limit must be a non-negative integer but ${text} was provided.`);
          const list = store.list({ limit, tunnelName: c.query.get('tunnel_name') ?? undefined });
          return ok({ requests: list.map((ex) => render(c, ex, true)), uri: `${c.render.base}/requests/http` });
        },
        DELETE: () => (store.clear(), gone()),
      },
    },
    {
      pattern: /^\/requests\/http\/([0-9a-f]{16})$/,
      methods: {
        GET: (c) => ok(render(c, find(c.params[0]), true)),
        DELETE: (c) => (store.delete(find(c.params[0]).id), gone()),
      },
    },
    {
      pattern: /^\/requests\/http\/([0-9a-f]{16})\/har$/,
      methods: {
        GET: (c) => ok(exchangesToHar([find(c.params[0])], { baseUrlFor: (name) => name, creatorVersion: VERSION })),
      },
    },
  ];
}
