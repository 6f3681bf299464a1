/**
 * xDS protos → domain types. Called once per received resource; everything
 * downstream (stores, routing, rbac) only sees the domain types.
 */
import type {
  Address as AuthzAddress,
  Authorization as PbAuthorization,
  Match as PbMatch,
  StringMatch as PbStringMatch,
} from '../gen/istio/security/authorization_pb.js';
import type {
  Address as PbAddress,
  GatewayAddress as PbGatewayAddress,
  Port as PbPort,
  Service as PbService,
  Workload as PbWorkload,
} from '../gen/istio/workload/workload_pb.js';
import { ALLOW_WAYPOINT_BYPASS_EXTENSION } from '../xds/types.js';
import { checkPort, type Fail, failer, finishWorkload } from './build.js';
import { StateErrors } from './errors.js';
import { bytesToIp, IpNet } from './ip.js';
// The enums' values without loading the protobuf runtime (see proto-enums.ts).
import {
  Action,
  ApplicationTunnel_Protocol,
  IPFamilies,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  NetworkMode as PbNetworkMode,
  WorkloadType as PbWorkloadType,
  Scope,
  TunnelProtocol,
  WorkloadStatus,
} from './proto-enums.js';
import type {
  GatewayAddress,
  LoadBalancer,
  LoadBalancerScope,
  Match,
  Policy,
  PortMap,
  Service,
  StringMatch,
  Workload,
  WorkloadType,
} from './types.js';

const WORKLOAD_TYPES: Record<number, WorkloadType> = {
  [PbWorkloadType.DEPLOYMENT]: 'deployment',
  [PbWorkloadType.CRONJOB]: 'cronjob',
  [PbWorkloadType.POD]: 'pod',
  [PbWorkloadType.JOB]: 'job',
};

const LB_SCOPES: Record<number, LoadBalancerScope> = {
  [LoadBalancing_Scope.REGION]: 'Region',
  [LoadBalancing_Scope.ZONE]: 'Zone',
  [LoadBalancing_Scope.SUBZONE]: 'Subzone',
  [LoadBalancing_Scope.NODE]: 'Node',
  [LoadBalancing_Scope.CLUSTER]: 'Cluster',
  [LoadBalancing_Scope.NETWORK]: 'Network',
};

const LB_MODES: Record<number, LoadBalancer['mode']> = {
  [LoadBalancing_Mode.UNSPECIFIED_MODE]: 'Standard',
  [LoadBalancing_Mode.STRICT]: 'Strict',
  [LoadBalancing_Mode.FAILOVER]: 'Failover',
  [LoadBalancing_Mode.PASSTHROUGH]: 'Passthrough',
};

function oneOf<T>(table: Record<number, T>, v: number, field: string, fail: Fail): T {
  const out = table[v];
  if (out === undefined) fail(field, `unknown enum value ${v}`);
  return out as T;
}

function ip(bytes: Uint8Array, field: string, fail: Fail): string {
  const text = bytesToIp(bytes);
  if (text === undefined) fail(field, `${bytes.length} bytes is not an IPv4 or IPv6 address`);
  return text as string;
}

function portMap(ports: readonly PbPort[], field: string, fail: Fail): PortMap {
  const m = new Map<number, number>();
  ports.forEach((p, i) => {
    m.set(
      checkPort(p.servicePort, `${field}[${i}].servicePort`, fail),
      checkPort(p.targetPort, `${field}[${i}].targetPort`, fail, true),
    );
  });
  return m;
}

function gateway(
  g: PbGatewayAddress | undefined,
  field: string,
  fail: Fail,
): GatewayAddress | undefined {
  if (g === undefined) return undefined;
  const d = g.destination;
  const hboneMtlsPort = checkPort(g.hboneMtlsPort, `${field}.hboneMtlsPort`, fail);
  if (d.case === 'address') {
    const address = ip(d.value.address, `${field}.address.address`, fail);
    return { destination: { kind: 'address', network: d.value.network, address }, hboneMtlsPort };
  }
  if (d.case === 'hostname') {
    const { namespace, hostname } = d.value;
    if (hostname === '') fail(`${field}.hostname.hostname`, 'is required');
    return { destination: { kind: 'hostname', namespace, hostname }, hboneMtlsPort };
  }
  return fail(field, 'has neither address nor hostname');
}

