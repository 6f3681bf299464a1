/** Relations between workloads, Services and selectors within a namespace. */
import { type Inventory, type Item, podLabels, type Workload } from './inventory.js';
import { matchLabels } from './selector.js';
import type { ServiceSpecShape } from './shapes.js';

export function workloadsIn(inv: Inventory, ns: string): Workload[] {
  return inv.workloads.filter((w) => w.meta.namespace === ns);
}

/** Workloads an Istio `selector.matchLabels` picks (all of the namespace when absent). */
export function selectedWorkloads(
  inv: Inventory,
  ns: string,
  labels: Readonly<Record<string, string>> | undefined,
): Workload[] {
  return workloadsIn(inv, ns).filter((w) => matchLabels(labels, podLabels(w)));
}

/** Services whose selector picks any of the workloads' pods. */
export function servicesFor(
  inv: Inventory,
  workloads: readonly Workload[],
): Item<ServiceSpecShape>[] {
  return inv.services.filter((s) => {
    const sel = s.spec.selector;
    if (sel === undefined || Object.keys(sel).length === 0) return false;
    return workloads.some(
      (w) => w.meta.namespace === s.meta.namespace && matchLabels(sel, podLabels(w)),
    );
  });
}

export function describeWorkload(w: Workload): string {
  return `${w.kind} ${w.meta.name}`;
}
