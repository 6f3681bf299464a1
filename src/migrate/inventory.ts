/**
 * Sorts parsed manifests into the kinds migrate understands. Every object is
 * validated against its published schema first; a partial or malformed object
 * and an unknown kind become problems naming file and document index, and the
 * run goes on without them.
 */
import type { ManifestProblem, ManifestSourceRef, RawObject } from '../kube/index.js';
import { groupOf, hasModel, kindKey, schemaError } from './models.js';
import type {
  AuthorizationPolicySpec,
  DestinationRuleSpec,
  EnvoyFilterSpec,
  Meta,
  NetworkPolicySpec,
  PeerAuthenticationSpec,
  PodTemplateShape,
  ServiceSpecShape,
  VirtualServiceSpec,
} from './shapes.js';

export interface Item<S> {
  readonly kind: string;
  readonly meta: Meta;
  readonly spec: S;
  readonly raw: Readonly<Record<string, unknown>>;
  readonly source: ManifestSourceRef;
}

export type WorkloadKind =
  | 'Deployment'
  | 'StatefulSet'
  | 'DaemonSet'
  | 'ReplicaSet'
  | 'Job'
  | 'CronJob'
  | 'Pod';

export interface Workload {
  readonly kind: WorkloadKind;
  readonly meta: Meta;
  /** Pods it keeps running; DaemonSets count one per node (see {@link perNode}). */
  readonly replicas: number;
  readonly perNode: boolean;
  /** Jobs and CronJobs: pods that run to completion. */
  readonly transient: boolean;
  readonly template: PodTemplateShape;
  readonly source: ManifestSourceRef;
}

export interface Inventory {
  readonly namespaces: Map<string, Item<unknown>>;
  readonly workloads: Workload[];
  readonly services: Item<ServiceSpecShape>[];
  readonly virtualServices: Item<VirtualServiceSpec>[];
  readonly destinationRules: Item<DestinationRuleSpec>[];
  readonly envoyFilters: Item<EnvoyFilterSpec>[];
  readonly networkPolicies: Item<NetworkPolicySpec>[];
  readonly peerAuthentications: Item<PeerAuthenticationSpec>[];
  readonly authorizationPolicies: Item<AuthorizationPolicySpec>[];
  readonly requestAuthentications: Item<AuthorizationPolicySpec>[];
  readonly wasmPlugins: Item<AuthorizationPolicySpec>[];
  readonly sidecars: Item<Record<string, unknown>>[];
  readonly serviceEntries: Item<{ hosts?: string[]; location?: string }>[];
  readonly workloadEntries: Item<Record<string, unknown>>[];
  readonly httpRoutes: Item<Record<string, unknown>>[];
  /** Node objects seen in the input. */
  readonly nodes: number;
  readonly problems: ManifestProblem[];
}

export interface InventoryOptions {
  /** Namespace for objects that name none (Helm/kustomize output). Default "default". */
  defaultNamespace?: string;
}

// Kinds that carry nothing migration-relevant: accepted silently.
const IGNORED_GROUPS = new Set([
  'rbac.authorization.k8s.io',
  'policy',
  'autoscaling',
  'apiextensions.k8s.io',
  'admissionregistration.k8s.io',
  'discovery.k8s.io',
  'storage.k8s.io',
  'scheduling.k8s.io',
  'coordination.k8s.io',
  'events.k8s.io',
  'certificates.k8s.io',
  'cert-manager.io',
  'monitoring.coreos.com',
]);
const IGNORED_CORE = new Set([
  'ConfigMap',
  'Secret',
  'ServiceAccount',
  'Endpoints',
  'PersistentVolumeClaim',
  'PersistentVolume',
  'LimitRange',
  'ResourceQuota',
  'Event',
  'ReplicationController',
]);
const IGNORED_OTHER = new Set(['networking.k8s.io/Ingress', 'networking.k8s.io/IngressClass']);

const WORKLOAD_KINDS = new Set<string>([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
]);

function strRecord(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = String(x);
  return out;
}

function metaOf(obj: Readonly<Record<string, unknown>>, defaultNs: string): Meta {
  const m = (obj.metadata ?? {}) as Record<string, unknown>;
  return {
    name: String(m.name),
    namespace: typeof m.namespace === 'string' ? m.namespace : defaultNs,
    labels: strRecord(m.labels),
    annotations: strRecord(m.annotations),
  };
}

export function emptyInventory(): Inventory {
  return {
    namespaces: new Map(),
    workloads: [],
    services: [],
    virtualServices: [],
    destinationRules: [],
    envoyFilters: [],
    networkPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    requestAuthentications: [],
    wasmPlugins: [],
    sidecars: [],
    serviceEntries: [],
    workloadEntries: [],
    httpRoutes: [],
    nodes: 0,
    problems: [],
  };
}

