/**
 * Pod → istio.workload.Workload, as Istio's workloads.go `podWorkloadBuilder`
 * builds it, with ambit's choices noted where they differ.
 */
import { create } from '@bufbuild/protobuf';
import {
  LocalitySchema,
  NetworkMode,
  PortListSchema,
  PortSchema,
  TunnelProtocol,
  type Workload,
  WorkloadSchema,
  WorkloadStatus,
  WorkloadType,
} from '../../gen/istio/workload/workload_pb.js';
import type { Pod, Service } from '../../kube/index.js';
import { labelsSubset } from '../../kube/index.js';
import { ipBytes } from './addr.js';
import { A, L } from './labels.js';
import type { TranslateOptions } from './options.js';
import { serviceKey } from './services.js';
import type { StateIndex } from './state.js';
import type { Waypoint } from './waypoints.js';

export function podUid(pod: Pod, opts: TranslateOptions): string {
  return `${opts.clusterId}//Pod/${pod.metadata.namespace}/${pod.metadata.name}`;
}

/**
 * Enrolled in ambient: pod label `istio.io/dataplane-mode=ambient`, or the
 * namespace's label with the pod not saying `none`; pods with an injected
 * sidecar are never captured.
 */
export function isEnrolled(pod: Pod, state: StateIndex): boolean {
  if (pod.metadata.annotations[A.sidecarStatus] !== undefined) return false;
  const own = pod.metadata.labels[L.dataplaneMode];
  if (own !== undefined) return own === 'ambient';
  return (
    state.namespaces.get(pod.metadata.namespace)?.metadata.labels[L.dataplaneMode] === 'ambient'
  );
}

/** The controller of a pod, as Istio's GetWorkloadMetaFromPod derives it. */
export function podWorkload(pod: Pod): { type: WorkloadType; name: string } {
  const owner = pod.metadata.ownerReferences.find((o) => o.controller !== false);
  if (!owner) return { type: WorkloadType.POD, name: pod.metadata.name };
  switch (owner.kind) {
    case 'Deployment':
      return { type: WorkloadType.DEPLOYMENT, name: owner.name };
    case 'ReplicaSet': {
      const hash = pod.metadata.labels[L.podTemplateHash];
      if (hash && owner.name.endsWith(`-${hash}`)) {
        return { type: WorkloadType.DEPLOYMENT, name: owner.name.slice(0, -hash.length - 1) };
      }
      return { type: WorkloadType.POD, name: owner.name };
    }
    case 'Job': {
      // A CronJob's Jobs are named `<cronjob>-<scheduled time>` (8-10 digits).
      const m = /^(.+)-\d{8,10}$/.exec(owner.name);
      return m?.[1]
        ? { type: WorkloadType.CRONJOB, name: m[1] }
        : { type: WorkloadType.JOB, name: owner.name };
    }
    case 'CronJob':
      return { type: WorkloadType.CRONJOB, name: owner.name };
    default:
      return { type: WorkloadType.POD, name: owner.name };
  }
}

/** Canonical service/revision (istio kube/labels CanonicalService). */
export function canonicalService(
  labels: Record<string, string>,
  workloadName: string,
): [string, string] {
  const name =
    labels[L.canonicalName] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName;
  const rev =
    labels[L.canonicalRevision] ??
    labels['app.kubernetes.io/version'] ??
    labels.version ??
    'latest';
  return [name, rev];
}

function podReady(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp !== undefined) return false;
  const ready = pod.status.conditions.find((c) => c.type === 'Ready');
  if (ready) return ready.status === 'True';
  return pod.status.phase === 'Running';
}

export function podIps(pod: Pod): string[] {
  const ips = pod.status.podIPs.map((p) => p.ip);
  if (ips.length === 0 && pod.status.podIP) ips.push(pod.status.podIP);
  return ips;
}

/** Services whose selector picks this pod (same namespace, non-empty selector). */
export function servicesSelecting(pod: Pod, state: StateIndex): Service[] {
  return state.services.filter(
    (s) =>
      s.metadata.namespace === pod.metadata.namespace &&
      s.spec.type !== 'ExternalName' &&
      s.spec.selector !== undefined &&
      Object.keys(s.spec.selector).length > 0 &&
      labelsSubset(s.spec.selector, pod.metadata.labels),
  );
}

function containerPort(pod: Pod, name: string): number | undefined {
  for (const c of pod.spec.containers) {
    for (const p of c.ports) if (p.name === name) return p.containerPort;
  }
  return undefined;
}

export interface WorkloadInputs {
  services: Service[];
  policies: string[];
  waypoint: Waypoint | undefined;
}

/** Undefined for pods that are finished or have no IP yet (nothing to route to). */
export function translatePod(
  pod: Pod,
  inputs: WorkloadInputs,
  state: StateIndex,
  opts: TranslateOptions,
): Workload | undefined {
  if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return undefined;
  const addresses = podIps(pod)
    .map(ipBytes)
    .filter((b): b is Uint8Array => b !== undefined);
  if (addresses.length === 0) return undefined;
  const { name, namespace, labels, annotations } = pod.metadata;
  const services: Workload['services'] = {};
  for (const svc of inputs.services) {
    const ports = [];
    for (const p of svc.spec.ports) {
      let target = p.port;
      if (typeof p.targetPort === 'number') target = p.targetPort;
      else if (typeof p.targetPort === 'string') {
        const found = containerPort(pod, p.targetPort);
        // Named port missing on this pod: the port is not served here (Istio drops it).
        if (found === undefined) continue;
        target = found;
      }
      ports.push(create(PortSchema, { servicePort: p.port, targetPort: target }));
    }
    services[serviceKey(svc, opts)] = create(PortListSchema, { ports });
  }
  const wl = podWorkload(pod);
  const [canonicalName, canonicalRevision] = canonicalService(labels, wl.name);
  const loc = opts.nodeLocality.get(pod.spec.nodeName) ?? {
    region: labels[L.region] ?? '',
    zone: labels[L.zone] ?? '',
    subzone: labels[L.subzone] ?? '',
  };
  const hasLocality = loc.region !== '' || loc.zone !== '' || loc.subzone !== '';
  // Enrolled pods are reached with HBONE; so are proxies that terminate HBONE themselves.
  const native = labels[L.tunnel] === 'http';
  const hbone = native || annotations[A.redirection] === 'enabled' || isEnrolled(pod, state);
  return create(WorkloadSchema, {
    uid: podUid(pod, opts),
    name,
    namespace,
    addresses,
    network: opts.network,
    tunnelProtocol: hbone ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
    nativeTunnel: native,
    trustDomain: opts.trustDomain === 'cluster.local' ? '' : opts.trustDomain,
    serviceAccount: pod.spec.serviceAccountName === 'default' ? '' : pod.spec.serviceAccountName,
    waypoint: inputs.waypoint?.address,
    node: pod.spec.nodeName,
    canonicalName,
    canonicalRevision,
    workloadType: wl.type,
    workloadName: wl.name,
    services,
    authorizationPolicies: inputs.policies,
    status: podReady(pod) ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY,
    clusterId: opts.clusterId,
    locality: hasLocality ? create(LocalitySchema, loc) : undefined,
    networkMode: pod.spec.hostNetwork ? NetworkMode.HOST_NETWORK : NetworkMode.STANDARD,
  });
}
