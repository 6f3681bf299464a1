/**
 * AuthorizationPolicy → istio.security.Authorization for ztunnel, following
 * Istio's pilot/pkg/serviceregistry/ambient/authorization.go rule by rule:
 *
 * - targetRefs policies are for waypoints, not ztunnel (see waypoint-config.ts).
 * - scope: WORKLOAD_SELECTOR with a selector; else NAMESPACE; GLOBAL in the root namespace.
 * - only ALLOW and DENY reach ztunnel; AUDIT/CUSTOM with a selector are not
 *   bound (status `UnsupportedValue`), as in Istio.
 * - each rule becomes one Rule of up to three kinds of Clause: the `to`
 *   matches (ports), the `from` matches, one per `when` condition.
 * - HTTP-only fields (methods, paths, hosts, request principals, remote IPs,
 *   trust domains, non-L4 `when` keys): in an ALLOW the whole rule is dropped
 *   (fail closed: it can never match); in a DENY only those fields are
 *   dropped, so the DENY is broader. Either way a status says so.
 * - principals/namespaces: `*` → presence, `*x` → suffix, `x*` → prefix,
 *   else exact. Principals are compared by ztunnel without `spiffe://`.
 */
import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  Action,
  AddressSchema,
  type Authorization,
  AuthorizationSchema,
  type Clause,
  ClauseSchema,
  type Match,
  MatchSchema,
  type Rule,
  RuleSchema,
  Scope,
  ServiceAccountMatchSchema,
  type StringMatch,
  StringMatchSchema,
} from '../../gen/istio/security/authorization_pb.js';
import type { AuthorizationPolicy, AuthzRule } from '../../kube/index.js';
import { cidrBytes } from './addr.js';
import { A } from './labels.js';
import type { StatusSink } from './status.js';

const L4_WHEN_KEYS = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
]);

export function stringMatches(values: readonly string[]): StringMatch[] {
  return values.map((v) => {
    if (v === '*')
      return create(StringMatchSchema, {
        matchType: { case: 'presence', value: create(EmptySchema) },
      });
    if (v.startsWith('*'))
      return create(StringMatchSchema, { matchType: { case: 'suffix', value: v.slice(1) } });
    if (v.endsWith('*'))
      return create(StringMatchSchema, { matchType: { case: 'prefix', value: v.slice(0, -1) } });
    return create(StringMatchSchema, { matchType: { case: 'exact', value: v } });
  });
}

function ports(values: readonly string[]): number[] {
  const out: number[] = [];
  for (const v of values) {
    if (!/^\d+$/.test(v)) continue;
    const n = Number(v);
    if (n <= 65535) out.push(n);
  }
  return out;
}

function ips(values: readonly string[]) {
  const out = [];
  for (const v of values) {
    const c = cidrBytes(v);
    if (c) out.push(create(AddressSchema, c));
  }
  return out;
}

function serviceAccounts(values: readonly string[], ruleNamespace: string) {
  return values.map((v) => {
    const slash = v.indexOf('/');
    return slash >= 0
      ? create(ServiceAccountMatchSchema, {
          namespace: v.slice(0, slash),
          serviceAccount: v.slice(slash + 1),
        })
      : create(ServiceAccountMatchSchema, { namespace: ruleNamespace, serviceAccount: v });
  });
}

/** Go's strconv.ParseBool. */
export function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function isEmptyMatch(m: Match): boolean {
  return (
    m.namespaces.length +
      m.notNamespaces.length +
      m.principals.length +
      m.notPrincipals.length +
      m.sourceIps.length +
      m.notSourceIps.length +
      m.destinationIps.length +
      m.notDestinationIps.length +
      m.destinationPorts.length +
      m.notDestinationPorts.length +
      m.serviceAccounts.length +
      m.notServiceAccounts.length ===
    0
  );
}

/** Whether any Rule can fire at ztunnel (a clause of only empty matches never matches). */
export function hasEffectiveRules(rules: readonly Rule[]): boolean {
  return rules.some(
    (r) =>
      r.clauses.length === 0 || r.clauses.every((c) => c.matches.some((m) => !isEmptyMatch(m))),
  );
}

