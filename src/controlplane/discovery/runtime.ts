/**
 * What the local runner tells the control plane about pods it started (the
 * role the kubelet + API server play in a cluster).
 */
export interface RuntimePod {
  name: string;
  namespace: string;
  /** Pod IP (v4 or v6). */
  ip: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Default `default`. */
  serviceAccount?: string;
  /** Node (host) name. Default ''. */
  node?: string;
  /** The Deployment that owns the pod, if any (sets workload type/name). */
  deployment?: string;
  /** Container ports, for named Service targetPorts. */
  ports?: Array<{ name?: string; containerPort: number }>;
  /** Readiness. Default true. */
  ready?: boolean;
}

export const RUNTIME_ORIGIN = 'runtime:local';

/** The Pod object for a runtime pod. */
export function runtimePodObject(p: RuntimePod): Record<string, unknown> {
  const ready = p.ready ?? true;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: p.labels ?? {},
      annotations: p.annotations ?? {},
      ownerReferences: p.deployment
        ? [{ apiVersion: 'apps/v1', kind: 'Deployment', name: p.deployment, controller: true }]
        : [],
    },
    spec: {
      serviceAccountName: p.serviceAccount ?? 'default',
      nodeName: p.node ?? '',
      containers: [{ name: 'app', ports: p.ports ?? [] }],
    },
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}
