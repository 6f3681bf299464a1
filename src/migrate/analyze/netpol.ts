/**
 * NetworkPolicies in namespaces to be enrolled. With ambient, traffic between
 * mesh pods arrives on TCP 15008 (HBONE) from the client pod's own IP, so every
 * rule that lets a peer in on some port must also let it in on 15008; kubelet
 * probes arrive from 169.254.7.127 (SNAT by the node agent).
 */
import { finding, itemContext } from '../features.js';
import { type Inventory, type Item, podLabels, type Workload } from '../inventory.js';
import { selects } from '../selector.js';
import type { NetworkPolicyPort, NetworkPolicyRule, NetworkPolicySpec } from '../shapes.js';
import type { Finding, JsonPatchOp } from '../types.js';
import { workloadsIn } from '../workloads.js';

export const HBONE_PORT = { port: 15008, protocol: 'TCP' } as const;
export const PROBE_SOURCE = '169.254.7.127/32';

export interface NetpolResult {
  findings: Finding[];
  /** Patched policies, ready to apply. */
  objects: Record<string, unknown>[];
}

/** Whether a rule's port list lets TCP 15008 through (no list = all ports). */
export function allowsHbone(ports: readonly NetworkPolicyPort[] | undefined): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== 'TCP') return false;
    if (p.port === undefined) return true;
    if (typeof p.port !== 'number') return false;
    return p.port === 15008 || (p.endPort !== undefined && p.port <= 15008 && 15008 <= p.endPort);
  });
}

function ipv4(s: string): number {
  return s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function cidrContains(cidr: string, ip: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  if (!base.includes('.')) return false;
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4(base) / size) === Math.floor(ipv4(ip) / size);
}

function allowsProbes(rule: NetworkPolicyRule): boolean {
  if (rule.from === undefined || rule.from.length === 0) return true;
  return rule.from.some(
    (p) => p.ipBlock !== undefined && cidrContains(p.ipBlock.cidr, '169.254.7.127'),
  );
}

function hasProbe(w: Workload): boolean {
  return (w.template.spec?.containers ?? []).some(
    (c) =>
      c.livenessProbe !== undefined ||
      c.readinessProbe !== undefined ||
      c.startupProbe !== undefined,
  );
}

function policyTypes(spec: NetworkPolicySpec): string[] {
  return spec.policyTypes ?? ['Ingress', ...(spec.egress === undefined ? [] : ['Egress'])];
}

/** Applies add ops (append with "/-", or create) to a deep copy. */
export function applyPatch(obj: unknown, ops: readonly JsonPatchOp[]): unknown {
  const copy = structuredClone(obj) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1);
    const last = parts.pop() ?? '';
    let cur: unknown = copy;
    for (const p of parts) cur = (cur as Record<string, unknown>)[p];
    if (Array.isArray(cur) && last === '-') cur.push(op.value);
    else (cur as Record<string, unknown>)[last] = op.value;
  }
  return copy;
}

function clean(raw: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const meta = { ...(raw.metadata as Record<string, unknown>) };
  for (const k of [
    'resourceVersion',
    'uid',
    'creationTimestamp',
    'managedFields',
    'generation',
    'selfLink',
  ])
    delete meta[k];
  const ann = { ...((meta.annotations as Record<string, string> | undefined) ?? {}) };
  delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  meta.annotations = { ...ann, 'migrate.ambit.dev/patched': 'allow HBONE (TCP 15008)' };
  const { status: _status, ...rest } = raw;
  return { ...rest, metadata: meta };
}

/** Checks and patches the NetworkPolicies of one namespace. */
export function analyzeNetworkPolicies(inv: Inventory, ns: string): NetpolResult {
  const out: NetpolResult = { findings: [], objects: [] };
  const policies = inv.networkPolicies.filter((p) => p.meta.namespace === ns);
  const workloads = workloadsIn(inv, ns);
  const selected = (p: Item<NetworkPolicySpec>) =>
    workloads.filter((w) => selects(p.spec.podSelector, podLabels(w)));
  // Probes are fixed once per pod: NetworkPolicies are additive.
  const probesOk = new Set<Workload>();
  for (const p of policies) {
    if (policyTypes(p.spec).includes('Ingress') && (p.spec.ingress ?? []).some(allowsProbes)) {
      for (const w of selected(p)) probesOk.add(w);
    }
  }
  for (const p of policies) {
    const types = policyTypes(p.spec);
    const ops: JsonPatchOp[] = [];
    const ctx = (o?: JsonPatchOp[]) => ({
      ...itemContext(p, selected(p)),
      ...(o === undefined ? {} : { patch: o }),
    });
    const ingressOps: JsonPatchOp[] = [];
    if (types.includes('Ingress')) {
      (p.spec.ingress ?? []).forEach((rule, i) => {
        if (!allowsHbone(rule.ports))
          ingressOps.push({
            op: 'add',
            path: `/spec/ingress/${i}/ports/-`,
            value: { ...HBONE_PORT },
          });
      });
      if (ingressOps.length > 0) {
        out.findings.push(
          finding(
            'np.hbone',
            ctx(ingressOps),
            `${ingressOps.length} ingress rule(s) allow ports but not TCP 15008`,
          ),
        );
      }
      ops.push(...ingressOps);
      const probed = selected(p).filter((w) => hasProbe(w) && !probesOk.has(w));
      if (probed.length > 0) {
        const rule = { from: [{ ipBlock: { cidr: PROBE_SOURCE } }] };
        const probeOps: JsonPatchOp[] =
          p.spec.ingress === undefined
            ? [{ op: 'add', path: '/spec/ingress', value: [rule] }]
            : [{ op: 'add', path: '/spec/ingress/-', value: rule }];
        for (const w of probed) probesOk.add(w);
        out.findings.push(
          finding(
            'np.probes',
            ctx(probeOps),
            `probes of ${probed.map((w) => w.meta.name).join(', ')} would be dropped`,
          ),
        );
        ops.push(...probeOps);
      }
    }
    if (types.includes('Egress')) {
      const egressOps: JsonPatchOp[] = [];
      (p.spec.egress ?? []).forEach((rule, i) => {
        if (!allowsHbone(rule.ports))
          egressOps.push({
            op: 'add',
            path: `/spec/egress/${i}/ports/-`,
            value: { ...HBONE_PORT },
          });
      });
      if (egressOps.length > 0) {
        out.findings.push(
          finding(
            'np.hbone.egress',
            ctx(egressOps),
            `${egressOps.length} egress rule(s) allow ports but not TCP 15008`,
          ),
        );
      }
      ops.push(...egressOps);
    }
    if (ops.length === 0) {
      out.findings.push(
        finding(
          'np.ok',
          ctx(),
          types.includes('Ingress') ? 'ingress allows TCP 15008' : 'egress only',
        ),
      );
      continue;
    }
    out.objects.push(applyPatch(clean(p.raw), ops) as Record<string, unknown>);
  }
  return out;
}
