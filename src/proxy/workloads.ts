/**
 * Which workloads this proxy serves, and their certificates, behind narrow
 * interfaces the listeners use. Dedicated mode serves one workload named by
 * PROXY_WORKLOAD_INFO; node mode serves the workloads whose `node` is ours.
 * In-pod (shared) mode supplies its own implementation per pod.
 */
import { SpiffeId } from '../identity/index.js';
import { normalizeIp, type ProxyState, type StateUpdater, type Workload } from '../state/index.js';
import type { HboneCredentials } from './hbone/index.js';

/** A workload's certificate, key and trust roots, by identity. */
export interface CertificateSource {
  /** The valid certificate held right now, if any (no I/O). */
  current(identity: SpiffeId): HboneCredentials | undefined;
  /** The certificate, fetching it if needed. */
  fetch(identity: SpiffeId): Promise<HboneCredentials>;
}

export interface LocalWorkloads {
  /** The local workload that owns `ip` (an inbound connection's destination). */
  byIp(ip: string): Workload | undefined;
  /** The source workload of an outbound connection whose client is `downstreamIp`. */
  sourceFor(downstreamIp: string): Workload | undefined;
  /** Every local workload currently in config. */
  all(): Workload[];
  /** Identities to fetch certificates for, even before the workloads are in config. */
  identities(): SpiffeId[];
}

/** Dedicated mode: exactly one workload, `namespace/name` (its pod name). */
export class DedicatedWorkloads implements LocalWorkloads {
  private readonly identity: SpiffeId;

  constructor(
    private readonly state: ProxyState,
    private readonly info: { namespace: string; name: string; serviceAccount: string },
    trustDomain: string,
  ) {
    this.identity = SpiffeId.forWorkload(trustDomain, info.namespace, info.serviceAccount);
  }

  private find(): Workload | undefined {
    for (const w of this.state.workloads.values()) {
      if (w.namespace === this.info.namespace && w.name === this.info.name) return w;
    }
    return undefined;
  }

  byIp(ip: string): Workload | undefined {
    const w = this.find();
    const addr = normalizeIp(ip) ?? ip;
    return w?.workloadIps.includes(addr) ? w : undefined;
  }

  sourceFor(): Workload | undefined {
    return this.find();
  }

  all(): Workload[] {
    const w = this.find();
    return w === undefined ? [] : [w];
  }

  identities(): SpiffeId[] {
    const w = this.find();
    return [w?.identity ?? this.identity];
  }
}

/** Every workload whose `node` is this node; the source is found by the client's IP. */
export class NodeWorkloads implements LocalWorkloads {
  constructor(
    private readonly state: ProxyState,
    private readonly nodeName: string,
    private readonly network: string,
  ) {}

  byIp(ip: string): Workload | undefined {
    const w = this.state.workloads.findAddress(this.network, normalizeIp(ip) ?? ip);
    return w?.node === this.nodeName ? w : undefined;
  }

  sourceFor(downstreamIp: string): Workload | undefined {
    return this.byIp(downstreamIp);
  }

  all(): Workload[] {
    return [...this.state.workloads.values()].filter((w) => w.node === this.nodeName);
  }

  identities(): SpiffeId[] {
    const seen = new Map<string, SpiffeId>();
    for (const w of this.all()) seen.set(w.identity.uri, w.identity);
    return [...seen.values()];
  }
}

/**
 * Resolves with `find()` as soon as it returns something, re-trying after
 * every config change, or with undefined after `timeoutMs`. Connections wait
 * here instead of failing while the control plane catches up with a new pod
 * (istio/istio#57674; ztunnel waits 5 s).
 */
export function waitFor<T>(
  updater: StateUpdater,
  find: () => T | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T | undefined> {
  const now = find();
  if (now !== undefined || timeoutMs <= 0) return Promise.resolve(now);
  return new Promise((resolve) => {
    const done = (v: T | undefined): void => {
      clearTimeout(timer);
      updater.off('workloadsChanged', onChange);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onChange = (): void => {
      const v = find();
      if (v !== undefined) done(v);
    };
    const onAbort = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    updater.on('workloadsChanged', onChange);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
