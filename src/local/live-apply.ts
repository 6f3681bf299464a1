/**
 * The runner's side of `ambit apply` and `ambit label`, as one object the
 * runner starts: watch `<runDir>/applied/` (and be `trigger`ed on SIGUSR2 for
 * labels.json), and on each change re-read the effective manifests and the
 * label overrides, `reconcile` them against the live plan, tell the mesh the
 * target state (`onChanges`: the control plane learns a pod before it is
 * enrolled, and a policy before traffic is re-checked), `applyChanges`, hand
 * the new plan back, and report the applied sequence number and label
 * generation (published in cluster.json, where the CLIs wait for them).
 * Batches run one at a time, in order, so labels and applies compose.
 */
import type { FSWatcher } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import type { ManifestSet } from '../kube/index.js';
import { logger } from '../telemetry/logger.js';
import { appliedFiles, effectiveManifests, seqOf, watchApplied } from './applied.js';
import { applyChanges, type LiveCluster } from './cluster-changes.js';
import { readOverrides, withServiceLabels } from './labels.js';
import { type ClusterChanges, reconcile } from './reconcile.js';
import type { ClusterPlan } from './topology.js';

const log = logger('local');

export interface LiveApplyOptions {
  runDir: string;
  manifestDir: string;
  /** The manifests the running plan was made from. */
  manifests: ManifestSet;
  plan: () => ClusterPlan;
  setPlan: (plan: ClusterPlan) => void;
  live: LiveCluster;
  progress?: (line: string) => void;
  /** After every batch (success or failure): republish cluster.json. */
  onApplied?: () => void;
  /**
   * Before a non-empty change is applied to the host, with the manifests it
   * came from: e.g. re-render what the control plane watches.
   */
  onChanges?: (changes: ClusterChanges, manifests: ManifestSet) => Promise<void> | void;
}

export interface LiveApply {
  /** For cluster.json's `applied`: the last sequence reconciled, and its error if it failed. */
  status(): { seq: number; error?: string };
  /** For cluster.json's `labels`: the labels.json generation reconciled, and its error. */
  labelStatus(): { applied: number; error?: string };
  /** labels.json changed (SIGUSR2): reconcile again. */
  trigger(): void;
  /** Resolves when the batch in flight (if any) is done. */
  idle(): Promise<void>;
  close(): void;
}

export function startLiveApply(opts: LiveApplyOptions): LiveApply {
  let seq = 0;
  let generation = 0;
  let error: string | undefined;
  let previous = opts.manifests;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const run = async (): Promise<void> => {
    if (closed) return;
    const files = appliedFiles(opts.runDir);
    const target = files.length === 0 ? 0 : seqOf(files.at(-1) ?? '');
    const labels = readOverrides(opts.runDir);
    if (target <= seq && labels.generation <= generation) return;
    try {
      const next = withServiceLabels(effectiveManifests(opts.manifestDir, opts.runDir), labels);
      const changes = reconcile({ current: opts.plan(), previous, next, labels });
      if (!changes.empty) {
        await opts.onChanges?.(changes, next);
        const plan = await applyChanges(opts.live, changes, opts.progress);
        opts.setPlan(plan);
      }
      previous = next;
      error = undefined;
    } catch (err) {
      // The CLI validated the batch; this is a host failure (or a race with an
      // edit of the manifest directory). Report it; the next change retries.
      error = errorMessage(err);
      log.warn({ err: error, seq: target, labels: labels.generation }, 'applying changes failed');
    }
    seq = Math.max(seq, target);
    generation = Math.max(generation, labels.generation);
    opts.onApplied?.();
  };

  const schedule = (): void => {
    chain = chain.then(run, run);
  };
  const watcher: FSWatcher = watchApplied(opts.runDir, schedule);
  schedule(); // files written before the watcher started
  return {
    status: () => (error === undefined ? { seq } : { seq, error }),
    labelStatus: () =>
      error === undefined ? { applied: generation } : { applied: generation, error },
    trigger: schedule,
    idle: () => chain,
    close: () => {
      closed = true;
      watcher.close();
    },
  };
}
