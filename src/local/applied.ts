/**
 * Manifests added with `ambit apply`, kept in the run directory:
 * `<runDir>/applied/<seq>-<kind>-<namespace>-<name>.yaml`, one document per
 * file, written atomically (temp file + rename, so a watcher never sees half
 * a file). The effective manifests of a run are its manifest directory
 * overlaid with these files in sequence order (a later object with the same
 * kind/namespace/name replaces the earlier one). The runner and the control
 * plane both watch this directory.
 */
import { type FSWatcher, mkdirSync, readdirSync, renameSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type ManifestSet, type RawObject, readManifests } from '../kube/index.js';
import { DELETED_ANNOTATION, overlayManifests } from './reconcile.js';

export { DELETED_ANNOTATION, isTombstone } from './reconcile.js';

export const APPLIED_DIR = 'applied';

export function appliedDir(runDir: string): string {
  return join(runDir, APPLIED_DIR);
}

const SEQ = /^(\d{6})-.*\.yaml$/;

/** The sequence number of an applied file (0 if the name is not one). */
export function seqOf(file: string): number {
  return Number(SEQ.exec(file.split('/').at(-1) ?? '')?.[1] ?? 0);
}

/** The applied files, in sequence order. */
export function appliedFiles(runDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(appliedDir(runDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => SEQ.test(n))
    .sort()
    .map((n) => join(appliedDir(runDir), n));
}

/** The run's effective manifests: its directory, then every applied file in order. */
export function effectiveManifests(manifestDir: string, runDir: string): ManifestSet {
  const files = appliedFiles(runDir);
  return overlayManifests(readManifests([manifestDir]), ...files.map((f) => readManifests([f])));
}

export type ApplyAction = 'created' | 'configured' | 'unchanged' | 'deleted';

export interface ApplyResult {
  /** kubectl's `deployment.apps/web` form. */
  ref: string;
  action: ApplyAction;
  /** The file written (not for `unchanged`). */
  file?: string;
}

/** `deployment.apps/web`, `service/web`, `authorizationpolicy.security.istio.io/x`, as kubectl prints them. */
export function kubectlRef(obj: Readonly<Record<string, unknown>>): string {
  const apiVersion = String(obj.apiVersion ?? '');
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const name = String((obj.metadata as { name?: unknown } | undefined)?.name ?? '');
  return `${String(obj.kind).toLowerCase()}${group ? `.${group}` : ''}/${name}`;
}

function keyOf(obj: Readonly<Record<string, unknown>>): string {
  const meta = (obj.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const ns = obj.kind === 'Namespace' ? '' : String(meta.namespace ?? 'default');
  return `${String(obj.kind)}/${ns}/${String(meta.name ?? '')}`;
}

/** JSON with sorted keys, so key order in YAML does not make a change. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const SAFE_PART = /[^A-Za-z0-9_.-]/g;

/**
 * Stores `docs` (already validated) as the next applied files and says, per
 * document, whether it created, changed or left alone the object of the same
 * kind/namespace/name in `current` (the effective manifests before). Unchanged
 * documents are not written.
 */
export function storeApplied(
  runDir: string,
  current: ManifestSet,
  docs: readonly RawObject[],
): ApplyResult[] {
  return store(runDir, current, docs, false);
}

/**
 * Stores a deletion for each of `docs` (only kind/namespace/name matter) that
 * exists in `current`; the others are reported `unchanged`, like
 * `kubectl delete --ignore-not-found`.
 */
export function storeDeleted(
  runDir: string,
  current: ManifestSet,
  docs: readonly RawObject[],
): ApplyResult[] {
  return store(runDir, current, docs, true);
}

function store(
  runDir: string,
  current: ManifestSet,
  docs: readonly RawObject[],
  deleting: boolean,
): ApplyResult[] {
  const dir = appliedDir(runDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const existing = new Map(current.objects.map((o) => [keyOf(o.object), canonical(o.object)]));
  const last = appliedFiles(runDir).at(-1);
  let seq = last === undefined ? 0 : seqOf(last);
  const out: ApplyResult[] = [];
  for (const d of docs) {
    const key = keyOf(d.object);
    const before = existing.get(key);
    const ref = kubectlRef(d.object);
    const m = (d.object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    const object: Record<string, unknown> = deleting
      ? {
          apiVersion: d.object.apiVersion,
          kind: d.object.kind,
          metadata: {
            name: m.name,
            ...(d.object.kind === 'Namespace' ? {} : { namespace: m.namespace ?? 'default' }),
            annotations: { [DELETED_ANNOTATION]: 'true' },
          },
        }
      : { ...d.object };
    const now = canonical(object);
    if (deleting ? before === undefined : before === now) {
      out.push({ ref, action: 'unchanged' });
      continue;
    }
    seq++;
    const [kind, ns, name] = key.split('/');
    const base = `${String(seq).padStart(6, '0')}-${kind}-${ns || '_'}-${name}`.replace(
      SAFE_PART,
      '_',
    );
    const file = join(dir, `${base}.yaml`);
    const tmp = join(dir, `.${base}.${process.pid}.tmp`);
    writeFileSync(tmp, stringify(object), { mode: 0o600 });
    renameSync(tmp, file);
    if (deleting) existing.delete(key);
    else existing.set(key, now);
    const action = deleting ? 'deleted' : before === undefined ? 'created' : 'configured';
    out.push({ ref, action, file });
  }
  return out;
}

/**
 * Calls `onChange` (debounced by `debounceMs`, default 200) whenever an applied
 * file appears. For the runner: re-read {@link effectiveManifests}, `reconcile`,
 * `applyChanges`. Returns the watcher; close it on stop.
 */
export function watchApplied(runDir: string, onChange: () => void, debounceMs = 200): FSWatcher {
  const dir = appliedDir(runDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let timer: NodeJS.Timeout | undefined;
  const w = watch(dir, (_event, name) => {
    if (name !== null && !SEQ.test(String(name))) return; // temp files
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  w.on('close', () => {
    if (timer) clearTimeout(timer);
  });
  return w;
}
