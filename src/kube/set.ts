/**
 * From raw manifest objects to typed resources, with rejections that name
 * the resource, the reason and where it came from. Duplicates (same kind,
 * namespace and name) keep the first definition and reject the later one,
 * naming both places.
 */
import { AmbitError } from '../core/errors.js';
import { KubeErrors } from './errors.js';
import { formatSource, type ManifestSourceRef, type RawObject } from './manifests.js';
import {
  describeResource,
  type ParseOptions,
  parseResource,
  type Resource,
  resourceKey,
} from './resource.js';

export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface SourcedResource {
  readonly resource: Resource;
  readonly source: ManifestSourceRef;
}

/** A resource that was not accepted, for `ambit get` and status endpoints. */
export interface Rejection {
  readonly ref: ResourceRef;
  /** Error code (`AMBIT_KUBE_…`). */
  readonly code: string;
  /** Full message: `Kind ns/name: field: reason`. */
  readonly reason: string;
  readonly source: ManifestSourceRef;
}

export interface ResourceSet {
  resources: SourcedResource[];
  rejected: Rejection[];
  /** Objects of kinds ambit does not use (ConfigMaps, RBAC, …). */
  ignored: number;
}

function refOf(err: AmbitError): ResourceRef {
  const ref = err.details.ref as ResourceRef | undefined;
  return ref ?? { kind: '', namespace: '', name: '' };
}

/** Parses raw objects in order; the first definition of a key wins. */
export function parseResources(
  objects: readonly RawObject[],
  options: ParseOptions = {},
): ResourceSet {
  const out: ResourceSet = { resources: [], rejected: [], ignored: 0 };
  const seen = new Map<string, ManifestSourceRef>();
  for (const raw of objects) {
    const r = parseResource(raw.object, options);
    if ('ignored' in r) {
      out.ignored++;
      continue;
    }
    if ('error' in r) {
      out.rejected.push({
        ref: refOf(r.error),
        code: r.error.code,
        reason: r.error.message,
        source: raw.source,
      });
      continue;
    }
    const key = resourceKey(r.ok);
    const first = seen.get(key);
    if (first) {
      const { kind, metadata } = r.ok;
      const err = duplicateError(kind, metadata.namespace, metadata.name, first, raw.source);
      out.rejected.push({
        ref: { kind, namespace: metadata.namespace, name: metadata.name },
        code: err.code,
        reason: err.message,
        source: raw.source,
      });
      continue;
    }
    seen.set(key, raw.source);
    out.resources.push({ resource: r.ok, source: raw.source });
  }
  return out;
}

export function duplicateError(
  kind: string,
  namespace: string,
  name: string,
  first: ManifestSourceRef,
  again: ManifestSourceRef,
): AmbitError {
  return new AmbitError(
    KubeErrors.RESOURCE_DUPLICATE,
    `${describeResource(kind, namespace, name)}: defined in ${formatSource(first)} and again in ${formatSource(again)}; the first is used`,
  );
}
