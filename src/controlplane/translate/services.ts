/**
 * Kubernetes Service → istio.workload.Service, as Istio's services.go
 * `constructService` builds it.
 */
import { create } from '@bufbuild/protobuf';
import {
  ExtensionSchema,
  IPFamilies,
  type LoadBalancing,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  LoadBalancingSchema,
  NetworkAddressSchema,
  PortSchema,
  ServiceSchema,
  type Service as XdsService,
} from '../../gen/istio/workload/workload_pb.js';
import type { Service } from '../../kube/index.js';
import { ALLOW_WAYPOINT_BYPASS_EXTENSION } from '../../xds/types.js';
import { ipBytes } from './addr.js';
import { parseBool } from './authorization.js';
import { A } from './labels.js';
import type { TranslateOptions } from './options.js';
import type { StateIndex } from './state.js';
import type { StatusSink } from './status.js';
import { serviceVips, type Waypoint } from './waypoints.js';

export function serviceHostname(name: string, namespace: string, opts: TranslateOptions): string {
  return `${name}.${namespace}.svc.${opts.domainSuffix}`;
}

/** `ns/hostname`: the key of a Service in Address resources and Workload.services. */
export function serviceKey(svc: Service, opts: TranslateOptions): string {
  return `${svc.metadata.namespace}/${serviceHostname(svc.metadata.name, svc.metadata.namespace, opts)}`;
}

/**
 * The Service's traffic distribution: its annotation, then spec, then the
 * namespace annotation. `PreferClose` is the older name of `PreferSameZone`.
 */
function trafficDistribution(svc: Service, state: StateIndex): string | undefined {
  return (
    svc.metadata.annotations[A.trafficDistribution] ??
    svc.spec.trafficDistribution ??
    state.namespaces.get(svc.metadata.namespace)?.metadata.annotations[A.trafficDistribution]
  );
}

function loadBalancing(svc: Service, state: StateIndex): LoadBalancing | undefined {
  let lb: LoadBalancing | undefined;
  if (svc.spec.internalTrafficPolicy === 'Local') {
    lb = create(LoadBalancingSchema, {
      routingPreference: [LoadBalancing_Scope.NODE],
      mode: LoadBalancing_Mode.STRICT,
    });
  } else {
    const td = trafficDistribution(svc, state);
    const S = LoadBalancing_Scope;
    if (td === 'PreferClose' || td === 'PreferSameZone') {
      lb = create(LoadBalancingSchema, {
        routingPreference: [S.NETWORK, S.REGION, S.ZONE],
        mode: LoadBalancing_Mode.FAILOVER,
      });
    } else if (td === 'PreferSameNode') {
      lb = create(LoadBalancingSchema, {
        routingPreference: [S.NETWORK, S.REGION, S.ZONE, S.SUBZONE, S.NODE],
        mode: LoadBalancing_Mode.FAILOVER,
      });
    }
  }
  if (svc.spec.publishNotReadyAddresses) {
    lb ??= create(LoadBalancingSchema, {});
    lb.healthPolicy = LoadBalancing_HealthPolicy.ALLOW_ALL;
  }
  return lb;
}

function subjectAltNames(svc: Service, opts: TranslateOptions): string[] {
  const split = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const ns = svc.metadata.namespace;
  const fromSa = split(svc.metadata.annotations[A.kubernetesServiceAccounts]).map(
    (sa) => `spiffe://${opts.trustDomain}/ns/${ns}/sa/${sa}`,
  );
  const canonical = split(svc.metadata.annotations[A.canonicalServiceAccounts]).map((id) =>
    id.startsWith('spiffe://') ? id : `spiffe://${id}`,
  );
  return [...new Set([...fromSa, ...canonical])];
}

/** Returns undefined for ExternalName Services (ambient leaves them to DNS). */
export function translateService(
  svc: Service,
  waypoint: Waypoint | undefined,
  state: StateIndex,
  opts: TranslateOptions,
  status: StatusSink,
): XdsService | undefined {
  if (svc.spec.type === 'ExternalName') return undefined;
  const { name, namespace } = svc.metadata;
  const addresses = [];
  for (const vip of serviceVips(svc)) {
    const bytes = ipBytes(vip);
    if (bytes)
      addresses.push(create(NetworkAddressSchema, { network: opts.network, address: bytes }));
  }
  const td = trafficDistribution(svc, state);
  if (td !== undefined && !['PreferClose', 'PreferSameZone', 'PreferSameNode'].includes(td)) {
    status.add(
      'Service',
      namespace,
      name,
      'UnsupportedValue',
      `traffic distribution "${td}" is not PreferClose|PreferSameZone|PreferSameNode; ignored`,
    );
  }
  const bypass = svc.metadata.annotations[A.allowWaypointBypass];
  const allowBypass = bypass === undefined ? false : parseBool(bypass);
  if (allowBypass === undefined)
    status.add(
      'Service',
      namespace,
      name,
      'UnsupportedValue',
      `${A.allowWaypointBypass}: "${bypass}" is not true or false; bypass prevention stays on`,
    );
  const families = svc.spec.ipFamilies;
  const ipFamilies =
    families.length === 2
      ? IPFamilies.DUAL
      : families[0] === 'IPv4'
        ? IPFamilies.IPV4_ONLY
        : families[0] === 'IPv6'
          ? IPFamilies.IPV6_ONLY
          : IPFamilies.AUTOMATIC;
  return create(ServiceSchema, {
    name,
    namespace,
    hostname: serviceHostname(name, namespace, opts),
    addresses,
    ports: svc.spec.ports.map((p) =>
      create(PortSchema, {
        servicePort: p.port,
        // Kubernetes defaults targetPort to port; a named targetPort is 0 here and
        // resolved per workload (Workload.services).
        targetPort:
          p.targetPort === undefined ? p.port : typeof p.targetPort === 'number' ? p.targetPort : 0,
      }),
    ),
    subjectAltNames: subjectAltNames(svc, opts),
    waypoint: waypoint?.address,
    loadBalancing: loadBalancing(svc, state),
    ipFamilies,
    extensions: allowBypass
      ? [create(ExtensionSchema, { name: ALLOW_WAYPOINT_BYPASS_EXTENSION })]
      : [],
    // A Kubernetes Service is always canonical for its hostname.
    canonical: true,
  });
}
