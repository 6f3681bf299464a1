/**
 * PeerAuthentication for ambient, as Istio does it (policies.go,
 * authorization.go; architecture/ambient/peer-authentication.md):
 *
 * - When any PeerAuthentication exists, one static DENY policy
 *   `<root>/istio_converted_static_strict` (WORKLOAD_SELECTOR scope, match
 *   `notPrincipals: [presence]` = "deny callers without an identity") is sent.
 * - Each workload whose effective mode (mesh → namespace → workload, oldest
 *   wins at each level, UNSET inherits) is STRICT lists that policy in
 *   `authorization_policies`.
 * - A workload-selector policy (not in the root namespace) with
 *   portLevelMtls becomes `<ns>/converted_peer_authentication_<name>`, a DENY
 *   with per-port exceptions or per-port STRICT groups; a workload it
 *   selects lists that policy instead of (or next to) the static one.
 * - PERMISSIVE and UNSET add nothing. DISABLE acts as PERMISSIVE: ztunnel
 *   cannot turn mTLS off between enrolled workloads (status note).
 */
import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  Action,
  type Authorization,
  AuthorizationSchema,
  ClauseSchema,
  MatchSchema,
  type Rule,
  RuleSchema,
  Scope,
  StringMatchSchema,
} from '../../gen/istio/security/authorization_pb.js';
import type { MtlsMode, PeerAuthentication } from '../../kube/index.js';
import { labelsSubset } from '../../kube/index.js';
import { olderFirst } from './state.js';
import type { StatusSink } from './status.js';

export const STATIC_STRICT_POLICY = 'istio_converted_static_strict';

export function convertedPeerAuthName(name: string): string {
  return `converted_peer_authentication_${name}`;
}

const modeOf = (p: PeerAuthentication | undefined): MtlsMode => p?.spec.mtls?.mode ?? 'UNSET';
const isStrict = (m: MtlsMode | undefined) => m === 'STRICT';
const isUnset = (m: MtlsMode | undefined) => m === undefined || m === 'UNSET';
const isLax = (m: MtlsMode | undefined) => m === 'PERMISSIVE' || m === 'DISABLE';

function denyWithoutIdentity(ports: number[] = []): Rule {
  return create(RuleSchema, {
    clauses: [
      create(ClauseSchema, {
        matches: [
          create(MatchSchema, {
            notPrincipals: [
              create(StringMatchSchema, {
                matchType: { case: 'presence', value: create(EmptySchema) },
              }),
            ],
            destinationPorts: ports,
          }),
        ],
      }),
    ],
  });
}

export function staticStrictPolicy(rootNamespace: string): Authorization {
  return create(AuthorizationSchema, {
    name: STATIC_STRICT_POLICY,
    namespace: rootNamespace,
    scope: Scope.WORKLOAD_SELECTOR,
    action: Action.DENY,
    rules: [denyWithoutIdentity()],
  });
}

function sortedPorts(p: PeerAuthentication): Array<[number, MtlsMode]> {
  return Object.entries(p.spec.portLevelMtls)
    .map(([k, v]) => [Number(k), v.mode] as [number, MtlsMode])
    .sort((a, b) => a[0] - b[0]);
}

const oldest = (list: PeerAuthentication[]) => [...list].sort(olderFirst)[0];

export interface PeerAuthIndex {
  all: PeerAuthentication[];
  rootNamespace: string;
}

/** Mesh-level and namespace-level (selector-less) policies, oldest first. */
function levelPolicies(idx: PeerAuthIndex, ns: string) {
  const noSel = (p: PeerAuthentication) =>
    p.spec.selector === undefined || Object.keys(p.spec.selector.matchLabels).length === 0;
  const mesh = oldest(
    idx.all.filter((p) => p.metadata.namespace === idx.rootNamespace && noSel(p)),
  );
  const nsPol =
    ns === idx.rootNamespace
      ? undefined
      : oldest(idx.all.filter((p) => p.metadata.namespace === ns && noSel(p)));
  return { mesh, nsPol, noSel };
}

