/**
 * ambit's policy-attachment kinds as `ambit migrate convert` writes them
 * (docs/policies.md, `policy.ambit.dev/v1alpha1` BackendPolicy and
 * RateLimitPolicy). Converted objects are validated by the control plane's own
 * parser (src/kube), so what migrate emits is exactly what `ambit apply`
 * accepts; this file only names the manifest shapes.
 */
import { parseResource } from '../kube/index.js';

export const AMBIT_POLICY_API_VERSION = 'policy.ambit.dev/v1alpha1';

type TargetRef = {
  group: '' | 'gateway.networking.k8s.io';
  kind: 'Service' | 'HTTPRoute';
  name: string;
};

type PolicyMeta = {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

/** A BackendPolicy manifest (durations as strings, e.g. "10s"). */
export type BackendPolicy = {
  apiVersion: typeof AMBIT_POLICY_API_VERSION;
  kind: 'BackendPolicy';
  metadata: PolicyMeta;
  spec: {
    targetRefs: TargetRef[];
    connectionPool?: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number };
    outlierDetection?: {
      consecutive5xxErrors?: number;
      consecutiveGatewayErrors?: number;
      consecutiveConnectFailures?: number;
      interval?: string;
      baseEjectionTime?: string;
      maxEjectionPercent?: number;
    };
    loadBalancer?: { type: 'RoundRobin' | 'LeastRequest' };
  };
};

/** A RateLimitPolicy manifest. */
export type RateLimitPolicy = {
  apiVersion: typeof AMBIT_POLICY_API_VERSION;
  kind: 'RateLimitPolicy';
  metadata: PolicyMeta;
  spec: {
    targetRefs: TargetRef[];
    local: { requests: number; interval: string; burst?: number; perSourceIdentity?: boolean };
  };
};

/** Validates a `policy.ambit.dev` object as the control plane would; returns the first problem or undefined. */
export function validateAmbitPolicy(obj: unknown): string | undefined {
  const kind = (obj as { kind?: unknown }).kind;
  if (kind !== 'BackendPolicy' && kind !== 'RateLimitPolicy') {
    return `unknown policy.ambit.dev kind ${String(kind)}`;
  }
  const r = parseResource(obj);
  if ('error' in r) return r.error.message;
  if ('ignored' in r) return `not understood by the control plane: ${r.ignored}`;
  return undefined;
}
