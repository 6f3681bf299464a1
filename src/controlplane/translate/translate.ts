/**
 * Desired state → what the xDS server pushes. Pure: the same resources and
 * options always give the same TranslatedConfig (maps in sorted key order).
 * Correctness first: the whole snapshot is translated each time, and
 * `diff()` tells the xDS server which resource names actually changed.
 */
import { create } from '@bufbuild/protobuf';
import type { ServiceEndpoints, WaypointService } from '../../gen/ambit/waypoint_pb.js';
import type { Authorization } from '../../gen/istio/security/authorization_pb.js';
import {
  type Address,
  AddressSchema,
  type Workload,
} from '../../gen/istio/workload/workload_pb.js';
import type { Resource, Service } from '../../kube/index.js';
import { labelsSubset } from '../../kube/index.js';
import { convertAuthorizationPolicy } from './authorization.js';
import { type TranslateOptions, translateOptions } from './options.js';
import {
  convertPeerAuthentication,
  type PeerAuthIndex,
  peerAuthKeysForWorkload,
  peerAuthStatuses,
  staticStrictPolicy,
} from './peerauth.js';
import { serviceKey, translateService } from './services.js';
import { indexState } from './state.js';
import { StatusSink, type TranslationStatus } from './status.js';
import {
  serviceEndpoints,
  targetRefStatuses,
  waypointService,
  waypointWorkload,
} from './waypoint-config.js';
import {
  collectWaypoints,
  type Waypoint,
  waypointForPod,
  waypointForService,
} from './waypoints.js';
import { servicesSelecting, translatePod } from './workloads.js';

export interface WaypointConfig {
  /** `ns/hostname` → config of a Service bound to a waypoint. */
  services: Map<string, WaypointService>;
  /** `ns/hostname` → endpoints of every Service a waypoint may forward to. */
  endpoints: Map<string, ServiceEndpoints>;
}

export interface TranslatedConfig {
  /** Workload uid or Service `ns/hostname` → Address. */
  addresses: Map<string, Address>;
  /** `ns/name` → ztunnel (L4) authorization policy. */
  authorizations: Map<string, Authorization>;
  waypoint: WaypointConfig;
  /** Conditions to show the user; translation went on regardless. */
  statuses: TranslationStatus[];
}

function sortedMap<V>(m: Map<string, V>): Map<string, V> {
  return new Map([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function translate(
  resources: Iterable<Resource>,
  options: Partial<TranslateOptions> = {},
): TranslatedConfig {
  const opts = translateOptions(options);
  const state = indexState(resources);
  const status = new StatusSink();
  const waypoints = collectWaypoints(state, opts, status);
  const addresses = new Map<string, Address>();
  const authorizations = new Map<string, Authorization>();

  // L4 authorization.
  const selectorPolicies: Array<{
    key: string;
    namespace: string;
    selector: Record<string, string>;
  }> = [];
  for (const pol of state.authorizationPolicies) {
    const c = convertAuthorizationPolicy(pol, opts.rootNamespace, status);
    if (!c.authorization) continue;
    const key = `${pol.metadata.namespace}/${pol.metadata.name}`;
    authorizations.set(key, c.authorization);
    if (c.selector)
      selectorPolicies.push({ key, namespace: pol.metadata.namespace, selector: c.selector });
  }
  const pa: PeerAuthIndex = { all: state.peerAuthentications, rootNamespace: opts.rootNamespace };
  if (pa.all.length > 0) {
    const s = staticStrictPolicy(opts.rootNamespace);
    authorizations.set(`${s.namespace}/${s.name}`, s);
  }
  for (const p of pa.all) {
    const a = convertPeerAuthentication(pa, p);
    if (a) authorizations.set(`${a.namespace}/${a.name}`, a);
  }
  peerAuthStatuses(pa, status);

  // Services.
  const bound: Array<{
    svc: Service;
    key: string;
    wp: NonNullable<ReturnType<typeof waypointForService>>;
    vips: Uint8Array[];
  }> = [];
  for (const svc of state.services) {
    const wp = waypointForService(state, waypoints, svc, status);
    const xds = translateService(svc, wp, state, opts, status);
    if (!xds) continue;
    const key = serviceKey(svc, opts);
    addresses.set(key, create(AddressSchema, { type: { case: 'service', value: xds } }));
    if (wp) bound.push({ svc, key, wp, vips: xds.addresses.map((a) => a.address) });
  }

  // Workloads.
  const workloads: Workload[] = [];
  const boundWorkloads: Array<{ w: Workload; wp: Waypoint }> = [];
  for (const pod of state.pods) {
    const { namespace, labels } = pod.metadata;
    const policies = selectorPolicies
      .filter(
        (p) =>
          (p.namespace === namespace || p.namespace === opts.rootNamespace) &&
          labelsSubset(p.selector, labels),
      )
      .map((p) => p.key)
      .sort();
    policies.push(...peerAuthKeysForWorkload(pa, namespace, labels));
    const wp = waypointForPod(state, waypoints, pod, status);
    const w = translatePod(
      pod,
      { services: servicesSelecting(pod, state), policies, waypoint: wp },
      state,
      opts,
    );
    if (!w) continue;
    workloads.push(w);
    if (wp) boundWorkloads.push({ w, wp });
    addresses.set(w.uid, create(AddressSchema, { type: { case: 'workload', value: w } }));
  }

  // Waypoint-facing configuration.
  const wpServices = new Map<string, WaypointService>();
  const endpoints = new Map<string, ServiceEndpoints>();
  const backendNames = new Set<string>();
  for (const { svc, key, wp, vips } of bound) {
    const ws = waypointService(svc, wp, state, opts, status);
    ws.vips = vips;
    wpServices.set(key, ws);
    backendNames.add(key);
    for (const r of ws.routes) {
      for (const b of r.backends) if (b.invalidReason === '') backendNames.add(b.service);
      for (const f of r.filters)
        if (f.kind.case === 'requestMirror') backendNames.add(f.kind.value.service);
    }
  }
  for (const svc of state.services) {
    const key = serviceKey(svc, opts);
    if (backendNames.has(key)) endpoints.set(key, serviceEndpoints(svc, workloads, state, opts));
  }
  // Workload-addressed traffic of workloads with their own waypoint.
  for (const { w, wp } of boundWorkloads) {
    const entry = waypointWorkload(w, wp, state, opts);
    if (!entry) continue;
    wpServices.set(entry.key, entry.service);
    endpoints.set(entry.key, entry.endpoints);
  }
  targetRefStatuses(
    state,
    new Set(bound.map((b) => `${b.svc.metadata.namespace}/${b.svc.metadata.name}`)),
    new Set(waypoints.keys()),
    opts,
    status,
  );

  return {
    addresses: sortedMap(addresses),
    authorizations: sortedMap(authorizations),
    waypoint: { services: sortedMap(wpServices), endpoints: sortedMap(endpoints) },
    statuses: status.items,
  };
}
