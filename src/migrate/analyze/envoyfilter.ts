/**
 * EnvoyFilters do not apply to waypoints. Each config patch is classified by
 * what it changes; local rate limits become RateLimitPolicies, everything else
 * is a blocker with its ambient path named.
 */
import { parseDuration } from '../../core/duration.js';
import { gwDuration } from '../convert/gw.js';
import { rateLimitPolicy } from '../convert/policies.js';
import { type FeatureId, finding, itemContext } from '../features.js';
import type { Inventory, Item } from '../inventory.js';
import type { EnvoyFilterSpec } from '../shapes.js';
import type { Finding } from '../types.js';
import { describeWorkload, selectedWorkloads, servicesFor } from '../workloads.js';

export interface EnvoyFilterResult {
  findings: Finding[];
  objects: Record<string, unknown>[];
}

/** First value under any of `keys`, searching the whole tree. */
export function findDeep(v: unknown, keys: readonly string[]): unknown {
  if (typeof v !== 'object' || v === null) return undefined;
  for (const k of keys) if (Object.hasOwn(v, k)) return (v as Record<string, unknown>)[k];
  for (const x of Object.values(v)) {
    const r = findDeep(x, keys);
    if (r !== undefined) return r;
  }
  return undefined;
}

function classifyHttpFilter(value: Record<string, unknown> | undefined): FeatureId {
  const text = JSON.stringify(value ?? {}).toLowerCase();
  if (text.includes('local_ratelimit') || text.includes('localratelimit'))
    return 'ef.localRateLimit';
  if (
    text.includes('.lua') ||
    text.includes('lua.v3') ||
    text.includes('inline_code') ||
    text.includes('inlinecode')
  )
    return 'ef.lua';
  if (text.includes('ext_authz')) return 'ef.extAuthz';
  if (text.includes('ratelimit')) return 'ef.globalRateLimit';
  if (text.includes('wasm')) return 'ef.wasm';
  if (text.includes('header_mutation') || text.includes('header_to_metadata')) return 'ef.headers';
  return 'ef.other';
}

function classify(applyTo: string, value: Record<string, unknown> | undefined): FeatureId {
  switch (applyTo) {
    case 'HTTP_FILTER':
      return classifyHttpFilter(value);
    case 'ROUTE_CONFIGURATION':
    case 'VIRTUAL_HOST':
    case 'HTTP_ROUTE': {
      const text = JSON.stringify(value ?? {});
      if (/headers_to_(add|remove)|HeadersToAdd|HeadersToRemove/.test(text)) return 'ef.headers';
      if (text.includes('local_ratelimit')) return 'ef.localRateLimit';
      return 'ef.other';
    }
    case 'CLUSTER':
      return 'ef.cluster';
    default:
      return 'ef.other';
  }
}

function num(v: unknown, dflt: number): number {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : dflt;
}

/** Token bucket of a local rate limit filter, anywhere in the EnvoyFilter. */
export function tokenBucket(
  ef: EnvoyFilterSpec,
): { requests: number; interval: string; burst: number } | undefined {
  const tb = findDeep(ef.configPatches, ['token_bucket', 'tokenBucket']) as
    | Record<string, unknown>
    | undefined;
  if (tb === undefined) return undefined;
  const burst = num(tb.max_tokens ?? tb.maxTokens, 0);
  const requests = num(tb.tokens_per_fill ?? tb.tokensPerFill, 1);
  const fill = tb.fill_interval ?? tb.fillInterval;
  if (burst <= 0 || typeof fill !== 'string') return undefined;
  return { requests, interval: gwDuration(parseDuration(fill)), burst };
}

export function analyzeEnvoyFilter(inv: Inventory, ef: Item<EnvoyFilterSpec>): EnvoyFilterResult {
  const out: EnvoyFilterResult = { findings: [], objects: [] };
  const ns = ef.meta.namespace;
  const workloads = selectedWorkloads(inv, ns, ef.spec.workloadSelector?.labels);
  const ctx = itemContext(ef, workloads);
  const scope =
    ef.spec.workloadSelector === undefined
      ? 'every proxy in the namespace'
      : workloads.map(describeWorkload).join(', ') || 'no workload in the input';
  const kinds = new Map<FeatureId, string[]>();
  for (const [i, p] of (ef.spec.configPatches ?? []).entries()) {
    const context = p.match?.context ?? 'ANY';
    const applyTo = p.applyTo ?? 'UNKNOWN';
    let id: FeatureId = context === 'GATEWAY' ? 'ef.gateway' : classify(applyTo, p.patch?.value);
    if (id === 'ef.localRateLimit' && context === 'SIDECAR_OUTBOUND') id = 'ef.other';
    const what = `configPatches[${i}] ${p.patch?.operation ?? ''} ${applyTo} (${context})`;
    kinds.set(id, [...(kinds.get(id) ?? []), what]);
  }
  for (const [id, whats] of kinds) {
    let detail = `${whats.join('; ')}; applies to ${scope}`;
    if (id === 'ef.localRateLimit') {
      const bucket = tokenBucket(ef.spec);
      const services = servicesFor(inv, workloads);
      if (bucket === undefined || services.length === 0) {
        const why = bucket === undefined ? 'no token bucket found' : 'no Service selects its pods';
        out.findings.push(
          finding('ef.other', ctx, `${detail}; local rate limit not converted: ${why}`),
        );
        continue;
      }
      for (const svc of services) {
        out.objects.push(
          rateLimitPolicy(
            ns,
            svc.meta.name,
            { requests: bucket.requests, interval: bucket.interval, burst: bucket.burst },
            `EnvoyFilter ${ns}/${ef.meta.name}`,
          ),
        );
      }
      detail += `; → RateLimitPolicy ${bucket.requests}/${bucket.interval} burst ${bucket.burst} on ${services.map((s) => s.meta.name).join(', ')}`;
    }
    out.findings.push(finding(id, ctx, detail));
  }
  return out;
}
