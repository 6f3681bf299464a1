/**
 * HTTPRoutes and GRPCRoutes attached to a Service (GAMMA: parentRef kind
 * Service) → the waypoint's flat, precedence-sorted Route list. One Route
 * per rule match.
 *
 * Precedence (Gateway API HTTPRoute spec): Exact path, then the longest
 * PathPrefix, then a method match, then more header matches, then more
 * query param matches; ties go to the older route, then `ns/name`, then
 * rule order. RegularExpression paths (implementation-specific) rank after
 * Exact and before any prefix.
 */
import { create } from '@bufbuild/protobuf';
import {
  type Filter,
  FilterSchema,
  RetrySchema,
  type Route,
  Route_Kind,
  RouteMatch_PathType,
  RouteMatchSchema,
  RouteSchema,
  type ValueMatch,
  ValueMatchSchema,
  WeightedBackendSchema,
} from '../../gen/ambit/waypoint_pb.js';
import type { GRPCRoute, HTTPRoute, RouteFilter, Service } from '../../kube/index.js';
import type { BackendRef, GrpcMethodMatch } from '../../kube/schema/gateway.js';
import type { TranslateOptions } from './options.js';
import { serviceHostname } from './services.js';
import { olderFirst, type StateIndex } from './state.js';
import type { StatusSink } from './status.js';

const CORE_GROUPS = new Set(['', 'core']);

type AnyRoute = HTTPRoute | GRPCRoute;

/** parentRefs of `route` that point at `svc` (same namespace only: producer routes). */
export function parentPorts(route: AnyRoute, svc: Service): number[] | undefined {
  let all = false;
  const ports: number[] = [];
  let hit = false;
  for (const p of route.spec.parentRefs) {
    if (!CORE_GROUPS.has(p.group) || p.kind !== 'Service' || p.name !== svc.metadata.name) continue;
    if ((p.namespace ?? route.metadata.namespace) !== svc.metadata.namespace) continue;
    if (route.metadata.namespace !== svc.metadata.namespace) continue;
    hit = true;
    if (p.port === undefined) all = true;
    else ports.push(p.port);
  }
  if (!hit) return undefined;
  return all ? [] : ports;
}

function filterOf(f: RouteFilter, route: AnyRoute, opts: TranslateOptions): Filter | undefined {
  const mods = (m: NonNullable<RouteFilter['requestHeaderModifier']>) => ({
    set: Object.fromEntries(m.set.map((h) => [h.name.toLowerCase(), h.value])),
    add: Object.fromEntries(m.add.map((h) => [h.name.toLowerCase(), h.value])),
    remove: m.remove.map((h) => h.toLowerCase()),
  });
  const path = (
    p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } | undefined,
  ) =>
    p === undefined
      ? undefined
      : p.type === 'ReplaceFullPath'
        ? { kind: { case: 'replaceFullPath' as const, value: p.replaceFullPath ?? '/' } }
        : { kind: { case: 'replacePrefixMatch' as const, value: p.replacePrefixMatch ?? '/' } };
  switch (f.type) {
    case 'RequestHeaderModifier':
      return (
        f.requestHeaderModifier &&
        create(FilterSchema, {
          kind: { case: 'requestHeaderModifier', value: mods(f.requestHeaderModifier) },
        })
      );
    case 'ResponseHeaderModifier':
      return (
        f.responseHeaderModifier &&
        create(FilterSchema, {
          kind: { case: 'responseHeaderModifier', value: mods(f.responseHeaderModifier) },
        })
      );
    case 'RequestRedirect': {
      const r = f.requestRedirect;
      return (
        r &&
        create(FilterSchema, {
          kind: {
            case: 'requestRedirect',
            value: {
              scheme: r.scheme ?? '',
              hostname: r.hostname ?? '',
              path: path(r.path),
              port: r.port ?? 0,
              statusCode: r.statusCode,
            },
          },
        })
      );
    }
    case 'URLRewrite': {
      const r = f.urlRewrite;
      return (
        r &&
        create(FilterSchema, {
          kind: { case: 'urlRewrite', value: { hostname: r.hostname ?? '', path: path(r.path) } },
        })
      );
    }
    case 'RequestMirror': {
      const m = f.requestMirror;
      if (!m) return undefined;
      const ns = m.backendRef.namespace ?? route.metadata.namespace;
      return create(FilterSchema, {
        kind: {
          case: 'requestMirror',
          value: {
            service: `${ns}/${serviceHostname(m.backendRef.name, ns, opts)}`,
            port: m.backendRef.port ?? 0,
            percent: m.percent ?? 100,
          },
        },
      });
    }
    case 'CORS': {
      const c = f.cors;
      return (
        c &&
        create(FilterSchema, {
          kind: {
            case: 'cors',
            value: {
              allowOrigins: c.allowOrigins,
              allowMethods: c.allowMethods,
              allowHeaders: c.allowHeaders,
              exposeHeaders: c.exposeHeaders,
              allowCredentials: c.allowCredentials,
              maxAgeSeconds: c.maxAge,
            },
          },
        })
      );
    }
    default:
      return undefined;
  }
}

