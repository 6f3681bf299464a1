/**
 * Pushed protobuf → domain types, once per resource version. A resource that
 * cannot be compiled (bad regex, bad CIDR, bad address) yields an error
 * naming it, so the xDS client can NACK that resource and keep its last good
 * version. The {@link ConfigStore} holds immutable snapshots: a request keeps
 * the snapshot it started with, so a swap never disturbs in-flight requests.
 */

import { AmbitError } from '../core/errors.js';
import {
  BackendTraffic_LoadBalancer,
  type Filter,
  type LocalRateLimit,
  type BackendTraffic as PbBackendTraffic,
  type PathModifier as PbPathModifier,
  type Route,
  Route_Kind,
  RouteMatch_PathType,
  type ServiceEndpoints,
  type ValueMatch,
  type WaypointService,
} from '../gen/ambit/waypoint_pb.js';
import { bytesToIp, normalizeIp } from '../state/ip.js';
import { compilePolicy } from './authz.js';
import { compileCors } from './cors.js';
import { WaypointErrors } from './errors.js';
import { sortRoutes } from './router.js';
import type {
  Backend,
  BackendTraffic,
  CompiledMatch,
  CompiledRoute,
  EndpointInfo,
  HeaderModifier,
  PathModifier,
  RateLimitConfig,
  RetryConfig,
  RouteFilter,
  ServiceConfig,
  ServiceEndpointsConfig,
  ServiceKey,
  ValueMatcher,
} from './types.js';

/** Retried status codes when an HTTPRoute retry sets none. */
export const DEFAULT_RETRY_CODES: readonly number[] = [500, 502, 503, 504];
/** Retries when an HTTPRoute retry sets no attempts (Istio's default). */
export const DEFAULT_RETRY_ATTEMPTS = 2;
/** Backoff base when unset, ms (Envoy's default). */
export const DEFAULT_RETRY_BACKOFF_MS = 25;

function fullRegex(src: string, what: string): RegExp {
  try {
    return new RegExp(`^(?:${src})$`);
  } catch (err) {
    throw new Error(`${what}: invalid regular expression ${JSON.stringify(src)}`, { cause: err });
  }
}

function valueMatchers(ms: readonly ValueMatch[], what: string, lower: boolean): ValueMatcher[] {
  const seen = new Set<string>();
  const out: ValueMatcher[] = [];
  for (const m of ms) {
    const name = lower ? m.name.toLowerCase() : m.name;
    // Gateway API: only the first entry with an equivalent name counts.
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(
      m.regex
        ? { name, value: m.value, regex: fullRegex(m.value, `${what} ${name}`) }
        : { name, value: m.value },
    );
  }
  return out;
}

function trimSlash(p: string): string {
  return p.endsWith('/') ? p.replace(/\/+$/, '') : p;
}

function compileMatch(r: Route): CompiledMatch {
  const m = r.match;
  const path = m?.path || '/';
  const headers = valueMatchers(m?.headers ?? [], 'header', true);
  const query = valueMatchers(m?.queryParams ?? [], 'query param', false);
  const method = m?.method ? m.method : undefined;
  const base = {
    headers,
    query,
    ...(method ? { method } : {}),
    ...(r.kind === Route_Kind.GRPC_ROUTE ? { grpc: true } : {}),
  };
  switch (m?.pathType ?? RouteMatch_PathType.PATH_PREFIX) {
    case RouteMatch_PathType.EXACT:
      return { pathType: 'Exact', path, ...base };
    case RouteMatch_PathType.REGULAR_EXPRESSION:
      return { pathType: 'RegularExpression', path, pathRegex: fullRegex(path, 'path'), ...base };
    default:
      if (!path.startsWith('/'))
        throw new Error(`path prefix ${JSON.stringify(path)} must start with "/"`);
      return { pathType: 'PathPrefix', path: trimSlash(path), ...base };
  }
}

