// Outline (document symbols) and the CodeLens data: tunnels and endpoints with their ranges.
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair, ParsedNode } from 'yaml';
import type { Analysis } from './service';
import type { EndpointLens, EndpointLensesResult } from './protocol';
import { scalarKey } from './yamlText';

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

function range(doc: TextDocument, from: PNode | undefined, to: PNode | undefined = from) {
  const a = from?.range?.[0] ?? 0;
  const b = Math.max(to?.range?.[1] ?? a, a);
  return { start: doc.positionAt(a), end: doc.positionAt(b) };
}

function sym(doc: TextDocument, name: string, kind: SymbolKind, key: PNode | undefined, value: PNode | undefined, detail?: string, children?: DocumentSymbol[]): DocumentSymbol {
  return {
    name: name || '""',
    kind,
    detail,
    range: range(doc, key ?? value, value ?? key),
    selectionRange: range(doc, key ?? value),
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

function policySymbols(doc: TextDocument, policy: PNode | undefined): DocumentSymbol[] {
  return pairsOf(policy).map((phase) => {
    const rules = isSeq(phase.value) ? (phase.value.items as PNode[]) : [];
    const children = rules.map((rule, i) => {
      const actions = get(rule, 'actions');
      const actionSyms = isSeq(actions)
        ? (actions.items as PNode[]).map((act) => sym(doc, text(get(act, 'type')) ?? 'action', SymbolKind.Function, act, act))
        : [];
      return sym(doc, text(get(rule, 'name')) ?? `rule ${i + 1}`, SymbolKind.Event, rule, rule, undefined, actionSyms);
    });
    return sym(doc, scalarKey(phase) ?? '', SymbolKind.Array, phase.key, phase.value, `${rules.length} rule${rules.length === 1 ? '' : 's'}`, children);
  });
}

export function documentSymbols(doc: TextDocument, a: Analysis): DocumentSymbol[] {
  const root = a.parsed.doc.contents as PNode;
  if (a.classification.kind === 'traffic-policy') return policySymbols(doc, root);
  return pairsOf(root).map((p) => {
    const key = scalarKey(p) ?? '';
    if (a.classification.kind === 'ngrok-config' && key === 'tunnels') {
      const children = pairsOf(p.value).map((t) => {
        const proto = tunnelProto(t.value);
        const addr = text(get(t.value, 'addr'));
        const policy = get(t.value, 'traffic_policy') ?? get(t.value, 'policy');
        return sym(doc, scalarKey(t) ?? '', SymbolKind.Module, t.key, t.value, [proto, addr && `→ ${addr}`].filter(Boolean).join(' '), policySymbols(doc, policy));
      });
      return sym(doc, key, SymbolKind.Namespace, p.key, p.value, `${children.length} tunnel${children.length === 1 ? '' : 's'}`, children);
    }
    if (a.classification.kind === 'ngrok-config' && key === 'endpoints' && isSeq(p.value)) {
      const children = (p.value.items as PNode[]).map((ep, i) => {
        const url = text(get(ep, 'url'));
        const upstream = text(get(get(ep, 'upstream'), 'url'));
        return sym(doc, text(get(ep, 'name')) ?? `endpoint ${i + 1}`, SymbolKind.Module, ep, ep, [url, upstream && `→ ${upstream}`].filter(Boolean).join(' '), policySymbols(doc, get(ep, 'traffic_policy')));
      });
      return sym(doc, key, SymbolKind.Namespace, p.key, p.value, `${children.length} endpoint${children.length === 1 ? '' : 's'}`, children);
    }
    if (isMap(p.value)) {
      const children = pairsOf(p.value).map((c) => sym(doc, scalarKey(c) ?? '', SymbolKind.Property, c.key, c.value, text(c.value)));
      return sym(doc, key, SymbolKind.Object, p.key, p.value, undefined, children);
    }
    return sym(doc, key, isSeq(p.value) ? SymbolKind.Array : SymbolKind.Property, p.key, p.value, key === 'authtoken' || key === 'api_key' ? undefined : text(p.value));
  });
}

export function endpointLenses(doc: TextDocument, a: Analysis): EndpointLensesResult {
  const result: EndpointLensesResult = { version: doc.version, kind: a.classification.kind, configVersion: a.classification.configVersion, lenses: [] };
  if (a.classification.kind !== 'ngrok-config') return result;
  const errorsIn = (from: number, to: number) => a.problems.some((p) => p.severity === 'error' && p.start < to && p.end > from);
  const root = a.parsed.doc.contents as PNode;
  const push = (lens: Omit<EndpointLens, 'valid'>, from: number, to: number) => result.lenses.push({ ...lens, valid: !errorsIn(from, to) });
  for (const t of pairsOf(get(root, 'tunnels'))) {
    const name = scalarKey(t);
    if (name === undefined) continue;
    const from = t.key.range?.[0] ?? 0;
    const to = Math.max(t.value?.range?.[1] ?? 0, t.key.range?.[1] ?? 0);
    push({ name, source: 'tunnel', proto: tunnelProto(t.value), range: range(doc, t.key), fullRange: range(doc, t.key, t.value ?? t.key) }, from, to);
  }
  const endpoints = get(root, 'endpoints');
  if (isSeq(endpoints)) {
    for (const ep of endpoints.items as PNode[]) {
      const nameNode = get(ep, 'name');
      const name = text(nameNode);
      if (name === undefined || !ep?.range) continue;
      push({ name, source: 'endpoint', proto: endpointProto(ep), range: range(doc, ep), fullRange: range(doc, ep) }, ep.range[0], ep.range[1]);
    }
  }
  // The lens sits on the entry's first line only.
  for (const l of result.lenses) l.range = { start: l.range.start, end: { line: l.range.start.line, character: l.range.start.line === l.range.end.line ? l.range.end.character : l.range.start.character } };
  return result;
}
