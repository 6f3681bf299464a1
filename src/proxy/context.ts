/**
 * What every listener of one proxy shares: the mesh state, the local
 * workloads and their certificates, the socket factory, the HBONE pool,
 * metrics and the connection manager. Built once by the composition root.
 */
import type { AmbitError } from '../core/errors.js';
import type { ProxyState, StateUpdater } from '../state/index.js';
import type { ConnectionManager } from './connection-manager.js';
import type { HbonePool } from './hbone/index.js';
import type { ProxyMetrics } from './metrics.js';
import type { SocketFactory } from './socket-factory.js';
import type { CertificateSource, LocalWorkloads } from './workloads.js';

export interface ProxyTunables {
  /** Port peers accept HBONE on. Default 15008. */
  readonly hbonePort: number;
  /** How long a connection waits for its workload's config and certificate, ms. Default 5000. */
  readonly workloadWaitTimeoutMs: number;
  /** Upstream TCP (and HBONE session) set-up deadline, ms. Default 10 000. */
  readonly connectTimeoutMs: number;
  /** Connect to local apps from the client's IP (IP_TRANSPARENT). */
  readonly enableOrigSrc: boolean;
  /** This proxy's cluster, for baggage. */
  readonly clusterId: string;
  /**
   * Refuse HBONE to a waypoint-fronted port unless it comes from the waypoint
   * (src/proxy/waypoint-guard.ts). Default true; AMBIT_WAYPOINT_BYPASS_PREVENTION=false opts out.
   */
  readonly waypointBypassPrevention?: boolean;
}

export interface ProxyContext {
  readonly state: ProxyState;
  readonly updater: StateUpdater;
  readonly local: LocalWorkloads;
  readonly certs: CertificateSource;
  readonly sockets: SocketFactory;
  readonly pool: HbonePool;
  readonly metrics: ProxyMetrics;
  readonly connections: ConnectionManager;
  readonly tunables: ProxyTunables;
}

/** An AbortController that aborts with `error()` after `ms`; call `clear()` when done. */
export function deadline(
  ms: number,
  error: () => Error,
  parent?: AbortSignal,
): { signal: AbortSignal; clear(): void } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(error()), ms);
  const onParent = (): void => ac.abort(parent?.reason);
  parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: ac.signal,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Rejects with `error()` if `p` has not settled after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, error: () => AmbitError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