function headerModifier(h: {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}): HeaderModifier {
  return {
    set: Object.entries(h.set).map(([k, v]) => [k.toLowerCase(), v] as const),
    add: Object.entries(h.add).map(([k, v]) => [k.toLowerCase(), v] as const),
    remove: h.remove.map((k) => k.toLowerCase()),
  };
}

function pathModifier(p: PbPathModifier | undefined): PathModifier | undefined {
  if (p?.kind.case === 'replaceFullPath') return { type: 'ReplaceFullPath', value: p.kind.value };
  if (p?.kind.case === 'replacePrefixMatch')
    return { type: 'ReplacePrefixMatch', value: p.kind.value };
  return undefined;
}

function compileFilters(fs: readonly Filter[]): RouteFilter[] {
  const out: RouteFilter[] = [];
  for (const f of fs) {
    const k = f.kind;
    switch (k.case) {
      case 'requestHeaderModifier':
        out.push({ type: 'RequestHeaderModifier', modifier: headerModifier(k.value) });
        break;
      case 'responseHeaderModifier':
        out.push({ type: 'ResponseHeaderModifier', modifier: headerModifier(k.value) });
        break;
      case 'requestRedirect': {
        const path = pathModifier(k.value.path);
        out.push({
          type: 'RequestRedirect',
          statusCode: k.value.statusCode || 302,
          ...(k.value.scheme ? { scheme: k.value.scheme } : {}),
          ...(k.value.hostname ? { hostname: k.value.hostname } : {}),
          ...(k.value.port ? { port: k.value.port } : {}),
          ...(path ? { path } : {}),
        });
        break;
      }
      case 'urlRewrite': {
        const path = pathModifier(k.value.path);
        out.push({
          type: 'URLRewrite',
          ...(k.value.hostname ? { hostname: k.value.hostname } : {}),
          ...(path ? { path } : {}),
        });
        break;
      }
      case 'requestMirror':
        out.push({
          type: 'RequestMirror',
          service: k.value.service,
          port: k.value.port,
          percent: Math.min(100, k.value.percent),
        });
        break;
      case 'cors':
        out.push({ type: 'CORS', policy: compileCors(k.value) });
        break;
      default:
        break;
    }
  }
  return out;
}

const num = (v: bigint | undefined): number | undefined =>
  v === undefined ? undefined : Number(v);