function filters(
  list: readonly RouteFilter[],
  route: AnyRoute,
  opts: TranslateOptions,
  status: StatusSink,
  onBackend = false,
): Filter[] {
  const out: Filter[] = [];
  for (const f of list) {
    if (onBackend && f.type === 'CORS') {
      // A preflight is answered before any backend is picked.
      status.add(
        route.kind,
        route.metadata.namespace,
        route.metadata.name,
        'UnsupportedValue',
        'filter CORS is supported on rules, not on backendRefs; ignored',
      );
      continue;
    }
    const x = filterOf(f, route, opts);
    if (x) out.push(x);
    else
      status.add(
        route.kind,
        route.metadata.namespace,
        route.metadata.name,
        'UnsupportedValue',
        `filter ${f.type} is not supported by ambit waypoints; ignored`,
      );
  }
  return out;
}

/** Sort key: higher ranks first. */
function rank(r: Route): number[] {
  const m = r.match;
  const pathRank =
    m?.pathType === RouteMatch_PathType.EXACT
      ? 3
      : m?.pathType === RouteMatch_PathType.REGULAR_EXPRESSION
        ? 2
        : 1;
  return [
    pathRank,
    m?.path.length ?? 0,
    m?.method ? 1 : 0,
    m?.headers.length ?? 0,
    m?.queryParams.length ?? 0,
  ];
}

/** Routes of one kind attached to `svc`, oldest first (then `ns/name`), with their ports. */
function attachedTo<T extends AnyRoute>(
  list: readonly T[],
  svc: Service,
): { r: T; ports: number[] }[] {
  return list
    .map((r) => ({ r, ports: parentPorts(r, svc) }))
    .filter((x): x is { r: T; ports: number[] } => x.ports !== undefined)
    .sort((a, b) => olderFirst(a.r, b.r));
}

function headerMatches(
  headers: readonly { type: string; name: string; value: string }[],
): ValueMatch[] {
  return headers.map((h) =>
    create(ValueMatchSchema, {
      name: h.name.toLowerCase(),
      value: h.value,
      regex: h.type === 'RegularExpression',
    }),
  );
}

/**
 * Routes by their precedence key, higher first; a stable sort, so equal
 * keys keep route age / name / rule order from the input.
 */
function byPrecedence(items: readonly { route: Route; key: readonly number[] }[]): Route[] {
  return items
    .map((x, i) => ({ ...x, i }))
    .sort((a, b) => {
      for (let j = 0; j < a.key.length; j++) {
        const d = (b.key[j] ?? 0) - (a.key[j] ?? 0);
        if (d !== 0) return d;
      }
      return a.i - b.i;
    })
    .map((x) => x.route);
}