function convertRule(
  action: Action,
  rule: AuthzRule,
  ns: string,
  l7: Set<string>,
): Rule | undefined {
  let foundL7 = false;
  const note = (fields: string[]) => {
    for (const f of fields) {
      l7.add(f);
      foundL7 = true;
    }
  };
  const clauses: Clause[] = [];
  const toMatches = rule.to.map(({ operation: op }) => {
    note(
      (['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const).filter(
        (f) => op[f].length > 0,
      ),
    );
    return create(MatchSchema, {
      destinationPorts: ports(op.ports),
      notDestinationPorts: ports(op.notPorts),
    });
  });
  const fromMatches = rule.from.map(({ source: s }) => {
    note(
      (
        [
          'remoteIpBlocks',
          'notRemoteIpBlocks',
          'requestPrincipals',
          'notRequestPrincipals',
          'trustDomains',
          'notTrustDomains',
        ] as const
      ).filter((f) => s[f].length > 0),
    );
    return create(MatchSchema, {
      sourceIps: ips(s.ipBlocks),
      notSourceIps: ips(s.notIpBlocks),
      namespaces: stringMatches(s.namespaces),
      notNamespaces: stringMatches(s.notNamespaces),
      serviceAccounts: serviceAccounts(s.serviceAccounts, ns),
      notServiceAccounts: serviceAccounts(s.notServiceAccounts, ns),
      principals: stringMatches(s.principals),
      notPrincipals: stringMatches(s.notPrincipals),
    });
  });
  if (toMatches.length > 0) clauses.push(create(ClauseSchema, { matches: toMatches }));
  if (fromMatches.length > 0) clauses.push(create(ClauseSchema, { matches: fromMatches }));
  for (const w of rule.when) {
    if (!L4_WHEN_KEYS.has(w.key)) note([w.key]);
    const pick = <T>(
      key: string,
      values: readonly string[],
      f: (v: readonly string[]) => T[],
    ): T[] => (w.key === key ? f(values) : []);
    clauses.push(
      create(ClauseSchema, {
        matches: [
          create(MatchSchema, {
            namespaces: pick('source.namespace', w.values, stringMatches),
            principals: pick('source.principal', w.values, stringMatches),
            sourceIps: pick('source.ip', w.values, ips),
            destinationPorts: pick('destination.port', w.values, ports),
            destinationIps: pick('destination.ip', w.values, ips),
            notNamespaces: pick('source.namespace', w.notValues, stringMatches),
            notPrincipals: pick('source.principal', w.notValues, stringMatches),
            notSourceIps: pick('source.ip', w.notValues, ips),
            notDestinationPorts: pick('destination.port', w.notValues, ports),
            notDestinationIps: pick('destination.ip', w.notValues, ips),
          }),
        ],
      }),
    );
  }
  // An ALLOW rule that needs HTTP attributes can never be satisfied at L4: drop it.
  if (action === Action.ALLOW && foundL7) return undefined;
  return create(RuleSchema, { clauses });
}

export interface ConvertedPolicy {
  /** Undefined when the policy does not apply to ztunnel. */
  authorization: Authorization | undefined;
  /** The policy's selector labels when it is a WORKLOAD_SELECTOR policy. */
  selector: Record<string, string> | undefined;
}

/** One AuthorizationPolicy for ztunnel. Policies with targetRefs return `authorization: undefined`. */
export function convertAuthorizationPolicy(
  pol: AuthorizationPolicy,
  rootNamespace: string,
  status: StatusSink,
): ConvertedPolicy {
  const { name, namespace } = pol.metadata;
  const say = (reason: string, msg: string) =>
    status.add('AuthorizationPolicy', namespace, name, reason, msg);
  let dryRun = false;
  const dr = pol.metadata.annotations[A.dryRun];
  if (dr !== undefined && dr !== '') {
    const parsed = parseBool(dr);
    if (parsed === undefined)
      say('InvalidValue', `${A.dryRun}="${dr}" is not a boolean; treated as false`);
    dryRun = parsed ?? false;
  }
  if (pol.spec.targetRefs.length > 0) return { authorization: undefined, selector: undefined };
  const scope = pol.spec.selector
    ? Scope.WORKLOAD_SELECTOR
    : namespace === rootNamespace
      ? Scope.GLOBAL
      : Scope.NAMESPACE;
  if (pol.spec.action !== 'ALLOW' && pol.spec.action !== 'DENY') {
    say(
      'UnsupportedValue',
      `ztunnel does not support the ${pol.spec.action} action; attach the policy to a waypoint with targetRefs`,
    );
    return { authorization: undefined, selector: undefined };
  }
  const action = pol.spec.action === 'DENY' ? Action.DENY : Action.ALLOW;
  const l7 = new Set<string>();
  const rules: Rule[] = [];
  for (const r of pol.spec.rules) {
    const converted = convertRule(action, r, namespace, l7);
    if (converted) rules.push(converted);
  }
  if (l7.size > 0) {
    const found = [...l7].sort().join(', ');
    const tail =
      action === Action.DENY && !hasEffectiveRules(rules)
        ? 'After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.'
        : action === Action.DENY
          ? 'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.'
          : 'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';
    say(
      'UnsupportedValue',
      `ztunnel does not support HTTP attributes (found: ${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ${tail}`,
    );
  }
  return {
    authorization: create(AuthorizationSchema, { name, namespace, scope, action, rules, dryRun }),
    selector: pol.spec.selector?.matchLabels,
  };
}
