/**
 * Waypoints in a local run. Istio's control plane turns every Gateway of
 * class `istio-waypoint` into a Deployment, a Service and a ServiceAccount;
 * here the same objects are synthesised from the manifests, so everything
 * downstream (planning, scheduling, IPs, supervision, logs, `get pods`,
 * `ambit apply`, what the control plane is shown) treats a waypoint as one
 * more Deployment:
 *
 * - Deployment `<gw>` in the Gateway's namespace, one replica, labelled
 *   `gateway.networking.k8s.io/gateway-name: <gw>` and not enrolled
 *   (`istio.io/dataplane-mode: none`, as Istio's waypoint pods: a waypoint
 *   does its own HBONE), running `ambit waypoint run` with the credentials of
 *   the node it lands on (the CA only issues an identity to a pod of that
 *   node) and a readiness probe on 15021 (xDS synced, certificate issued);
 * - Service `<gw>` (`gateway.istio.io/managed: istio.io-mesh-controller`,
 *   port 15008 `mesh`): without it the control plane treats the waypoint as
 *   not programmed; its VIP is the waypoint's address;
 * - ServiceAccount `<gw>` unless the manifests define one.
 *
 * Pure: the same input gives the same objects (pod names are hashes of them).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS } from '../config/node-flags.js';
import type { ManifestSet, RawObject } from '../kube/index.js';

export const WAYPOINT_CLASS = 'istio-waypoint';
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const MANAGED_LABEL = 'gateway.istio.io/managed';
export const MESH_CONTROLLER = 'istio.io-mesh-controller';
export const WAYPOINT_HBONE_PORT = 15008;
export const WAYPOINT_READY_PORT = 15021;
/** The control plane's address on the fabric bridge (mesh.ts listens there). */
export const WAYPOINT_XDS_ADDRESS = 'https://10.243.0.1:15012';

const BIN = fileURLToPath(new URL('../../bin/ambit.js', import.meta.url));

export interface WaypointGateway {
  name: string;
  namespace: string;
  /** `istio.io/waypoint-for` (service by default, as Istio). */
  for: string;
  labels: Record<string, string>;
}

function meta(o: Readonly<Record<string, unknown>>): {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
} {
  return (o.metadata ?? {}) as { name?: string; namespace?: string };
}

export function isWaypointGateway(o: Readonly<Record<string, unknown>>): boolean {
  const spec = (o.spec ?? {}) as { gatewayClassName?: unknown };
  return o.kind === 'Gateway' && spec.gatewayClassName === WAYPOINT_CLASS;
}

/** The waypoint Gateways among `objects` (last definition of a name wins). */
export function waypointGateways(objects: readonly RawObject[]): WaypointGateway[] {
  const out = new Map<string, WaypointGateway>();
  for (const { object } of objects) {
    if (!isWaypointGateway(object)) continue;
    const m = meta(object);
    if (!m.name) continue;
    const namespace = m.namespace ?? 'default';
    const labels = m.labels ?? {};
    out.set(`${namespace}/${m.name}`, {
      name: m.name,
      namespace,
      for: labels['istio.io/waypoint-for'] ?? 'service',
      labels,
    });
  }
  return [...out.values()];
}

function has(objects: readonly RawObject[], kind: string, ns: string, name: string): boolean {
  return objects.some(({ object }) => {
    const m = meta(object);
    return object.kind === kind && (m.namespace ?? 'default') === ns && m.name === name;
  });
}

/** The Deployment running one waypoint; `runDir` is the run's (node tokens, mesh root). */
export function waypointDeployment(gw: WaypointGateway, runDir: string): Record<string, unknown> {
  const labels = {
    [GATEWAY_NAME_LABEL]: gw.name,
    [MANAGED_LABEL]: MESH_CONTROLLER,
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: gw.name, namespace: gw.namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [GATEWAY_NAME_LABEL]: gw.name } },
      template: {
        metadata: { labels: { ...labels, 'istio.io/dataplane-mode': 'none' } },
        spec: {
          serviceAccountName: gw.name,
          containers: [
            {
              name: 'istio-proxy',
              image: 'ambit', // ignored: ambit up runs the command
              command: [process.execPath, ...PROXY_NODE_FLAGS, BIN, 'waypoint', 'run'],
              args: [
                '--name',
                gw.name,
                '--namespace',
                gw.namespace,
                '--service-account',
                gw.name,
                '--pod-name',
                '$(POD_NAME)',
                '--instance-ip',
                '$(POD_IP)',
                '--node-name',
                '$(NODE_NAME)',
                '--xds-address',
                WAYPOINT_XDS_ADDRESS,
                '--ca-root',
                join(runDir, 'controlplane', 'ca', 'root-cert.pem'),
                '--token-file',
                join(runDir, 'nodes', '$(NODE_NAME)', 'token'),
              ],
              workingDir: runDir,
              ports: [
                { name: 'mesh', containerPort: WAYPOINT_HBONE_PORT },
                { name: 'http-envoy-prom', containerPort: 15020 },
                { name: 'status-port', containerPort: WAYPOINT_READY_PORT },
              ],
              readinessProbe: {
                httpGet: { path: '/healthz/ready', port: WAYPOINT_READY_PORT },
              },
            },
          ],
        },
      },
    },
  };
}

export function waypointService(gw: WaypointGateway): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: gw.name,
      namespace: gw.namespace,
      labels: { [GATEWAY_NAME_LABEL]: gw.name, [MANAGED_LABEL]: MESH_CONTROLLER },
    },
    spec: {
      selector: { [GATEWAY_NAME_LABEL]: gw.name },
      ports: [
        {
          name: 'mesh',
          port: WAYPOINT_HBONE_PORT,
          targetPort: WAYPOINT_HBONE_PORT,
          protocol: 'TCP',
        },
      ],
    },
  };
}

/**
 * `set` plus every waypoint's Service and ServiceAccount, and (with `runDir`:
 * the run has a mesh to get credentials from) its Deployment. Objects the
 * manifests define themselves (same kind/namespace/name) are left alone.
 */
export function withWaypoints(set: ManifestSet, runDir: string | undefined): ManifestSet {
  const gws = waypointGateways(set.objects);
  if (gws.length === 0) return set;
  const extra: RawObject[] = [];
  const add = (object: Record<string, unknown>, gw: WaypointGateway) => {
    const m = meta(object);
    if (has(set.objects, String(object.kind), gw.namespace, m.name ?? '')) return;
    extra.push({ object, source: { file: `<waypoint ${gw.namespace}/${gw.name}>`, document: 0 } });
  };
  for (const gw of gws) {
    add(
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: gw.name, namespace: gw.namespace },
      },
      gw,
    );
    add(waypointService(gw), gw);
    if (runDir !== undefined) add(waypointDeployment(gw, runDir), gw);
  }
  return { objects: [...set.objects, ...extra], problems: set.problems };
}
