/**
 * Shared zod pieces for the Kubernetes kinds ambit understands: object
 * metadata, label selectors, durations, policy target references.
 *
 * Schemas normalise as they validate (defaults filled, durations turned into
 * milliseconds) so the rest of the control plane works on one shape only.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

/** RFC 1123 subdomain (Kubernetes object names). */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 label (namespace names, service names). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const subdomainName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain');

export const labelName = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(DNS1123_LABEL, 'must be a lowercase RFC 1123 label');

export const stringMap = z.record(z.string(), z.string());

export const ownerReference = z.object({
  apiVersion: z.string().default(''),
  kind: z.string(),
  name: z.string(),
  uid: z.string().optional(),
  controller: z.boolean().optional(),
});

/** Object metadata. `namespace` is filled in later (defaults to `default` for namespaced kinds). */
export const objectMeta = z.object({
  name: subdomainName,
  namespace: labelName.optional(),
  uid: z.string().optional(),
  labels: stringMap.default({}),
  annotations: stringMap.default({}),
  ownerReferences: z.array(ownerReference).default([]),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
});
export type ObjectMeta = z.output<typeof objectMeta>;

/** A metav1.LabelSelector; matchExpressions are supported for Deployment/Service-like selectors. */
export const labelSelector = z.object({
  matchLabels: stringMap.default({}),
  matchExpressions: z
    .array(
      z.object({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});
export type LabelSelector = z.output<typeof labelSelector>;

/** A Go/Kubernetes duration ("10s", "1m30s", "500ms"), normalised to milliseconds. */
export const durationMs = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `invalid duration "${text}" (use e.g. 500ms, 10s, 1m)`,
    });
    return z.NEVER;
  }
});

export const port = z.number().int().min(1, 'must be 1-65535').max(65535, 'must be 1-65535');

/** Gateway API / GEP-713 policy target reference (same namespace as the policy). */
export const policyTargetRef = z.object({
  group: z.string().default(''),
  kind: z.string(),
  name: z.string().min(1),
  namespace: z.string().optional(),
  sectionName: z.string().optional(),
});
export type PolicyTargetRef = z.output<typeof policyTargetRef>;

/** True when every matchLabels pair and matchExpression holds for `labels`. */
export function selectorMatches(
  sel: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(v ?? '')) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(v ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when `subset`'s pairs all appear in `labels` (Service selector semantics). */
export function labelsSubset(
  subset: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(subset)) if (labels[k] !== v) return false;
  return true;
}
