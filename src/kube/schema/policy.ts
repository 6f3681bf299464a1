/**
 * ambit's policy-attachment kinds (policy.ambit.dev/v1alpha1, see
 * docs/policies.md) and the part of Istio's DestinationRule that waypoints
 * honour (trafficPolicy.connectionPool / outlierDetection / loadBalancer).
 */
import { z } from 'zod';
import { durationMs, objectMeta, policyTargetRef } from './common.js';

const count = z.number().int().min(0);

const targetRefs = z
  .array(
    policyTargetRef.refine(
      (t) =>
        (t.group === '' && t.kind === 'Service') ||
        (t.group === 'gateway.networking.k8s.io' &&
          (t.kind === 'HTTPRoute' || t.kind === 'GRPCRoute')),
      'targets must be a Service (group "") or an HTTPRoute or GRPCRoute (group gateway.networking.k8s.io)',
    ),
  )
  .min(1, 'at least one targetRef is required');

export const backendPolicySchema = z.object({
  apiVersion: z.literal('policy.ambit.dev/v1alpha1'),
  kind: z.literal('BackendPolicy'),
  metadata: objectMeta,
  spec: z.strictObject({
    targetRefs,
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
        interval: durationMs.optional(),
        baseEjectionTime: durationMs.optional(),
        maxEjectionPercent: z.number().int().min(0).max(100).optional(),
      })
      .optional(),
    loadBalancer: z.strictObject({ type: z.enum(['RoundRobin', 'LeastRequest']) }).optional(),
  }),
});

export const rateLimitPolicySchema = z.object({
  apiVersion: z.literal('policy.ambit.dev/v1alpha1'),
  kind: z.literal('RateLimitPolicy'),
  metadata: objectMeta,
  spec: z.strictObject({
    targetRefs,
    local: z
      .strictObject({
        requests: z.number().int().min(1, 'must be at least 1'),
        interval: durationMs.refine((ms) => ms > 0, 'must be positive'),
        burst: z.number().int().min(1).optional(),
        perSourceIdentity: z.boolean().default(false),
      })
      .refine((l) => l.burst === undefined || l.burst >= l.requests, {
        message: 'burst must be at least requests',
        path: ['burst'],
      }),
  }),
});

export const destinationRuleSchema = z.object({
  apiVersion: z.enum([
    'networking.istio.io/v1',
    'networking.istio.io/v1beta1',
    'networking.istio.io/v1alpha3',
  ]),
  kind: z.literal('DestinationRule'),
  metadata: objectMeta,
  spec: z.object({
    host: z.string().min(1),
    trafficPolicy: z
      .object({
        connectionPool: z
          .object({
            tcp: z
              .object({ maxConnections: count.optional(), connectTimeout: durationMs.optional() })
              .optional(),
            http: z
              .object({
                http1MaxPendingRequests: count.optional(),
                http2MaxRequests: count.optional(),
                maxRequestsPerConnection: count.optional(),
                maxRetries: count.optional(),
                idleTimeout: durationMs.optional(),
              })
              .optional(),
          })
          .optional(),
        outlierDetection: z
          .object({
            consecutive5xxErrors: count.optional(),
            consecutiveGatewayErrors: count.optional(),
            interval: durationMs.optional(),
            baseEjectionTime: durationMs.optional(),
            maxEjectionPercent: z.number().int().min(0).max(100).optional(),
          })
          .optional(),
        loadBalancer: z
          .object({
            simple: z
              .enum([
                'UNSPECIFIED',
                'LEAST_REQUEST',
                'RANDOM',
                'PASSTHROUGH',
                'ROUND_ROBIN',
                'LEAST_CONN',
              ])
              .optional(),
          })
          .optional(),
      })
      .optional(),
  }),
});
