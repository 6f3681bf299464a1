import type { ManifestSourceRef } from '../kube/index.js';

/** How a sidecar-era feature carries over to ambient. */
export type Support = 'exact' | 'approximate' | 'none' | 'not-needed';

/**
 * What a finding means for the namespace verdict: `blocker` stops it,
 * `auto` is handled by `ambit migrate convert`, `warning` is converted with a
 * loss the user should read, `info` needs nothing.
 */
export type Severity = 'blocker' | 'auto' | 'warning' | 'info';

export interface Finding {
  /** Catalogue id (features.ts), e.g. `vs.fault`. */
  readonly id: string;
  readonly namespace: string;
  /** "VirtualService reviews". */
  readonly resource: string;
  /** Workloads it applies to ("Deployment reviews-v1"); empty when namespace-wide or none. */
  readonly workloads: readonly string[];
  readonly feature: string;
  readonly support: Support;
  readonly severity: Severity;
  /** What was found and how it converts, specific to this object. */
  readonly detail: string;
  /** The ambient path. */
  readonly ambient: string;
  readonly source?: ManifestSourceRef;
  /** For NetworkPolicies: the RFC 6902 JSON patch that opens HBONE. */
  readonly patch?: readonly JsonPatchOp[];
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}
