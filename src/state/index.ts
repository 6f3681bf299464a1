/**
 * The proxy's view of the mesh: domain types converted once from xDS or the
 * local config, indexed stores, endpoint selection and the outbound routing
 * decision. No I/O. See docs/state-and-rbac.md.
 */
export { StateErrors } from './errors.js';
export {
  type AddressResource,
  addressFromProto,
  policyFromProto,
  serviceFromProto,
  workloadFromProto,
} from './from-proto.js';
export { bytesToIp, formatHostPort, IpNet, ipToBytes, normalizeIp } from './ip.js';
// parseLocalConfig is in './local-config.js' (not re-exported: it loads yaml and zod).
export {
  type Destination,
  ProxyState,
  type ResourceError,
  type StateEvents,
  type StateSnapshot,
  StateUpdater,
} from './proxy-state.js';
export {
  HBONE_PORT,
  type HostPort,
  type RouteDecision,
  type RouteOptions,
  routeOutbound,
} from './route.js';
export { type SelectedEndpoint, type SelectOptions, selectEndpoint } from './select.js';
export type { PolicyStore, ServiceStore, WorkloadStore } from './stores.js';
export { makeMatch, makePolicy, makeService, makeWorkload } from './testing.js';
export {
  type ApplicationTunnel,
  type Endpoint,
  type GatewayAddress,
  type HealthStatus,
  type LoadBalancer,
  type LoadBalancerScope,
  type Locality,
  type Match,
  type NamespacedHostname,
  type NetworkAddress,
  type NetworkMode,
  networkAddressKey,
  type Policy,
  type PolicyAction,
  type PolicyScope,
  type PortMap,
  type Protocol,
  policyKey,
  type Service,
  type ServiceAccountMatch,
  type StringMatch,
  serviceKey,
  type Workload,
  type WorkloadType,
} from './types.js';
