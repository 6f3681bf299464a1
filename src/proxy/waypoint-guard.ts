/**
 * Waypoint bypass prevention at the destination (ambit, beyond Istio).
 *
 * Istio's ztunnel sends service traffic to the Service's waypoint, but the
 * destination ztunnel accepts a direct connection to the pod just the same,
 * so a client that dials the pod IP (or a mis-configured node) skips every
 * L7 policy on the waypoint (istio/ztunnel#913 removed the hairpin; Istio
 * leaves it to a hand-written ALLOW-from-waypoint policy or
 * PILOT_AUTO_ALLOW_WAYPOINT_POLICY).
 *
 * The rule here: when the destination workload serves a Service that has a
 * waypoint, a CONNECT to one of that Service's target ports is accepted only
 * from the waypoint's identity (any workload behind the waypoint address).
 * A workload with its own waypoint (`waypoint-for: workload|all`) accepts
 * traffic on every port only from that waypoint. Traffic through any of the
 * waypoints that front the port passes. Everything else is refused like an
 * L4 deny (401, `response_flags="DENY"`). A Service annotated
 * `ambit.dev/allow-waypoint-bypass: "true"` opts its ports out.
 */
import type { SpiffeId } from '../identity/index.js';
import type { GatewayAddress, ProxyState, Workload } from '../state/index.js';

export type GuardDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: string };

function describe(gw: GatewayAddress): string {
  const d = gw.destination;
  return d.kind === 'address' ? `${d.network}/${d.address}` : `${d.namespace}/${d.hostname}`;
}

/** The waypoints that must carry traffic to `port` on `dst` (empty = none required). */
export function requiredWaypoints(
  state: ProxyState,
  dst: Workload,
  port: number,
): GatewayAddress[] {
  const out: GatewayAddress[] = [];
  if (dst.waypoint !== undefined) out.push(dst.waypoint);
  for (const [key, ports] of dst.services) {
    const svc = state.services.get(key);
    if (svc?.waypoint === undefined || svc.allowWaypointBypass) continue;
    const targets = new Set<number>();
    for (const [sp, tp] of ports) targets.add(tp || svc.ports.get(sp) || sp);
    if (ports.size === 0) for (const [sp, tp] of svc.ports) targets.add(tp || sp);
    if (targets.has(port)) out.push(svc.waypoint);
  }
  return out;
}

export function checkWaypointTraversal(
  state: ProxyState,
  dst: Workload,
  port: number,
  peer: SpiffeId,
): GuardDecision {
  const required = requiredWaypoints(state, dst, port);
  if (required.length === 0) return { allowed: true };
  for (const gw of required) {
    const d = state.findGateway(gw);
    const ws =
      d === undefined
        ? []
        : d.kind === 'workload'
          ? [d.workload]
          : state.endpointWorkloads(d.service);
    if (ws.some((w) => w.identity.equals(peer))) return { allowed: true };
  }
  return {
    allowed: false,
    reason: `port ${port} of ${dst.namespace}/${dst.name} is behind waypoint ${required
      .map(describe)
      .join(', ')}; ${peer.uri} is not that waypoint`,
  };
}
