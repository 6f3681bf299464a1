/**
 * The runner's side of `ambit apply`, as one object the runner starts: watch
 * `<runDir>/applied/`, and on each change re-read the effective manifests,
 * `reconcile` them against the current plan, `applyChanges`, hand the new plan
 * back to the runner, and report the applied sequence number (which the
 * runner publishes as `applied` in cluster.json, where `ambit apply` waits for
 * it). Changes are applied one batch at a time, in order.
 *
 * Runner integration (runner.ts):
 *
 *   const applier = startLiveApply({
 *     runDir, manifestDir: plan.dir, manifests,        // the set `plan` was made from
 *     plan: () => plan, setPlan: (p) => { plan = p; },  // `plan` becomes `let`
 *     live: { ledger, supervisor, meshActive, releasePod, podAdded, enrollmentChanged },
 *     progress: (l) => log.info(l), onApplied: publish,
 *   });
 *   // snapshot(): { ..., applied: applier.status() }
 *   // stop(): applier.close() before supervisor.stop()
 */
import type { FSWatcher } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import type { ManifestSet } from '../kube/index.js';
import { logger } from '../telemetry/logger.js';
import { appliedFiles, effectiveManifests, seqOf, watchApplied } from './applied.js';
import { applyChanges, type LiveCluster } from './cluster-changes.js';
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
  /** Mesh config changed (policies, routes, namespaces, labels): e.g. push to the control plane. */
  onChanges?: (changes: ClusterChanges) => Promise<void>;
}

export interface LiveApply {
  /** For cluster.json's `applied`: the last sequence reconciled, and its error if it failed. */
  status(): { seq: number; error?: string };
  /** Resolves when the batch in flight (if any) is done. */
  idle(): Promise<void>;
  close(): void;
}

export function startLiveApply(opts: LiveApplyOptions): LiveApply {
  let seq = 0;
  let error: string | undefined;
  let previous = opts.manifests;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const run = async (): Promise<void> => {
    if (closed) return;
    const files = appliedFiles(opts.runDir);
    const target = files.length === 0 ? 0 : seqOf(files.at(-1) ?? '');
    if (target <= seq) return;
    try {
      const next = effectiveManifests(opts.manifestDir, opts.runDir);
      const changes = reconcile({ current: opts.plan(), previous, next });
      if (!changes.empty) {
        const plan = await applyChanges(opts.live, changes, opts.progress);
        opts.setPlan(plan);
        await opts.onChanges?.(changes);
      }
      previous = next;
      error = undefined;
    } catch (err) {
      // The CLI validated the batch; this is a host failure (or a race with an
      // edit of the manifest directory). Report it; the next apply retries.
      error = errorMessage(err);
      log.warn({ err: error, seq: target }, 'applying manifests failed');
    }
    seq = target;
    opts.onApplied?.();
  };

  const schedule = (): void => {
    chain = chain.then(run, run);
  };
  const watcher: FSWatcher = watchApplied(opts.runDir, schedule);
  schedule(); // files written before the watcher started
  return {
    status: () => (error === undefined ? { seq } : { seq, error }),
    idle: () => chain,
    close: () => {
      closed = true;
      watcher.close();
    },
  };
}
