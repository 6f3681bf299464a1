/**
 * Indexed stores behind {@link ProxyState}. Mutated only through
 * {@link StateUpdater}; every read method is O(1) or O(matches).
 */
import type { Endpoint, Policy, Service, Workload } from './types.js';
import { networkAddressKey, policyKey, serviceKey } from './types.js';

/** Workloads by uid, by `network/ip` and by hostname. */
export class WorkloadStore {
  private readonly byUid = new Map<string, Workload>();
  private readonly byAddr = new Map<string, Workload[]>();
  private readonly byHost = new Map<string, Set<string>>();

  get size(): number {
    return this.byUid.size;
  }

  get(uid: string): Workload | undefined {
    return this.byUid.get(uid);
  }

  /**
   * The workload at `network/ip`. When several claim the address, a Pod beats
   * other kinds and HBONE beats TCP (a pod is the least spoofable claim).
   */
  findAddress(network: string, ip: string): Workload | undefined {
    const list = this.byAddr.get(networkAddressKey({ network, address: ip }));
    if (list === undefined) return undefined;
    if (list.length === 1) return list[0];
    let best: Workload | undefined;
    let bestRank = -1;
    for (const w of list) {
      const rank = (w.uid.includes('//Pod/') ? 2 : 0) + (w.protocol === 'HBONE' ? 1 : 0);
      if (rank > bestRank) {
        best = w;
        bestRank = rank;
      }
    }
    return best;
  }

  findHostname(hostname: string): Workload[] {
    const uids = this.byHost.get(hostname);
    if (uids === undefined) return [];
    return [...uids].map((u) => this.byUid.get(u)).filter((w): w is Workload => w !== undefined);
  }

  values(): IterableIterator<Workload> {
    return this.byUid.values();
  }

  /** @internal Returns the replaced workload, if any. */
  insert(w: Workload): Workload | undefined {
    const prev = this.remove(w.uid);
    this.byUid.set(w.uid, w);
    // Host-network workloads share the node IP; indexing them would hijack it.
    if (w.networkMode !== 'HostNetwork') {
      for (const ip of w.workloadIps) {
        const k = networkAddressKey({ network: w.network, address: ip });
        const list = this.byAddr.get(k);
        if (list === undefined) this.byAddr.set(k, [w]);
        else list.push(w);
      }
    }
    if (w.hostname !== '') {
      getOrCreate(this.byHost, w.hostname, () => new Set<string>()).add(w.uid);
    }
    return prev;
  }

  /** @internal */
  remove(uid: string): Workload | undefined {
    const prev = this.byUid.get(uid);
    if (prev === undefined) return undefined;
    this.byUid.delete(uid);
    for (const ip of prev.workloadIps) {
      const k = networkAddressKey({ network: prev.network, address: ip });
      const list = this.byAddr.get(k)?.filter((w) => w.uid !== uid);
      if (list === undefined || list.length === 0) this.byAddr.delete(k);
      else this.byAddr.set(k, list);
    }
    const set = this.byHost.get(prev.hostname);
    set?.delete(uid);
    if (set?.size === 0) this.byHost.delete(prev.hostname);
    return prev;
  }
}

/**
 * Services by `namespace/hostname`, by `network/vip` and by hostname, plus
 * endpoints: the workloads whose `services` map lists the service. Endpoints
 * are kept per service key even before the service arrives (xDS gives no
 * ordering between workloads and services).
 */
export class ServiceStore {
  private readonly byKey = new Map<string, Service>();
  private readonly byVip = new Map<string, Service>();
  private readonly byHost = new Map<string, Service[]>();
  private readonly endpointsByKey = new Map<string, Map<string, Endpoint>>();

  get size(): number {
    return this.byKey.size;
  }

  /** By `namespace/hostname`. */
  get(key: string): Service | undefined {
    return this.byKey.get(key);
  }

  findVip(network: string, ip: string): Service | undefined {
    return this.byVip.get(networkAddressKey({ network, address: ip }));
  }

