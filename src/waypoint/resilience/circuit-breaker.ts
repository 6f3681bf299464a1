/**
 * Connection-pool limits per backend Service (DestinationRule
 * connectionPool / BackendPolicy). Over a limit the waypoint answers 503
 * with `x-ambit-overflow: <limit>` and response flag UO. Requests waiting
 * for a connection slot count as pending; the queue is bounded by
 * maxPendingRequests.
 */
import type { BackendTraffic } from '../types.js';

export type OverflowLimit = 'maxConnections' | 'maxPendingRequests' | 'maxRequests';

export interface Lease {
  /** Call exactly once when the request (and its connection) is finished. */
  release(): void;
}

export type AcquireResult =
  | { readonly ok: true; readonly lease: Lease }
  | { readonly ok: false; readonly limit: OverflowLimit };

class Breaker {
  requests = 0;
  connections = 0;
  readonly waiting: (() => void)[] = [];
}

export class CircuitBreakers {
  private readonly breakers = new Map<string, Breaker>();

  /**
   * Reserves a request (and connection) slot for `key`, waiting in the
   * pending queue when all connections are busy. Resolves immediately with
   * an overflow when a limit is hit.
   */
  acquire(key: string, limits: BackendTraffic | undefined): AcquireResult | Promise<AcquireResult> {
    let b = this.breakers.get(key);
    if (!b) {
      b = new Breaker();
      this.breakers.set(key, b);
    }
    const maxReq = limits?.maxRequests ?? Number.POSITIVE_INFINITY;
    const maxConn = limits?.maxConnections ?? Number.POSITIVE_INFINITY;
    const maxPending = limits?.maxPendingRequests ?? Number.POSITIVE_INFINITY;
    if (b.requests >= maxReq) return { ok: false, limit: 'maxRequests' };
    b.requests++;
    if (b.connections >= maxConn) {
      if (b.waiting.length >= maxPending) {
        b.requests--;
        return { ok: false, limit: maxPending === 0 ? 'maxConnections' : 'maxPendingRequests' };
      }
      // Only a request that must queue pays for a promise.
      const breaker = b;
      return new Promise<void>((resolve) => breaker.waiting.push(resolve)).then(() => {
        breaker.connections++;
        return { ok: true as const, lease: this.lease(key, breaker) };
      });
    }
    b.connections++;
    return { ok: true, lease: this.lease(key, b) };
  }

  private lease(key: string, b: Breaker): Lease {
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        b.connections--;
        b.requests--;
        const next = b.waiting.shift();
        if (next) next();
        // Idle breakers stay (one per backend Service) unless the map grows
        // past what any config has: churned Services must not leak.
        else if (b.requests === 0 && b.connections === 0 && this.breakers.size > 4096)
          this.breakers.delete(key);
      },
    };
  }

  /** Current counters, for admin dumps and tests. */
  stats(key: string): { requests: number; connections: number; pending: number } {
    const b = this.breakers.get(key);
    return {
      requests: b?.requests ?? 0,
      connections: b?.connections ?? 0,
      pending: b?.waiting.length ?? 0,
    };
  }
}
