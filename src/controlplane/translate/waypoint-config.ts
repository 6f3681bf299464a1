/**
 * What a waypoint needs per Service bound to it: routes, L7 authorization
 * policies (targetRefs), resilience and rate limits, and the endpoints of
 * every Service it may forward to.
 *
 * Policy attachment (docs/policies.md): one BackendPolicy / RateLimitPolicy
 * per target, the oldest wins (GEP-713). DestinationRule trafficPolicy for
 * the Service's host is the base; a BackendPolicy overrides it field by field.
 */
import { create } from '@bufbuild/protobuf';
import {
  AuthorizationPolicy_Action,
  AuthorizationPolicySchema,
  type BackendTraffic,
  BackendTraffic_LoadBalancer,
  BackendTrafficSchema,
  type Endpoint,
  EndpointSchema,
  type LocalRateLimit,
  LocalRateLimitSchema,
  Route_Kind,
  type ServiceEndpoints,
  ServiceEndpointsSchema,
  ServicePortSchema,
  type WaypointService,
  WaypointServiceSchema,
  type AuthorizationPolicy as WpPolicy,
} from '../../gen/ambit/waypoint_pb.js';
import {
  TunnelProtocol,
  type Workload,
  WorkloadStatus,
} from '../../gen/istio/workload/workload_pb.js';
import type {
  AuthorizationPolicy,
  BackendPolicy,
  PolicyTargetRef,
  RateLimitPolicy,
  Service,
} from '../../kube/index.js';
import { parseBool } from './authorization.js';
import { A, WAYPOINT_CLASS } from './labels.js';
import type { TranslateOptions } from './options.js';
import { routesFor } from './routes.js';
import { serviceHostname, serviceKey } from './services.js';
import { olderFirst, type StateIndex } from './state.js';
import type { StatusSink } from './status.js';
import type { Waypoint } from './waypoints.js';

const GW_GROUP = 'gateway.networking.k8s.io';

function targets(
  refs: readonly PolicyTargetRef[],
  policyNs: string,
  group: string,
  kind: string,
  ns: string,
  name: string,
) {
  return refs.some(
    (t) =>
      (t.group === group || (group === '' && t.group === 'core')) &&
      t.kind === kind &&
      t.name === name &&
      (t.namespace ?? policyNs) === ns,
  );
}

function appProtocol(p: Service['spec']['ports'][number]): string {
  if (p.appProtocol) return p.appProtocol;
  const prefix = (p.name ?? '').split('-')[0] ?? '';
  return ['http', 'http2', 'grpc', 'tcp', 'tls', 'https'].includes(prefix) ? prefix : '';
}

export function toWaypointPolicy(pol: AuthorizationPolicy): WpPolicy {
  const A_ = AuthorizationPolicy_Action;
  return create(AuthorizationPolicySchema, {
    name: pol.metadata.name,
    namespace: pol.metadata.namespace,
    action: { ALLOW: A_.ALLOW, DENY: A_.DENY, AUDIT: A_.AUDIT, CUSTOM: A_.CUSTOM }[pol.spec.action],
    provider: pol.spec.provider?.name ?? '',
    dryRun: parseBool(pol.metadata.annotations[A.dryRun] ?? '') ?? false,
    rules: pol.spec.rules.map((r) => ({
      from: r.from.map(({ source: s }) => ({
        principals: s.principals,
        notPrincipals: s.notPrincipals,
        requestPrincipals: s.requestPrincipals,
        notRequestPrincipals: s.notRequestPrincipals,
        namespaces: s.namespaces,
        notNamespaces: s.notNamespaces,
        serviceAccounts: s.serviceAccounts,
        notServiceAccounts: s.notServiceAccounts,
        ipBlocks: s.ipBlocks,
        notIpBlocks: s.notIpBlocks,
        remoteIpBlocks: s.remoteIpBlocks,
        notRemoteIpBlocks: s.notRemoteIpBlocks,
      })),
      to: r.to.map(({ operation: o }) => ({
        hosts: o.hosts,
        notHosts: o.notHosts,
        ports: o.ports.map(Number),
        notPorts: o.notPorts.map(Number),
        methods: o.methods,
        notMethods: o.notMethods,
        paths: o.paths,
        notPaths: o.notPaths,
      })),
      when: r.when.map((w) => ({ key: w.key, values: w.values, notValues: w.notValues })),
    })),
  });
}