function backendTraffic(b: PbBackendTraffic | undefined): BackendTraffic | undefined {
  if (b === undefined) return undefined;
  const out: Record<string, unknown> = {
    loadBalancer:
      b.loadBalancer === BackendTraffic_LoadBalancer.LEAST_REQUEST ? 'LeastRequest' : 'RoundRobin',
  };
  const fields = {
    maxConnections: b.maxConnections,
    maxPendingRequests: b.maxPendingRequests,
    maxRequests: b.maxRequests,
    consecutive5xxErrors: b.consecutive5xxErrors,
    consecutiveGatewayErrors: b.consecutiveGatewayErrors,
    consecutiveConnectFailures: b.consecutiveConnectFailures,
    intervalMs: num(b.intervalMs),
    baseEjectionTimeMs: num(b.baseEjectionTimeMs),
    maxEjectionPercent: b.maxEjectionPercent,
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  if (b.sources.length > 0) out.sources = [...b.sources];
  return out as unknown as BackendTraffic;
}

/** Route-level fields win over service-level ones (docs/policies.md). */
export function mergeTraffic(
  svc: BackendTraffic | undefined,
  route: BackendTraffic | undefined,
): BackendTraffic | undefined {
  if (!route) return svc;
  if (!svc) return route;
  return { ...svc, ...route, loadBalancer: route.loadBalancer ?? svc.loadBalancer };
}

function rateLimit(r: LocalRateLimit | undefined): RateLimitConfig | undefined {
  if (!r || r.requests === 0) return undefined;
  const intervalMs = Number(r.intervalMs) || 1000;
  return {
    requests: r.requests,
    intervalMs,
    burst: r.burst || r.requests,
    perSourceIdentity: r.perSourceIdentity,
    source: r.source,
  };
}

function retry(r: Route['retry']): RetryConfig | undefined {
  if (!r) return undefined;
  return {
    codes: new Set(r.codes.length > 0 ? r.codes : DEFAULT_RETRY_CODES),
    attempts: r.attempts || DEFAULT_RETRY_ATTEMPTS,
    backoffMs: Number(r.backoffMs) || DEFAULT_RETRY_BACKOFF_MS,
  };
}

function compileRoute(r: Route): CompiledRoute {
  const backends: Backend[] = r.backends.map((b) => ({
    service: b.service,
    port: b.port,
    weight: b.weight,
    filters: compileFilters(b.filters),
    ...(b.invalidReason ? { invalidReason: b.invalidReason } : {}),
  }));
  const rl = rateLimit(r.rateLimit);
  const rt = retry(r.retry);
  const backend = backendTraffic(r.backend);
  return {
    // A GRPCRoute may share its name with an HTTPRoute: its own key space.
    id: `${r.kind === Route_Kind.GRPC_ROUTE ? 'GRPCRoute/' : ''}${r.route}#${r.ruleIndex}`,
    route: r.route,
    ruleIndex: r.ruleIndex,
    ruleName: r.ruleName,
    ...(r.ports.length > 0 ? { ports: new Set(r.ports) } : {}),
    match: compileMatch(r),
    filters: compileFilters(r.filters),
    backends,
    totalWeight: backends.reduce((s, b) => s + b.weight, 0),
    requestTimeoutMs: Number(r.requestTimeoutMs),
    backendRequestTimeoutMs: Number(r.backendRequestTimeoutMs),
    ...(rt ? { retry: rt } : {}),
    ...(backend ? { backend } : {}),
    ...(rl ? { rateLimit: rl } : {}),
  };
}

function invalid(kind: string, name: string, err: unknown): AmbitError {
  const reason = err instanceof Error ? err.message : String(err);
  return new AmbitError(WaypointErrors.CONFIG_INVALID, `${kind} "${name}": ${reason}`, {
    cause: err,
    details: { resource: name, kind },
  });
}

/** Compiles a WaypointService. Throws AMBIT_WAYPOINT_CONFIG_INVALID naming it. */
export function compileService(s: WaypointService): ServiceConfig {
  const key = `${s.namespace}/${s.hostname}`;
  try {
    const backend = backendTraffic(s.backend);
    const rl = rateLimit(s.rateLimit);
    return {
      key,
      name: s.name,
      namespace: s.namespace,
      hostname: s.hostname,
      waypoint: s.waypoint,
      ...(s.workload ? { workload: s.workload } : {}),
      vips: s.vips.map((b) => {
        const ip = bytesToIp(b);
        if (ip === undefined) throw new Error(`VIP has ${b.length} bytes, want 4 or 16`);
        return ip;
      }),
      ports: new Map(
        s.ports.map((p) => [p.port, { port: p.port, name: p.name, appProtocol: p.appProtocol }]),
      ),
      routes: sortRoutes(s.routes.map(compileRoute)),
      policies: s.policies.map((p) => {
        try {
          return compilePolicy(p);
        } catch (err) {
          throw new Error(
            `policy ${p.namespace}/${p.name}: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }),
      ...(backend ? { backend } : {}),
      ...(rl ? { rateLimit: rl } : {}),
    };
  } catch (err) {
    throw invalid('WaypointService', key, err);
  }
}

function ipText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
    return parts.join(':');
  }
  throw new Error(`address has ${b.length} bytes, want 4 or 16`);
}

/** Compiles a ServiceEndpoints. Throws AMBIT_WAYPOINT_CONFIG_INVALID naming it. */
export function compileEndpoints(e: ServiceEndpoints): ServiceEndpointsConfig {
  const key = `${e.namespace}/${e.hostname}`;
  try {
    const endpoints: EndpointInfo[] = e.endpoints.map((ep) => ({
      uid: ep.workloadUid,
      address: ipText(ep.address),
      ports: new Map(Object.entries(ep.ports).map(([k, v]) => [Number(k), v])),
      identity: ep.identity,
      hbone: ep.hbone,
      healthy: ep.healthy,
      node: ep.node,
      locality: { region: ep.region, zone: ep.zone, subzone: ep.subzone },
      ...(ep.allPorts ? { allPorts: true } : {}),
    }));
    const backend = backendTraffic(e.backend);
    return { key, endpoints, ...(backend ? { backend } : {}) };
  } catch (err) {
    throw invalid('ServiceEndpoints', key, err);
  }
}

/** One immutable view of everything the waypoint routes with. */
export interface ConfigSnapshot {
  readonly version: number;
  readonly services: ReadonlyMap<ServiceKey, ServiceConfig>;
  readonly endpoints: ReadonlyMap<ServiceKey, ServiceEndpointsConfig>;
  /** hostname → service key. */
  readonly byHostname: ReadonlyMap<string, ServiceKey>;
  /** VIP (canonical text) → service key: how the waypoint reads a CONNECT authority. */
  readonly byVip: ReadonlyMap<string, ServiceKey>;
}

export interface ApplyResult {
  /** Resource name → error; those resources keep their previous version (NACK them). */
  readonly errors: ReadonlyMap<string, AmbitError>;
}

/**
 * Holds the current snapshot; every update builds a new one and swaps the
 * reference, so readers never see a half-applied update.
 */
export class ConfigStore {
  private current: ConfigSnapshot = {
    version: 0,
    services: new Map(),
    endpoints: new Map(),
    byHostname: new Map(),
    byVip: new Map(),
  };
  private readonly listeners = new Set<(s: ConfigSnapshot) => void>();

  snapshot(): ConfigSnapshot {
    return this.current;
  }

  onChange(fn: (s: ConfigSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Delta update of WaypointService resources (`removed` are resource names). */
  applyServices(updated: readonly WaypointService[], removed: readonly string[] = []): ApplyResult {
    const errors = new Map<string, AmbitError>();
    const services = new Map(this.current.services);
    for (const name of removed) services.delete(name);
    for (const s of updated) {
      try {
        const c = compileService(s);
        services.set(c.key, c);
      } catch (err) {
        errors.set(`${s.namespace}/${s.hostname}`, err as AmbitError);
      }
    }
    const byHostname = new Map([...services.values()].map((s) => [s.hostname, s.key]));
    const byVip = new Map([...services.values()].flatMap((s) => s.vips.map((v) => [v, s.key])));
    this.swap({ ...this.current, services, byHostname, byVip });
    return { errors };
  }

  /** Delta update of ServiceEndpoints resources. */
  applyEndpoints(
    updated: readonly ServiceEndpoints[],
    removed: readonly string[] = [],
  ): ApplyResult {
    const errors = new Map<string, AmbitError>();
    const endpoints = new Map(this.current.endpoints);
    for (const name of removed) endpoints.delete(name);
    for (const e of updated) {
      try {
        const c = compileEndpoints(e);
        endpoints.set(c.key, c);
      } catch (err) {
        errors.set(`${e.namespace}/${e.hostname}`, err as AmbitError);
      }
    }
    this.swap({ ...this.current, endpoints });
    return { errors };
  }

  /**
   * The Service a CONNECT authority names: `VIP:port` (what ztunnel sends) or
   * `<hostname>:port` (double HBONE, east-west gateways).
   */
  resolve(host: string): ServiceConfig | undefined {
    const snap = this.current;
    const ip = normalizeIp(host);
    const key = ip !== undefined ? snap.byVip.get(ip) : snap.byHostname.get(host.toLowerCase());
    return key === undefined ? undefined : snap.services.get(key);
  }

  private swap(next: Omit<ConfigSnapshot, 'version'>): void {
    this.current = { ...next, version: this.current.version + 1 };
    for (const fn of this.listeners) fn(this.current);
  }
}
