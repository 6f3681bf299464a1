/**
 * ProxyState: the read side of the proxy's view of the mesh. StateUpdater:
 * the one writer, applying delta-xDS style upserts/removals and announcing
 * what changed.
 */
import { EventEmitter } from 'node:events';
import type { Authorization as PbAuthorization } from '../gen/istio/security/authorization_pb.js';
import type { Address as PbAddress } from '../gen/istio/workload/workload_pb.js';
import { type AddressResource, addressFromProto, policyFromProto } from './from-proto.js';
import { normalizeIp } from './ip.js';
import { type HostPort, type RouteDecision, type RouteOptions, routeOutbound } from './route.js';
import { type SelectedEndpoint, type SelectOptions, selectEndpoint } from './select.js';
import { PolicyStore, ServiceStore, WorkloadStore } from './stores.js';
import type { GatewayAddress, NamespacedHostname, Policy, Service, Workload } from './types.js';
import { policyKey, serviceKey } from './types.js';

/** What an address (or hostname) resolves to. */
export type Destination =
  | { readonly kind: 'workload'; readonly workload: Workload }
  | { readonly kind: 'service'; readonly service: Service };

export class ProxyState {
  readonly workloads = new WorkloadStore();
  readonly services = new ServiceStore();
  readonly policies = new PolicyStore();

  /** Workload at `network/ip` first (pods win), else the service with that VIP. */
  findAddress(network: string, ip: string): Destination | undefined {
    const addr = normalizeIp(ip) ?? ip;
    const workload = this.workloads.findAddress(network, addr);
    if (workload !== undefined) return { kind: 'workload', workload };
    const service = this.services.findVip(network, addr);
    return service === undefined ? undefined : { kind: 'service', service };
  }

  /** Service `namespace/hostname` first, else a workload with that hostname in that namespace. */
  findHostname(name: NamespacedHostname): Destination | undefined {
    const service = this.services.get(serviceKey(name));
    if (service !== undefined) return { kind: 'service', service };
    const workload = this.workloads
      .findHostname(name.hostname)
      .find((w) => w.namespace === name.namespace);
    return workload === undefined ? undefined : { kind: 'workload', workload };
  }

  /** Resolves a waypoint / network gateway reference. */
  findGateway(g: GatewayAddress): Destination | undefined {
    const d = g.destination;
    return d.kind === 'address' ? this.findAddress(d.network, d.address) : this.findHostname(d);
  }

  /**
   * The policies that apply to connections to `workload`: GLOBAL-scope
   * policies, the NAMESPACE-scope policies of its namespace, and the
   * WORKLOAD_SELECTOR policies the control plane listed on it. Unknown names
   * (not yet received, or just removed) are skipped, as ztunnel does. This is
   * the input to `authorize()` in src/rbac.
   */
  policiesFor(workload: Workload): Policy[] {
    const out = [
      ...this.policies.namespacePolicies(workload.namespace),
      ...this.policies.globalPolicies(),
    ];
    const seen = new Set(out.map(policyKey));
    for (const name of workload.authorizationPolicies) {
      const p = this.policies.get(name);
      if (p !== undefined && !seen.has(name)) {
        out.push(p);
        seen.add(name);
      }
    }
    return out;
  }

  /** Workloads that are endpoints of the service (any health). */
  endpointWorkloads(service: Service): Workload[] {
    const out: Workload[] = [];
    for (const ep of this.services.endpoints(serviceKey(service))) {
      const w = this.workloads.get(ep.workloadUid);
      if (w !== undefined) out.push(w);
    }
    return out;
  }

  /**
   * Picks an endpoint of `service` for `source` on service port `port`:
   * healthy only (unless the service's health policy is AllowAll), ranked by
   * the service's locality preferences (Strict drops non-matching endpoints,
   * Failover prefers the best rank), then random weighted by capacity.
   * Undefined when nothing qualifies.
   */
  selectEndpoint(
    service: Service,
    port: number,
    source: Workload,
    opts?: SelectOptions,
  ): SelectedEndpoint | undefined {
    return selectEndpoint(this, service, port, source, opts);
  }

  /** The outbound routing decision for `source` → original destination `dst`. See {@link routeOutbound}. */
  route(source: Workload, dst: HostPort, opts?: RouteOptions): RouteDecision {
    return routeOutbound(this, source, dst, opts);
  }

  /** JSON form for admin dumps (maps become objects, identities URIs). */
  toJSON(): Record<string, unknown> {
    const ports = (m: ReadonlyMap<number, number>): Record<string, number> =>
      Object.fromEntries([...m].map(([k, v]) => [String(k), v]));
    const sortBy = <T>(xs: Iterable<T>, key: (x: T) => string): T[] =>
      [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    return {
      workloads: sortBy(this.workloads.values(), (w) => w.uid).map((w) => ({
        ...w,
        identity: w.identity.uri,
        services: Object.fromEntries([...w.services].map(([k, v]) => [k, ports(v)])),
      })),
      services: sortBy(this.services.values(), serviceKey).map((s) => ({
        ...s,
        ports: ports(s.ports),
        endpoints: this.services.endpoints(serviceKey(s)).map((e) => ({
          ...e,
          ports: ports(e.ports),
        })),
      })),
      policies: sortBy(this.policies.values(), policyKey),
    };
  }
}

/** Events emitted by {@link StateUpdater}, at most once each per applied batch. */
export interface StateEvents {
  /** Workloads or services (and so endpoints) changed. */
  workloadsChanged: [{ readonly upserted: readonly string[]; readonly removed: readonly string[] }];
  policiesChanged: [{ readonly upserted: readonly string[]; readonly removed: readonly string[] }];
}

/** A resource that failed conversion; the xDS client NACKs with these. */
export interface ResourceError {
  readonly name: string;
  readonly error: Error;
}

/** A snapshot for {@link StateUpdater.replaceAll}. */
export interface StateSnapshot {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly policies: readonly Policy[];
}

/**
 * The only writer of a {@link ProxyState}. Names are xDS resource names:
 * Address = workload uid or `namespace/hostname`; Authorization =
 * `namespace/name`. A removal of an unknown name is a no-op.
 */
export class StateUpdater extends EventEmitter<StateEvents> {
  constructor(readonly state: ProxyState) {
    super();
  }

