// What every admin API resource module shares: the call a handler gets, a route, ngrok's list
// paging and the small reply helpers (admin-api.ts and account-api.ts both build routes from these).
import { badRequest } from './errors';
import type { Renderer } from './render';

type Json = Record<string, unknown>;
export interface Call {
  method: string;
  params: string[];
  body: Json | undefined;
  query: URLSearchParams;
  render: Renderer;
  path: string;
}
type Handler = (call: Call) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>;
export interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  /**
   * A command on the resource in the path (`POST /tunnel_sessions/{id}/stop`): its only body is that
   * id, which ngrok's generated clients post bare (`ts_…`, not JSON). Empty, the id, the id as a JSON
   * string or `{"id": id}` are accepted; anything else is ERR_NGROK_213.
   */
  idBody?: boolean;
}

/** ngrok's list shape with `before_id`/`limit` paging over items sorted newest first. */
export function page<T extends { id: string }>(
  call: Call,
  key: string,
  items: readonly T[],
  render: (t: T) => unknown,
): { status: number; body: unknown } {
  for (const k of call.query.keys()) {
    if (k !== 'limit' && k !== 'before_id')
      throw badRequest(
        'ERR_NGROK_231',
        `The query part of the requested URI includes unknown parameters: ${k}. The supported parameters are: before_id, limit.`,
      );
  }
  const limitText = call.query.get('limit');
  const limit = limitText === null ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw badRequest('ERR_NGROK_233', `The page size limit must be between 1 and 100 but ${limitText} was provided.`);
  const before = call.query.get('before_id');
  const sorted = [...items]
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .filter((i) => !before || i.id < before);
  const slice = sorted.slice(0, limit);
  const uri = `${call.render.base}${call.path}`;
  const next =
    sorted.length > limit ? `${uri}?before_id=${encodeURIComponent(slice[slice.length - 1].id)}&limit=${limit}` : null;
  return { status: 200, body: { [key]: slice.map(render), uri, next_page_uri: next } };
}

export const ok = (body: unknown) => ({ status: 200, body });
export const created = (body: unknown) => ({ status: 201, body });
export const gone = () => ({ status: 204 });
export const need = (body: Json | undefined): Json => body ?? {};
