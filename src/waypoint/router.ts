/**
 * HTTPRoute matching (Gateway API, GAMMA). Routes arrive one per rule match;
 * {@link sortRoutes} orders them by the spec's precedence, and the first
 * route whose match accepts the request wins:
 *   1. Exact path, then RegularExpression (implementation-specific: ambit
 *      ranks it between Exact and prefixes), then the longest PathPrefix;
 *   2. a method match; 3. the most header matches; 4. the most query matches;
 *   then the pushed order (oldest route, then "ns/name", then rule order).
 */
import type { Backend, CompiledMatch, CompiledRoute, ServiceConfig } from './types.js';

/** The parts of a request that routing looks at. */
export interface RouteRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lowercase names; repeated headers joined with ", ". */
  readonly header: (name: string) => string | undefined;
  /** Service port the request was sent to. */
  readonly port: number;
}

function rank(r: CompiledRoute): number[] {
  const m = r.match;
  const pathRank = m.pathType === 'Exact' ? 3 : m.pathType === 'RegularExpression' ? 2 : 1;
  // PathPrefix paths are stored without their trailing slash; "/" is "".
  const length = m.pathType === 'PathPrefix' ? m.path.length + 1 : m.path.length;
  return [pathRank, length, m.method ? 1 : 0, m.headers.length, m.query.length];
}

/**
 * GRPCRoute rules first, in the order pushed (the control plane sorted them
 * by the GRPCRoute precedence), then HTTPRoute rules by a stable precedence
 * sort: equal ranks keep the input (age/name/rule) order.
 */
export function sortRoutes(routes: readonly CompiledRoute[]): CompiledRoute[] {
  const grpc = routes.filter((r) => r.match.grpc === true);
  const http = routes
    .filter((r) => r.match.grpc !== true)
    .map((route, i) => ({ route, i, k: rank(route) }))
    .sort((a, b) => {
      for (let j = 0; j < a.k.length; j++) {
        const d = (b.k[j] ?? 0) - (a.k[j] ?? 0);
        if (d !== 0) return d;
      }
      return a.i - b.i;
    })
    .map((x) => x.route);
  return grpc.length === 0 ? http : [...grpc, ...http];
}

/** Segment-wise prefix: "/foo" matches "/foo", "/foo/", "/foo/bar", not "/foobar". */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path[prefix.length] === '/';
}

export function matches(m: CompiledMatch, req: RouteRequest): boolean {
  if (m.grpc === true && !(req.header('content-type') ?? '').startsWith('application/grpc'))
    return false;
  switch (m.pathType) {
    case 'Exact':
      if (req.path !== m.path) return false;
      break;
    case 'PathPrefix':
      if (!prefixMatches(m.path, req.path)) return false;
      break;
    case 'RegularExpression':
      if (!m.pathRegex?.test(req.path)) return false;
      break;
  }
  if (m.method !== undefined && m.method !== req.method) return false;
  for (const h of m.headers) {
    const v = req.header(h.name);
    if (v === undefined) return false;
    if (h.regex ? !h.regex.test(v) : v !== h.value) return false;
  }
  for (const q of m.query) {
    const v = req.query.get(q.name);
    if (v === null) return false;
    if (q.regex ? !q.regex.test(v) : v !== q.value) return false;
  }
  return true;
}

/** The first route (in precedence order) that matches, or undefined. */
export function matchRoute(svc: ServiceConfig, req: RouteRequest): CompiledRoute | undefined {
  for (const r of svc.routes) {
    if (r.ports !== undefined && !r.ports.has(req.port)) continue;
    if (matches(r.match, req)) return r;
  }
  return undefined;
}

export type BackendChoice =
  | { readonly kind: 'backend'; readonly backend: Backend }
  /** No backends, all weights 0, or the picked one is unresolvable: answer 500. */
  | { readonly kind: 'error'; readonly reason: string };

/** Weighted pick; weight-0 backends are never chosen. `random` returns [0, 1). */
export function pickBackend(
  route: CompiledRoute,
  random: () => number = Math.random,
): BackendChoice {
  if (route.totalWeight <= 0) return { kind: 'error', reason: 'no backend with a weight > 0' };
  let point = random() * route.totalWeight;
  let chosen: Backend | undefined;
  for (const b of route.backends) {
    if (b.weight <= 0) continue;
    chosen = b;
    if (point < b.weight) break;
    point -= b.weight;
  }
  if (!chosen) return { kind: 'error', reason: 'no backend with a weight > 0' };
  if (chosen.invalidReason) return { kind: 'error', reason: chosen.invalidReason };
  return { kind: 'backend', backend: chosen };
}