/**
 * L7 policies for a Service (or, `svc` undefined, a workload entry): targetRefs
 * to the Service, to its waypoint Gateway, or to the waypoint GatewayClass
 * from the root namespace.
 */
function policiesFor(
  svc: Service | undefined,
  wp: Waypoint,
  state: StateIndex,
  opts: TranslateOptions,
): WpPolicy[] {
  return state.authorizationPolicies
    .filter((p) => {
      const ns = p.metadata.namespace;
      const refs = p.spec.targetRefs;
      return (
        (svc !== undefined &&
          targets(refs, ns, '', 'Service', svc.metadata.namespace, svc.metadata.name)) ||
        targets(refs, ns, GW_GROUP, 'Gateway', wp.namespace, wp.name) ||
        (ns === opts.rootNamespace &&
          refs.some(
            (t) => t.group === GW_GROUP && t.kind === 'GatewayClass' && t.name === WAYPOINT_CLASS,
          ))
      );
    })
    .map(toWaypointPolicy);
}

function oldestTargeting<T extends BackendPolicy | RateLimitPolicy>(
  list: T[],
  group: string,
  kind: string,
  ns: string,
  name: string,
): T | undefined {
  return list
    .filter((p) => targets(p.spec.targetRefs, p.metadata.namespace, group, kind, ns, name))
    .sort(olderFirst)[0];
}

function backendTraffic(
  bp: BackendPolicy | undefined,
  base: BackendTraffic | undefined,
): BackendTraffic | undefined {
  if (!bp) return base;
  const out = create(BackendTrafficSchema, base ?? {});
  const c = bp.spec.connectionPool;
  const o = bp.spec.outlierDetection;
  if (c?.maxConnections !== undefined) out.maxConnections = c.maxConnections;
  if (c?.maxPendingRequests !== undefined) out.maxPendingRequests = c.maxPendingRequests;
  if (c?.maxRequests !== undefined) out.maxRequests = c.maxRequests;
  if (o?.consecutive5xxErrors !== undefined) out.consecutive5xxErrors = o.consecutive5xxErrors;
  if (o?.consecutiveGatewayErrors !== undefined)
    out.consecutiveGatewayErrors = o.consecutiveGatewayErrors;
  if (o?.consecutiveConnectFailures !== undefined)
    out.consecutiveConnectFailures = o.consecutiveConnectFailures;
  if (o?.interval !== undefined) out.intervalMs = BigInt(o.interval);
  if (o?.baseEjectionTime !== undefined) out.baseEjectionTimeMs = BigInt(o.baseEjectionTime);
  if (o?.maxEjectionPercent !== undefined) out.maxEjectionPercent = o.maxEjectionPercent;
  const lb = bp.spec.loadBalancer?.type;
  if (lb)
    out.loadBalancer =
      lb === 'LeastRequest'
        ? BackendTraffic_LoadBalancer.LEAST_REQUEST
        : BackendTraffic_LoadBalancer.ROUND_ROBIN;
  out.sources = [...out.sources, `${bp.metadata.namespace}/${bp.metadata.name}`];
  return out;
}

/** DestinationRule trafficPolicy for the Service's host (short name in its namespace, or FQDN). */
function destinationRuleTraffic(
  svc: Service,
  state: StateIndex,
  opts: TranslateOptions,
): BackendTraffic | undefined {
  const fqdn = serviceHostname(svc.metadata.name, svc.metadata.namespace, opts);
  const dr = state.destinationRules
    .filter(
      (d) =>
        d.spec.host === fqdn ||
        (d.metadata.namespace === svc.metadata.namespace && d.spec.host === svc.metadata.name),
    )
    .sort(olderFirst)[0];
  const tp = dr?.spec.trafficPolicy;
  if (!dr || !tp) return undefined;
  const out = create(BackendTrafficSchema, {
    sources: [`${dr.metadata.namespace}/${dr.metadata.name}`],
  });
  const tcp = tp.connectionPool?.tcp;
  const http = tp.connectionPool?.http;
  const od = tp.outlierDetection;
  if (tcp?.maxConnections !== undefined) out.maxConnections = tcp.maxConnections;
  if (http?.http1MaxPendingRequests !== undefined)
    out.maxPendingRequests = http.http1MaxPendingRequests;
  if (http?.http2MaxRequests !== undefined) out.maxRequests = http.http2MaxRequests;
  if (od?.consecutive5xxErrors !== undefined) out.consecutive5xxErrors = od.consecutive5xxErrors;
  if (od?.consecutiveGatewayErrors !== undefined)
    out.consecutiveGatewayErrors = od.consecutiveGatewayErrors;
  if (od?.interval !== undefined) out.intervalMs = BigInt(od.interval);
  if (od?.baseEjectionTime !== undefined) out.baseEjectionTimeMs = BigInt(od.baseEjectionTime);
  if (od?.maxEjectionPercent !== undefined) out.maxEjectionPercent = od.maxEjectionPercent;
  const simple = tp.loadBalancer?.simple;
  if (simple === 'LEAST_REQUEST' || simple === 'LEAST_CONN')
    out.loadBalancer = BackendTraffic_LoadBalancer.LEAST_REQUEST;
  else if (simple === 'ROUND_ROBIN') out.loadBalancer = BackendTraffic_LoadBalancer.ROUND_ROBIN;
  return out;
}

