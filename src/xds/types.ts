/**
 * The xDS type URLs of Istio ambient (istio/ztunnel:src/xds/types.rs) and the
 * short names used in metrics (istiod's `wds` / `wads`, pilot/pkg/xds/v3).
 */

/** `istio.workload.Address`: workloads and services, keyed by uid or `namespace/hostname`. */
export const ADDRESS_TYPE_URL = 'type.googleapis.com/istio.workload.Address';
/** `istio.security.Authorization`: L4 policies, keyed by `namespace/name`. */
export const AUTHORIZATION_TYPE_URL = 'type.googleapis.com/istio.security.Authorization';

/**
 * `istio.workload.Service.extensions` entry by which ambit's control plane
 * marks a Service whose pods accept traffic that skipped its waypoint (the
 * `ambit.dev/allow-waypoint-bypass` annotation). Istio's ztunnel ignores
 * extensions it does not know, so the resource stays Istio's.
 */
export const ALLOW_WAYPOINT_BYPASS_EXTENSION = 'ambit.dev/allow-waypoint-bypass';

/** The wildcard resource name of the delta protocol. */
export const WILDCARD = '*';

/** A short, bounded label for a type URL (metrics, logs). */
export function shortType(typeUrl: string): string {
  if (typeUrl === ADDRESS_TYPE_URL) return 'wds';
  if (typeUrl === AUTHORIZATION_TYPE_URL) return 'wads';
  const i = typeUrl.lastIndexOf('.');
  return i < 0 ? typeUrl : typeUrl.slice(i + 1).toLowerCase();
}
