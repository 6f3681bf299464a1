/**
 * `ambit label` on a running cluster: the control channel between the CLI and
 * the runner.
 *
 * The CLI edits `<run dir>/labels.json` (label overrides on top of the
 * manifests, with a generation number; written atomically) and sends the
 * runner SIGUSR2. The runner re-reads the file, applies the labels (enrolls /
 * releases pods, rewrites what the control plane watches) and publishes the
 * generation it applied in cluster.json (`labels.applied`), which the CLI
 * waits for. Root-only by construction (the run dir is 0700, signalling the
 * runner needs root), no network listener.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../core/errors.js';
import type { ManifestSet, RawObject } from '../kube/index.js';
import { processStartTime } from '../platform/index.js';
import { LocalErrors } from './errors.js';
import { podEnrolled } from './mesh-manifests.js';
import type { ClusterPlan } from './topology.js';

export const LABELS_FILE = 'labels.json';
/** The signal that tells the runner to re-read labels.json (SIGUSR1 is Node's inspector). */
export const LABELS_SIGNAL = 'SIGUSR2';

/** `null` removes a label the manifests set. */
export type LabelPatch = Record<string, string | null>;

export interface LabelOverrides {
  version: 1;
  generation: number;
  namespaces: Record<string, LabelPatch>;
  /** Keyed `namespace/pod`. */
  pods: Record<string, LabelPatch>;
  /** Keyed `namespace/service` (e.g. istio.io/use-waypoint); absent in files written before. */
  services?: Record<string, LabelPatch>;
}

export function emptyOverrides(): LabelOverrides {
  return { version: 1, generation: 0, namespaces: {}, pods: {} };
}

export function readOverrides(runDir: string): LabelOverrides {
  try {
    const o = JSON.parse(readFileSync(join(runDir, LABELS_FILE), 'utf8')) as LabelOverrides;
    if (o.version !== 1) return emptyOverrides();
    return o;
  } catch {
    return emptyOverrides();
  }
}

