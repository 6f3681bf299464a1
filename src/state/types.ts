/**
 * The proxy's view of the mesh: domain types converted once from xDS
 * (`istio.workload.Address`, `istio.security.Authorization`) or from the local
 * config YAML. Field names and defaults follow ztunnel's own model, so a
 * config dump reads the same. IPs are canonical text (see ./ip.ts).
 */
import type { SpiffeId } from '../identity/index.js';
import type { IpNet } from './ip.js';

/** How a workload receives mesh traffic: HBONE on 15008, or plain TCP (not in the mesh). */
export type Protocol = 'HBONE' | 'TCP';
export type HealthStatus = 'Healthy' | 'Unhealthy';
export type NetworkMode = 'Standard' | 'HostNetwork';
export type WorkloadType = 'deployment' | 'cronjob' | 'pod' | 'job';

/** An IP on a network; `network` "" is the default network. Key form `network/ip`. */
export interface NetworkAddress {
  readonly network: string;
  readonly address: string;
}

/** A service key; key form `namespace/hostname`. */
export interface NamespacedHostname {
  readonly namespace: string;
  readonly hostname: string;
}

/** Where a waypoint or network gateway lives: an address (usually a Service VIP) or a service hostname. */
export interface GatewayAddress {
  readonly destination:
    | ({ readonly kind: 'address' } & NetworkAddress)
    | ({ readonly kind: 'hostname' } & NamespacedHostname);
  /** HBONE port on the gateway (default 15008). */
  readonly hboneMtlsPort: number;
}

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface ApplicationTunnel {
  readonly protocol: 'NONE' | 'PROXY';
  /** Port the app listens for tunnelled traffic on; undefined = the original port. */
  readonly port?: number;
}

/** Service port → target (container) port. */
export type PortMap = ReadonlyMap<number, number>;

export interface Workload {
  /** Primary key (xDS resource name), e.g. `cluster//v1/Pod/ns/name`. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** Pod IPs, canonical text. Empty for hostname-only or gateway-only workloads. */
  readonly workloadIps: readonly string[];
  readonly hostname: string;
  /** Network ("" = default). */
  readonly network: string;
  readonly protocol: Protocol;
  /** Default `cluster.local` (elided on the wire). */
  readonly trustDomain: string;
  /** Default `default` (elided on the wire). */
  readonly serviceAccount: string;
  /** `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
  readonly identity: SpiffeId;
  /** Set by the control plane only when this workload's traffic must go through it. */
  readonly waypoint?: GatewayAddress;
  readonly networkGateway?: GatewayAddress;
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: WorkloadType;
  readonly workloadName: string;
  readonly nativeTunnel: boolean;
  readonly applicationTunnel?: ApplicationTunnel;
  /** Services this workload backs: `namespace/hostname` → its own port mapping. */
  readonly services: ReadonlyMap<string, PortMap>;
  /** Names (`namespace/name`) of WORKLOAD_SELECTOR policies that select it. */
  readonly authorizationPolicies: readonly string[];
  readonly status: HealthStatus;
  /** Default `Kubernetes`. */
  readonly clusterId: string;
  readonly locality: Locality;
  readonly networkMode: NetworkMode;
  /** Relative load-balancing weight; default 1. */
  readonly capacity: number;
}

export type LoadBalancerScope = 'Region' | 'Zone' | 'Subzone' | 'Node' | 'Cluster' | 'Network';

export interface LoadBalancer {
  /** Ordered: an endpoint's rank is how many leading scopes it shares with the source. */
  readonly routingPreferences: readonly LoadBalancerScope[];
  /** Standard ignores preferences; Strict requires all; Failover prefers the best rank; Passthrough skips selection. */
  readonly mode: 'Standard' | 'Strict' | 'Failover' | 'Passthrough';
  readonly healthPolicy: 'OnlyHealthy' | 'AllowAll';
}

export interface Service {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly vips: readonly NetworkAddress[];
  /** Service port → target port (0 = defer to each endpoint's mapping). */
  readonly ports: PortMap;
  /** Extra identities accepted from endpoints (SPIFFE URIs). */
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
  /**
   * The Service's pods accept connections that skipped its waypoint
   * (ambit's bypass prevention is off for this Service's ports).
   */
  readonly allowWaypointBypass?: boolean;
  readonly loadBalancer?: LoadBalancer;
  /** Restricts which endpoint IP family is dialled; undefined = automatic. */
  readonly ipFamilies?: 'IPv4' | 'IPv6' | 'Dual';
  readonly canonical: boolean;
}

/** A service endpoint, derived from a workload's `services` map. */
export interface Endpoint {
  readonly workloadUid: string;
  readonly ports: PortMap;
  readonly status: HealthStatus;
}

export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly presence: true };

export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** One match: every non-empty field must match (values within a field are OR-ed). */
export interface Match {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
  /** Istio form without `spiffe://`, e.g. `cluster.local/ns/a/sa/b`. */
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly sourceIps: readonly IpNet[];
  readonly notSourceIps: readonly IpNet[];
  readonly destinationIps: readonly IpNet[];
  readonly notDestinationIps: readonly IpNet[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
}

export type PolicyScope = 'Global' | 'Namespace' | 'WorkloadSelector';
export type PolicyAction = 'Allow' | 'Deny';

/** An L4 authorization policy (`istio.security.Authorization`). */
export interface Policy {
  readonly name: string;
  readonly namespace: string;
  readonly scope: PolicyScope;
  readonly action: PolicyAction;
  /** Rules (OR) → clauses (AND) → matches (OR). */
  readonly rules: readonly (readonly (readonly Match[])[])[];
  /** Evaluated and reported, never enforced. */
  readonly dryRun: boolean;
}

export function networkAddressKey(a: NetworkAddress): string {
  return `${a.network}/${a.address}`;
}

export function serviceKey(s: NamespacedHostname): string {
  return `${s.namespace}/${s.hostname}`;
}

export function policyKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}