function rateLimit(p: RateLimitPolicy | undefined): LocalRateLimit | undefined {
  if (!p) return undefined;
  const l = p.spec.local;
  return create(LocalRateLimitSchema, {
    requests: l.requests,
    intervalMs: BigInt(l.interval),
    burst: l.burst ?? l.requests,
    perSourceIdentity: l.perSourceIdentity,
    source: `${p.metadata.namespace}/${p.metadata.name}`,
  });
}

/**
 * Resilience settings for `svc`'s endpoints: its DestinationRule, overridden
 * by the oldest BackendPolicy targeting it. They apply wherever the waypoint
 * forwards to this Service (as the bound Service itself or as a route's
 * backend), like a DestinationRule for the backend's host in Istio.
 */
export function serviceBackendTraffic(
  svc: Service,
  state: StateIndex,
  opts: TranslateOptions,
): BackendTraffic | undefined {
  const { name, namespace } = svc.metadata;
  return backendTraffic(
    oldestTargeting(state.backendPolicies, '', 'Service', namespace, name),
    destinationRuleTraffic(svc, state, opts),
  );
}

export function waypointService(
  svc: Service,
  wp: Waypoint,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): WaypointService {
  const { name, namespace } = svc.metadata;
  const routes = routesFor(svc, state, opts, status);
  for (const r of routes) {
    const routeName = r.route.slice(r.route.indexOf('/') + 1);
    const kind = r.kind === Route_Kind.GRPC_ROUTE ? 'GRPCRoute' : 'HTTPRoute';
    r.backend = backendTraffic(
      oldestTargeting(state.backendPolicies, GW_GROUP, kind, namespace, routeName),
      undefined,
    );
    r.rateLimit = rateLimit(
      oldestTargeting(state.rateLimitPolicies, GW_GROUP, kind, namespace, routeName),
    );
  }
  return create(WaypointServiceSchema, {
    name,
    namespace,
    hostname: serviceHostname(name, namespace, opts),
    waypoint: `${wp.namespace}/${wp.name}`,
    ports: svc.spec.ports.map((p) =>
      create(ServicePortSchema, { port: p.port, name: p.name ?? '', appProtocol: appProtocol(p) }),
    ),
    routes,
    policies: policiesFor(svc, wp, state, opts),
    backend: serviceBackendTraffic(svc, state, opts),
    rateLimit: rateLimit(oldestTargeting(state.rateLimitPolicies, '', 'Service', namespace, name)),
  });
}

/** `10.244.0.5` → `10-244-0-5`, `fd00::1` → `fd00--1` (Kubernetes pod DNS names). */
function dashed(ip: Uint8Array): string {
  if (ip.length === 4) return ip.join('-');
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push((((ip[i] ?? 0) << 8) | (ip[i + 1] ?? 0)).toString(16));
  return parts.join('-');
}

/**
 * A workload whose own waypoint `wp` takes its workload-addressed traffic
 * (`istio.io/waypoint-for: workload|all`): ztunnel sends traffic addressed to
 * the pod IP there with `:authority <pod IP>:<port>`, so the waypoint gets a
 * workload entry it can find by that IP (every port; no routes, which attach
 * to Services; the L7 policies targeting the waypoint Gateway or class) and
 * one endpoint, the workload itself, that serves every port as dialled.
 */
