/**
 * Wire values of the xDS enums that from-proto.ts converts, mirrored from
 * the generated code (src/gen). Importing the generated modules as values
 * evaluates the protobuf runtime and every file descriptor (~12 MB of RSS),
 * which a ztunnel fed by the local config file never needs; the message
 * types themselves are imported as types only. Keys are checked against the
 * generated enums by the compiler and the values by proto-enums.test.ts.
 */
import type {
  Action as PbAction,
  Scope as PbScope,
} from '../gen/istio/security/authorization_pb.js';
import type {
  ApplicationTunnel_Protocol as PbApplicationTunnelProtocol,
  LoadBalancing_HealthPolicy as PbHealthPolicy,
  IPFamilies as PbIPFamilies,
  LoadBalancing_Mode as PbLbMode,
  LoadBalancing_Scope as PbLbScope,
  NetworkMode as PbNetworkMode,
  TunnelProtocol as PbTunnelProtocol,
  WorkloadStatus as PbWorkloadStatus,
  WorkloadType as PbWorkloadType,
} from '../gen/istio/workload/workload_pb.js';

type Mirror<E> = Partial<Record<keyof E, number>>;

export const WorkloadType = {
  DEPLOYMENT: 0,
  CRONJOB: 1,
  POD: 2,
  JOB: 3,
} as const satisfies Mirror<typeof PbWorkloadType>;
export const LoadBalancing_Scope = {
  UNSPECIFIED_SCOPE: 0,
  REGION: 1,
  ZONE: 2,
  SUBZONE: 3,
  NODE: 4,
  CLUSTER: 5,
  NETWORK: 6,
} as const satisfies Mirror<typeof PbLbScope>;
export const LoadBalancing_Mode = {
  UNSPECIFIED_MODE: 0,
  STRICT: 1,
  FAILOVER: 2,
  PASSTHROUGH: 3,
} as const satisfies Mirror<typeof PbLbMode>;
export const LoadBalancing_HealthPolicy = {
  ONLY_HEALTHY: 0,
  ALLOW_ALL: 1,
} as const satisfies Mirror<typeof PbHealthPolicy>;
export const TunnelProtocol = { NONE: 0, HBONE: 1 } as const satisfies Mirror<
  typeof PbTunnelProtocol
>;
export const ApplicationTunnel_Protocol = { NONE: 0, PROXY: 1 } as const satisfies Mirror<
  typeof PbApplicationTunnelProtocol
>;
export const WorkloadStatus = { HEALTHY: 0, UNHEALTHY: 1 } as const satisfies Mirror<
  typeof PbWorkloadStatus
>;
export const NetworkMode = { STANDARD: 0, HOST_NETWORK: 1 } as const satisfies Mirror<
  typeof PbNetworkMode
>;
export const IPFamilies = {
  AUTOMATIC: 0,
  IPV4_ONLY: 1,
  IPV6_ONLY: 2,
  DUAL: 3,
} as const satisfies Mirror<typeof PbIPFamilies>;
export const Scope = {
  GLOBAL: 0,
  NAMESPACE: 1,
  WORKLOAD_SELECTOR: 2,
} as const satisfies Mirror<typeof PbScope>;
export const Action = { ALLOW: 0, DENY: 1 } as const satisfies Mirror<typeof PbAction>;
