/**
 * `ambit migrate convert` as a pure function: the inventory in, the ambient
 * configuration per namespace out, with every finding and the route
 * equivalence table. `check` runs the same conversion, so the verdict always
 * describes what convert would write.
 */
import { analyzeEnvoyFilter } from './analyze/envoyfilter.js';
import {
  analyzeNamespaceInjection,
  analyzeWorkloadInjection,
  hasSidecar,
  namespaceInjected,
} from './analyze/injection.js';
import { analyzeNetworkPolicies } from './analyze/netpol.js';
import { analyzeSecurity } from './analyze/security.js';
import { needsRetarget, retarget } from './convert/authz.js';
import type { HTTPRouteObject } from './convert/gw.js';
import { convertDestinationRules } from './convert/policies.js';
import { convertRoutes, destinationResolver } from './convert/routes.js';
import { namespaceLabels, referenceGrant, waypointGateway } from './convert/waypoint.js';
import { checkEquivalence, type EquivalenceResult } from './equivalence/check.js';
import { finding, itemContext } from './features.js';
import type { Inventory } from './inventory.js';
import { schemaError } from './models.js';
import type { Finding } from './types.js';

export interface NamespacePlan {
  name: string;
  /** Has sidecars today (injection on, or workloads with sidecars). */
  enrolled: boolean;
  waypoint: boolean;
  /** Objects to apply, in apply order. */
  objects: Record<string, unknown>[];
  /** Sidecar-era objects to delete at cutover ("VirtualService reviews"). */
  retire: string[];
  /** Workloads that must opt out (`istio.io/dataplane-mode=none`). */
  optOut: string[];
  /** Namespace labels to remove (`istio-injection`, `istio.io/rev`). */
  dropLabels: string[];
}

export interface Conversion {
  namespaces: NamespacePlan[];
  findings: Finding[];
  equivalence: EquivalenceResult[];
  /** Converted objects that failed schema validation and were not written. */
  invalid: { object: string; error: string }[];
}

const APPLY_ORDER = [
  'Namespace',
  'NetworkPolicy',
  'Gateway',
  'Service',
  'ReferenceGrant',
  'HTTPRoute',
  'BackendPolicy',
  'RateLimitPolicy',
  'RequestAuthentication',
  'AuthorizationPolicy',
  'WasmPlugin',
];

function nsOf(o: Record<string, unknown>): string {
  const m = o.metadata as { namespace?: string; name: string };
  return o.kind === 'Namespace' ? m.name : (m.namespace ?? 'default');
}

function label(o: Record<string, unknown>): string {
  const m = o.metadata as { namespace?: string; name: string };
  return `${String(o.kind)} ${m.namespace ? `${m.namespace}/` : ''}${m.name}`;
}

