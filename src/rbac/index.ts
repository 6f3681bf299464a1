/**
 * Pure L4 authorization with Istio ambient (ztunnel) semantics. Feed it a
 * connection and `ProxyState.policiesFor(dstWorkload)`. See
 * docs/state-and-rbac.md.
 */
export {
  authorize,
  type Connection,
  type Decision,
  type DryRunResult,
  policyMatches,
} from './authorize.js';
