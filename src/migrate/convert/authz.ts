/**
 * Selector-based L7 policies → `targetRefs` on the Service (or the namespace
 * waypoint). At ztunnel an ALLOW policy with L7 rules fails closed, and behind
 * a waypoint ztunnel sees the waypoint's identity as the source, so policies
 * on source identities move too.
 */
import { type FeatureId, finding, itemContext } from '../features.js';
import type { Inventory, Item } from '../inventory.js';
import type { AuthorizationPolicySpec } from '../shapes.js';
import type { Finding } from '../types.js';
import { selectedWorkloads, servicesFor } from '../workloads.js';
import { MANAGED_BY } from './routes.js';

const L7_OPERATION = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'];
const L7_SOURCE = [
  'requestPrincipals',
  'notRequestPrincipals',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
];
const IDENTITY_SOURCE = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'];
const L4_WHEN = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
  'connection.sni',
]);

export function hasL7(spec: AuthorizationPolicySpec): boolean {
  if (spec.action === 'CUSTOM') return true;
  return (spec.rules ?? []).some(
    (r) =>
      (r.to ?? []).some((t) => L7_OPERATION.some((k) => t.operation?.[k] !== undefined)) ||
      (r.from ?? []).some((f) => L7_SOURCE.some((k) => f.source?.[k] !== undefined)) ||
      (r.when ?? []).some((w) => !L4_WHEN.has(w.key)),
  );
}

export function usesSourceIdentity(spec: AuthorizationPolicySpec): boolean {
  return (spec.rules ?? []).some(
    (r) =>
      (r.from ?? []).some((f) => IDENTITY_SOURCE.some((k) => f.source?.[k] !== undefined)) ||
      (r.when ?? []).some((w) => w.key === 'source.principal' || w.key === 'source.namespace'),
  );
}

export const WAYPOINT_NAME = 'waypoint';

type TargetRef = { group: string; kind: string; name: string };

/** Services behind the selector, or the namespace waypoint when there is no selector. */
export function targetRefsFor(
  inv: Inventory,
  item: Item<AuthorizationPolicySpec>,
): { refs: TargetRef[]; note: string } {
  const labels = item.spec.selector?.matchLabels;
  if (labels === undefined) {
    return {
      refs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: WAYPOINT_NAME }],
      note: 'namespace-wide: targets the waypoint',
    };
  }
  const services = servicesFor(inv, selectedWorkloads(inv, item.meta.namespace, labels));
  if (services.length === 0) {
    return {
      refs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: WAYPOINT_NAME }],
      note: 'no Service selects its pods: targets the whole waypoint, which is broader',
    };
  }
  return {
    refs: services.map((s) => ({ group: '', kind: 'Service', name: s.meta.name })),
    note: `targets Service ${services.map((s) => s.meta.name).join(', ')}`,
  };
}

const KINDS: Record<string, { apiVersion: string; id: FeatureId }> = {
  AuthorizationPolicy: { apiVersion: 'security.istio.io/v1', id: 'ap.l7' },
  RequestAuthentication: { apiVersion: 'security.istio.io/v1', id: 'ra.selector' },
  WasmPlugin: { apiVersion: 'extensions.istio.io/v1alpha1', id: 'wasm.selector' },
};

/** The rewritten policy, named `<name>-waypoint` so it can live beside the old one until cutover. */
export function retarget(
  inv: Inventory,
  item: Item<AuthorizationPolicySpec>,
  id?: FeatureId,
): { object: Record<string, unknown>; finding: Finding } {
  const kind = KINDS[item.kind] ?? { apiVersion: 'security.istio.io/v1', id: 'ap.l7' as const };
  const { refs, note } = targetRefsFor(inv, item);
  const {
    selector: _selector,
    targetRef: _targetRef,
    ...spec
  } = item.raw.spec as Record<string, unknown>;
  const object = {
    apiVersion: kind.apiVersion,
    kind: item.kind,
    metadata: {
      name: `${item.meta.name}-waypoint`,
      namespace: item.meta.namespace,
      labels: { ...MANAGED_BY },
      annotations: {
        'migrate.ambit.dev/from': `${item.kind} ${item.meta.namespace}/${item.meta.name}`,
      },
    },
    spec: { ...spec, targetRefs: refs },
  };
  return {
    object,
    finding: finding(
      id ?? kind.id,
      itemContext(item),
      `${note}; delete ${item.meta.name} at cutover`,
    ),
  };
}

/** Whether a selector-based policy must move to the waypoint. */
export function needsRetarget(
  item: Item<AuthorizationPolicySpec>,
  nsHasWaypoint: boolean,
): FeatureId | undefined {
  if (item.spec.targetRefs !== undefined || item.spec.targetRef !== undefined) return undefined;
  if (item.kind === 'RequestAuthentication') return 'ra.selector';
  if (item.kind === 'WasmPlugin') return 'wasm.selector';
  if (hasL7(item.spec)) return 'ap.l7';
  if (nsHasWaypoint && usesSourceIdentity(item.spec)) return 'ap.source';
  return undefined;
}