export function convert(inv: Inventory): Conversion {
  const findings: Finding[] = [];
  const objects: Record<string, unknown>[] = [];
  const retire = new Map<string, Set<string>>();
  const retireIn = (ns: string, what: string) =>
    retire.set(ns, (retire.get(ns) ?? new Set()).add(what));

  const routes = convertRoutes(inv);
  findings.push(...routes.findings);
  objects.push(...(routes.routes as unknown as Record<string, unknown>[]));
  for (const p of routes.pairs) retireIn(p.vs.meta.namespace, `VirtualService ${p.vs.meta.name}`);

  const drs = convertDestinationRules(inv, routes.subsets);
  findings.push(...drs.findings);
  objects.push(...drs.objects);
  for (const dr of inv.destinationRules)
    retireIn(dr.meta.namespace, `DestinationRule ${dr.meta.name}`);

  for (const ef of inv.envoyFilters) {
    const r = analyzeEnvoyFilter(inv, ef);
    findings.push(...r.findings);
    objects.push(...r.objects);
    if (r.objects.length > 0) retireIn(ef.meta.namespace, `EnvoyFilter ${ef.meta.name}`);
  }

  const grants = new Map<string, Set<string>>();
  for (const g of routes.grants)
    grants.set(`${g.from}|${g.to}`, (grants.get(`${g.from}|${g.to}`) ?? new Set()).add(g.name));
  for (const [key, names] of grants) {
    const [from = '', to = ''] = key.split('|');
    objects.push(referenceGrant(from, to, [...names].sort()));
  }

  const waypoints = new Set<string>();
  for (const o of objects)
    if (o.kind !== 'ReferenceGrant' && o.kind !== 'Service') waypoints.add(nsOf(o));
  const policies = [
    ...inv.authorizationPolicies,
    ...inv.requestAuthentications,
    ...inv.wasmPlugins,
  ];
  for (const p of policies)
    if (needsRetarget(p, false) !== undefined) waypoints.add(p.meta.namespace);
  for (const p of policies) {
    const id = needsRetarget(p, waypoints.has(p.meta.namespace));
    if (id === undefined) {
      if (p.kind === 'AuthorizationPolicy')
        findings.push(finding('ap.l4', itemContext(p), 'L4 rules only'));
      continue;
    }
    const r = retarget(inv, p, id);
    objects.push(r.object);
    findings.push(r.finding);
    retireIn(p.meta.namespace, `${p.kind} ${p.meta.name}`);
  }
  findings.push(...analyzeSecurity(inv));
  for (const s of inv.sidecars) retireIn(s.meta.namespace, `Sidecar ${s.meta.name}`);

  const names = new Set<string>([
    ...inv.namespaces.keys(),
    ...inv.workloads.map((w) => w.meta.namespace),
    ...objects.map(nsOf),
    ...findings.map((f) => f.namespace),
  ]);
  const plans: NamespacePlan[] = [];
  for (const ns of [...names].sort()) {
    const labels = inv.namespaces.get(ns)?.meta.labels ?? {};
    const workloads = inv.workloads.filter((w) => w.meta.namespace === ns);
    const enrolled = namespaceInjected(labels) || workloads.some((w) => hasSidecar(inv, w));
    findings.push(...analyzeNamespaceInjection(inv, ns));
    for (const w of workloads) findings.push(...analyzeWorkloadInjection(inv, w));
    const own = objects.filter((o) => nsOf(o) === ns);
    if (enrolled) {
      const np = analyzeNetworkPolicies(inv, ns);
      findings.push(...np.findings);
      own.push(...np.objects);
      own.push(namespaceLabels(ns, waypoints.has(ns)));
    }
    if (waypoints.has(ns)) own.push(waypointGateway(ns));
    own.sort((a, b) => APPLY_ORDER.indexOf(String(a.kind)) - APPLY_ORDER.indexOf(String(b.kind)));
    plans.push({
      name: ns,
      enrolled,
      waypoint: waypoints.has(ns),
      objects: own,
      retire: [...(retire.get(ns) ?? [])].sort(),
      optOut: enrolled
        ? workloads
            .filter((w) => !hasSidecar(inv, w) && !w.template.spec?.hostNetwork)
            .map((w) => `${w.kind.toLowerCase()}/${w.meta.name}`)
        : [],
      dropLabels: ['istio-injection', 'istio.io/rev'].filter((l) => labels[l] !== undefined),
    });
  }

  const invalid: Conversion['invalid'] = [];
  for (const plan of plans) {
    plan.objects = plan.objects.filter((o) => {
      const error = schemaError(o);
      if (error !== undefined) invalid.push({ object: label(o), error });
      return error === undefined;
    });
  }

  const equivalence: EquivalenceResult[] = [];
  for (const pair of routes.pairs) {
    const attached = routes.routes.filter(
      (r: HTTPRouteObject) =>
        r.metadata.namespace === pair.parent.namespace &&
        r.spec.parentRefs.some((p) => p.name === pair.parent.name),
    );
    const result = checkEquivalence({
      virtualService: `${pair.vs.meta.namespace}/${pair.vs.meta.name}`,
      host: pair.host,
      http: pair.vs.spec.http ?? [],
      ...(pair.vs.spec.gateways === undefined ? {} : { gateways: pair.vs.spec.gateways }),
      resolve: destinationResolver(inv, pair.vs.meta.namespace),
      routes: attached,
    });
    equivalence.push(result);
    if (result.mismatches > 0) {
      findings.push(
        finding(
          'vs.equivalence',
          itemContext(pair.vs),
          `${result.mismatches} of ${result.rows.length} sample requests to ${pair.host} route differently`,
        ),
      );
    }
  }
  return { namespaces: plans, findings, equivalence, invalid };
}
