/**
 * Tracks live proxied connections (istio/ztunnel src/proxy/connection_manager.rs):
 *
 * - Inbound connections keep the inputs of their authorization decision, so a
 *   policy change re-checks each one and closes those that are now denied.
 * - Drain: stop nothing here (listeners stop elsewhere), wait for the tracked
 *   connections to end, and at the deadline close the rest.
 */
import { AmbitError } from '../core/errors.js';
import { authorize, type Connection } from '../rbac/index.js';
import type { ProxyState, Workload } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import { ProxyErrors } from './errors.js';

const log = logger('proxy');

export interface TrackedConnection {
  readonly direction: 'inbound' | 'outbound';
  /** `src ip:port → dst ip:port`, for the dump. */
  readonly description: string;
  /** Inbound only: what was authorized; re-checked when policies change. */
  readonly rbac?: Connection & { readonly dstWorkloadUid: string };
  /** Peer identities as learned so far (for `ambit get connections`). */
  readonly peers?: () => { src?: string; dst?: string };
  /** Live byte counts (client → server, server → client), where the relay reports them. */
  readonly counters?: { readonly bytesSent: number; readonly bytesRecv: number };
  /** Closes the connection now (a reset to both peers); the owner then finishes its record. */
  close(reason: Error): void;
}

export interface ConnectionDump {
  direction: string;
  connection: string;
  srcIdentity?: string;
  dstIdentity?: string;
  dstWorkload?: string;
  bytesSent?: number;
  bytesRecv?: number;
  ageMs: number;
}

export class ConnectionManager {
  private readonly live = new Map<TrackedConnection, number>();
  private readonly emptyWaiters = new Set<() => void>();

  /** Tracks a connection; call the returned function when it has ended. */
  register(conn: TrackedConnection): () => void {
    this.live.set(conn, Date.now());
    return () => {
      if (!this.live.delete(conn)) return;
      if (this.live.size === 0) {
        for (const w of this.emptyWaiters) w();
        this.emptyWaiters.clear();
      }
    };
  }

  get size(): number {
    return this.live.size;
  }

  /**
   * Re-authorizes every inbound connection against the current policies and
   * closes the denied ones. Returns how many were closed.
   */
  recheck(state: ProxyState): number {
    let closed = 0;
    for (const conn of [...this.live.keys()]) {
      const r = conn.rbac;
      if (r === undefined) continue;
      const dst: Workload | undefined = state.workloads.get(r.dstWorkloadUid) ?? r.dstWorkload;
      if (dst === undefined) continue;
      const decision = authorize({ ...r, dstWorkload: dst }, state.policiesFor(dst));
      if (decision.allowed) continue;
      closed += 1;
      log.info(
        { connection: conn.description, srcIdentity: r.srcIdentity?.uri, reason: decision.reason },
        'closing connection denied by a policy change',
      );
      conn.close(
        new AmbitError(
          ProxyErrors.POLICY_CLOSED,
          `connection closed due to policy rejection: ${decision.reason}`,
          { details: { policy: decision.policy } },
        ),
      );
    }
    return closed;
  }

  /** Resolves when no connection is tracked, or after `deadlineMs`; then closes the rest. Returns how many were forced. */
  async drain(deadlineMs: number): Promise<number> {
    if (this.live.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.emptyWaiters.add(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, deadlineMs);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.closeAll(
      new AmbitError(ProxyErrors.DRAINED, 'connection closed at the drain deadline'),
    );
  }

  /** Closes every tracked connection now. Returns how many there were. */
  closeAll(reason: Error): number {
    const all = [...this.live.keys()];
    for (const c of all) {
      try {
        c.close(reason);
      } catch {
        // close() must not throw; one bad connection must not stop the rest.
      }
    }
    return all.length;
  }

  dump(): ConnectionDump[] {
    const now = Date.now();
    return [...this.live].map(([c, since]) => {
      const peers = c.peers?.() ?? {};
      return {
        direction: c.direction,
        connection: c.description,
        srcIdentity: c.rbac?.srcIdentity?.uri ?? peers.src,
        dstIdentity: peers.dst,
        dstWorkload: c.rbac?.dstWorkloadUid,
        bytesSent: c.counters?.bytesSent,
        bytesRecv: c.counters?.bytesRecv,
        ageMs: now - since,
      };
    });
  }
}
