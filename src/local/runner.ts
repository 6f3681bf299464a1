/**
 * The runner: owns one local cluster from creation to teardown. It builds the
 * topology, supervises the pods, publishes cluster.json, and on stop removes
 * everything it created. `teardownRun` does the same from another process
 * (`ambit down`), including after the runner was SIGKILLed, via the ledger.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, errorMessage } from '../core/errors.js';
import { readManifests } from '../kube/index.js';
import { cleanupLedger, Ledger, processStartTime } from '../platform/index.js';
import { logger } from '../telemetry/logger.js';
import { buildCluster, removePodEtc } from './cluster.js';
import { runDir as runDirOf } from './config.js';
import { LocalErrors } from './errors.js';
import { LABELS_SIGNAL } from './labels.js';
import type { LiveApply } from './live-apply.js';
import { Mesh } from './mesh.js';
import { startRunnerApply } from './runner-apply.js';
import {
  type ClusterState,
  listRuns,
  type PodState,
  readState,
  runnerAlive,
  writeState,
} from './state.js';
import { podLogPath, Supervisor } from './supervisor.js';
import type { ClusterPlan } from './topology.js';

const log = logger('local');

export interface RunOptions {
  /** Run root (`AMBIT_RUN_DIR`); the run lives in `<root>/<runId>/`. */
  root: string;
  /** Progress lines for the user (stdout of `ambit up`). */
  progress: (line: string) => void;
  /** How long pods may take to become ready, ms. Default 60000. */
  readyTimeoutMs?: number;
  /**
   * Run the mesh (control plane, per-node ztunnel and node agent, in-pod
   * enrollment). Default true; false gives plain pods with VIP DNAT for all.
   */
  mesh?: boolean;
}

export interface RunningCluster {
  readonly runDir: string;
  state(): ClusterState;
  /** Stops every process and removes everything the run created. Idempotent. */
  stop(): Promise<void>;
}

/** Creates the cluster, starts its pods and resolves once every pod is ready. */
export async function startCluster(plan: ClusterPlan, opts: RunOptions): Promise<RunningCluster> {
  const runDir = runDirOf(opts.root, plan.runId);
  const ledger = Ledger.create({ dir: opts.root, runId: plan.runId });
  const logDir = join(runDir, 'logs');
  let supervisor: Supervisor | undefined;
  let status: ClusterState['status'] = 'starting';
  let error: string | undefined;
  const startTime = processStartTime(process.pid) ?? '';
  const createdAt = new Date().toISOString();
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  // The live plan: replaced by every change `ambit apply` / `ambit label` make.
  let live: ClusterPlan = plan;
  const manifests = readManifests([plan.dir]);
  const mesh =
    opts.mesh === false ? undefined : new Mesh(plan, runDir, ledger, logDir, manifests.objects);
  let applier: LiveApply | undefined;
  const snapshot = (): ClusterState => ({
    version: 1,
    runId: plan.runId,
    status,
    error,
    runner: { pid: process.pid, startTime },
    dir: plan.dir,
    runDir,
    createdAt,
    fabricNetns: plan.fabricNetns,
    nodes: plan.nodes,
    pods: live.pods.map((p): PodState => {
      const s = supervisor?.status(p);
      const pids = (s?.containers ?? []).flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
      return {
        ...p,
        ready: s?.ready ?? false,
        restarts: s?.restarts ?? 0,
        phase: pids.length > 0 ? 'Running' : 'Pending',
        pids,
      };
    }),
    services: live.services,
    namespaces: live.namespaces,
    mesh: mesh?.status(),
    labels: applier?.labelStatus() ?? { applied: 0 },
    applied: applier?.status(),
  });
  const publish = () => writeState(runDir, snapshot());

  // SIGUSR2 = "labels.json changed" (ambit label); the applier reads it with
  // the applied manifests, so both go through one reconcile path.
  const onLabelSignal = () => applier?.trigger();

  let timer: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (timer) clearInterval(timer);
      process.off(LABELS_SIGNAL, onLabelSignal);
      status = 'stopping';
      publish();
      applier?.close();
      await applier?.idle();
      await supervisor?.stop();
      await mesh?.stop();
      removePodEtc(ledger.entries);
      const report = await cleanupLedger(ledger);
      for (const f of report.failed) log.warn({ entry: f.entry, error: f.error }, 'cleanup failed');
      if (report.failed.length === 0) rmSync(runDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    publish();
    await buildCluster(ledger, plan, opts.progress, mesh !== undefined);
    if (mesh) {
      await mesh.start(live, opts.progress);
      // Enrolled before their containers start, as the CNI plugin does:
      // a pod's first packet is already captured.
      const enrolled = live.pods.filter((p) => p.enrolled);
      for (const p of enrolled) await mesh.enroll(p);
      const ns = [...new Set(enrolled.map((p) => p.namespace))];
      opts.progress(
        `enrollment: ${enrolled.length}/${live.pods.length} pods in the ambient mesh${ns.length > 0 ? ` (namespaces ${ns.join(', ')})` : ''}; the rest reach services through VIP DNAT`,
      );
    } else {
      opts.progress('mesh: off (--no-mesh); pods talk plain TCP, VIPs via per-pod DNAT');
    }
    // Installed before any label could be written (SIGUSR2's default action
    // would kill the runner), removed on stop.
    process.on(LABELS_SIGNAL, onLabelSignal);
    const sup = new Supervisor(ledger, live.pods, logDir);
    supervisor = sup;
    sup.start();
    const containers = live.pods.reduce((n, p) => n + p.containers.length, 0);
    opts.progress(`processes: ${containers} containers started (logs in ${logDir})`);
    publish();
    let shown = -1;
    for (;;) {
      const st = snapshot();
      const ready = st.pods.filter((p) => p.ready).length;
      if (ready !== shown) {
        opts.progress(`readiness: ${ready}/${st.pods.length} pods ready`);
        shown = ready;
      }
      if (ready === st.pods.length) break;
      if (Date.now() > deadline) {
        const stuck = st.pods.filter((p) => !p.ready);
        throw new AmbitError(
          LocalErrors.START_FAILED,
          `pods not ready after ${Math.round((opts.readyTimeoutMs ?? 60_000) / 1000)} s: ${stuck
            .map((p) => `${p.namespace}/${p.name} (log ${podLogPath(logDir, p.namespace, p.name)})`)
            .join(', ')}`,
        );
      }
      publish();
      await sleep(200);
    }
    if (mesh) await mesh.waitReady(opts.progress, deadline);
    applier = startRunnerApply({
      runDir,
      plan: live,
      manifests,
      ledger,
      supervisor: sup,
      mesh,
      getPlan: () => live,
      setPlan: (p) => {
        live = p;
      },
      onApplied: publish,
      progress: opts.progress,
    });
    status = 'ready';
    publish();
    timer = setInterval(publish, 1000);
    timer.unref();
  } catch (err) {
    status = 'failed';
    error = errorMessage(err);
    try {
      publish();
    } catch {
      // run dir may be gone
    }
    await stop();
    throw err;
  }
  return { runDir, state: snapshot, stop };
}