/** Converts an xDS Workload; throws `AMBIT_STATE_RESOURCE_INVALID` naming the field. */
export function workloadFromProto(pb: PbWorkload): Workload {
  const fail = failer(StateErrors.RESOURCE_INVALID, `workload "${pb.uid}"`);
  if (pb.tunnelProtocol !== TunnelProtocol.NONE && pb.tunnelProtocol !== TunnelProtocol.HBONE)
    fail('tunnelProtocol', `unsupported value ${pb.tunnelProtocol}`);
  const services = new Map<string, PortMap>();
  for (const [key, list] of Object.entries(pb.services))
    services.set(key, portMap(list.ports, `services["${key}"]`, fail));
  const at = pb.applicationTunnel;
  return finishWorkload(
    {
      uid: pb.uid,
      name: pb.name,
      namespace: pb.namespace,
      workloadIps: pb.addresses.map((b, i) => ip(b, `addresses[${i}]`, fail)),
      hostname: pb.hostname,
      network: pb.network,
      protocol: pb.tunnelProtocol === TunnelProtocol.HBONE ? 'HBONE' : 'TCP',
      trustDomain: pb.trustDomain,
      serviceAccount: pb.serviceAccount,
      waypoint: gateway(pb.waypoint, 'waypoint', fail),
      networkGateway: gateway(pb.networkGateway, 'networkGateway', fail),
      node: pb.node,
      canonicalName: pb.canonicalName,
      canonicalRevision: pb.canonicalRevision,
      workloadType: oneOf(WORKLOAD_TYPES, pb.workloadType, 'workloadType', fail),
      workloadName: pb.workloadName,
      nativeTunnel: pb.nativeTunnel,
      applicationTunnel:
        at === undefined
          ? undefined
          : {
              protocol: oneOf(
                {
                  [ApplicationTunnel_Protocol.NONE]: 'NONE',
                  [ApplicationTunnel_Protocol.PROXY]: 'PROXY',
                } as const,
                at.protocol,
                'applicationTunnel.protocol',
                fail,
              ),
              port: at.port === 0 ? undefined : checkPort(at.port, 'applicationTunnel.port', fail),
            },
      services,
      authorizationPolicies: [...pb.authorizationPolicies],
      status: oneOf(
        { [WorkloadStatus.HEALTHY]: 'Healthy', [WorkloadStatus.UNHEALTHY]: 'Unhealthy' } as const,
        pb.status,
        'status',
        fail,
      ),
      clusterId: pb.clusterId,
      locality: {
        region: pb.locality?.region ?? '',
        zone: pb.locality?.zone ?? '',
        subzone: pb.locality?.subzone ?? '',
      },
      networkMode: oneOf(
        {
          [PbNetworkMode.STANDARD]: 'Standard',
          [PbNetworkMode.HOST_NETWORK]: 'HostNetwork',
        } as const,
        pb.networkMode,
        'networkMode',
        fail,
      ),
      // `optional uint32 capacity`: absent means 1.
      capacity: pb.capacity ?? 1,
    },
    fail,
  );
}

/** Converts an xDS Service; throws `AMBIT_STATE_RESOURCE_INVALID` naming the field. */
export function serviceFromProto(pb: PbService): Service {
  const fail = failer(StateErrors.RESOURCE_INVALID, `service "${pb.namespace}/${pb.hostname}"`);
  if (pb.hostname === '') fail('hostname', 'is required');
  if (pb.namespace === '') fail('namespace', 'is required');
  const lb = pb.loadBalancing;
  return Object.freeze({
    name: pb.name,
    namespace: pb.namespace,
    hostname: pb.hostname,
    vips: pb.addresses.map((a, i) => ({
      network: a.network,
      address: ip(a.address, `addresses[${i}].address`, fail),
    })),
    ports: portMap(pb.ports, 'ports', fail),
    subjectAltNames: [...pb.subjectAltNames],
    waypoint: gateway(pb.waypoint, 'waypoint', fail),
    ...(pb.extensions.some((e) => e.name === ALLOW_WAYPOINT_BYPASS_EXTENSION)
      ? { allowWaypointBypass: true }
      : {}),
    loadBalancer:
      lb === undefined
        ? undefined
        : {
            routingPreferences: lb.routingPreference.map((s, i) =>
              oneOf(LB_SCOPES, s, `loadBalancing.routingPreference[${i}]`, fail),
            ),
            mode: oneOf(LB_MODES, lb.mode, 'loadBalancing.mode', fail),
            healthPolicy: oneOf(
              {
                [LoadBalancing_HealthPolicy.ONLY_HEALTHY]: 'OnlyHealthy',
                [LoadBalancing_HealthPolicy.ALLOW_ALL]: 'AllowAll',
              } as const,
              lb.healthPolicy,
              'loadBalancing.healthPolicy',
              fail,
            ),
          },
    ipFamilies:
      pb.ipFamilies === IPFamilies.AUTOMATIC
        ? undefined
        : oneOf(
            {
              [IPFamilies.IPV4_ONLY]: 'IPv4',
              [IPFamilies.IPV6_ONLY]: 'IPv6',
              [IPFamilies.DUAL]: 'Dual',
            } as const,
            pb.ipFamilies,
            'ipFamilies',
            fail,
          ),
    canonical: pb.canonical,
  });
}

