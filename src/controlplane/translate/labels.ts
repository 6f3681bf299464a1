/** Istio label and annotation names the translation reads (istio/api label/annotation catalogues). */
export const L = {
  dataplaneMode: 'istio.io/dataplane-mode',
  useWaypoint: 'istio.io/use-waypoint',
  useWaypointNamespace: 'istio.io/use-waypoint-namespace',
  waypointFor: 'istio.io/waypoint-for',
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  gatewayManaged: 'gateway.istio.io/managed',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  tunnel: 'networking.istio.io/tunnel',
  podTemplateHash: 'pod-template-hash',
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  subzone: 'topology.istio.io/subzone',
} as const;

export const A = {
  dryRun: 'istio.io/dry-run',
  redirection: 'ambient.istio.io/redirection',
  sidecarStatus: 'sidecar.istio.io/status',
  trafficDistribution: 'networking.istio.io/traffic-distribution',
  /** Service accounts (names in the Service's namespace) the Service's pods run as. */
  kubernetesServiceAccounts: 'alpha.istio.io/kubernetes-serviceaccounts',
  /** Full identities (`spiffe://…` or `td/ns/x/sa/y`) the Service's pods present. */
  canonicalServiceAccounts: 'alpha.istio.io/canonical-serviceaccounts',
  /** ambit: this Service's pods accept traffic that skipped its waypoint (default false). */
  allowWaypointBypass: 'ambit.dev/allow-waypoint-bypass',
} as const;

export const WAYPOINT_CLASS = 'istio-waypoint';
export const MESH_CONTROLLER = 'istio.io-mesh-controller';
export const HBONE_PORT = 15008;
