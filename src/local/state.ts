/**
 * `cluster.json`: what the runner publishes about a live run (nodes, pods,
 * addresses, namespaces, pids, readiness) for the CLI verbs to read. Written
 * atomically (temp file + rename) by the runner only.
 */
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../core/errors.js';
import { processStartTime } from '../platform/index.js';
import { LocalErrors } from './errors.js';
import type { MeshStatus } from './mesh.js';
import type { ClusterPlan, PodPlan } from './topology.js';

export type RunStatus = 'starting' | 'ready' | 'stopping' | 'failed';

export interface PodState extends PodPlan {
  ready: boolean;
  restarts: number;
  phase: 'Pending' | 'Running';
  pids: number[];
}

export interface ClusterState {
  version: 1;
  runId: string;
  status: RunStatus;
  error?: string;
  runner: { pid: number; startTime: string };
  dir: string;
  runDir: string;
  createdAt: string;
  fabricNetns: string;
  nodes: ClusterPlan['nodes'];
  pods: PodState[];
  services: ClusterPlan['services'];
  namespaces: ClusterPlan['namespaces'];
  /** Control plane, ztunnels, enrolled pods; absent with `--no-mesh`. */
  mesh?: MeshStatus;
  /** The labels.json generation the runner applied last, and what failed then. */
  labels?: { applied: number; error?: string };
  /**
   * Set by a runner that applies `ambit apply` live: the sequence number of
   * the last applied file it has reconciled, and the error if that failed.
   * `ambit apply` waits for it; absent means the runner does not apply live.
   */
  applied?: { seq: number; error?: string };
}

export const STATE_FILE = 'cluster.json';

export function writeState(runDir: string, state: ClusterState): void {
  const path = join(runDir, STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

export function readState(runDir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, STATE_FILE), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** True if the run's runner process is still the one that wrote the state. */
export function runnerAlive(state: ClusterState): boolean {
  return processStartTime(state.runner.pid) === state.runner.startTime;
}

/** Run directories under `root` (any with a ledger or a cluster.json), newest first. */
export function listRuns(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .map((n) => join(root, n))
    .filter((d) => existsSync(join(d, STATE_FILE)) || existsSync(join(d, 'ledger.json')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
}

/** The state of the newest live (or at least recorded) run, or NOT_RUNNING. */
export function currentState(root: string): ClusterState {
  const states = listRuns(root)
    .map((d) => readState(d))
    .filter((s): s is ClusterState => s !== undefined);
  const live = states.find((s) => runnerAlive(s)) ?? states[0];
  if (!live) {
    throw new AmbitError(
      LocalErrors.NOT_RUNNING,
      `no local cluster under ${root}; start one with \`ambit up\``,
    );
  }
  return live;
}

/**
 * Finds a pod by `NAME` or `deploy/NAME` (first ready replica, else the first)
 * in `namespace`.
 */
export function findPod(state: ClusterState, namespace: string, ref: string): PodState {
  const m = /^(?:deploy|deployment|deployments)\/(.+)$/.exec(ref);
  const pods = state.pods.filter((p) => p.namespace === namespace);
  const hits = m
    ? pods.filter((p) => p.deployment === m[1])
    : pods.filter((p) => p.name === ref || p.name === ref.replace(/^pods?\//, ''));
  const pod = hits.find((p) => p.ready) ?? hits[0];
  if (!pod) {
    throw new AmbitError(
      LocalErrors.POD_NOT_FOUND,
      `${m ? `deployment ${m[1]}` : `pod ${ref}`} not found in namespace ${namespace} (pods: ${pods.map((p) => p.name).join(', ') || 'none'})`,
    );
  }
  return pod;
}

/** The plan a state was published from (what `reconcile` compares against). */
export function planOf(state: ClusterState): ClusterPlan {
  return {
    runId: state.runId,
    dir: state.dir,
    fabricNetns: state.fabricNetns,
    nodes: state.nodes,
    pods: state.pods.map(({ ready: _r, restarts: _x, phase: _p, pids: _i, ...pod }) => pod),
    services: state.services,
    namespaces: state.namespaces,
    // A run with a mesh runs its waypoint Gateways as pods.
    ...(state.mesh ? { meshRunDir: state.runDir } : {}),
  };
}