/** Either half of an `istio.workload.Address`. */
export type AddressResource =
  | { readonly kind: 'workload'; readonly workload: Workload }
  | { readonly kind: 'service'; readonly service: Service };

/** Converts an xDS Address (workload or service). `name` is the xDS resource name, for errors. */
export function addressFromProto(pb: PbAddress, name = ''): AddressResource {
  if (pb.type.case === 'workload')
    return { kind: 'workload', workload: workloadFromProto(pb.type.value) };
  if (pb.type.case === 'service')
    return { kind: 'service', service: serviceFromProto(pb.type.value) };
  return failer(StateErrors.RESOURCE_INVALID, `address "${name}"`)(
    'type',
    'neither workload nor service',
  );
}

function stringMatches(ms: readonly PbStringMatch[]): StringMatch[] {
  // A StringMatch with no type set is dropped, as ztunnel does.
  const out: StringMatch[] = [];
  for (const m of ms) {
    const t = m.matchType;
    if (t.case === 'exact') out.push({ exact: t.value });
    else if (t.case === 'prefix') out.push({ prefix: t.value });
    else if (t.case === 'suffix') out.push({ suffix: t.value });
    else if (t.case === 'presence') out.push({ presence: true });
  }
  return out;
}

function nets(as: readonly AuthzAddress[], field: string, fail: Fail): IpNet[] {
  return as.map((a, i) => {
    const n = IpNet.fromBytes(a.address, a.length);
    if (n === undefined)
      fail(
        `${field}[${i}]`,
        `${a.address.length} bytes with prefix length ${a.length} is not a CIDR`,
      );
    return n as IpNet;
  });
}

function ports(ps: readonly number[], field: string, fail: Fail): number[] {
  return ps.map((p, i) => checkPort(p, `${field}[${i}]`, fail));
}

function matchFromProto(m: PbMatch, f: string, fail: Fail): Match {
  return {
    namespaces: stringMatches(m.namespaces),
    notNamespaces: stringMatches(m.notNamespaces),
    serviceAccounts: m.serviceAccounts.map((s) => ({
      namespace: s.namespace,
      serviceAccount: s.serviceAccount,
    })),
    notServiceAccounts: m.notServiceAccounts.map((s) => ({
      namespace: s.namespace,
      serviceAccount: s.serviceAccount,
    })),
    principals: stringMatches(m.principals),
    notPrincipals: stringMatches(m.notPrincipals),
    sourceIps: nets(m.sourceIps, `${f}.sourceIps`, fail),
    notSourceIps: nets(m.notSourceIps, `${f}.notSourceIps`, fail),
    destinationIps: nets(m.destinationIps, `${f}.destinationIps`, fail),
    notDestinationIps: nets(m.notDestinationIps, `${f}.notDestinationIps`, fail),
    destinationPorts: ports(m.destinationPorts, `${f}.destinationPorts`, fail),
    notDestinationPorts: ports(m.notDestinationPorts, `${f}.notDestinationPorts`, fail),
  };
}

/**
 * Converts an xDS Authorization; throws `AMBIT_STATE_RESOURCE_INVALID` naming
 * the field. Unlike ztunnel (which silently drops a bad CIDR, widening a DENY),
 * a bad address rejects the whole policy so the last good version stays.
 */
export function policyFromProto(pb: PbAuthorization): Policy {
  const fail = failer(StateErrors.RESOURCE_INVALID, `policy "${pb.namespace}/${pb.name}"`);
  if (pb.name === '') fail('name', 'is required');
  const scope = oneOf<Policy['scope']>(
    {
      [Scope.GLOBAL]: 'Global',
      [Scope.NAMESPACE]: 'Namespace',
      [Scope.WORKLOAD_SELECTOR]: 'WorkloadSelector',
    },
    pb.scope,
    'scope',
    fail,
  );
  const action = oneOf<Policy['action']>(
    { [Action.ALLOW]: 'Allow', [Action.DENY]: 'Deny' },
    pb.action,
    'action',
    fail,
  );
  return Object.freeze({
    name: pb.name,
    namespace: pb.namespace,
    scope,
    action,
    rules: pb.rules.map((r, ri) =>
      r.clauses.map((c, ci) =>
        c.matches.map((m, mi) =>
          matchFromProto(m, `rules[${ri}].clauses[${ci}].matches[${mi}]`, fail),
        ),
      ),
    ),
    dryRun: pb.dryRun,
  });
}
