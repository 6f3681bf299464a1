/**
 * `ambit migrate check` as a pure function: per namespace a verdict
 * (ready / ready after automatic conversion / blocked), the reasons, and the
 * ordered steps to migrate it.
 */
import type { ManifestProblem } from '../kube/index.js';
import { hasSidecar } from './analyze/injection.js';
import { type Conversion, convert, type NamespacePlan } from './convert.js';
import type { EquivalenceResult } from './equivalence/check.js';
import type { Inventory } from './inventory.js';
import type { Finding, Severity } from './types.js';

export type Verdict = 'ready' | 'ready-after-conversion' | 'blocked' | 'not-in-mesh';

export interface WorkloadRow {
  kind: string;
  name: string;
  replicas: number;
  sidecar: boolean;
  findings: number;
}

export interface NamespaceReport {
  name: string;
  verdict: Verdict;
  enrolled: boolean;
  waypoint: boolean;
  reasons: string[];
  steps: string[];
  workloads: WorkloadRow[];
  counts: Record<Severity, number>;
}

export interface CheckReport {
  namespaces: NamespaceReport[];
  findings: Finding[];
  equivalence: EquivalenceResult[];
  problems: ManifestProblem[];
  invalid: Conversion['invalid'];
}

// Enrolment itself is not "conversion": a namespace whose only change is its label is ready.
const ENROLMENT = new Set(['inj.namespace', 'inj.revision']);

function verdictOf(plan: NamespacePlan, findings: readonly Finding[]): Verdict {
  if (findings.some((f) => f.severity === 'blocker')) return 'blocked';
  const converted = plan.objects.some((o) => o.kind !== 'Namespace');
  const auto = findings.some(
    (f) => (f.severity === 'auto' || f.severity === 'warning') && !ENROLMENT.has(f.id),
  );
  if (converted || auto) return 'ready-after-conversion';
  return plan.enrolled ? 'ready' : 'not-in-mesh';
}

function count(objects: readonly Record<string, unknown>[], kind: string): number {
  return objects.filter((o) => o.kind === kind).length;
}

/** The ordered migration steps for one namespace. `dir` is where convert writes. */
export function stepsFor(
  plan: NamespacePlan,
  findings: readonly Finding[],
  dir = '<dir>',
): string[] {
  const ns = plan.name;
  const steps: string[] = [];
  const blockers = findings.filter((f) => f.severity === 'blocker');
  if (blockers.length > 0) {
    steps.push(
      `Resolve ${blockers.length} blocker(s): ${[...new Set(blockers.map((b) => `${b.resource}: ${b.feature}`))].join('; ')}.`,
    );
  }
  const nps = count(plan.objects, 'NetworkPolicy');
  if (nps > 0)
    steps.push(
      `Open HBONE first: ${nps} NetworkPolicy patch(es) add TCP 15008 (and the probe source 169.254.7.127/32) — applied with the file below, before any pod moves.`,
    );
  if (plan.waypoint)
    steps.push(
      `Deploy the waypoint (Gateway "waypoint", class istio-waypoint, HBONE 15008) and wait until it is Programmed: L7 routing or policy in ${ns} needs it.`,
    );
  const converted = plan.objects.filter(
    (o) => o.kind !== 'Namespace' && o.kind !== 'NetworkPolicy' && o.kind !== 'Gateway',
  );
  if (converted.length > 0 || nps > 0 || plan.enrolled) {
    const kinds = [...new Set(converted.map((o) => String(o.kind)))].map(
      (k) => `${count(converted, k)} ${k}`,
    );
    steps.push(
      `Apply ${dir}/manifests/${ns}.yaml with \`ambit apply -f ${dir}/manifests/${ns}.yaml\`${kinds.length ? ` (${kinds.join(', ')})` : ''}.`,
    );
  }
  if (plan.optOut.length > 0) {
    steps.push(
      `Keep out of the mesh: label the pod templates of ${plan.optOut.join(', ')} with istio.io/dataplane-mode=none.`,
    );
  }
  if (plan.enrolled) {
    const drop = plan.dropLabels.map((l) => ` ${l}-`).join('');
    steps.push(
      `Enrol: \`kubectl label namespace ${ns} istio.io/dataplane-mode=ambient${plan.waypoint ? ' istio.io/use-waypoint=waypoint' : ''}${drop} --overwrite\`.`,
    );
    steps.push(
      `Restart workloads to drop their sidecars: \`kubectl rollout restart deployment,statefulset,daemonset -n ${ns}\` (Jobs and CronJobs pick it up on their next run).`,
    );
  }
  if (plan.retire.length > 0)
    steps.push(`Delete the sidecar-era objects now replaced: ${plan.retire.join(', ')}.`);
  if (plan.enrolled || converted.length > 0)
    steps.push(
      `Verify: replay ${dir}/samples.json against the mesh and run \`ambit migrate check\` again.`,
    );
  return steps;
}

export function check(inv: Inventory, conversion: Conversion = convert(inv)): CheckReport {
  const namespaces = conversion.namespaces.map((plan): NamespaceReport => {
    const fs = conversion.findings.filter((f) => f.namespace === plan.name);
    const workloads = inv.workloads
      .filter((w) => w.meta.namespace === plan.name)
      .map((w) => ({
        kind: w.kind,
        name: w.meta.name,
        replicas: w.replicas,
        sidecar: hasSidecar(inv, w),
        findings: fs.filter((f) => f.workloads.includes(`${w.kind} ${w.meta.name}`)).length,
      }));
    const counts: Record<Severity, number> = { blocker: 0, auto: 0, warning: 0, info: 0 };
    for (const f of fs) counts[f.severity]++;
    return {
      name: plan.name,
      verdict: verdictOf(plan, fs),
      enrolled: plan.enrolled,
      waypoint: plan.waypoint,
      reasons: fs
        .filter((f) => f.severity === 'blocker')
        .map((f) => `${f.resource}: ${f.feature}${f.detail ? ` (${f.detail})` : ''}`),
      steps: stepsFor(plan, fs),
      workloads,
      counts,
    };
  });
  return {
    namespaces: namespaces.filter(
      (n) => n.verdict !== 'not-in-mesh' || n.workloads.length > 0 || n.counts.info > 0,
    ),
    findings: conversion.findings,
    equivalence: conversion.equivalence,
    problems: inv.problems,
    invalid: conversion.invalid,
  };
}