/** A rule's backendRefs; one that cannot be resolved is flagged (its share gets 500). */
function backendsOf(
  refs: readonly BackendRef[],
  r: AnyRoute,
  ruleIndex: number,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
) {
  const ns = r.metadata.namespace;
  return refs.map((b) => {
    const bns = b.namespace ?? ns;
    let invalidReason = '';
    if (!CORE_GROUPS.has(b.group) || b.kind !== 'Service')
      invalidReason = `backendRef kind ${b.group}/${b.kind} is not supported`;
    else if (bns !== ns)
      invalidReason =
        'cross-namespace backendRefs need a ReferenceGrant, which ambit does not support yet';
    else if (!state.serviceByName.has(`${bns}/${b.name}`))
      invalidReason = `Service ${bns}/${b.name} not found`;
    else if (b.port === undefined) invalidReason = 'port is required for a Service backendRef';
    if (invalidReason !== '')
      status.add(
        r.kind,
        ns,
        r.metadata.name,
        'BackendNotFound',
        `rule ${ruleIndex}: ${invalidReason}; requests to it get 500`,
      );
    return create(WeightedBackendSchema, {
      service: `${bns}/${serviceHostname(b.name, bns, opts)}`,
      port: b.port ?? 0,
      weight: b.weight,
      filters: filters(b.filters, r, opts, status, true),
      invalidReason,
    });
  });
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A gRPC method match as a path match on `/<service>/<method>`, and its
 * GRPCRoute precedence key: characters of service, then of method.
 */
export function grpcPathMatch(m: GrpcMethodMatch | undefined): {
  pathType: RouteMatch_PathType;
  path: string;
  key: [number, number];
} {
  if (m === undefined) return { pathType: RouteMatch_PathType.PATH_PREFIX, path: '/', key: [0, 0] };
  const key: [number, number] = [m.service?.length ?? 0, m.method?.length ?? 0];
  if (m.type === 'RegularExpression')
    return {
      pathType: RouteMatch_PathType.REGULAR_EXPRESSION,
      path: `/(?:${m.service ?? '[^/]+'})/(?:${m.method ?? '[^/]+'})`,
      key,
    };
  if (m.service !== undefined && m.method !== undefined)
    return { pathType: RouteMatch_PathType.EXACT, path: `/${m.service}/${m.method}`, key };
  if (m.service !== undefined)
    return { pathType: RouteMatch_PathType.PATH_PREFIX, path: `/${m.service}`, key };
  return {
    pathType: RouteMatch_PathType.REGULAR_EXPRESSION,
    path: `/[^/]+/${escapeRegex(m.method ?? '')}`,
    key,
  };
}

/**
 * GRPCRoutes attached to a Service, one Route per rule match, in the
 * GRPCRoute precedence: most characters of matching service, then of
 * method, then most header matches; ties to the older route, then
 * `ns/name`, then rule order. The waypoint keeps this order.
 */
function grpcRoutesFor(
  svc: Service,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): Route[] {
  const attached = attachedTo(state.grpcRoutes, svc);
  const out: { route: Route; key: number[] }[] = [];
  for (const { r, ports } of attached) {
    const ns = r.metadata.namespace;
    r.spec.rules.forEach((rule, ruleIndex) => {
      const ruleFilters = filters(rule.filters, r, opts, status);
      const backends = backendsOf(rule.backendRefs, r, ruleIndex, state, opts, status);
      for (const m of rule.matches) {
        const path = grpcPathMatch(m.method);
        out.push({
          key: [...path.key, m.headers.length],
          route: create(RouteSchema, {
            route: `${ns}/${r.metadata.name}`,
            ruleIndex,
            ruleName: rule.name ?? '',
            ports,
            kind: Route_Kind.GRPC_ROUTE,
            match: create(RouteMatchSchema, {
              pathType: path.pathType,
              path: path.path,
              headers: headerMatches(m.headers),
            }),
            filters: ruleFilters,
            backends,
          }),
        });
      }
    });
  }
  return byPrecedence(out);
}

/**
 * Routes for one Service: its GRPCRoute rules first (they match gRPC
 * requests only), then its HTTPRoute rules, each sorted by its own kind's
 * precedence.
 */
export function routesFor(
  svc: Service,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): Route[] {
  return [...grpcRoutesFor(svc, state, opts, status), ...httpRoutesFor(svc, state, opts, status)];
}

/** HTTPRoute rules for one Service, sorted by precedence. */
function httpRoutesFor(
  svc: Service,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): Route[] {
  const attached = attachedTo(state.httpRoutes, svc);
  const out: Route[] = [];
  for (const { r, ports } of attached) {
    const ns = r.metadata.namespace;
    r.spec.rules.forEach((rule, ruleIndex) => {
      const ruleFilters = filters(rule.filters, r, opts, status);
      const backends = backendsOf(rule.backendRefs, r, ruleIndex, state, opts, status);
      for (const m of rule.matches) {
        const pathType =
          m.path?.type === 'Exact'
            ? RouteMatch_PathType.EXACT
            : m.path?.type === 'RegularExpression'
              ? RouteMatch_PathType.REGULAR_EXPRESSION
              : RouteMatch_PathType.PATH_PREFIX;
        out.push(
          create(RouteSchema, {
            route: `${ns}/${r.metadata.name}`,
            ruleIndex,
            ruleName: rule.name ?? '',
            ports,
            match: create(RouteMatchSchema, {
              pathType,
              path: m.path?.value ?? '/',
              headers: headerMatches(m.headers),
              queryParams: m.queryParams.map((q) =>
                create(ValueMatchSchema, {
                  name: q.name,
                  value: q.value,
                  regex: q.type === 'RegularExpression',
                }),
              ),
              method: m.method ?? '',
            }),
            filters: ruleFilters,
            backends,
            requestTimeoutMs: BigInt(rule.timeouts?.request ?? 0),
            backendRequestTimeoutMs: BigInt(rule.timeouts?.backendRequest ?? 0),
            retry: rule.retry
              ? create(RetrySchema, {
                  codes: rule.retry.codes,
                  attempts: rule.retry.attempts ?? 0,
                  backoffMs: BigInt(rule.retry.backoff ?? 0),
                })
              : undefined,
          }),
        );
      }
    });
  }
  return byPrecedence(out.map((route) => ({ route, key: rank(route) })));
}