/**
 * Removes one run completely: asks a live runner to stop (SIGTERM, then
 * SIGKILL after `graceMs`), then cleans whatever its ledger still lists, the
 * hosts files and the run directory. Safe after a crash and idempotent.
 */
export async function teardownRun(runDir: string, graceMs = 20_000): Promise<string[]> {
  const failed: string[] = [];
  const state = readState(runDir);
  if (state && runnerAlive(state) && state.runner.pid !== process.pid) {
    const { pid, startTime } = state.runner;
    process.kill(pid, 'SIGTERM');
    const until = Date.now() + graceMs;
    while (processStartTime(pid) === startTime && Date.now() < until) await sleep(50);
    if (processStartTime(pid) === startTime) process.kill(pid, 'SIGKILL');
    while (processStartTime(pid) === startTime) await sleep(20);
  }
  const ledgerPath = join(runDir, 'ledger.json');
  if (existsSync(ledgerPath)) {
    removePodEtc(Ledger.open(ledgerPath).entries);
    const report = await cleanupLedger(ledgerPath);
    for (const f of report.failed) failed.push(`${JSON.stringify(f.entry)}: ${f.error}`);
  }
  if (state) {
    removePodEtc([
      ...state.pods.map((p) => ({ kind: 'netns' as const, name: p.netns })),
      ...state.nodes.map((n) => ({ kind: 'netns' as const, name: n.netns })),
    ]);
  }
  if (failed.length === 0) rmSync(runDir, { recursive: true, force: true });
  return failed;
}

/** Refuses if a live run exists under `root`; removes leftovers of dead runs. */
export async function prepareRoot(root: string, progress: (line: string) => void): Promise<void> {
  for (const dir of listRuns(root)) {
    const state = readState(dir);
    if (state && runnerAlive(state)) {
      throw new AmbitError(
        LocalErrors.ALREADY_RUNNING,
        `a local cluster (run ${state.runId}) is already running under ${root}; run \`ambit down\` first`,
      );
    }
    progress(`cleaning up leftovers of a previous run in ${dir}`);
    const failed = await teardownRun(dir);
    if (failed.length > 0) {
      throw new AmbitError(
        LocalErrors.START_FAILED,
        `could not remove leftovers of ${dir}:\n  ${failed.join('\n  ')}`,
      );
    }
  }
}
