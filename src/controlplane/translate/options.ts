/** Mesh-wide settings the translation depends on. */
export interface TranslateOptions {
  /** Istio's root namespace: policies here apply mesh-wide. Default `istio-system`. */
  rootNamespace: string;
  /** SPIFFE trust domain. Default `cluster.local` (elided from Workload.trust_domain). */
  trustDomain: string;
  /** Service DNS suffix: hostnames are `<svc>.<ns>.svc.<suffix>`. Default `cluster.local`. */
  domainSuffix: string;
  /** Network ID of this cluster. Default '' (the default network). */
  network: string;
  /** Cluster ID used in workload UIDs. Default `Kubernetes` (Istio's default). */
  clusterId: string;
  /** Node name → locality, as Istio reads from Node topology labels. Default empty. */
  nodeLocality: ReadonlyMap<string, { region: string; zone: string; subzone: string }>;
}

export const DEFAULT_TRANSLATE_OPTIONS: Readonly<TranslateOptions> = Object.freeze({
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  network: '',
  clusterId: 'Kubernetes',
  nodeLocality: new Map(),
});

export function translateOptions(o: Partial<TranslateOptions> = {}): TranslateOptions {
  return { ...DEFAULT_TRANSLATE_OPTIONS, ...o };
}
