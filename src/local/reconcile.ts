/**
 * What a running local cluster must do when its manifests change (`ambit
 * apply`, or an edit of the manifest directory): pods to create and remove,
 * service VIPs and endpoints that changed (hosts files, per-pod DNAT),
 * namespaces and pods whose labels changed (enrollment), and resources that
 * only the control plane cares about (policies, routes). Pure: the runner
 * calls `reconcile` and then `applyChanges` (cluster-changes.ts) with the
 * result, so everything here is table-tested without a host.
 *
 * Stability rules (a live cluster must not shuffle addresses):
 * - a pod that still exists keeps its node and IP; a Deployment's pods are
 *   named by template hash + replica, so a template change is a new pod set
 *   (remove + add, like a rollout) while a scale-up adds only new replicas;
 * - new pods get the least-loaded node (or `spec.nodeName`) and the lowest
 *   address that no pod of the running plan holds;
 * - services keep their VIPs; a new service never gets a VIP the running
 *   plan uses.
 */
import {
  formatSource,
  type ManifestSet,
  parseResources,
  type RawObject,
  resourceKey,
} from '../kube/index.js';
import { type LabelOverrides, withOverrides } from './labels.js';
import { type ClusterPlan, type PodPlan, planCluster, type ServicePlan } from './topology.js';

/** Kinds whose changes need pods or addresses; everything else is control-plane config. */
const TOPOLOGY_KINDS = new Set(['Namespace', 'Deployment', 'Pod', 'Service']);
/** Topology kinds whose other fields the control plane reads too. */
const CONTROL_PLANE_READS = new Set(['Namespace', 'Service']);

export type ConfigChange = 'created' | 'configured' | 'deleted';

export interface ClusterChanges {
  /** The plan once the changes are applied (the runner publishes it as cluster.json). */
  plan: ClusterPlan;
  /** New pods (with their node, IP and containers). Created after `removePods` are gone. */
  addPods: PodPlan[];
  /** Pods of the running plan that no longer exist (deleted, scaled down, template changed). */
  removePods: PodPlan[];
  /** Pods that stay, whose labels changed (no restart). */
  relabeledPods: PodPlan[];
  /** Pods that stay and move into (`true`) or out of (`false`) the mesh, without restart. */
  enrollment: { pod: PodPlan; enrolled: boolean }[];
  services: { added: ServicePlan[]; changed: ServicePlan[]; removed: ServicePlan[] };
  /** Namespaces that are new or whose labels changed. */
  namespaces: { name: string; labels: Record<string, string> }[];
  /** Control-plane-only resources (policies, routes, …): no pod changes, the control plane re-reads them. */
  config: { key: string; change: ConfigChange }[];
  /**
   * Every pod's hosts file must be rewritten (a service was added or removed)
   * and non-enrolled pods' VIP DNAT re-applied (VIPs or endpoints changed).
   */
  hostsChanged: boolean;
  dnatChanged: boolean;
  /** Nothing to do at all. */
  empty: boolean;
}

