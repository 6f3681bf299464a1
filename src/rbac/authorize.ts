/**
 * L4 authorization with Istio/ztunnel semantics (ztunnel src/rbac.rs and
 * `assert_rbac` in src/state.rs). Pure: no I/O, no clocks.
 */
import type { SpiffeId } from '../identity/index.js';
import type { Match, Policy, ServiceAccountMatch, StringMatch, Workload } from '../state/index.js';
import { ipToBytes, policyKey } from '../state/index.js';

/** One connection as the inbound side sees it. */
export interface Connection {
  readonly srcIp: string;
  /** The peer's mTLS identity; undefined for plaintext (unauthenticated) sources. */
  readonly srcIdentity?: SpiffeId;
  readonly dstIp: string;
  readonly dstPort: number;
  /** The destination workload (for logs; the policies passed in are already its policies). */
  readonly dstWorkload?: Workload;
}

export interface DryRunResult {
  /** `namespace/name`. */
  readonly name: string;
  /** Whether the policy's rules match the connection. */
  readonly matched: boolean;
  /** Whether enforcing this policy (on top of the enforced ones) would deny the connection. */
  readonly wouldDeny: boolean;
}

export interface Decision {
  readonly allowed: boolean;
  /** Human-readable, for logs and `ambit` output. */
  readonly reason: string;
  /** `namespace/name` of the deciding policy (the matching DENY or ALLOW), if any. */
  readonly policy?: string;
  /** Every dry-run policy, evaluated but not enforced. */
  readonly dryRun: readonly DryRunResult[];
}

/** Pre-computed facts about the connection, so each match is cheap. */
interface Facts {
  /** Identity without `spiffe://` (Istio writes principals that way); undefined if none. */
  readonly principal: string | undefined;
  /** The identity's namespace; "" if none (ztunnel's default). */
  readonly namespace: string;
  readonly identity: { namespace: string; serviceAccount: string } | undefined;
  readonly src: Uint8Array | undefined;
  readonly dst: Uint8Array | undefined;
  readonly dstPort: number;
}

function facts(c: Connection): Facts {
  const wl = c.srcIdentity?.workload;
  const uri = c.srcIdentity?.uri;
  return {
    principal: uri?.startsWith('spiffe://') ? uri.slice('spiffe://'.length) : undefined,
    namespace: wl?.namespace ?? '',
    identity: wl,
    src: ipToBytes(c.srcIp),
    dst: ipToBytes(c.dstIp),
    dstPort: c.dstPort,
  };
}

function stringMatch(m: StringMatch, s: string): boolean {
  if ('exact' in m) return s === m.exact;
  if ('prefix' in m) return s.startsWith(m.prefix);
  if ('suffix' in m) return s.endsWith(m.suffix);
  return s !== '';
}

/** A field with positive and negative lists: any positive (if listed) and no negative. */
function field<T>(pos: readonly T[], neg: readonly T[], pred: (v: T) => boolean): boolean {
  if (pos.length > 0 && !pos.some(pred)) return false;
  return neg.length === 0 || !neg.some(pred);
}

function isEmpty(m: Match): boolean {
  return (
    m.namespaces.length +
      m.notNamespaces.length +
      m.serviceAccounts.length +
      m.notServiceAccounts.length +
      m.principals.length +
      m.notPrincipals.length +
      m.sourceIps.length +
      m.notSourceIps.length +
      m.destinationIps.length +
      m.notDestinationIps.length +
      m.destinationPorts.length +
      m.notDestinationPorts.length ===
    0
  );
}

function matchOne(m: Match, f: Facts): boolean {
  // An empty match matches nothing (ztunnel skips it).
  if (isEmpty(m)) return false;
  const sa = (s: ServiceAccountMatch): boolean =>
    f.identity !== undefined &&
    f.identity.namespace === s.namespace &&
    f.identity.serviceAccount === s.serviceAccount;
  // Principals never match without an identity, so `notPrincipals: [presence]`
  // matches exactly the plaintext sources (PeerAuthentication STRICT).
  const principal = (s: StringMatch): boolean =>
    f.principal !== undefined && stringMatch(s, f.principal);
  return (
    field(
      m.destinationIps,
      m.notDestinationIps,
      (n) => f.dst !== undefined && n.containsBytes(f.dst),
    ) &&
    field(m.sourceIps, m.notSourceIps, (n) => f.src !== undefined && n.containsBytes(f.src)) &&
    field(m.destinationPorts, m.notDestinationPorts, (p) => p === f.dstPort) &&
    field(m.serviceAccounts, m.notServiceAccounts, sa) &&
    field(m.principals, m.notPrincipals, principal) &&
    field(m.namespaces, m.notNamespaces, (s) => stringMatch(s, f.namespace))
  );
}

function matchesFacts(p: Policy, f: Facts): boolean {
  // Rules OR; within a rule, clauses AND (an empty clause matches); within a
  // clause, matches OR. No rules at all never matches; a rule with no clauses
  // always does.
  return p.rules.some((rule) =>
    rule.every((clause) => clause.length === 0 || clause.some((m) => matchOne(m, f))),
  );
}

/** Whether the policy's rules match the connection (ignores action and dryRun). */
export function policyMatches(policy: Policy, conn: Connection): boolean {
  return matchesFacts(policy, facts(conn));
}

function decide(policies: readonly Policy[], f: Facts): Omit<Decision, 'dryRun'> {
  for (const p of policies) {
    if (p.action === 'Deny' && matchesFacts(p, f))
      return { allowed: false, reason: `denied by policy ${policyKey(p)}`, policy: policyKey(p) };
  }
  const allows = policies.filter((p) => p.action === 'Allow');
  if (allows.length === 0) return { allowed: true, reason: 'no allow policies' };
  for (const p of allows) {
    if (matchesFacts(p, f))
      return { allowed: true, reason: `allowed by policy ${policyKey(p)}`, policy: policyKey(p) };
  }
  return { allowed: false, reason: 'allow policies exist, but none allowed' };
}

/**
 * Authorizes a connection against the destination's applicable policies
 * (`ProxyState.policiesFor(workload)`): a matching DENY denies; else, if any
 * ALLOW applies, one must match; else allow. Dry-run policies never affect
 * the outcome and are reported in `dryRun`.
 */
export function authorize(conn: Connection, policies: readonly Policy[]): Decision {
  const f = facts(conn);
  const enforced = policies.filter((p) => !p.dryRun);
  const result = decide(enforced, f);
  const dryRun: DryRunResult[] = [];
  for (const p of policies) {
    if (!p.dryRun) continue;
    const matched = matchesFacts(p, f);
    const wouldDeny = !decide([...enforced, { ...p, dryRun: false }], f).allowed;
    dryRun.push({ name: policyKey(p), matched, wouldDeny });
  }
  return { ...result, dryRun };
}
