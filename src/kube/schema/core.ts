/**
 * Core/v1 and apps/v1 kinds, modelled to the extent the mesh needs them.
 * Unknown fields are kept out (stripped), not rejected: these kinds have far
 * larger schemas than ambit reads, and a valid field ambit ignores must not
 * reject the object.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { labelSelector, objectMeta, port, stringMap } from './common.js';

const ipString = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');

export const namespaceSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: objectMeta,
});

export const serviceAccountSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('ServiceAccount'),
  metadata: objectMeta,
});

const containerPort = z.object({
  name: z.string().optional(),
  containerPort: port,
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
});

const container = z.object({
  name: z.string().min(1),
  image: z.string().optional(),
  ports: z.array(containerPort).default([]),
});

export const podSpec = z.object({
  serviceAccountName: z.string().default('default'),
  nodeName: z.string().default(''),
  hostNetwork: z.boolean().default(false),
  containers: z.array(container).min(1, 'a pod needs at least one container'),
});
export type PodSpec = z.output<typeof podSpec>;

const podStatus = z.object({
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).default('Pending'),
  podIP: ipString.optional(),
  podIPs: z.array(z.object({ ip: ipString })).default([]),
  conditions: z.array(z.object({ type: z.string(), status: z.string() })).default([]),
});

export const podSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: objectMeta,
  spec: podSpec,
  status: podStatus.default({ phase: 'Pending', podIPs: [], conditions: [] }),
});

export const deploymentSchema = z.object({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata: objectMeta,
  spec: z
    .object({
      replicas: z.number().int().min(0).default(1),
      selector: labelSelector,
      template: z.object({
        metadata: z
          .object({ labels: stringMap.default({}), annotations: stringMap.default({}) })
          .default({ labels: {}, annotations: {} }),
        spec: podSpec,
      }),
    })
    .refine(
      (s) =>
        Object.entries(s.selector.matchLabels).every(
          ([k, v]) => s.template.metadata.labels[k] === v,
        ),
      { message: 'selector does not match template labels', path: ['selector'] },
    ),
});

const servicePort = z.object({
  name: z.string().optional(),
  port,
  /** Number or the name of a container port; defaults to `port`. */
  targetPort: z.union([port, z.string().min(1)]).optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
  appProtocol: z.string().optional(),
});

export const serviceSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: objectMeta,
  spec: z.object({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).default('ClusterIP'),
    clusterIP: z.union([ipString, z.literal('None'), z.literal('')]).optional(),
    clusterIPs: z.array(z.union([ipString, z.literal('None')])).default([]),
    selector: stringMap.optional(),
    ports: z.array(servicePort).default([]),
    trafficDistribution: z.string().optional(),
    internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
    publishNotReadyAddresses: z.boolean().default(false),
    ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).default([]),
  }),
});
