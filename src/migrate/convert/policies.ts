/**
 * DestinationRules → Services per subset and BackendPolicies (docs/policies.md);
 * local-rate-limit EnvoyFilters → RateLimitPolicies.
 */

import { parseDuration } from '../../core/duration.js';
import {
  AMBIT_POLICY_API_VERSION,
  type BackendPolicy,
  type RateLimitPolicy,
} from '../ambit-policies.js';
import { finding, itemContext } from '../features.js';
import { resolveHost, subsetServiceName } from '../hosts.js';
import type { Inventory, Item } from '../inventory.js';
import type { DestinationRuleSpec, ServiceSpecShape, TrafficPolicy } from '../shapes.js';
import type { Finding } from '../types.js';
import { gwDuration } from './gw.js';
import { MANAGED_BY, type SubsetUse } from './routes.js';

type BackendSpec = BackendPolicy['spec'];
type Ref = BackendSpec['targetRefs'][number];

export interface PolicyResult {
  objects: Record<string, unknown>[];
  findings: Finding[];
}

const CONN_POOL_MAPPED = new Set(['maxConnections', 'http1MaxPendingRequests', 'http2MaxRequests']);
const OUTLIER_MAPPED = new Set([
  'consecutive5xxErrors',
  'consecutiveGatewayErrors',
  'consecutiveLocalOriginFailures',
  'interval',
  'baseEjectionTime',
  'maxEjectionPercent',
]);

function dur(s: string): string {
  return gwDuration(parseDuration(s));
}

/** Maps a traffic policy; `note` receives findings. Returns undefined if nothing maps. */
export function backendSpec(
  tp: TrafficPolicy,
  targetRefs: Ref[],
  note: (id: Parameters<typeof finding>[0], detail: string) => void,
): BackendSpec | undefined {
  const spec: BackendSpec = { targetRefs };
  const cp = tp.connectionPool;
  if (cp !== undefined) {
    const pool: NonNullable<BackendSpec['connectionPool']> = {};
    if (cp.tcp?.maxConnections !== undefined) pool.maxConnections = cp.tcp.maxConnections;
    if (cp.http?.http1MaxPendingRequests !== undefined)
      pool.maxPendingRequests = cp.http.http1MaxPendingRequests;
    if (cp.http?.http2MaxRequests !== undefined) pool.maxRequests = cp.http.http2MaxRequests;
    if (Object.keys(pool).length > 0) {
      spec.connectionPool = pool;
      note('dr.connectionPool', JSON.stringify(pool));
    }
    const dropped = [...Object.keys(cp.tcp ?? {}), ...Object.keys(cp.http ?? {})].filter(
      (k) => !CONN_POOL_MAPPED.has(k),
    );
    if (dropped.length > 0) note('dr.connectionPool.other', `dropped ${dropped.join(', ')}`);
  }
  const od = tp.outlierDetection;
  if (od !== undefined) {
    const o: NonNullable<BackendSpec['outlierDetection']> = {};
    if (od.consecutive5xxErrors !== undefined) o.consecutive5xxErrors = od.consecutive5xxErrors;
    if (od.consecutiveGatewayErrors !== undefined)
      o.consecutiveGatewayErrors = od.consecutiveGatewayErrors;
    if (od.interval !== undefined) o.interval = dur(od.interval);
    if (od.baseEjectionTime !== undefined) o.baseEjectionTime = dur(od.baseEjectionTime);
    if (od.maxEjectionPercent !== undefined) o.maxEjectionPercent = od.maxEjectionPercent;
    if (od.consecutiveLocalOriginFailures !== undefined) {
      o.consecutiveConnectFailures = od.consecutiveLocalOriginFailures;
      note(
        'dr.outlierDetection.localOrigin',
        `consecutiveLocalOriginFailures ${od.consecutiveLocalOriginFailures}`,
      );
    }
    spec.outlierDetection = o;
    note('dr.outlierDetection', JSON.stringify(o));
    const dropped = Object.keys(od).filter((k) => !OUTLIER_MAPPED.has(k));
    if (dropped.length > 0) note('dr.outlierDetection.other', `dropped ${dropped.join(', ')}`);
  }
  const lb = tp.loadBalancer;
  if (lb?.simple !== undefined && lb.simple !== 'UNSPECIFIED') {
    const exact =
      lb.simple === 'ROUND_ROBIN' || lb.simple === 'LEAST_REQUEST' || lb.simple === 'LEAST_CONN';
    spec.loadBalancer = {
      type: lb.simple === 'ROUND_ROBIN' || !exact ? 'RoundRobin' : 'LeastRequest',
    };
    note(exact ? 'dr.loadBalancer' : 'dr.loadBalancer.other', lb.simple);
  }
  if (lb?.consistentHash !== undefined)
    note('dr.loadBalancer.consistentHash', JSON.stringify(lb.consistentHash));
  if (
    lb?.localityLbSetting !== undefined ||
    lb?.warmupDurationSecs !== undefined ||
    lb?.warmup !== undefined
  ) {
    note('dr.loadBalancer.locality', 'locality/warmup settings dropped');
  }
  const mode = tp.tls?.mode;
  if (mode === 'ISTIO_MUTUAL' || mode === 'DISABLE') note('dr.tls.istioMutual', `tls ${mode}`);
  else if (mode === 'SIMPLE' || mode === 'MUTUAL') note('dr.tls.origination', `tls ${mode}`);
  if ((tp.portLevelSettings?.length ?? 0) > 0)
    note('dr.portLevelSettings', `${tp.portLevelSettings?.length} port(s)`);
  const mapped =
    spec.connectionPool !== undefined ||
    spec.outlierDetection !== undefined ||
    spec.loadBalancer !== undefined;
  return mapped ? spec : undefined;
}

