/**
 * What the local runner shows the control plane: the role the API server
 * plays in a cluster. The control plane of a run watches one directory the
 * runner writes (`<run dir>/controlplane/manifests/`):
 *
 * - `cluster.yaml`: the objects whose live state only the runner knows:
 *   Namespaces with their current labels (after `ambit label`), Services with
 *   the VIP the runner allocated, and one Pod per running pod (IP, node,
 *   service account, labels, owner), as the kubelet would report it;
 *   (waypoint Gateways' Services included: src/local/waypoints.ts);
 * - `config.yaml`: everything else from the user's manifests, verbatim
 *   (AuthorizationPolicy, PeerAuthentication, ServiceAccounts, routes, …).
 *
 * One writer, one directory: no object appears twice, so the control plane's
 * duplicate rule never has to arbitrate between the user's file and the
 * runner's view. Pure, so it is unit-tested.
 */
import { runtimePodObject } from '../controlplane/discovery/index.js';
import type { RawObject } from '../kube/index.js';
import type { PodPlan, ServicePlan } from './topology.js';
import { DATAPLANE_MODE_LABEL } from './topology.js';
import { withWaypoints } from './waypoints.js';

/** Kinds the runner owns in `cluster.yaml` (or runs itself: Deployments become Pods). */
const RUNNER_KINDS = new Set(['Namespace', 'Service', 'Deployment', 'Pod']);

export interface MeshManifestInput {
  /** The user's manifests as read at `up`. */
  objects: readonly RawObject[];
  namespaces: readonly { name: string; labels: Record<string, string> }[];
  pods: readonly PodPlan[];
  services: readonly ServicePlan[];
}

function metaOf(o: Readonly<Record<string, unknown>>): { name?: string; namespace?: string } {
  return (o.metadata ?? {}) as { name?: string; namespace?: string };
}

function docs(objects: readonly unknown[]): string {
  // JSON documents are YAML; `---` separates them for the manifest reader.
  return `${objects.map((o) => JSON.stringify(o)).join('\n---\n')}\n`;
}

/** Enrolled in ambient: the pod's own label wins (`none` opts out), else its namespace's. */
export function podEnrolled(
  podLabels: Readonly<Record<string, string>>,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
): boolean {
  const mode = podLabels[DATAPLANE_MODE_LABEL] ?? namespaceLabels?.[DATAPLANE_MODE_LABEL];
  return mode === 'ambient';
}

export function renderMeshManifests(input: MeshManifestInput): { cluster: string; config: string } {
  const rawNamespaces = new Map<string, Readonly<Record<string, unknown>>>();
  const rawServices = new Map<string, Readonly<Record<string, unknown>>>();
  const config: unknown[] = [];
  // Waypoint Gateways' Services and ServiceAccounts, as the runner planned
  // them (their Deployments are pods of the plan already).
  const objects = withWaypoints({ objects: [...input.objects], problems: [] }, undefined).objects;
  for (const { object } of objects) {
    const kind = String(object.kind ?? '');
    const m = metaOf(object);
    if (kind === 'Namespace') rawNamespaces.set(m.name ?? '', object);
    else if (kind === 'Service') rawServices.set(`${m.namespace ?? 'default'}/${m.name}`, object);
    else if (!RUNNER_KINDS.has(kind)) config.push(object);
  }
  const cluster: unknown[] = [];
  for (const ns of input.namespaces) {
    const raw = rawNamespaces.get(ns.name) ?? { apiVersion: 'v1', kind: 'Namespace' };
    const meta = { ...(raw.metadata as Record<string, unknown> | undefined), name: ns.name };
    cluster.push({ ...raw, metadata: { ...meta, labels: { ...ns.labels } } });
  }
  for (const s of input.services) {
    const raw = rawServices.get(`${s.namespace}/${s.name}`);
    if (!raw) continue;
    const spec = (raw.spec ?? {}) as Record<string, unknown>;
    cluster.push({ ...raw, spec: { ...spec, clusterIP: s.vip, clusterIPs: [s.vip] } });
  }
  for (const p of input.pods) {
    cluster.push(
      runtimePodObject({
        name: p.name,
        namespace: p.namespace,
        ip: p.ip,
        labels: p.labels,
        serviceAccount: p.serviceAccount,
        node: p.node,
        deployment: p.deployment,
        ports: p.containers.flatMap((c) =>
          c.ports.map((x) => ({ name: x.name, containerPort: x.containerPort })),
        ),
      }),
    );
  }
  return { cluster: docs(cluster), config: docs(config) };
}
