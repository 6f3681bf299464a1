/**
 * Endpoint choice: only healthy, non-ejected endpoints that serve the port
 * (a workload-addressed endpoint serves every port);
 * prefer the waypoint's own locality (subzone, then zone, then region) when
 * any such endpoint exists; then round robin or least request (power of two
 * random choices, Envoy's default).
 */
import type { EndpointInfo, LoadBalancerType, Locality } from '../types.js';

export interface PickOptions {
  readonly type: LoadBalancerType;
  readonly port: number;
  readonly isEjected: (e: EndpointInfo) => boolean;
  readonly active: (e: EndpointInfo) => number;
  readonly locality?: Locality;
  readonly random?: () => number;
}

function localityScore(e: Locality, self: Locality): number {
  if (!self.region || e.region !== self.region) return 0;
  if (!self.zone || e.zone !== self.zone) return 1;
  if (!self.subzone || e.subzone !== self.subzone) return 2;
  return 3;
}

/** Healthy, and serving `port` (a workload-addressed endpoint serves every port). */
function servesPort(e: EndpointInfo, port: number): boolean {
  return e.healthy && (e.allPorts === true || e.ports.has(port));
}

/** Endpoints eligible for `port`, narrowed to the best locality present. */
export function eligible(endpoints: readonly EndpointInfo[], o: PickOptions): EndpointInfo[] {
  const ok = endpoints.filter((e) => servesPort(e, o.port) && !o.isEjected(e));
  if (!o.locality || ok.length === 0) return ok;
  const self = o.locality;
  const best = Math.max(...ok.map((e) => localityScore(e.locality, self)));
  return ok.filter((e) => localityScore(e.locality, self) === best);
}

export class LoadBalancer {
  private readonly cursors = new Map<string, number>();

  /** Picks an endpoint of service `key`, or undefined when none is eligible (503, flag UH). */
  pick(key: string, endpoints: readonly EndpointInfo[], o: PickOptions): EndpointInfo | undefined {
    // One endpoint (the common single-replica backend): no candidate list.
    if (endpoints.length === 1) {
      const only = endpoints[0] as EndpointInfo;
      return servesPort(only, o.port) && !o.isEjected(only) ? only : undefined;
    }
    const list = eligible(endpoints, o);
    if (list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    if (o.type === 'LeastRequest') {
      const random = o.random ?? Math.random;
      const a = list[Math.floor(random() * list.length)];
      const b = list[Math.floor(random() * list.length)];
      if (!a || !b) return list[0];
      return o.active(b) < o.active(a) ? b : a;
    }
    const n = this.cursors.get(key) ?? 0;
    this.cursors.set(key, (n + 1) % 1_000_000_007);
    return list[n % list.length];
  }
}
