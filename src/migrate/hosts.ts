/** Resolves Istio host names (short, namespaced, FQDN) to Services in the inventory. */
import type { Inventory, Item } from './inventory.js';
import type { ServiceSpecShape } from './shapes.js';

export type HostTarget =
  | { kind: 'service'; namespace: string; name: string; service: Item<ServiceSpecShape> }
  | { kind: 'serviceEntry'; namespace: string; name: string }
  | { kind: 'wildcard' }
  | { kind: 'unknown' };

/** "reviews", "reviews.bookinfo", "reviews.bookinfo.svc", "reviews.bookinfo.svc.cluster.local". */
export function serviceKeyOf(host: string, fromNamespace: string): { ns: string; name: string } {
  const parts = host.split('.');
  if (parts.length === 1) return { ns: fromNamespace, name: host };
  return { ns: parts[1] ?? fromNamespace, name: parts[0] ?? host };
}

export function resolveHost(inv: Inventory, host: string, fromNamespace: string): HostTarget {
  if (host.includes('*')) return { kind: 'wildcard' };
  const parts = host.split('.');
  const isSvcName = parts.length <= 2 || parts[2] === 'svc';
  if (isSvcName) {
    const { ns, name } = serviceKeyOf(host, fromNamespace);
    const service = inv.services.find((s) => s.meta.namespace === ns && s.meta.name === name);
    if (service !== undefined) return { kind: 'service', namespace: ns, name, service };
  }
  const se = inv.serviceEntries.find((s) => (s.spec.hosts ?? []).includes(host));
  if (se !== undefined)
    return { kind: 'serviceEntry', namespace: se.meta.namespace, name: se.meta.name };
  return { kind: 'unknown' };
}

/** Name of the generated Service for a DestinationRule subset. */
export function subsetServiceName(service: string, subset: string): string {
  return `${service}-${subset}`.slice(0, 63).replace(/-+$/, '');
}
