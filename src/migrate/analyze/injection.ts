/**
 * Sidecar injection: which namespaces and workloads carry sidecars today, and
 * what each injection knob becomes in ambient.
 */
import { parse } from 'yaml';
import { type FeatureId, finding } from '../features.js';
import { type Inventory, podAnnotations, podLabels, type Workload } from '../inventory.js';
import type { Finding } from '../types.js';

const RESOURCE_ANNOTATIONS = new Set([
  'sidecar.istio.io/proxyCPU',
  'sidecar.istio.io/proxyMemory',
  'sidecar.istio.io/proxyCPULimit',
  'sidecar.istio.io/proxyMemoryLimit',
]);
const IGNORED_ANNOTATIONS = new Set(['sidecar.istio.io/inject', 'sidecar.istio.io/status']);
const HOLD_KEYS = new Set(['holdApplicationUntilProxyStarts', 'terminationDrainDuration']);

/** Whether the namespace labels turn injection on. */
export function namespaceInjected(labels: Readonly<Record<string, string>>): boolean {
  if (labels['istio-injection'] === 'disabled') return false;
  return labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined;
}

function nsLabels(inv: Inventory, ns: string): Record<string, string> {
  return inv.namespaces.get(ns)?.meta.labels ?? {};
}

/** Whether pods of this workload get (or have) a sidecar. */
export function hasSidecar(inv: Inventory, w: Workload): boolean {
  const containers = w.template.spec?.containers ?? [];
  if (containers.some((c) => c.name === 'istio-proxy')) return true;
  if ((w.template.spec?.initContainers ?? []).some((c) => c.name === 'istio-proxy')) return true;
  if (w.template.spec?.hostNetwork === true) return false;
  const flag =
    podLabels(w)['sidecar.istio.io/inject'] ?? podAnnotations(w)['sidecar.istio.io/inject'];
  if (flag === 'false') return false;
  if (flag === 'true') return true;
  return namespaceInjected(nsLabels(inv, w.meta.namespace));
}

export function analyzeNamespaceInjection(inv: Inventory, ns: string): Finding[] {
  const item = inv.namespaces.get(ns);
  if (item === undefined) return [];
  const ctx = { namespace: ns, resource: `Namespace ${ns}`, source: item.source };
  const labels = item.meta.labels;
  const out: Finding[] = [];
  if (labels['istio-injection'] === 'enabled')
    out.push(finding('inj.namespace', ctx, 'istio-injection=enabled'));
  if (labels['istio.io/rev'] !== undefined)
    out.push(finding('inj.revision', ctx, `istio.io/rev=${labels['istio.io/rev']}`));
  return out;
}

export function analyzeWorkloadInjection(inv: Inventory, w: Workload): Finding[] {
  const ctx = {
    namespace: w.meta.namespace,
    resource: `${w.kind} ${w.meta.name}`,
    workloads: [w],
    source: w.source,
  };
  const out: Finding[] = [];
  const add = (id: FeatureId, detail: string) => out.push(finding(id, ctx, detail));
  const annotations = podAnnotations(w);
  const flag = podLabels(w)['sidecar.istio.io/inject'] ?? annotations['sidecar.istio.io/inject'];
  const nsOn = namespaceInjected(nsLabels(inv, w.meta.namespace));
  if (w.template.spec?.hostNetwork === true) add('inj.hostNetwork', 'hostNetwork: true');
  if (flag === 'false' && nsOn) add('inj.pod.disabled', 'opted out of injection');
  if (!hasSidecar(inv, w)) return out;
  if (flag === 'true' && !nsOn) add('inj.pod.enabled', 'opted in to injection');
  const resources: string[] = [];
  const traffic: string[] = [];
  const other: string[] = [];
  for (const [k, v] of Object.entries(annotations)) {
    if (RESOURCE_ANNOTATIONS.has(k)) resources.push(`${k.slice('sidecar.istio.io/'.length)}=${v}`);
    else if (k.startsWith('traffic.sidecar.istio.io/'))
      traffic.push(`${k.slice('traffic.sidecar.istio.io/'.length)}=${v}`);
    else if (k === 'proxy.istio.io/config') analyzeProxyConfig(v, add);
    else if (k.includes('holdApplicationUntilProxyStarts')) add('inj.hold', `${k}=${v}`);
    else if (k.startsWith('sidecar.istio.io/') && !IGNORED_ANNOTATIONS.has(k)) other.push(k);
  }
  if (resources.length > 0) add('inj.resources', resources.join(', '));
  if (traffic.length > 0) add('inj.traffic', traffic.join(', '));
  if (other.length > 0) add('inj.other', other.join(', '));
  if (w.transient) {
    const quits = (w.template.spec?.containers ?? []).some((c) =>
      [...(c.command ?? []), ...(c.args ?? [])].join(' ').includes('quitquitquit'),
    );
    add(
      'inj.job',
      quits
        ? 'calls quitquitquit to stop the sidecar: remove that call'
        : 'the sidecar kept completed pods running until killed',
    );
  }
  return out;
}

function analyzeProxyConfig(value: string, add: (id: FeatureId, detail: string) => void): void {
  let cfg: unknown;
  try {
    cfg = parse(value);
  } catch {
    add('inj.proxyConfig', 'proxy.istio.io/config is not valid YAML');
    return;
  }
  if (typeof cfg !== 'object' || cfg === null) return;
  const keys = Object.keys(cfg);
  const hold = keys.filter((k) => HOLD_KEYS.has(k));
  const rest = keys.filter((k) => !HOLD_KEYS.has(k));
  if (hold.length > 0) add('inj.hold', `proxy.istio.io/config: ${hold.join(', ')}`);
  if (rest.length > 0) add('inj.proxyConfig', `proxy.istio.io/config: ${rest.join(', ')}`);
}
