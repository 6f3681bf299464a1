/**
 * Which identities a caller may obtain. A workload gets only its own; a node
 * proxy gets its own and those of workloads scheduled on its node (Istio's
 * impersonation rule: a compromised node can mint only identities that
 * already run there).
 */
import { AmbitError } from '../../core/errors.js';
import type { Caller } from './auth.js';
import { CaServiceErrors } from './service-errors.js';

/** Identities (SPIFFE URIs) of workloads scheduled on each node; filled by the control plane. */
export interface WorkloadIdentityIndex {
  identitiesOnNode(node: string): ReadonlySet<string>;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * A {@link WorkloadIdentityIndex} kept by counting workloads, for the local
 * runner and tests: `add(node, identity)` per workload, `remove` when it leaves.
 */
export class WorkloadIdentityTable implements WorkloadIdentityIndex {
  private readonly byNode = new Map<string, Map<string, number>>();

  add(node: string, identity: string): void {
    let ids = this.byNode.get(node);
    if (!ids) {
      ids = new Map();
      this.byNode.set(node, ids);
    }
    ids.set(identity, (ids.get(identity) ?? 0) + 1);
  }

  remove(node: string, identity: string): void {
    const ids = this.byNode.get(node);
    const n = ids?.get(identity);
    if (!ids || n === undefined) return;
    if (n > 1) ids.set(identity, n - 1);
    else ids.delete(identity);
    if (ids.size === 0) this.byNode.delete(node);
  }

  identitiesOnNode(node: string): ReadonlySet<string> {
    const ids = this.byNode.get(node);
    return ids ? new Set(ids.keys()) : EMPTY;
  }
}

export function describeCaller(caller: Caller): string {
  return caller.kind === 'node' ? `node "${caller.node}"` : `workload ${caller.identity}`;
}

export class NodeAuthorizer {
  constructor(private readonly index: WorkloadIdentityIndex) {}

  /** Throws `AMBIT_CA_PERMISSION_DENIED` (reason names caller and identity) unless allowed. */
  authorize(caller: Caller, identity: string): void {
    if (caller.identity === identity) return;
    if (caller.kind === 'workload') {
      throw denied(`${describeCaller(caller)} may only request its own identity, not ${identity}`);
    }
    if (!this.index.identitiesOnNode(caller.node).has(identity)) {
      throw denied(
        `${describeCaller(caller)} may not request ${identity}: no workload with that identity is scheduled on it`,
      );
    }
  }
}

function denied(reason: string): AmbitError {
  return new AmbitError(CaServiceErrors.PERMISSION_DENIED, reason);
}
