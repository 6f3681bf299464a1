/**
 * Schemas for ambit's policy-attachment kinds (docs/policies.md,
 * `policy.ambit.dev/v1alpha1` BackendPolicy and RateLimitPolicy). They have no
 * published typed model, so converted objects are checked here. This belongs
 * with the control plane's resource types in src/kube eventually; it lives in
 * migrate until that owner adopts it.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

export const AMBIT_POLICY_API_VERSION = 'policy.ambit.dev/v1alpha1';

const duration = z.string().refine(
  (s) => {
    try {
      parseDuration(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a duration (e.g. 10s, 500ms)' },
);

const targetRef = z.strictObject({
  group: z.enum(['', 'gateway.networking.k8s.io']),
  kind: z.enum(['Service', 'HTTPRoute']),
  name: z.string().min(1),
});

const metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const count = z.number().int().nonnegative();

export const BackendPolicySchema = z.strictObject({
  apiVersion: z.literal(AMBIT_POLICY_API_VERSION),
  kind: z.literal('BackendPolicy'),
  metadata,
  spec: z.strictObject({
    targetRefs: z.array(targetRef).min(1),
    connectionPool: z
      .strictObject({
        maxConnections: count.optional(),
        maxPendingRequests: count.optional(),
        maxRequests: count.optional(),
      })
      .optional(),
    outlierDetection: z
      .strictObject({
        consecutive5xxErrors: count.optional(),
        consecutiveGatewayErrors: count.optional(),
        consecutiveConnectFailures: count.optional(),
        interval: duration.optional(),
        baseEjectionTime: duration.optional(),
        maxEjectionPercent: z.number().int().min(0).max(100).optional(),
      })
      .optional(),
    loadBalancer: z.strictObject({ type: z.enum(['RoundRobin', 'LeastRequest']) }).optional(),
  }),
});

export const RateLimitPolicySchema = z.strictObject({
  apiVersion: z.literal(AMBIT_POLICY_API_VERSION),
  kind: z.literal('RateLimitPolicy'),
  metadata,
  spec: z.strictObject({
    targetRefs: z.array(targetRef).min(1),
    local: z.strictObject({
      requests: z.number().int().positive(),
      interval: duration,
      burst: z.number().int().positive().optional(),
      perSourceIdentity: z.boolean().optional(),
    }),
  }),
});

export type BackendPolicy = z.infer<typeof BackendPolicySchema>;
export type RateLimitPolicy = z.infer<typeof RateLimitPolicySchema>;

/** Validates a `policy.ambit.dev` object; returns the first problem or undefined. */
export function validateAmbitPolicy(obj: unknown): string | undefined {
  const kind = (obj as { kind?: unknown }).kind;
  const schema =
    kind === 'BackendPolicy'
      ? BackendPolicySchema
      : kind === 'RateLimitPolicy'
        ? RateLimitPolicySchema
        : undefined;
  if (schema === undefined) return `unknown policy.ambit.dev kind ${String(kind)}`;
  const r = schema.safeParse(obj);
  if (r.success) return undefined;
  const issue = r.error.issues[0];
  return issue === undefined ? 'invalid' : `${issue.path.join('.')}: ${issue.message}`;
}
