/** The waypoint Gateway, namespace labels and ReferenceGrants of a namespace. */
import { WAYPOINT_NAME } from './authz.js';
import { MANAGED_BY } from './routes.js';

export function waypointGateway(ns: string): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: WAYPOINT_NAME,
      namespace: ns,
      labels: { ...MANAGED_BY, 'istio.io/waypoint-for': 'service' },
    },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

/**
 * Applying this adds the ambient labels; removing `istio-injection` /
 * `istio.io/rev` is a separate `kubectl label … istio-injection-` step
 * because an applied manifest cannot delete a label it never owned.
 */
export function namespaceLabels(ns: string, waypoint: boolean): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns,
      labels: {
        'istio.io/dataplane-mode': 'ambient',
        ...(waypoint ? { 'istio.io/use-waypoint': WAYPOINT_NAME } : {}),
      },
    },
  };
}

export function referenceGrant(
  from: string,
  to: string,
  services: readonly string[],
): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: {
      name: `ambit-migrate-from-${from}`.slice(0, 63),
      namespace: to,
      labels: { ...MANAGED_BY },
    },
    spec: {
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: from }],
      to: services.map((name) => ({ group: '', kind: 'Service', name })),
    },
  };
}
