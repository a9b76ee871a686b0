// Node's raw header lists — [name, value, name, value, …], names as sent, repeats kept in order —
// read and edited in one place. Names compare case-insensitively (callers get them lower-cased);
// HTTP/2 pseudo-headers (`:path`) are ordinary entries here, dropped where a caller must.
// Plain loops, no iterators: these run on every proxied request. A name is lower-cased only when
// its length matches the one looked for (no name of another length lower-cases to an ASCII one).

/** Every value of `name` (any case), in order. */
export function rawHeaderValues(raw: readonly string[], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i].length === lower.length && raw[i].toLowerCase() === lower) out.push(raw[i + 1]);
  return out;
}

/** The first value of `name` (any case). */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i].length === lower.length && raw[i].toLowerCase() === lower) return raw[i + 1];
  return undefined;
}

export function hasRawHeader(raw: readonly string[], name: string): boolean {
  return rawHeader(raw, name) !== undefined;
}

/** A new list of the entries `keep` accepts (given the lower-case name). */
export function filterRawHeaders(
  raw: readonly string[],
  keep: (lowerName: string, value: string) => boolean,
): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (keep(raw[i].toLowerCase(), raw[i + 1])) out.push(raw[i], raw[i + 1]);
  return out;
}

/** Removes, in place, the entries `drop` accepts (given the lower-case name). */
export function removeRawHeaders(raw: string[], drop: (lowerName: string, value: string) => boolean): void {
  for (let i = raw.length - 2; i >= 0; i -= 2) if (drop(raw[i].toLowerCase(), raw[i + 1])) raw.splice(i, 2);
}

/** One entry per lower-case name, repeats as arrays: the object HTTP/2's writeHead takes. */
export function rawHeadersObject(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1] : ([] as string[]).concat(prev, raw[i + 1]);
  }
  return out;
}

/** Lower-case name → every value, pseudo-headers left out (ngrok's `req.headers` in CEL). */
export function rawHeadersMap(raw: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!name.startsWith(':')) (out[name] ??= []).push(raw[i + 1]);
  }
  return out;
}

/** `Name: value\r\n` per entry, for an HTTP/1.1 head written by hand. */
export function rawHeadersText(raw: readonly string[]): string {
  let text = '';
  for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return text;
}
