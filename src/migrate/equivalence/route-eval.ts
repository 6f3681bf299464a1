/**
 * Evaluates Gateway API HTTPRoutes attached to one parent for one request,
 * following the HTTPRoute precedence rules: across all rules of all routes,
 * the matching `match` wins by (1) Exact path, (2) longest PathPrefix,
 * (3) method match, (4) most header matches, (5) most query matches; then the
 * oldest route, then the route first by "namespace/name", then rule order.
 * RegularExpression paths are implementation-specific; ambit ranks them after
 * every prefix match. A rule without matches is PathPrefix "/".
 */
import type { GwMatch, HTTPRouteObject } from '../convert/gw.js';
import { type Evaluation, fullMatch, type SampleRequest, weighted } from './types.js';

interface Candidate {
  route: HTTPRouteObject;
  routeIndex: number;
  ruleIndex: number;
  matchIndex: number;
  match: GwMatch;
}

const PATH_RANK = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;

function pathMatches(m: GwMatch, path: string): boolean {
  const p = m.path ?? { type: 'PathPrefix', value: '/' };
  if (p.type === 'Exact') return path === p.value;
  if (p.type === 'RegularExpression') return fullMatch(p.value, path);
  const prefix = p.value.length > 1 ? p.value.replace(/\/+$/, '') : p.value;
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

function valuesMatch(
  wanted: readonly { type: string; name: string; value: string }[] | undefined,
  have: Readonly<Record<string, string>>,
  lowerNames: boolean,
): boolean {
  return (wanted ?? []).every((w) => {
    const v = have[lowerNames ? w.name.toLowerCase() : w.name];
    if (v === undefined) return false;
    return w.type === 'Exact' ? v === w.value : fullMatch(w.value, v);
  });
}

export function gwMatches(m: GwMatch, req: SampleRequest): boolean {
  if (!pathMatches(m, req.path)) return false;
  if (m.method !== undefined && m.method !== req.method) return false;
  return valuesMatch(m.headers, req.headers, true) && valuesMatch(m.queryParams, req.query, false);
}

function compare(a: Candidate, b: Candidate): number {
  const pa = a.match.path ?? { type: 'PathPrefix' as const, value: '/' };
  const pb = b.match.path ?? { type: 'PathPrefix' as const, value: '/' };
  const keys: [number, number][] = [
    [PATH_RANK[pa.type], PATH_RANK[pb.type]],
    [
      pa.type === 'PathPrefix' ? -pa.value.length : 0,
      pb.type === 'PathPrefix' ? -pb.value.length : 0,
    ],
    [a.match.method === undefined ? 1 : 0, b.match.method === undefined ? 1 : 0],
    [-(a.match.headers?.length ?? 0), -(b.match.headers?.length ?? 0)],
    [-(a.match.queryParams?.length ?? 0), -(b.match.queryParams?.length ?? 0)],
    [a.routeIndex, b.routeIndex],
    [a.ruleIndex, b.ruleIndex],
    [a.matchIndex, b.matchIndex],
  ];
  for (const [x, y] of keys) if (x !== y) return x - y;
  return 0;
}

/** Orders routes as the spec ties them: oldest first, then "namespace/name". */
export function orderRoutes(routes: readonly HTTPRouteObject[]): HTTPRouteObject[] {
  return [...routes].sort((a, b) => {
    const ta = a.metadata.creationTimestamp ?? '';
    const tb = b.metadata.creationTimestamp ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    return `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
      `${b.metadata.namespace}/${b.metadata.name}`,
    );
  });
}

/** `host` is the authority the client used (for redirect locations). */
export function evaluateHttpRoutes(
  routes: readonly HTTPRouteObject[],
  req: SampleRequest,
  host: string,
): Evaluation {
  const candidates: Candidate[] = [];
  orderRoutes(routes).forEach((route, routeIndex) => {
    route.spec.rules.forEach((rule, ruleIndex) => {
      const matches = rule.matches === undefined || rule.matches.length === 0 ? [{}] : rule.matches;
      matches.forEach((match, matchIndex) => {
        if (gwMatches(match, req))
          candidates.push({ route, routeIndex, ruleIndex, matchIndex, match });
      });
    });
  });
  const best = candidates.sort(compare)[0];
  if (best === undefined) return { outcome: { kind: 'status', status: 404 }, via: 'no match' };
  const rule = best.route.spec.rules[best.ruleIndex];
  const via = `${best.route.metadata.name} rules[${best.ruleIndex}]`;
  const redirect = rule?.filters?.find((f) => f.type === 'RequestRedirect');
  if (redirect !== undefined && redirect.type === 'RequestRedirect') {
    const r = redirect.requestRedirect;
    const port = r.port === undefined ? '' : `:${r.port}`;
    const path = r.path?.replaceFullPath ?? req.path;
    const location = `${r.scheme ?? 'http'}://${r.hostname ?? host}${port}${path}`;
    return { outcome: { kind: 'redirect', status: r.statusCode ?? 302, location }, via };
  }
  const refs = rule?.backendRefs ?? [];
  if (refs.length === 0) return { outcome: { kind: 'status', status: 500 }, via };
  const ns = best.route.metadata.namespace;
  const outcome = weighted(
    refs.map((b) => ({ name: `${b.namespace ?? ns}/${b.name}`, weight: b.weight ?? 1 })),
  );
  return { outcome, via };
}