function backendPolicy(name: string, ns: string, spec: BackendSpec, from: string): BackendPolicy {
  return {
    apiVersion: AMBIT_POLICY_API_VERSION,
    kind: 'BackendPolicy',
    metadata: {
      name,
      namespace: ns,
      labels: { ...MANAGED_BY },
      annotations: { 'migrate.ambit.dev/from': from },
    },
    spec,
  };
}

/** Picks the DestinationRule for a Service: its own namespace first, as istiod does for producers. */
export function ruleFor(
  inv: Inventory,
  ns: string,
  service: string,
): Item<DestinationRuleSpec> | undefined {
  const matching = inv.destinationRules.filter((d) => {
    const t = resolveHost(inv, d.spec.host ?? '', d.meta.namespace);
    return t.kind === 'service' && t.namespace === ns && t.name === service;
  });
  return matching.find((d) => d.meta.namespace === ns) ?? matching[0];
}

function subsetService(
  svc: Item<ServiceSpecShape>,
  subset: string,
  labels: Record<string, string>,
  dr: Item<unknown>,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: subsetServiceName(svc.meta.name, subset),
      namespace: svc.meta.namespace,
      labels: { ...MANAGED_BY, 'migrate.ambit.dev/subset-of': svc.meta.name },
      annotations: {
        'migrate.ambit.dev/from': `DestinationRule ${dr.meta.namespace}/${dr.meta.name} subset ${subset}`,
      },
    },
    spec: {
      selector: { ...(svc.spec.selector ?? {}), ...labels },
      ports: (svc.spec.ports ?? []).map((p) => ({
        ...(p.name === undefined ? {} : { name: p.name }),
        port: p.port,
        ...(p.targetPort === undefined ? {} : { targetPort: p.targetPort }),
        ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
        ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
      })),
    },
  };
}

/** Converts DestinationRules and generates the subset Services routes use. */
export function convertDestinationRules(inv: Inventory, used: readonly SubsetUse[]): PolicyResult {
  const out: PolicyResult = { objects: [], findings: [] };
  const usedKeys = new Set(used.map((u) => `${u.namespace}/${u.service}/${u.subset}`));
  for (const dr of inv.destinationRules) {
    const ctx = itemContext(dr);
    const note = (id: Parameters<typeof finding>[0], detail: string) =>
      out.findings.push(finding(id, ctx, detail));
    const t = resolveHost(inv, dr.spec.host ?? '', dr.meta.namespace);
    if (t.kind !== 'service') {
      note('vs.host.unknown', `${dr.spec.host ?? ''} is not a Service in the input`);
      continue;
    }
    const from = `DestinationRule ${dr.meta.namespace}/${dr.meta.name}`;
    if (dr.spec.trafficPolicy !== undefined) {
      const spec = backendSpec(
        dr.spec.trafficPolicy,
        [{ group: '', kind: 'Service', name: t.name }],
        note,
      );
      if (spec !== undefined)
        out.objects.push(backendPolicy(`${t.name}-resilience`, t.namespace, spec, from));
    }
    const subsets = dr.spec.subsets ?? [];
    if (subsets.length > 0) note('dr.subsets', subsets.map((s) => s.name).join(', '));
    for (const s of subsets) {
      const wanted = usedKeys.has(`${t.namespace}/${t.name}/${s.name}`);
      if (!wanted && s.trafficPolicy === undefined) continue;
      usedKeys.delete(`${t.namespace}/${t.name}/${s.name}`);
      out.objects.push(subsetService(t.service, s.name, s.labels ?? {}, dr));
      if (s.trafficPolicy !== undefined) {
        const name = subsetServiceName(t.name, s.name);
        const spec = backendSpec(s.trafficPolicy, [{ group: '', kind: 'Service', name }], note);
        if (spec !== undefined) {
          note('dr.subset.trafficPolicy', `subset ${s.name}`);
          out.objects.push(
            backendPolicy(`${name}-resilience`, t.namespace, spec, `${from} subset ${s.name}`),
          );
        }
      }
    }
  }
  for (const key of usedKeys) {
    const [ns = '', service = '', subset = ''] = key.split('/');
    out.findings.push(
      finding(
        'vs.host.unknown',
        { namespace: ns, resource: `Service ${service}` },
        `subset ${subset} of ${service} is not defined in any DestinationRule in the input`,
      ),
    );
  }
  return out;
}

export function rateLimitPolicy(
  ns: string,
  service: string,
  local: RateLimitPolicy['spec']['local'],
  from: string,
): RateLimitPolicy {
  return {
    apiVersion: AMBIT_POLICY_API_VERSION,
    kind: 'RateLimitPolicy',
    metadata: {
      name: `${service}-ratelimit`,
      namespace: ns,
      labels: { ...MANAGED_BY },
      annotations: { 'migrate.ambit.dev/from': from },
    },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: service }], local },
  };
}
