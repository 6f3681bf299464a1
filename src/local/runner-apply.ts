/**
 * Glue between the runner and {@link startLiveApply}: `ambit apply` and
 * `ambit label` on a running cluster. The mesh (when the run has one) gets
 * its hooks (enrol a new pod before its processes start, release a deleted
 * pod before its netns goes, enrol/release on an enrollment flip) and, before
 * every change reaches the host, the new target state: `cluster.yaml` with
 * the new pods/services/namespace labels and `config.yaml` with the applied
 * objects overlaid on the user's (policies, routes, Gateways, …).
 */
import type { ManifestSet } from '../kube/index.js';
import type { Ledger } from '../platform/index.js';
import { logger } from '../telemetry/logger.js';
import { type LiveApply, startLiveApply } from './live-apply.js';
import type { Mesh } from './mesh.js';
import type { Supervisor } from './supervisor.js';
import type { ClusterPlan } from './topology.js';

const log = logger('local');

export interface RunnerApplyOptions {
  runDir: string;
  /** The plan the run started with, and the manifests it was made from. */
  plan: ClusterPlan;
  manifests: ManifestSet;
  ledger: Ledger;
  supervisor: Supervisor;
  mesh?: Mesh;
  getPlan: () => ClusterPlan;
  setPlan: (plan: ClusterPlan) => void;
  /** After every batch: republish cluster.json. */
  onApplied: () => void;
  /** What changed, for the user (`ambit up`'s output; runner.log when detached). */
  progress?: (line: string) => void;
}

export function startRunnerApply(o: RunnerApplyOptions): LiveApply {
  const { mesh } = o;
  return startLiveApply({
    runDir: o.runDir,
    manifestDir: o.plan.dir,
    manifests: o.manifests,
    plan: o.getPlan,
    setPlan: o.setPlan,
    live: {
      ledger: o.ledger,
      supervisor: o.supervisor,
      meshActive: mesh !== undefined,
      ...mesh?.liveHooks(),
    },
    progress: o.progress ?? ((line) => log.info(line)),
    onApplied: o.onApplied,
    // The control plane learns the target first, as the API server knows a pod
    // before its CNI runs: ztunnel knows a workload before it is handed over.
    onChanges: (changes, manifests) =>
      mesh?.writeManifests({ ...changes.plan, objects: manifests.objects }),
  });
}
