/**
 * An index over one snapshot of desired state, so the rules can look up
 * "the namespace of this pod" or "services in this namespace" cheaply.
 */
import type {
  AuthorizationPolicy,
  BackendPolicy,
  Deployment,
  DestinationRule,
  Gateway,
  GRPCRoute,
  HTTPRoute,
  Namespace,
  PeerAuthentication,
  Pod,
  RateLimitPolicy,
  Resource,
  Service,
} from '../../kube/index.js';

export interface StateIndex {
  namespaces: Map<string, Namespace>;
  pods: Pod[];
  deployments: Deployment[];
  services: Service[];
  /** `ns/name` → Service. */
  serviceByName: Map<string, Service>;
  authorizationPolicies: AuthorizationPolicy[];
  peerAuthentications: PeerAuthentication[];
  gateways: Gateway[];
  httpRoutes: HTTPRoute[];
  grpcRoutes: GRPCRoute[];
  backendPolicies: BackendPolicy[];
  rateLimitPolicies: RateLimitPolicy[];
  destinationRules: DestinationRule[];
}

/** Stable order: by namespace, then name, so output does not depend on input order. */
function byNsName(a: Resource, b: Resource): number {
  const x = `${a.metadata.namespace}/${a.metadata.name}`;
  const y = `${b.metadata.namespace}/${b.metadata.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

export function indexState(resources: Iterable<Resource>): StateIndex {
  const s: StateIndex = {
    namespaces: new Map(),
    pods: [],
    deployments: [],
    services: [],
    serviceByName: new Map(),
    authorizationPolicies: [],
    peerAuthentications: [],
    gateways: [],
    httpRoutes: [],
    grpcRoutes: [],
    backendPolicies: [],
    rateLimitPolicies: [],
    destinationRules: [],
  };
  for (const r of resources) {
    switch (r.kind) {
      case 'Namespace':
        s.namespaces.set(r.metadata.name, r);
        break;
      case 'ServiceAccount':
        break;
      case 'Pod':
        s.pods.push(r);
        break;
      case 'Deployment':
        s.deployments.push(r);
        break;
      case 'Service':
        s.services.push(r);
        s.serviceByName.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
        break;
      case 'AuthorizationPolicy':
        s.authorizationPolicies.push(r);
        break;
      case 'PeerAuthentication':
        s.peerAuthentications.push(r);
        break;
      case 'Gateway':
        s.gateways.push(r);
        break;
      case 'HTTPRoute':
        s.httpRoutes.push(r);
        break;
      case 'GRPCRoute':
        s.grpcRoutes.push(r);
        break;
      case 'BackendPolicy':
        s.backendPolicies.push(r);
        break;
      case 'RateLimitPolicy':
        s.rateLimitPolicies.push(r);
        break;
      case 'DestinationRule':
        s.destinationRules.push(r);
        break;
    }
  }
  for (const list of [
    s.pods,
    s.deployments,
    s.services,
    s.authorizationPolicies,
    s.peerAuthentications,
    s.gateways,
    s.httpRoutes,
    s.grpcRoutes,
    s.backendPolicies,
    s.rateLimitPolicies,
    s.destinationRules,
  ] as Resource[][]) {
    list.sort(byNsName);
  }
  return s;
}

/** Older first by creationTimestamp (missing = oldest), then `ns/name`: Istio's and GEP-713's tie rule. */
export function olderFirst(a: Resource, b: Resource): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb)
    return Date.parse(ta || '1970-01-01T00:00:00Z') - Date.parse(tb || '1970-01-01T00:00:00Z');
  return byNsName(a, b);
}