/** Builds the inventory from raw objects plus the reader's own problems. */
export function buildInventory(
  objects: readonly RawObject[],
  problems: readonly ManifestProblem[] = [],
  options: InventoryOptions = {},
): Inventory {
  const defaultNs = options.defaultNamespace ?? 'default';
  const inv = emptyInventory();
  inv.problems.push(...problems);
  let nodes = 0;
  const owned: { w: Workload; owner: { kind: string; name: string } }[] = [];
  for (const { object, source } of objects) {
    const key = kindKey(object);
    const group = groupOf(String(object.apiVersion));
    const kind = String(object.kind);
    const name = (object.metadata as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string' || name === '') {
      inv.problems.push({ source, message: `${kind} has no metadata.name: skipped` });
      continue;
    }
    if (!hasModel(key)) {
      if (group === '' && IGNORED_CORE.has(kind)) continue;
      if (IGNORED_GROUPS.has(group) || IGNORED_OTHER.has(key)) continue;
      if (key === 'gateway.networking.k8s.io/HTTPRoute') continue;
      inv.problems.push({
        source,
        message: `unknown kind ${kind} (${String(object.apiVersion)}) "${name}": not checked`,
      });
      continue;
    }
    const err = schemaError(object);
    if (err !== undefined) {
      inv.problems.push({
        source,
        message: `${kind} ${name} is partial or invalid (${err}): skipped`,
      });
      continue;
    }
    const meta = metaOf(object, defaultNs);
    const spec = (object.spec ?? {}) as never;
    const item = { kind, meta, spec, raw: object, source };
    switch (key) {
      case '/Namespace':
        inv.namespaces.set(meta.name, { ...item, meta: { ...meta, namespace: meta.name } });
        break;
      case '/Node':
        nodes++;
        break;
      case '/Service':
        inv.services.push(item);
        break;
      case 'networking.k8s.io/NetworkPolicy':
        inv.networkPolicies.push(item);
        break;
      case 'networking.istio.io/VirtualService':
        inv.virtualServices.push(item);
        break;
      case 'networking.istio.io/DestinationRule':
        inv.destinationRules.push(item);
        break;
      case 'networking.istio.io/EnvoyFilter':
        inv.envoyFilters.push(item);
        break;
      case 'networking.istio.io/Sidecar':
        inv.sidecars.push(item);
        break;
      case 'networking.istio.io/ServiceEntry':
        inv.serviceEntries.push(item);
        break;
      case 'networking.istio.io/WorkloadEntry':
        inv.workloadEntries.push(item);
        break;
      case 'networking.istio.io/Gateway':
        break; // ingress gateways keep working; VirtualServices bound to them are skipped
      case 'security.istio.io/PeerAuthentication':
        inv.peerAuthentications.push(item);
        break;
      case 'security.istio.io/AuthorizationPolicy':
        inv.authorizationPolicies.push(item);
        break;
      case 'security.istio.io/RequestAuthentication':
        inv.requestAuthentications.push(item);
        break;
      case 'extensions.istio.io/WasmPlugin':
        inv.wasmPlugins.push(item);
        break;
      case 'gateway.networking.k8s.io/HTTPRoute':
        inv.httpRoutes.push(item);
        break;
      default:
        if (WORKLOAD_KINDS.has(kind)) {
          const w = workloadOf(kind as WorkloadKind, meta, object, source);
          const owner = controllerOf(object);
          if (owner === undefined) inv.workloads.push(w);
          else owned.push({ w, owner });
        }
    }
  }
  // Objects made by a controller (ReplicaSets of a Deployment, Pods of a Job,
  // `kubectl get all` output) are counted once, through their owner.
  const present = new Set(inv.workloads.map((w) => `${w.meta.namespace}/${w.kind}/${w.meta.name}`));
  const ownedKeys = new Set(owned.map((o) => `${o.w.meta.namespace}/${o.w.kind}/${o.w.meta.name}`));
  for (const { w, owner } of owned) {
    const ns = w.meta.namespace;
    const direct = `${ns}/${owner.kind}/${owner.name}`;
    const viaHash = `${ns}/Deployment/${owner.name.replace(/-[a-z0-9]+$/, '')}`;
    if (present.has(direct) || ownedKeys.has(direct)) continue;
    if (owner.kind === 'ReplicaSet' && present.has(viaHash)) continue;
    if (owner.kind === 'Job' && [...present].some((p) => p.startsWith(`${ns}/CronJob/`))) continue;
    inv.workloads.push(w);
  }
  return { ...inv, nodes };
}

function controllerOf(
  obj: Readonly<Record<string, unknown>>,
): { kind: string; name: string } | undefined {
  const refs = (obj.metadata as { ownerReferences?: unknown } | undefined)?.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  for (const r of refs as { kind?: string; name?: string; controller?: boolean }[]) {
    if (r.controller === true && typeof r.kind === 'string' && WORKLOAD_KINDS.has(r.kind)) {
      return { kind: r.kind, name: String(r.name) };
    }
  }
  return undefined;
}

function workloadOf(
  kind: WorkloadKind,
  meta: Meta,
  obj: Readonly<Record<string, unknown>>,
  source: ManifestSourceRef,
): Workload {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  let template: PodTemplateShape;
  let replicas = 1;
  switch (kind) {
    case 'Pod':
      template = {
        metadata: obj.metadata as PodTemplateShape['metadata'],
        spec: spec as PodTemplateShape['spec'],
      };
      break;
    case 'CronJob': {
      const job = ((spec.jobTemplate as Record<string, unknown> | undefined)?.spec ?? {}) as Record<
        string,
        unknown
      >;
      template = (job.template ?? {}) as PodTemplateShape;
      replicas = typeof job.parallelism === 'number' ? job.parallelism : 1;
      break;
    }
    case 'Job':
      template = (spec.template ?? {}) as PodTemplateShape;
      replicas = typeof spec.parallelism === 'number' ? spec.parallelism : 1;
      break;
    default:
      template = (spec.template ?? {}) as PodTemplateShape;
      replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  }
  return {
    kind,
    meta,
    replicas,
    perNode: kind === 'DaemonSet',
    transient: kind === 'Job' || kind === 'CronJob',
    template,
    source,
  };
}

/** Pod labels of a workload (template labels; a Pod's own labels). */
export function podLabels(w: Workload): Record<string, string> {
  return { ...(w.template.metadata?.labels ?? {}) };
}

export function podAnnotations(w: Workload): Record<string, string> {
  return { ...(w.template.metadata?.annotations ?? {}) };
}