  /** Upserts a workload and its endpoint entries. */
  insertWorkload(w: Workload): void {
    this.batch(() => this.putWorkload(w));
  }

  insertService(s: Service): void {
    this.batch(() => this.putService(s));
  }

  insertPolicy(p: Policy): void {
    this.batch(() => this.putPolicy(p));
  }

  /** Removes the workload with uid `name`, else the service `namespace/hostname`. */
  removeAddress(name: string): void {
    this.batch(() => this.dropAddress(name));
  }

  removePolicy(name: string): void {
    this.batch(() => this.dropPolicy(name));
  }

  /**
   * Applies one delta-xDS Address response. Invalid resources are skipped
   * (the previous version stays) and returned, so the caller can NACK.
   */
  applyAddressDelta(
    resources: readonly { readonly name: string; readonly resource: PbAddress }[],
    removed: readonly string[],
  ): ResourceError[] {
    const errors: ResourceError[] = [];
    this.batch(() => {
      for (const name of removed) this.dropAddress(name);
      for (const { name, resource } of resources) {
        let r: AddressResource;
        try {
          r = addressFromProto(resource, name);
        } catch (error) {
          errors.push({ name, error: error as Error });
          continue;
        }
        if (r.kind === 'workload') this.putWorkload(r.workload);
        else this.putService(r.service);
      }
    });
    return errors;
  }

  /** Applies one delta-xDS Authorization response; see {@link applyAddressDelta}. */
  applyAuthorizationDelta(
    resources: readonly { readonly name: string; readonly resource: PbAuthorization }[],
    removed: readonly string[],
  ): ResourceError[] {
    const errors: ResourceError[] = [];
    this.batch(() => {
      for (const name of removed) this.dropPolicy(name);
      for (const { name, resource } of resources) {
        try {
          this.putPolicy(policyFromProto(resource));
        } catch (error) {
          errors.push({ name, error: error as Error });
        }
      }
    });
    return errors;
  }

  /** Replaces everything (local config, or a state-of-the-world reset). */
  replaceAll(snapshot: StateSnapshot): void {
    this.batch(() => {
      for (const w of [...this.state.workloads.values()]) this.dropAddress(w.uid);
      for (const s of [...this.state.services.values()]) this.dropAddress(serviceKey(s));
      for (const p of [...this.state.policies.values()]) this.dropPolicy(policyKey(p));
      for (const s of snapshot.services) this.putService(s);
      for (const w of snapshot.workloads) this.putWorkload(w);
      for (const p of snapshot.policies) this.putPolicy(p);
    });
  }

  private pending = {
    addrUp: new Set<string>(),
    addrDel: new Set<string>(),
    polUp: new Set<string>(),
    polDel: new Set<string>(),
  };
  private depth = 0;

  private batch(fn: () => void): void {
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
    }
    if (this.depth > 0) return;
    const p = this.pending;
    this.pending = { addrUp: new Set(), addrDel: new Set(), polUp: new Set(), polDel: new Set() };
    if (p.addrUp.size > 0 || p.addrDel.size > 0)
      this.emit('workloadsChanged', { upserted: [...p.addrUp], removed: [...p.addrDel] });
    if (p.polUp.size > 0 || p.polDel.size > 0)
      this.emit('policiesChanged', { upserted: [...p.polUp], removed: [...p.polDel] });
  }

  private putWorkload(w: Workload): void {
    const prev = this.state.workloads.insert(w);
    if (prev !== undefined) this.state.services.removeEndpoints(prev);
    this.state.services.addEndpoints(w);
    this.pending.addrDel.delete(w.uid);
    this.pending.addrUp.add(w.uid);
  }

  private putService(s: Service): void {
    const key = serviceKey(s);
    this.state.services.insert(s);
    this.pending.addrDel.delete(key);
    this.pending.addrUp.add(key);
  }

  private putPolicy(p: Policy): void {
    const key = policyKey(p);
    this.state.policies.insert(p);
    this.pending.polDel.delete(key);
    this.pending.polUp.add(key);
  }

  private dropAddress(name: string): void {
    const w = this.state.workloads.remove(name);
    if (w !== undefined) this.state.services.removeEndpoints(w);
    else if (this.state.services.remove(name) === undefined) return;
    this.pending.addrUp.delete(name);
    this.pending.addrDel.add(name);
  }

  private dropPolicy(name: string): void {
    if (this.state.policies.remove(name) === undefined) return;
    this.pending.polUp.delete(name);
    this.pending.polDel.add(name);
  }
}