export function waypointWorkload(
  w: Workload,
  wp: Waypoint,
  state: StateIndex,
  opts: TranslateOptions,
): { key: string; service: WaypointService; endpoints: ServiceEndpoints } | undefined {
  const address = w.addresses[0];
  if (!address) return undefined;
  const hostname = `${dashed(address)}.${w.namespace}.pod.${opts.domainSuffix}`;
  return {
    key: `${w.namespace}/${hostname}`,
    service: create(WaypointServiceSchema, {
      name: w.name,
      namespace: w.namespace,
      hostname,
      waypoint: `${wp.namespace}/${wp.name}`,
      workload: w.uid,
      vips: w.addresses,
      policies: policiesFor(undefined, wp, state, opts),
    }),
    endpoints: create(ServiceEndpointsSchema, {
      name: w.name,
      namespace: w.namespace,
      hostname,
      endpoints: [workloadEndpoint(w, address, { allPorts: true })],
    }),
  };
}

/** One workload as a waypoint endpoint; `extra` adds its ports (or allPorts). */
function workloadEndpoint(
  w: Workload,
  address: Uint8Array,
  extra: { ports?: Record<number, number>; allPorts?: boolean },
): Endpoint {
  const td = w.trustDomain || 'cluster.local';
  return create(EndpointSchema, {
    workloadUid: w.uid,
    address,
    identity: `spiffe://${td}/ns/${w.namespace}/sa/${w.serviceAccount || 'default'}`,
    hbone: w.tunnelProtocol === TunnelProtocol.HBONE,
    healthy: w.status === WorkloadStatus.HEALTHY,
    node: w.node,
    region: w.locality?.region ?? '',
    zone: w.locality?.zone ?? '',
    subzone: w.locality?.subzone ?? '',
    ...extra,
  });
}

/** Endpoints of one Service, from the translated workloads that serve it, with its backend settings. */
export function serviceEndpoints(
  svc: Service,
  workloads: readonly Workload[],
  state: StateIndex,
  opts: TranslateOptions,
): ServiceEndpoints {
  const key = serviceKey(svc, opts);
  const endpoints = [];
  for (const w of workloads) {
    const ports = w.services[key];
    const address = w.addresses[0];
    if (!ports || !address) continue;
    endpoints.push(
      workloadEndpoint(w, address, {
        ports: Object.fromEntries(ports.ports.map((p) => [p.servicePort, p.targetPort])),
      }),
    );
  }
  return create(ServiceEndpointsSchema, {
    name: svc.metadata.name,
    namespace: svc.metadata.namespace,
    hostname: serviceHostname(svc.metadata.name, svc.metadata.namespace, opts),
    endpoints,
    backend: serviceBackendTraffic(svc, state, opts),
  });
}

/** Status for targetRefs policies whose target is missing or not waypoint-bound (Istio's WaypointPolicyStatus). */
export function targetRefStatuses(
  state: StateIndex,
  bound: ReadonlySet<string>,
  waypointKeys: ReadonlySet<string>,
  opts: TranslateOptions,
  status: StatusSink,
): void {
  const check = (kind: string, ns: string, name: string, refs: readonly PolicyTargetRef[]) => {
    for (const t of refs) {
      const tns = t.namespace ?? ns;
      const key = `${tns}/${t.name}`;
      let problem: string | undefined;
      if (t.kind === 'Service') {
        if (!state.serviceByName.has(key)) problem = `Service ${key} was not found`;
        else if (kind === 'AuthorizationPolicy' && !bound.has(key))
          problem = `Service ${key} is not bound to a waypoint`;
      } else if (t.kind === 'Gateway') {
        if (!waypointKeys.has(key)) problem = `waypoint Gateway ${key} was not found`;
      } else if (t.kind === 'GatewayClass') {
        if (ns !== opts.rootNamespace)
          problem = `a GatewayClass target needs the policy in the root namespace ${opts.rootNamespace}`;
      } else if (t.kind === 'HTTPRoute' || t.kind === 'GRPCRoute') {
        const list = t.kind === 'HTTPRoute' ? state.httpRoutes : state.grpcRoutes;
        if (!list.some((r) => r.metadata.namespace === tns && r.metadata.name === t.name))
          problem = `${t.kind} ${key} was not found`;
      }
      if (problem) status.add(kind, ns, name, 'TargetNotFound', problem);
    }
  };
  for (const p of state.authorizationPolicies)
    check('AuthorizationPolicy', p.metadata.namespace, p.metadata.name, p.spec.targetRefs);
  for (const p of state.backendPolicies)
    check('BackendPolicy', p.metadata.namespace, p.metadata.name, p.spec.targetRefs);
  for (const p of state.rateLimitPolicies)
    check('RateLimitPolicy', p.metadata.namespace, p.metadata.name, p.spec.targetRefs);
}
