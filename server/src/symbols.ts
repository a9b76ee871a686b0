// Outline (document symbols) and the CodeLens data: tunnels and endpoints with their ranges.
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair, ParsedNode } from 'yaml';
import type { Analysis } from './analysis';
import type { EndpointLens, EndpointLensesResult } from './protocol';
import { scalarKey } from '../../tunnel/src/config/yaml-nodes';

type PNode = ParsedNode | null;
type PPair = Pair<ParsedNode, PNode>;

function pairsOf(node: PNode | undefined): PPair[] {
  return isMap(node) ? (node.items as PPair[]) : [];
}
function get(node: PNode | undefined, key: string): PNode | undefined {
  return pairsOf(node).find((p) => scalarKey(p) === key)?.value;
}
function text(node: PNode | undefined): string | undefined {
  return isScalar(node) && node.value !== null && typeof node.value !== 'object' ? String(node.value) : undefined;
}

/** Where nodes are: the editor's document, and how a tree's offsets map into it. */
interface Mapper {
  doc: TextDocument;
  toOffset: (offset: number) => number;
}

function range(m: Mapper, from: PNode | undefined, to: PNode | undefined = from) {
  const a = m.toOffset(from?.range?.[0] ?? 0);
  const b = Math.max(m.toOffset(to?.range?.[1] ?? from?.range?.[0] ?? 0), a);
  return { start: m.doc.positionAt(a), end: m.doc.positionAt(b) };
}

function sym(
  m: Mapper,
  name: string,
  kind: SymbolKind,
  key: PNode | undefined,
  value: PNode | undefined,
  detail?: string,
  children?: DocumentSymbol[],
): DocumentSymbol {
  return {
    name: name || '""',
    kind,
    detail,
    range: range(m, key ?? value, value ?? key),
    selectionRange: range(m, key ?? value),
    ...(children?.length ? { children } : {}),
  };
}

export function tunnelProto(tunnel: PNode | undefined): string | undefined {
  const proto = text(get(tunnel, 'proto'));
  if (proto) return proto;
  return get(tunnel, 'labels') !== undefined ? 'labeled' : undefined;
}

export function endpointProto(endpoint: PNode | undefined): string | undefined {
  const url = text(get(endpoint, 'url'));
  if (!url) return 'http';
  const m = /^([a-z]+):\/\//i.exec(url);
  return m ? (m[1].toLowerCase() === 'https' ? 'http' : m[1].toLowerCase()) : 'http';
}

function policySymbols(m: Mapper, policy: PNode | undefined): DocumentSymbol[] {
  return pairsOf(policy).map((phase) => {
    const rules = isSeq(phase.value) ? (phase.value.items as PNode[]) : [];
    const children = rules.map((rule, i) => {
      const actions = get(rule, 'actions');
      const actionSyms = isSeq(actions)
        ? (actions.items as PNode[]).map((act) =>
            sym(m, text(get(act, 'type')) ?? 'action', SymbolKind.Function, act, act),
          )
        : [];
      return sym(m, text(get(rule, 'name')) ?? `rule ${i + 1}`, SymbolKind.Event, rule, rule, undefined, actionSyms);
    });
    return sym(
      m,
      scalarKey(phase) ?? '',
      SymbolKind.Array,
      phase.key,
      phase.value,
      `${rules.length} rule${rules.length === 1 ? '' : 's'}`,
      children,
    );
  });
}

