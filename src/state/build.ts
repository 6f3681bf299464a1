/**
 * Shared finishing step for both inputs (xDS protos and local YAML): applies
 * the defaults Istio elides on the wire and computes the workload identity.
 */
import { AmbitError } from '../core/errors.js';
import { DEFAULT_TRUST_DOMAIN, SpiffeId } from '../identity/index.js';
import type { Workload } from './types.js';

/** Default service account when elided. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';
/** Default cluster id when elided (ztunnel's default). */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
/** Default HBONE port on a waypoint / gateway. */
export const DEFAULT_HBONE_PORT = 15008;

/** Thrown by conversions; `fail(field, why)` names the resource in the message. */
export type Fail = (field: string, why: string) => never;

export function failer(code: string, resource: string): Fail {
  return (field, why) => {
    throw new AmbitError(code, `${resource}: ${field}: ${why}`, { details: { resource, field } });
  };
}

export type WorkloadDraft = Omit<Workload, 'identity' | 'trustDomain' | 'serviceAccount'> & {
  trustDomain: string;
  serviceAccount: string;
};

export function finishWorkload(d: WorkloadDraft, fail: Fail): Workload {
  if (d.uid === '') fail('uid', 'is required');
  if (d.namespace === '') fail('namespace', 'is required');
  const trustDomain = d.trustDomain || DEFAULT_TRUST_DOMAIN;
  const serviceAccount = d.serviceAccount || DEFAULT_SERVICE_ACCOUNT;
  let identity: SpiffeId;
  try {
    identity = SpiffeId.forWorkload(trustDomain, d.namespace, serviceAccount);
  } catch (err) {
    return fail('trustDomain/namespace/serviceAccount', (err as Error).message);
  }
  if (!Number.isInteger(d.capacity) || d.capacity < 0) fail('capacity', 'must be an integer >= 0');
  for (const key of d.services.keys()) {
    const slash = key.indexOf('/');
    if (slash <= 0 || slash === key.length - 1)
      fail(`services["${key}"]`, 'key must be "namespace/hostname"');
  }
  return Object.freeze({
    ...d,
    trustDomain,
    serviceAccount,
    identity,
    clusterId: d.clusterId || DEFAULT_CLUSTER_ID,
  });
}

export function checkPort(n: number, field: string, fail: Fail, allowZero = false): number {
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535)
    fail(field, `${n} is not a valid port`);
  return n;
}
