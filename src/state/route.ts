/**
 * The outbound routing decision (ztunnel's `build_request`) as a pure
 * function of the state: where to dial, what to put in `:authority`, and
 * which identities the peer certificate may carry.
 */
import { SpiffeId } from '../identity/index.js';
import { formatHostPort, ipToBytes, normalizeIp } from './ip.js';
import type { Destination, ProxyState } from './proxy-state.js';
import { selectEndpoint } from './select.js';
import type { GatewayAddress, Service, Workload } from './types.js';

/** Default HBONE port (15008). */
export const HBONE_PORT = 15008;

export interface HostPort {
  readonly ip: string;
  readonly port: number;
}

export type RouteDecision =
  /** HBONE straight to the destination pod: dial podIP:15008, CONNECT podIP:targetPort. */
  | {
      readonly kind: 'hbone';
      readonly dial: HostPort;
      readonly authority: string;
      /** Peer certificate must carry one of these (workload identity + service SANs). */
      readonly expectedIdentities: readonly SpiffeId[];
      readonly workload: Workload;
      readonly service?: Service;
    }
  /** HBONE to a waypoint: CONNECT keeps the original VIP:port so the waypoint can route. */
  | {
      readonly kind: 'waypoint';
      readonly dial: HostPort;
      readonly authority: string;
      /** The waypoint's identity (+ its service's SANs). */
      readonly expectedIdentities: readonly SpiffeId[];
      readonly waypoint: Workload;
      /** The service the client addressed, if any. */
      readonly service?: Service;
      /** The workload the client addressed, if it was workload-addressed. */
      readonly workload?: Workload;
    }
  /** Plain TCP to a workload outside the mesh (tunnel protocol NONE). */
  | {
      readonly kind: 'tcp';
      readonly dial: HostPort;
      readonly workload: Workload;
      readonly service?: Service;
    }
  /** Unknown destination, or a PASSTHROUGH service: connect to the original address. */
  | { readonly kind: 'passthrough'; readonly dial: HostPort; readonly service?: Service }
  | {
      readonly kind: 'error';
      /**
       * NoHealthyUpstream: a service with no usable endpoint. UnknownWaypoint:
       * the waypoint reference resolves to nothing usable. NoValidDestination:
       * the chosen workload has no IP we can dial (hostname-only, or on another
       * network: gateways are not supported yet).
       */
      readonly reason: 'NoHealthyUpstream' | 'UnknownWaypoint' | 'NoValidDestination';
      readonly message: string;
      readonly service?: Service;
    };

export interface RouteOptions {
  readonly random?: () => number;
  /** HBONE port on pods; default {@link HBONE_PORT}. */
  readonly hbonePort?: number;
  /** The connection's actual source IP, if known (for the from-waypoint check). */
  readonly sourceIp?: string;
}

interface Upstream {
  readonly workload: Workload;
  readonly port: number;
  readonly service?: Service;
}

/**
 * Decides how `source` reaches the original destination `dst` (as captured
 * by the outbound listener). Pure: reads `state`, mutates nothing.
 */
export function routeOutbound(
  state: ProxyState,
  source: Workload,
  dst: HostPort,
  opts: RouteOptions = {},
): RouteDecision {
  const dstIp = normalizeIp(dst.ip) ?? dst.ip;
  const target = { ip: dstIp, port: dst.port };
  const authority = formatHostPort(dstIp, dst.port);
  const network = source.network;

  const addressed = state.findAddress(network, dstIp);
  const service = addressed?.kind === 'service' ? addressed.service : undefined;
  if (service?.waypoint !== undefined && !isFromGateway(state, service.waypoint, source, opts)) {
    return viaWaypoint(state, service.waypoint, source, target, authority, opts, { service });
  }

  // Upstream: a VIP beats a workload IP (ztunnel's find_upstream order).
  let upstream: Upstream | undefined;
  const vipService = state.services.findVip(network, dstIp);
  if (vipService !== undefined) {
    if (vipService.loadBalancer?.mode === 'Passthrough')
      return { kind: 'passthrough', dial: target, service: vipService };
    const sel = selectEndpoint(state, vipService, dst.port, source, { random: opts.random });
    if (sel === undefined) {
      return {
        kind: 'error',
        reason: 'NoHealthyUpstream',
        message: `service ${vipService.namespace}/${vipService.hostname} has no healthy endpoint for port ${dst.port}`,
        service: vipService,
      };
    }
    upstream = { workload: sel.workload, port: sel.targetPort, service: vipService };
  } else {
    const wl = state.workloads.findAddress(network, dstIp);
    if (wl === undefined) return { kind: 'passthrough', dial: target };
    upstream = { workload: wl, port: dst.port };
  }

  const wl = upstream.workload;
  if (wl.network !== source.network) {
    return {
      kind: 'error',
      reason: 'NoValidDestination',
      message: `workload ${wl.uid} is on network "${wl.network}"; network gateways are not supported`,
      service: upstream.service,
    };
  }

  // Workload waypoint: only for workload-addressed traffic, and never back to
  // the waypoint the traffic came from.
  if (
    service === undefined &&
    wl.waypoint !== undefined &&
    !isFromGateway(state, wl.waypoint, source, opts)
  ) {
    return viaWaypoint(state, wl.waypoint, source, target, authority, opts, {
      service: upstream.service,
      workload: wl,
    });
  }

  const ip = pickWorkloadIp(wl, dstIp, upstream.service);
  if (ip === undefined) return noIp(wl, upstream.service);
  if (wl.protocol === 'TCP') {
    return {
      kind: 'tcp',
      dial: { ip, port: upstream.port },
      workload: wl,
      service: upstream.service,
    };
  }
  return {
    kind: 'hbone',
    dial: { ip, port: opts.hbonePort ?? HBONE_PORT },
    authority: formatHostPort(ip, upstream.port),
    expectedIdentities: identities(wl, upstream.service),
    workload: wl,
    service: upstream.service,
  };
}

