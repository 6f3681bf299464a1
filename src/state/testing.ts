/**
 * Builders for tests (here and in other folders): domain objects with
 * ztunnel's defaults, overridable field by field.
 */
import { failer, finishWorkload } from './build.js';
import { StateErrors } from './errors.js';
import type { Match, Policy, Service, Workload } from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A workload; `uid` defaults to `Kubernetes//Pod/<namespace>/<name>`. */
export function makeWorkload(
  o: Partial<Omit<Workload, 'identity'>> & { name: string; namespace?: string },
): Workload {
  const namespace = o.namespace ?? 'default';
  const uid = o.uid ?? `Kubernetes//Pod/${namespace}/${o.name}`;
  return finishWorkload(
    {
      uid,
      namespace,
      workloadIps: [],
      hostname: '',
      network: '',
      protocol: 'HBONE',
      trustDomain: '',
      serviceAccount: '',
      node: '',
      canonicalName: '',
      canonicalRevision: '',
      workloadType: 'deployment',
      workloadName: '',
      nativeTunnel: false,
      services: new Map(),
      authorizationPolicies: [],
      status: 'Healthy',
      clusterId: '',
      locality: { region: '', zone: '', subzone: '' },
      networkMode: 'Standard',
      capacity: 1,
      ...o,
    },
    failer(StateErrors.RESOURCE_INVALID, `workload "${uid}"`),
  );
}

/** A service; hostname defaults to `<name>.<namespace>.svc.cluster.local`. */
export function makeService(o: Partial<Service> & { name: string; namespace?: string }): Service {
  const namespace = o.namespace ?? 'default';
  return {
    hostname: `${o.name}.${namespace}.svc.cluster.local`,
    vips: [],
    ports: new Map(),
    subjectAltNames: [],
    canonical: false,
    ...o,
    namespace,
  };
}

/** A match with every field empty, then `o`. */
export function makeMatch(o: Partial<Match> = {}): Match {
  const m: Mutable<Match> = {
    namespaces: [],
    notNamespaces: [],
    serviceAccounts: [],
    notServiceAccounts: [],
    principals: [],
    notPrincipals: [],
    sourceIps: [],
    notSourceIps: [],
    destinationIps: [],
    notDestinationIps: [],
    destinationPorts: [],
    notDestinationPorts: [],
  };
  return { ...m, ...o };
}

/** A policy: namespace `default`, scope Namespace, action Allow, not dry-run. */
export function makePolicy(o: Partial<Policy> & { name: string }): Policy {
  return {
    namespace: 'default',
    scope: 'Namespace',
    action: 'Allow',
    rules: [],
    dryRun: false,
    ...o,
  };
}
