/**
 * Waypoints and which Services / workloads use them, following Istio's
 * waypoints.go: a Gateway of class `istio-waypoint` is a waypoint; objects
 * opt in with `istio.io/use-waypoint` (object label first, then namespace
 * label; `none` opts out), and the waypoint's `istio.io/waypoint-for`
 * (default `service`) says which traffic it takes.
 *
 * Address: Istio waits for `Gateway.status.addresses`; ambit's local runner
 * creates a Service named after the Gateway for the waypoint pods, so the
 * waypoint is ready when that Service has a VIP, and its GatewayAddress is
 * that VIP with HBONE port 15008.
 */
import { create } from '@bufbuild/protobuf';
import {
  type GatewayAddress,
  GatewayAddressSchema,
  NetworkAddressSchema,
} from '../../gen/istio/workload/workload_pb.js';
import type { Gateway, Meta, Pod, Service } from '../../kube/index.js';
import { selectorMatches } from '../../kube/index.js';
import { ipBytes } from './addr.js';
import { HBONE_PORT, L, MESH_CONTROLLER, WAYPOINT_CLASS } from './labels.js';
import type { TranslateOptions } from './options.js';
import type { StateIndex } from './state.js';
import type { StatusSink } from './status.js';

export type TrafficType = 'service' | 'workload' | 'all' | 'none';

export interface Waypoint {
  namespace: string;
  name: string;
  trafficType: TrafficType;
  gateway: Gateway;
  /** Undefined until the waypoint's Service has a VIP. */
  address: GatewayAddress | undefined;
}

export type Waypoints = Map<string, Waypoint>;

export function serviceVips(svc: Service): string[] {
  const ips = svc.spec.clusterIPs.length > 0 ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ''];
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}

export function collectWaypoints(
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): Waypoints {
  const out: Waypoints = new Map();
  for (const gw of state.gateways) {
    if (gw.spec.gatewayClassName !== WAYPOINT_CLASS) continue;
    const { namespace, name } = gw.metadata;
    const label = gw.metadata.labels[L.waypointFor] ?? 'service';
    let trafficType: TrafficType = 'service';
    if (label === 'service' || label === 'workload' || label === 'all' || label === 'none') {
      trafficType = label;
    } else {
      status.add(
        'Gateway',
        namespace,
        name,
        'InvalidValue',
        `${L.waypointFor}="${label}" is not service|workload|all|none; using service`,
      );
    }
    const svc = state.serviceByName.get(`${namespace}/${name}`);
    const vip = svc ? serviceVips(svc)[0] : undefined;
    const bytes = vip === undefined ? undefined : ipBytes(vip);
    let address: GatewayAddress | undefined;
    if (bytes) {
      address = create(GatewayAddressSchema, {
        destination: {
          case: 'address',
          value: create(NetworkAddressSchema, { network: opts.network, address: bytes }),
        },
        hboneMtlsPort: HBONE_PORT,
      });
    } else {
      status.add(
        'Gateway',
        namespace,
        name,
        'WaypointNotReady',
        `waypoint has no Service ${namespace}/${name} with a cluster IP yet; nothing is sent through it`,
      );
    }
    out.set(`${namespace}/${name}`, { namespace, name, trafficType, gateway: gw, address });
  }
  return out;
}

interface Target {
  /** `ns/name` the object points at, or 'none' for an explicit opt-out. */
  ref: string | 'none' | undefined;
  /** Whether the object itself (not its namespace) carries the label. */
  own: boolean;
}

function useWaypoint(
  meta: { labels: Record<string, string> },
  defaultNs: string,
): string | 'none' | undefined {
  const v = meta.labels[L.useWaypoint];
  if (v === undefined) return undefined;
  if (v === 'none') return 'none';
  return `${meta.labels[L.useWaypointNamespace] ?? defaultNs}/${v}`;
}

function target(state: StateIndex, meta: Meta): Target {
  const own = useWaypoint(meta, meta.namespace);
  if (own !== undefined) return { ref: own, own: true };
  const ns = state.namespaces.get(meta.namespace);
  return { ref: ns ? useWaypoint(ns.metadata, meta.namespace) : undefined, own: false };
}

/** Gateway API allowedRoutes: cross-namespace use needs From=All or a matching Selector. */
function allowsFrom(state: StateIndex, wp: Waypoint, fromNs: string): boolean {
  if (fromNs === wp.namespace) return true;
  const nsLabels = state.namespaces.get(fromNs)?.metadata.labels ?? {};
  return wp.gateway.spec.listeners.some((l) => {
    const ns = l.allowedRoutes?.namespaces;
    if (ns?.from === 'All') return true;
    return (
      ns?.from === 'Selector' && ns.selector !== undefined && selectorMatches(ns.selector, nsLabels)
    );
  });
}

function resolve(
  state: StateIndex,
  waypoints: Waypoints,
  kind: string,
  meta: Meta,
  want: 'service' | 'workload',
  status: StatusSink,
): Waypoint | undefined {
  const t = target(state, meta);
  if (t.ref === undefined || t.ref === 'none') return undefined;
  const wp = waypoints.get(t.ref);
  const { namespace, name } = meta;
  if (!wp?.address) {
    status.add(
      kind,
      namespace,
      name,
      'WaypointNotReady',
      `waypoint ${t.ref} is not ready (no istio-waypoint Gateway with a Service VIP)`,
    );
    return undefined;
  }
  if (!allowsFrom(state, wp, namespace)) {
    status.add(
      kind,
      namespace,
      name,
      'AttachmentDenied',
      `waypoint ${t.ref} does not allow use from namespace ${namespace} (listener allowedRoutes)`,
    );
    return undefined;
  }
  if (wp.trafficType === want || wp.trafficType === 'all') return wp;
  // A namespace-inherited binding to a service waypoint is normal for workloads: no complaint.
  if (want === 'service' || t.own) {
    status.add(
      kind,
      namespace,
      name,
      'UnsupportedTrafficType',
      `waypoint ${t.ref} is for ${wp.trafficType} traffic, not ${want}`,
    );
  }
  return undefined;
}

export function waypointForService(
  state: StateIndex,
  waypoints: Waypoints,
  svc: Service,
  status: StatusSink,
) {
  // A waypoint's own Service never goes through a waypoint.
  if (svc.metadata.labels[L.gatewayManaged] === MESH_CONTROLLER) return undefined;
  if (waypoints.has(`${svc.metadata.namespace}/${svc.metadata.name}`)) return undefined;
  return resolve(state, waypoints, 'Service', svc.metadata, 'service', status);
}

export function waypointForPod(
  state: StateIndex,
  waypoints: Waypoints,
  pod: Pod,
  status: StatusSink,
) {
  // An instance of a waypoint has no waypoint itself.
  const gw = pod.metadata.labels[L.gatewayName];
  if (gw !== undefined && waypoints.has(`${pod.metadata.namespace}/${gw}`)) return undefined;
  return resolve(state, waypoints, 'Pod', pod.metadata, 'workload', status);
}