  /**
   * Best service for a bare hostname: one in `preferNamespace` wins, then a
   * `canonical` one, then any.
   */
  findHostname(hostname: string, preferNamespace?: string): Service | undefined {
    const list = this.byHost.get(hostname);
    if (list === undefined) return undefined;
    return (
      list.find((s) => s.namespace === preferNamespace) ?? list.find((s) => s.canonical) ?? list[0]
    );
  }

  /** All endpoints of a service (healthy or not), in insertion order. */
  endpoints(key: string): Endpoint[] {
    const m = this.endpointsByKey.get(key);
    return m === undefined ? [] : [...m.values()];
  }

  values(): IterableIterator<Service> {
    return this.byKey.values();
  }

  /** @internal */
  insert(s: Service): Service | undefined {
    const key = serviceKey(s);
    const prev = this.remove(key);
    this.byKey.set(key, s);
    for (const vip of s.vips) this.byVip.set(networkAddressKey(vip), s);
    const list = this.byHost.get(s.hostname);
    if (list === undefined) this.byHost.set(s.hostname, [s]);
    else list.push(s);
    return prev;
  }

  /** @internal Removes the service; its endpoints stay (they belong to workloads). */
  remove(key: string): Service | undefined {
    const prev = this.byKey.get(key);
    if (prev === undefined) return undefined;
    this.byKey.delete(key);
    for (const vip of prev.vips) {
      const k = networkAddressKey(vip);
      if (this.byVip.get(k) === prev) this.byVip.delete(k);
    }
    const list = this.byHost.get(prev.hostname)?.filter((s) => s !== prev);
    if (list === undefined || list.length === 0) this.byHost.delete(prev.hostname);
    else this.byHost.set(prev.hostname, list);
    return prev;
  }

  /** @internal */
  addEndpoints(w: Workload): void {
    for (const [key, ports] of w.services) {
      getOrCreate(this.endpointsByKey, key, () => new Map<string, Endpoint>()).set(w.uid, {
        workloadUid: w.uid,
        ports,
        status: w.status,
      });
    }
  }

  /** @internal */
  removeEndpoints(w: Workload): void {
    for (const key of w.services.keys()) {
      const m = this.endpointsByKey.get(key);
      m?.delete(w.uid);
      if (m?.size === 0) this.endpointsByKey.delete(key);
    }
  }
}

/** Policies by `namespace/name`, indexed by scope. */
export class PolicyStore {
  private readonly byKey = new Map<string, Policy>();
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly global = new Set<string>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Policy | undefined {
    return this.byKey.get(key);
  }

  /** GLOBAL-scope policies. */
  globalPolicies(): Policy[] {
    return this.resolve(this.global);
  }

  /** NAMESPACE-scope policies of `namespace`. */
  namespacePolicies(namespace: string): Policy[] {
    return this.resolve(this.byNamespace.get(namespace));
  }

  values(): IterableIterator<Policy> {
    return this.byKey.values();
  }

  private resolve(keys: Set<string> | undefined): Policy[] {
    if (keys === undefined) return [];
    const out: Policy[] = [];
    for (const k of keys) {
      const p = this.byKey.get(k);
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  /** @internal */
  insert(p: Policy): Policy | undefined {
    const key = policyKey(p);
    const prev = this.remove(key);
    this.byKey.set(key, p);
    if (p.scope === 'Global') this.global.add(key);
    else if (p.scope === 'Namespace') {
      getOrCreate(this.byNamespace, p.namespace, () => new Set<string>()).add(key);
    }
    return prev;
  }

  /** @internal */
  remove(key: string): Policy | undefined {
    const prev = this.byKey.get(key);
    if (prev === undefined) return undefined;
    this.byKey.delete(key);
    this.global.delete(key);
    const set = this.byNamespace.get(prev.namespace);
    set?.delete(key);
    if (set?.size === 0) this.byNamespace.delete(prev.namespace);
    return prev;
  }
}

function getOrCreate<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}
