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
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../core/errors.js';
import { LocalErrors } from './errors.js';

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