function viaWaypoint(
  state: ProxyState,
  gw: GatewayAddress,
  source: Workload,
  target: HostPort,
  authority: string,
  opts: RouteOptions,
  addressed: { service?: Service; workload?: Workload },
): RouteDecision {
  const unknown = (why: string): RouteDecision => ({
    kind: 'error',
    reason: 'UnknownWaypoint',
    message: `waypoint ${describeGateway(gw)} ${why}`,
    service: addressed.service,
  });
  const dest = state.findGateway(gw);
  if (dest === undefined) return unknown('not found');
  let up: Upstream;
  // A waypoint named by IP is dialled in that IP's family; by hostname, in the caller's.
  const familyHint = gw.destination.kind === 'address' ? gw.destination.address : target.ip;
  if (dest.kind === 'workload') up = { workload: dest.workload, port: gw.hboneMtlsPort };
  else {
    if (dest.service.loadBalancer?.mode === 'Passthrough')
      return unknown('is a passthrough service');
    const sel = selectEndpoint(state, dest.service, gw.hboneMtlsPort, source, {
      random: opts.random,
      mode: 'waypoint',
    });
    if (sel === undefined) return unknown('has no usable endpoint');
    up = { workload: sel.workload, port: sel.targetPort, service: dest.service };
  }
  if (up.workload.network !== source.network) {
    return {
      kind: 'error',
      reason: 'NoValidDestination',
      message: `waypoint ${up.workload.uid} is on network "${up.workload.network}"; network gateways are not supported`,
      service: addressed.service,
    };
  }
  const ip = pickWorkloadIp(up.workload, familyHint, up.service);
  if (ip === undefined) return noIp(up.workload, addressed.service);
  return {
    kind: 'waypoint',
    dial: { ip, port: up.port },
    authority,
    expectedIdentities: identities(up.workload, up.service),
    waypoint: up.workload,
    service: addressed.service,
    workload: addressed.workload,
  };
}

/**
 * Whether `source` is one of the workloads behind gateway `gw`: same identity
 * and one of its IPs (ztunnel's check_from_waypoint).
 */
function isFromGateway(
  state: ProxyState,
  gw: GatewayAddress,
  source: Workload,
  opts: RouteOptions,
): boolean {
  const srcIps =
    opts.sourceIp !== undefined
      ? [normalizeIp(opts.sourceIp) ?? opts.sourceIp]
      : source.workloadIps;
  const isIt = (w: Workload): boolean =>
    w.identity.equals(source.identity) && w.workloadIps.some((ip) => srcIps.includes(ip));
  const dest: Destination | undefined = state.findGateway(gw);
  if (dest === undefined) return false;
  if (dest.kind === 'workload') return isIt(dest.workload);
  return state.endpointWorkloads(dest.service).some(isIt);
}

/**
 * The IP to dial on `wl`: the original IP if it is one of the workload's,
 * else one allowed by the service's IP families, preferring the original's
 * family.
 */
function pickWorkloadIp(wl: Workload, original: string, service?: Service): string | undefined {
  if (wl.workloadIps.includes(original)) return original;
  const v6 = (ip: string): boolean => (ipToBytes(ip)?.length ?? 0) === 16;
  const fam = service?.ipFamilies;
  const allowed = wl.workloadIps.filter(
    (ip) => fam === undefined || fam === 'Dual' || (fam === 'IPv6') === v6(ip),
  );
  return allowed.find((ip) => v6(ip) === v6(original)) ?? allowed[0];
}

function noIp(wl: Workload, service?: Service): RouteDecision {
  return {
    kind: 'error',
    reason: 'NoValidDestination',
    message: `workload ${wl.uid} has no IP to dial${wl.hostname ? ` (hostname ${wl.hostname} needs DNS, not supported)` : ''}`,
    service,
  };
}

/** Service SANs (invalid ones skipped) then the workload identity, without duplicates. */
function identities(wl: Workload, service?: Service): SpiffeId[] {
  const out: SpiffeId[] = [];
  for (const san of service?.subjectAltNames ?? []) {
    const id = SpiffeId.tryParse(san);
    if (id !== undefined && !out.some((o) => o.equals(id))) out.push(id);
  }
  if (!out.some((o) => o.equals(wl.identity))) out.push(wl.identity);
  return out;
}

function describeGateway(gw: GatewayAddress): string {
  const d = gw.destination;
  return d.kind === 'address' ? `${d.network}/${d.address}` : `${d.namespace}/${d.hostname}`;
}
