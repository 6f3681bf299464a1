/**
 * Reads Kubernetes manifests: multi-document YAML files, `kind: List` objects
 * (as `kubectl get -o yaml` prints), Helm/kustomize output, whole directories.
 *
 * A bad document never hides the good ones: parse problems are returned as
 * {@link ManifestProblem}s naming the file and document index, and reading
 * goes on. Objects are returned raw (unknown); typing happens per kind elsewhere.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Where a raw object came from, for error messages. */
export interface ManifestSourceRef {
  file: string;
  /** 0-based index of the YAML document in the file. */
  document: number;
}

export interface RawObject {
  readonly object: Readonly<Record<string, unknown>>;
  readonly source: ManifestSourceRef;
}

export interface ManifestProblem {
  readonly source: ManifestSourceRef;
  readonly message: string;
}

export interface ManifestSet {
  objects: RawObject[];
  problems: ManifestProblem[];
}

const YAML_EXT = new Set(['.yaml', '.yml', '.json']);

/** Lists manifest files under the given files/directories (recursively, sorted). */
export function manifestFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const visit = (p: string, explicit: boolean): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if (!name.startsWith('.')) visit(join(p, name), false);
      }
    } else if (explicit || YAML_EXT.has(extname(p))) {
      out.push(p);
    }
  };
  for (const p of paths) visit(p, true);
  return out;
}

/** Parses YAML text holding one or more documents. */
export function parseManifestText(text: string, file: string): ManifestSet {
  const set: ManifestSet = { objects: [], problems: [] };
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  docs.forEach((doc, document) => {
    const source = { file, document };
    if (doc.errors.length > 0) {
      set.problems.push({
        source,
        message: `invalid YAML: ${doc.errors[0]?.message ?? 'parse error'}`,
      });
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // empty document ("---" at the end)
    collect(value, source, set);
  });
  return set;
}

function collect(value: unknown, source: ManifestSourceRef, set: ManifestSet): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    set.problems.push({
      source,
      message: 'document is not a Kubernetes object (expected a mapping)',
    });
    return;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
    set.problems.push({ source, message: 'object has no apiVersion/kind' });
    return;
  }
  if (obj.kind === 'List' || (obj.kind.endsWith('List') && Array.isArray(obj.items))) {
    const items = Array.isArray(obj.items) ? obj.items : [];
    for (const item of items) collect(item, source, set);
    return;
  }
  set.objects.push({ object: obj, source });
}

/** Reads every manifest under the given paths. Unreadable files become problems. */
export function readManifests(paths: readonly string[]): ManifestSet {
  const set: ManifestSet = { objects: [], problems: [] };
  let files: string[];
  try {
    files = manifestFiles(paths);
  } catch (err) {
    set.problems.push({
      source: { file: String(paths.join(',')), document: 0 },
      message: `cannot read: ${String(err)}`,
    });
    return set;
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      set.problems.push({ source: { file, document: 0 }, message: `cannot read: ${String(err)}` });
      continue;
    }
    const one = parseManifestText(text, file);
    set.objects.push(...one.objects);
    set.problems.push(...one.problems);
  }
  return set;
}

/** "kind namespace/name" for messages. */
export function describeObject(obj: Readonly<Record<string, unknown>>): string {
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  const name = typeof meta.name === 'string' ? meta.name : '<unnamed>';
  return `${String(obj.kind)} ${ns}${name}`;
}

export function formatSource(s: ManifestSourceRef): string {
  return `${s.file} (document ${s.document})`;
}