const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** What makes a pod's processes or network different (labels and enrollment change in place). */
function podIdentity(p: PodPlan): string {
  return JSON.stringify([p.node, p.ip, p.serviceAccount, p.deployment ?? '', p.containers]);
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function rawKey(o: RawObject): string {
  const meta = (o.object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const ns =
    o.object.kind === 'Namespace'
      ? ''
      : typeof meta.namespace === 'string'
        ? meta.namespace
        : 'default';
  return `${String(o.object.kind)}/${ns}/${typeof meta.name === 'string' ? meta.name : ''}`;
}

/**
 * A deletion is an applied document too (so it is ordered with the others):
 * the object's apiVersion/kind/metadata.{name,namespace} with this annotation.
 * {@link overlayManifests} drops the object when it meets one.
 */
export const DELETED_ANNOTATION = 'ambit.dev/deleted';

export function isTombstone(obj: Readonly<Record<string, unknown>>): boolean {
  const ann = (obj.metadata as { annotations?: Record<string, unknown> } | undefined)?.annotations;
  return ann?.[DELETED_ANNOTATION] === 'true';
}

/**
 * The effective manifests: `layers` in order (the user directory, then each
 * applied file by sequence), a later definition of the same kind/namespace/name
 * replacing the earlier one, as `kubectl apply` replaces an object.
 */
export function overlayManifests(...layers: readonly ManifestSet[]): ManifestSet {
  const byKey = new Map<string, RawObject>();
  const problems: ManifestSet['problems'] = [];
  for (const layer of layers) {
    problems.push(...layer.problems);
    for (const o of layer.objects) {
      const k = rawKey(o);
      byKey.delete(k); // re-insert: keep the order of last definition
      if (!isTombstone(o.object)) byKey.set(k, o);
    }
  }
  return { objects: [...byKey.values()], problems };
}

/** Canonical JSON of each typed resource by key (invalid ones are skipped; planCluster reports them). */
function resourceDigests(set: ManifestSet): Map<string, string> {
  const out = new Map<string, string>();
  for (const { resource } of parseResources(set.objects).resources) {
    out.set(resourceKey(resource), JSON.stringify(resource));
  }
  return out;
}

export interface ReconcileInput {
  /** The running cluster's plan. */
  current: ClusterPlan;
  /** The manifests the running plan was made from (for control-plane-only diffs). */
  previous: ManifestSet;
  /** The full new set (user directory + applied, see {@link overlayManifests}). */
  next: ManifestSet;
  /**
   * `ambit label` overrides, patched onto the planned namespaces and pods (so
   * `current` must be the live plan with them): one path for label and apply.
   */
  labels?: LabelOverrides;
}

/**
 * Plans `next` against the running cluster and lists the changes. Throws
 * MANIFEST_INVALID (every problem named) exactly like `ambit up`, in which case
 * nothing must be applied.
 */
export function reconcile(input: ReconcileInput): ClusterChanges {
  const { current } = input;
  const planned = planCluster(input.next, {
    runId: current.runId,
    dir: current.dir,
    nodes: current.nodes.length,
    previous: current,
    meshRunDir: current.meshRunDir,
  });
  const plan = input.labels ? withOverrides(planned, input.labels) : planned;

  const before = new Map(current.pods.map((p) => [podKey(p), p]));
  const after = new Map(plan.pods.map((p) => [podKey(p), p]));
  const addPods: PodPlan[] = [];
  const removePods: PodPlan[] = [];
  const relabeledPods: PodPlan[] = [];
  const enrollment: ClusterChanges['enrollment'] = [];
  for (const [k, p] of before) {
    const n = after.get(k);
    if (!n || podIdentity(n) !== podIdentity(p)) removePods.push(p);
  }
  for (const [k, n] of after) {
    const p = before.get(k);
    if (!p || podIdentity(n) !== podIdentity(p)) {
      addPods.push(n);
      continue;
    }
    if (!sameLabels(p.labels, n.labels)) relabeledPods.push(n);
    if (p.enrolled !== n.enrolled) enrollment.push({ pod: n, enrolled: n.enrolled });
  }

  const sBefore = new Map(current.services.map((s) => [podKey(s), s]));
  const sAfter = new Map(plan.services.map((s) => [podKey(s), s]));
  const services: ClusterChanges['services'] = { added: [], changed: [], removed: [] };
  for (const [k, s] of sAfter) {
    const old = sBefore.get(k);
    if (!old) services.added.push(s);
    else if (JSON.stringify(old) !== JSON.stringify(s)) services.changed.push(s);
  }
  for (const [k, s] of sBefore) if (!sAfter.has(k)) services.removed.push(s);

  const nsBefore = new Map(current.namespaces.map((n) => [n.name, n.labels]));
  const namespaces = plan.namespaces.filter((n) => {
    const old = nsBefore.get(n.name);
    return old === undefined || !sameLabels(old, n.labels);
  });

  const dPrev = resourceDigests(input.previous);
  const dNext = resourceDigests(input.next);
  const config: ClusterChanges['config'] = [];
  for (const [k, d] of dNext) {
    const old = dPrev.get(k);
    const kind = k.split('/')[0] ?? '';
    if (TOPOLOGY_KINDS.has(kind)) {
      // A Service or Namespace edited in what only the control plane reads
      // (istio.io/use-waypoint, annotations such as traffic distribution)
      // leaves the plan as it was, yet the control plane must see it.
      if (CONTROL_PLANE_READS.has(kind) && old !== undefined && old !== d)
        config.push({ key: k, change: 'configured' });
      continue;
    }
    if (old === undefined) config.push({ key: k, change: 'created' });
    else if (old !== d) config.push({ key: k, change: 'configured' });
  }
  for (const k of dPrev.keys()) {
    if (!TOPOLOGY_KINDS.has(k.split('/')[0] ?? '') && !dNext.has(k))
      config.push({ key: k, change: 'deleted' });
  }
  config.sort((a, b) => a.key.localeCompare(b.key));

  const hostsChanged = services.added.length > 0 || services.removed.length > 0;
  const dnatChanged = hostsChanged || services.changed.length > 0;
  const empty =
    addPods.length + removePods.length + relabeledPods.length + enrollment.length === 0 &&
    !dnatChanged &&
    namespaces.length === 0 &&
    config.length === 0;
  return {
    plan,
    addPods,
    removePods,
    relabeledPods,
    enrollment,
    services,
    namespaces,
    config,
    hostsChanged,
    dnatChanged,
    empty,
  };
}

/** Problems of a manifest set as `Kind ns/name: reason (file (document n))` lines, before anything is stored. */
export function manifestProblems(set: ManifestSet): string[] {
  const out = set.problems.map((p) => `${formatSource(p.source)}: ${p.message}`);
  for (const r of parseResources(set.objects).rejected)
    out.push(`${r.reason} (${formatSource(r.source)})`);
  return out;
}
