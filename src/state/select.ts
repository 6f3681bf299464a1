/**
 * Endpoint selection for a service, as ztunnel does it: filter (health, has
 * an address, has the port), rank by locality preference, then pick at
 * random weighted by capacity.
 */
import type { ProxyState } from './proxy-state.js';
import type { Endpoint, LoadBalancerScope, Service, Workload } from './types.js';
import { serviceKey } from './types.js';

export interface SelectOptions {
  /** Uniform random in [0, 1); default Math.random. Inject for deterministic tests. */
  readonly random?: () => number;
  /**
   * `waypoint` when resolving a waypoint's own service: a workload with an
   * application tunnel need not list the port. Default `standard`.
   */
  readonly mode?: 'standard' | 'waypoint';
}

/** A chosen endpoint and the port to dial on it. */
export interface SelectedEndpoint {
  readonly workload: Workload;
  readonly endpoint: Endpoint;
  /** Per-workload mapping from its `services` entry, else the service's target port. */
  readonly targetPort: number;
}

function sameScope(s: LoadBalancerScope, src: Workload, dst: Workload): boolean {
  switch (s) {
    case 'Region':
      return src.locality.region === dst.locality.region;
    case 'Zone':
      return src.locality.zone === dst.locality.zone;
    case 'Subzone':
      return src.locality.subzone === dst.locality.subzone;
    case 'Node':
      return src.node === dst.node;
    case 'Cluster':
      return src.clusterId === dst.clusterId;
    case 'Network':
      return src.network === dst.network;
  }
}

/**
 * Picks an endpoint of `service` for traffic from `source` to service port
 * `port`, or undefined when none qualifies (the caller reports
 * NoHealthyUpstream). Does not handle PASSTHROUGH mode: the router does.
 */
export function selectEndpoint(
  state: ProxyState,
  service: Service,
  port: number,
  source: Workload,
  opts: SelectOptions = {},
): SelectedEndpoint | undefined {
  const mode = opts.mode ?? 'standard';
  const svcTarget = service.ports.get(port);
  if (mode === 'standard' && svcTarget === undefined) return undefined;
  const allowUnhealthy = service.loadBalancer?.healthPolicy === 'AllowAll';

  let candidates: { ep: Endpoint; wl: Workload }[] = [];
  for (const ep of state.services.endpoints(serviceKey(service))) {
    if (ep.status !== 'Healthy' && !allowUnhealthy) continue;
    const wl = state.workloads.get(ep.workloadUid);
    if (wl === undefined) continue;
    const hasAddress = wl.workloadIps.length > 0 || wl.hostname !== '';
    // Without an address it is reachable only through its network gateway, and
    // never from the same network (WDS sends gateways client-agnostically).
    if (!hasAddress && (wl.network === source.network || wl.networkGateway === undefined)) continue;
    if (mode === 'standard') {
      if ((svcTarget ?? 0) === 0 && !ep.ports.has(port)) continue;
    } else if (svcTarget === undefined && wl.applicationTunnel === undefined) continue;
    candidates.push({ ep, wl });
  }

  const lb = service.loadBalancer;
  if (lb !== undefined && (lb.mode === 'Strict' || lb.mode === 'Failover')) {
    const want = lb.routingPreferences;
    let best = -1;
    const ranked: { ep: Endpoint; wl: Workload; rank: number }[] = [];
    for (const c of candidates) {
      let rank = 0;
      while (rank < want.length && sameScope(want[rank] as LoadBalancerScope, source, c.wl)) rank++;
      if (lb.mode === 'Strict' && rank !== want.length) continue;
      ranked.push({ ...c, rank });
      if (rank > best) best = rank;
    }
    candidates = ranked.filter((r) => r.rank === best);
  }

  const total = candidates.reduce((n, c) => n + c.wl.capacity, 0);
  if (total <= 0) return undefined;
  let r = (opts.random ?? Math.random)() * total;
  let chosen = candidates[candidates.length - 1];
  for (const c of candidates) {
    if (r < c.wl.capacity) {
      chosen = c;
      break;
    }
    r -= c.wl.capacity;
  }
  if (chosen === undefined) return undefined;

  const epPort = chosen.ep.ports.get(port);
  let targetPort: number;
  if (epPort !== undefined && epPort > 0) targetPort = epPort;
  else if (svcTarget !== undefined && svcTarget > 0) targetPort = svcTarget;
  // With an application tunnel the port need not be on the service.
  else if (chosen.wl.applicationTunnel?.port !== undefined) targetPort = port;
  else return undefined;
  return { workload: chosen.wl, endpoint: chosen.ep, targetPort };
}