export function writeOverrides(runDir: string, o: LabelOverrides): void {
  const path = join(runDir, LABELS_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(o, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export const LABELS_LOCK = 'labels.lock';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn` holding `<runDir>/labels.lock` (O_EXCL file with the holder's pid
 * and start time; a lock whose holder is gone is stale and taken over). Every
 * writer of labels.json and of `applied/` (`ambit label`, `ambit apply`) takes
 * it, so two concurrent commands never lose an update or share a sequence
 * number. Held for milliseconds, so a synchronous wait is fine.
 */
export function withRunLock<T>(runDir: string, fn: () => T, timeoutMs = 10_000): T {
  const path = join(runDir, LABELS_LOCK);
  const until = Date.now() + timeoutMs;
  const me = `${process.pid} ${processStartTime(process.pid) ?? ''}`;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, me);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = '';
      try {
        holder = readFileSync(path, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      const [pid, start] = holder.split(' ');
      // An empty file is a holder between open and write: not stale.
      if (pid && processStartTime(Number(pid)) !== start) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > until) {
        throw new AmbitError(
          LocalErrors.LOCK_BUSY,
          `${path} is held by pid ${pid || '?'} for more than ${timeoutMs / 1000} s`,
        );
      }
      sleepSync(10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/**
 * Read-modify-write of labels.json under the run lock: `mutate` edits the
 * overrides (returns false for "nothing changed"); the generation is bumped
 * and the file written only on a change. Returns the overrides as written.
 */
export function updateOverrides(
  runDir: string,
  mutate: (o: LabelOverrides) => boolean,
): { overrides: LabelOverrides; changed: boolean } {
  return withRunLock(runDir, () => {
    const o = readOverrides(runDir);
    const changed = mutate(o);
    if (changed) {
      o.generation += 1;
      writeOverrides(runDir, o);
    }
    return { overrides: o, changed };
  });
}

/**
 * kubectl apply semantics for labels: an applied Namespace or Pod sets the
 * labels it lists, so an `ambit label` override of one of those keys is
 * dropped (apply wins for keys it names); overrides of keys it does not name
 * stay (as `kubectl label` on a live object survives a later apply that does
 * not mention the key). Returns whether anything was dropped.
 */
export function dropAppliedKeys(o: LabelOverrides, docs: readonly RawObject[]): boolean {
  let changed = false;
  for (const { object } of docs) {
    const meta = (object.metadata ?? {}) as {
      name?: string;
      namespace?: string;
      labels?: Record<string, string>;
    };
    const table =
      object.kind === 'Namespace'
        ? o.namespaces
        : object.kind === 'Pod'
          ? o.pods
          : object.kind === 'Service'
            ? o.services
            : undefined;
    if (!table || !meta.name) continue;
    const key =
      object.kind === 'Namespace' ? meta.name : `${meta.namespace ?? 'default'}/${meta.name}`;
    const patch = table[key];
    if (!patch) continue;
    for (const k of Object.keys(meta.labels ?? {})) {
      if (k in patch) {
        delete patch[k];
        changed = true;
      }
    }
    if (Object.keys(patch).length === 0) delete table[key];
  }
  return changed;
}

/**
 * The live plan: `plan` (from the effective manifests) with the label
 * overrides patched onto namespaces and pods, and each pod's enrollment
 * recomputed from the result.
 */
export function withOverrides(plan: ClusterPlan, o: LabelOverrides): ClusterPlan {
  const namespaces = plan.namespaces.map((n) => ({
    name: n.name,
    labels: patchLabels(n.labels, o.namespaces[n.name]),
  }));
  const nsLabels = new Map(namespaces.map((n) => [n.name, n.labels]));
  const pods = plan.pods.map((p) => {
    const labels = patchLabels(p.labels, o.pods[`${p.namespace}/${p.name}`]);
    return { ...p, labels, enrolled: podEnrolled(labels, nsLabels.get(p.namespace)) };
  });
  return { ...plan, namespaces, pods };
}

/**
 * The manifests with the Service label overrides patched in. Services are
 * what only the control plane reads labels of (istio.io/use-waypoint), so
 * they are patched in the objects it is given rather than in the plan;
 * reconcile then sees the changed Service like any applied edit.
 */
export function withServiceLabels(set: ManifestSet, o: LabelOverrides): ManifestSet {
  const patches = o.services ?? {};
  if (Object.keys(patches).length === 0) return set;
  const objects = set.objects.map((raw) => {
    const meta = (raw.object.metadata ?? {}) as {
      name?: string;
      namespace?: string;
      labels?: Record<string, string>;
    };
    const patch =
      raw.object.kind === 'Service'
        ? patches[`${meta.namespace ?? 'default'}/${meta.name}`]
        : undefined;
    if (!patch) return raw;
    const metadata = { ...meta, labels: patchLabels(meta.labels ?? {}, patch) };
    return { ...raw, object: { ...raw.object, metadata } };
  });
  return { ...set, objects };
}

/** Applies a patch to labels (null deletes). */
export function patchLabels(
  labels: Readonly<Record<string, string>>,
  patch: LabelPatch | undefined,
): Record<string, string> {
  const out = { ...labels };
  for (const [k, v] of Object.entries(patch ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** kubectl's `key=value` / `key-` syntax. */
export function parseLabelArgs(args: readonly string[]): LabelPatch {
  const patch: LabelPatch = {};
  for (const a of args) {
    const m = /^(.+)-$/.exec(a);
    const [key, value] = m ? [m[1] as string, null] : a.split(/=(.*)/s, 2);
    if (key === undefined || !KEY.test(key) || (value !== null && value === undefined)) {
      throw new AmbitError(
        LocalErrors.LABEL_INVALID,
        `invalid label ${a}: expected key=value or key- (to remove)`,
      );
    }
    if (value !== null && !VALUE.test(value)) {
      throw new AmbitError(LocalErrors.LABEL_INVALID, `invalid label value in ${a}`);
    }
    patch[key] = value;
  }
  if (Object.keys(patch).length === 0) {
    throw new AmbitError(LocalErrors.LABEL_INVALID, 'no labels given (key=value or key-)');
  }
  return patch;
}