/** Keys of PeerAuthentication-derived policies a workload must list (Istio's convertedSelectorPeerAuthentications). */
export function peerAuthKeysForWorkload(
  idx: PeerAuthIndex,
  ns: string,
  labels: Record<string, string>,
): string[] {
  const { mesh, nsPol, noSel } = levelPolicies(idx, ns);
  const workload = oldest(
    idx.all.filter(
      (p) =>
        p.metadata.namespace === ns &&
        ns !== idx.rootNamespace &&
        !noSel(p) &&
        labelsSubset(p.spec.selector?.matchLabels ?? {}, labels),
    ),
  );
  let strict = false;
  if (mesh) strict = isStrict(modeOf(mesh));
  if (nsPol && !isUnset(modeOf(nsPol))) strict = isStrict(modeOf(nsPol));
  let portKey: string | undefined;
  if (workload) {
    const wMode = modeOf(workload);
    if (isStrict(wMode)) strict = true;
    if (isLax(wMode)) strict = false;
    const portModes = sortedPorts(workload).map(([, m]) => m);
    const key = `${ns}/${convertedPeerAuthName(workload.metadata.name)}`;
    if (portModes.length > 0) {
      if (isStrict(wMode)) {
        if (portModes.some(isLax)) {
          portKey = key;
          strict = false;
        }
      } else if (isLax(wMode)) {
        if (portModes.some(isStrict)) portKey = key;
      } else if (strict) {
        if (portModes.some((m) => m === 'PERMISSIVE')) {
          portKey = key;
          strict = false;
        }
      } else {
        strict = false;
        if (portModes.some(isStrict)) portKey = key;
      }
    }
  }
  const out = new Set<string>();
  if (strict) out.add(`${idx.rootNamespace}/${STATIC_STRICT_POLICY}`);
  if (portKey) out.add(portKey);
  return [...out].sort();
}

/** Converts one workload-selector PeerAuthentication with portLevelMtls (Istio's convertPeerAuthentication). */
export function convertPeerAuthentication(
  idx: PeerAuthIndex,
  pa: PeerAuthentication,
): Authorization | undefined {
  const ns = pa.metadata.namespace;
  if (
    ns === idx.rootNamespace ||
    pa.spec.selector === undefined ||
    Object.keys(pa.spec.portLevelMtls).length === 0
  ) {
    return undefined;
  }
  const { mesh: rootCfg, nsPol: nsCfg } = levelPolicies(idx, ns);
  const mode = modeOf(pa);
  const rules: Rule[] = [];
  const perPort: Rule[] = [];
  if (isStrict(mode)) rules.push(denyWithoutIdentity());
  let foundNonStrict = false;
  for (const [port, portMode] of sortedPorts(pa)) {
    if (isStrict(portMode)) {
      const parentStrict =
        isStrict(mode) ||
        (isUnset(mode) && nsCfg !== undefined && isStrict(modeOf(nsCfg))) ||
        ((nsCfg === undefined || isUnset(modeOf(nsCfg))) &&
          rootCfg !== undefined &&
          isStrict(modeOf(rootCfg)));
      if (parentStrict) continue;
      perPort.push(denyWithoutIdentity([port]));
    } else if (isLax(portMode)) {
      if (isLax(mode)) continue;
      if (
        isUnset(mode) &&
        ((nsCfg !== undefined && !isStrict(modeOf(nsCfg))) ||
          (nsCfg === undefined && rootCfg !== undefined && !isStrict(modeOf(rootCfg))) ||
          (nsCfg === undefined && rootCfg === undefined))
      ) {
        continue;
      }
      foundNonStrict = true;
      // Deny anything not on this port (no identity requirement): together with the
      // STRICT clause below, this exempts the port from STRICT.
      rules.push(
        create(RuleSchema, {
          clauses: [
            create(ClauseSchema, {
              matches: [create(MatchSchema, { notDestinationPorts: [port] })],
            }),
          ],
        }),
      );
    }
  }
  if (isStrict(mode) && !foundNonStrict) return undefined;
  if (rules.length === 0 && perPort.length === 0) return undefined;
  const mergeStrict =
    (rootCfg !== undefined &&
      isStrict(modeOf(rootCfg)) &&
      (nsCfg === undefined || isUnset(modeOf(nsCfg)) || isStrict(modeOf(nsCfg)))) ||
    (nsCfg !== undefined && isStrict(modeOf(nsCfg)));
  if (mergeStrict && foundNonStrict) rules.push(denyWithoutIdentity());
  // Istio's groups: each per-port STRICT group alone, then one group holding the AND of `rules`.
  const groups: Rule[] = [...perPort];
  if (rules.length > 0)
    groups.push(create(RuleSchema, { clauses: rules.flatMap((r) => r.clauses) }));
  return create(AuthorizationSchema, {
    name: convertedPeerAuthName(pa.metadata.name),
    namespace: ns,
    scope: Scope.WORKLOAD_SELECTOR,
    action: Action.DENY,
    rules: groups,
  });
}

export function peerAuthStatuses(idx: PeerAuthIndex, status: StatusSink): void {
  for (const p of idx.all) {
    const modes = [modeOf(p), ...Object.values(p.spec.portLevelMtls).map((m) => m.mode)];
    if (modes.includes('DISABLE')) {
      status.add(
        'PeerAuthentication',
        p.metadata.namespace,
        p.metadata.name,
        'UnsupportedValue',
        'DISABLE is not supported in ambient mode and acts as PERMISSIVE: ztunnel accepts plaintext but always uses mTLS between enrolled workloads',
      );
    }
  }
}