function tunnelSymbols(m: Mapper, tunnels: PNode | undefined): DocumentSymbol[] {
  return pairsOf(tunnels).map((t) => {
    const proto = tunnelProto(t.value);
    const addr = text(get(t.value, 'addr'));
    const policy = get(t.value, 'traffic_policy') ?? get(t.value, 'policy');
    return sym(
      m,
      scalarKey(t) ?? '',
      SymbolKind.Module,
      t.key,
      t.value,
      [proto, addr && `→ ${addr}`].filter(Boolean).join(' '),
      policySymbols(m, policy),
    );
  });
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The outline. `trees` (piecewise-validated configs): the header's tree first, then one tree per
 * tunnel; otherwise the whole document's tree.
 */
export function documentSymbols(doc: TextDocument, a: Analysis, trees?: TreeView[]): DocumentSymbol[] {
  const whole: TreeView = trees?.[0] ?? { root: a.parsed.doc.contents as PNode, toOffset: (o) => o };
  const m: Mapper = { doc, toOffset: whole.toOffset };
  if (a.classification.kind === 'traffic-policy') return policySymbols(m, whole.root);
  return pairsOf(whole.root).map((p) => {
    const key = scalarKey(p) ?? '';
    if (a.classification.kind === 'ngrok-config' && key === 'tunnels') {
      // Piecewise, the header holds `tunnels: {}` and the entries are in the tunnel trees. Either way
      // the block spans its key to the end of its last tunnel.
      const children = trees
        ? trees
            .filter((t) => t.kind === 'tunnel')
            .flatMap((t) => tunnelSymbols({ doc, toOffset: t.toOffset }, get(t.root, 'tunnels')))
        : tunnelSymbols(m, p.value);
      const own = sym(m, key, SymbolKind.Namespace, p.key, p.key, plural(children.length, 'tunnel'), children);
      if (children.length) own.range = { start: own.range.start, end: children[children.length - 1].range.end };
      return own;
    }
    if (a.classification.kind === 'ngrok-config' && key === 'endpoints' && isSeq(p.value)) {
      // Piecewise, the header holds `endpoints: []` and each item is in its own tree.
      const items: { ep: PNode; m: Mapper; index: number }[] = trees
        ? trees
            .filter((t) => t.kind === 'endpoint')
            .flatMap((t) => {
              const seq = get(t.root, 'endpoints');
              return isSeq(seq)
                ? (seq.items as PNode[]).map((ep) => ({ ep, m: { doc, toOffset: t.toOffset }, index: t.index ?? 0 }))
                : [];
            })
        : (p.value.items as PNode[]).map((ep, index) => ({ ep, m, index }));
      const children = items.map(({ ep, m: em, index }) => {
        const url = text(get(ep, 'url'));
        const upstream = text(get(get(ep, 'upstream'), 'url'));
        return sym(
          em,
          text(get(ep, 'name')) ?? `endpoint ${index + 1}`,
          SymbolKind.Module,
          ep,
          ep,
          [url, upstream && `→ ${upstream}`].filter(Boolean).join(' '),
          policySymbols(em, get(ep, 'traffic_policy')),
        );
      });
      const own = sym(m, key, SymbolKind.Namespace, p.key, p.key, plural(children.length, 'endpoint'), children);
      if (children.length) own.range = { start: own.range.start, end: children[children.length - 1].range.end };
      return own;
    }
    if (isMap(p.value)) {
      const children = pairsOf(p.value).map((c) =>
        sym(m, scalarKey(c) ?? '', SymbolKind.Property, c.key, c.value, text(c.value)),
      );
      return sym(m, key, SymbolKind.Object, p.key, p.value, undefined, children);
    }
    return sym(
      m,
      key,
      isSeq(p.value) ? SymbolKind.Array : SymbolKind.Property,
      p.key,
      p.value,
      key === 'authtoken' || key === 'api_key' ? undefined : text(p.value),
    );
  });
}

/** A document tree and how its offsets map to the editor's document (identity, or a piece's line map). */
export interface TreeView {
  root: PNode;
  toOffset: (offset: number) => number;
  /** For pieces of a piecewise-validated config (see incremental.ts). */
  kind?: 'header' | 'tunnel' | 'endpoint';
  /** Endpoint pieces: the item's index in `endpoints`. */
  index?: number;
}

export function endpointLenses(
  doc: TextDocument,
  a: Analysis,
  trees: TreeView[] = [{ root: a.parsed.doc.contents as PNode, toOffset: (o) => o }],
): EndpointLensesResult {
  const result: EndpointLensesResult = {
    version: doc.version,
    kind: a.classification.kind,
    configVersion: a.classification.configVersion,
    lenses: [],
  };
  if (a.classification.kind !== 'ngrok-config') return result;
  const errorsIn = (from: number, to: number) =>
    a.problems.some((p) => p.severity === 'error' && p.start < to && p.end > from);
  const at = (from: number, to: number) => ({ start: doc.positionAt(from), end: doc.positionAt(Math.max(to, from)) });
  const entries: { lens: Omit<EndpointLens, 'valid'>; from: number; to: number; keyEnd: number }[] = [];
  for (const { root, toOffset } of trees) {
    for (const t of pairsOf(get(root, 'tunnels'))) {
      const name = scalarKey(t);
      if (name === undefined || !t.key.range) continue;
      const from = toOffset(t.key.range[0]);
      const keyEnd = toOffset(t.key.range[1]);
      const to = Math.max(toOffset(t.value?.range?.[1] ?? t.key.range[1]), keyEnd);
      entries.push({
        lens: { name, source: 'tunnel', proto: tunnelProto(t.value), range: at(from, keyEnd), fullRange: at(from, to) },
        from,
        to,
        keyEnd,
      });
    }
    const endpoints = get(root, 'endpoints');
    if (isSeq(endpoints)) {
      for (const ep of endpoints.items as PNode[]) {
        const name = text(get(ep, 'name'));
        if (name === undefined || !ep?.range) continue;
        const from = toOffset(ep.range[0]);
        const to = toOffset(ep.range[1]);
        entries.push({
          lens: { name, source: 'endpoint', proto: endpointProto(ep), range: at(from, to), fullRange: at(from, to) },
          from,
          to,
          keyEnd: to,
        });
      }
    }
  }
  // Tunnels first, then endpoints, each in file order (as `burrow start --all` starts them).
  entries.sort((x, y) => (x.lens.source === y.lens.source ? x.from - y.from : x.lens.source === 'tunnel' ? -1 : 1));
  for (const { lens, from, to } of entries) {
    // The lens sits on the entry's first line only.
    const r = lens.range;
    lens.range = {
      start: r.start,
      end: { line: r.start.line, character: r.start.line === r.end.line ? r.end.character : r.start.character },
    };
    result.lenses.push({ ...lens, valid: !errorsIn(from, to) });
  }
  return result;
}
