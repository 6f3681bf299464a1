/**
 * Applies a {@link ClusterChanges} (from `reconcile`) to a running cluster:
 * removes pods, adds pods, flips enrollment, rewrites hosts files and VIP
 * DNAT. The runner calls this when applied manifests change; the mesh parts
 * (ztunnel releasing a pod's sockets, in-pod redirection) are hooks the runner
 * fills in, so this module needs no control plane.
 */
import { applyNft, deleteNftTable, type Ledger } from '../platform/index.js';
import { logger } from '../telemetry/logger.js';
import { addPod, refreshServices, removePod } from './cluster.js';
import type { ClusterChanges } from './reconcile.js';
import { SERVICE_TABLE, serviceRuleset } from './render.js';
import type { Supervisor } from './supervisor.js';
import type { ClusterPlan, PodPlan } from './topology.js';

const log = logger('local');

export interface LiveCluster {
  ledger: Ledger;
  supervisor: Supervisor;
  /** The mesh (control plane + ztunnels) is running: enrolled pods get no VIP DNAT. */
  meshActive: boolean;
  /**
   * Before a pod's netns is deleted: the node's ztunnel must close every socket
   * it holds in it (and drop its in-pod listeners), or the netns outlives its name.
   */
  releasePod?: (pod: PodPlan) => Promise<void>;
  /** After a new pod's netns exists and before its processes start (e.g. in-pod redirection). */
  podAdded?: (pod: PodPlan) => Promise<void>;
  /** A running pod moved into (`true`) or out of (`false`) the mesh. */
  enrollmentChanged?: (pod: PodPlan, enrolled: boolean) => Promise<void>;
}

/**
 * Makes the cluster match `changes.plan` and returns that plan (the runner
 * replaces its plan with it and republishes cluster.json). Removals run before
 * additions, so a recreated pod may keep its name and address.
 */
export async function applyChanges(
  live: LiveCluster,
  changes: ClusterChanges,
  progress: (line: string) => void = () => {},
): Promise<ClusterPlan> {
  const { ledger, supervisor, meshActive } = live;
  const plan = changes.plan;
  await Promise.all(
    changes.removePods.map(async (pod) => {
      await supervisor.removePod(pod);
      await live.releasePod?.(pod);
      await removePod(ledger, pod);
      progress(`pod ${pod.namespace}/${pod.name} removed (${pod.ip})`);
    }),
  );
  await Promise.all(
    changes.addPods.map(async (pod) => {
      await addPod(ledger, plan, pod, meshActive);
      await live.podAdded?.(pod);
      supervisor.addPod(pod);
      progress(`pod ${pod.namespace}/${pod.name} created on ${pod.node} (${pod.ip})`);
    }),
  );
  for (const { pod, enrolled } of changes.enrollment) {
    // Without the mesh every pod has kube-proxy-style DNAT; with it, only pods
    // outside it. The DNAT goes before enrolment and comes back after release,
    // so a pod's service traffic is never handled by both (nor by neither).
    if (meshActive && enrolled) await deleteNftTable(ledger, pod.netns, 'ip', SERVICE_TABLE);
    await live.enrollmentChanged?.(pod, enrolled);
    if (meshActive && !enrolled) await applyNft(ledger, pod.netns, serviceRuleset(plan.services));
    progress(
      `pod ${pod.namespace}/${pod.name} ${enrolled ? 'enrolled in' : 'released from'} the mesh`,
    );
  }
  if (changes.hostsChanged || changes.dnatChanged) {
    await refreshServices(ledger, plan, {
      hosts: changes.hostsChanged,
      dnat: changes.dnatChanged,
      meshActive,
    });
  }
  for (const c of changes.config) log.info({ resource: c.key, change: c.change }, 'config changed');
  return plan;
}
