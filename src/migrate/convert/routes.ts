/**
 * VirtualServices → HTTPRoutes attached to their Service (GAMMA producer
 * routes, parentRef kind Service), plus what they need: a Service per
 * DestinationRule subset and ReferenceGrants for cross-namespace backends.
 */
import { type FeatureId, finding, itemContext } from '../features.js';
import { type HostTarget, resolveHost, serviceKeyOf, subsetServiceName } from '../hosts.js';
import type { Inventory, Item } from '../inventory.js';
import type { ServiceSpecShape, VirtualServiceSpec, VsDestination } from '../shapes.js';
import type { Finding } from '../types.js';
import type { GwRule, HTTPRouteObject, ParentRef } from './gw.js';
import { convertRule, type Resolve, type ResolvedDestination } from './rules.js';

export interface SubsetUse {
  namespace: string;
  service: string;
  subset: string;
}

/** A converted route and the VirtualService it came from, for the equivalence check. */
export interface RoutePair {
  vs: Item<VirtualServiceSpec>;
  host: string;
  parent: { namespace: string; name: string };
  route: HTTPRouteObject;
}

export interface RoutesResult {
  routes: HTTPRouteObject[];
  pairs: RoutePair[];
  subsets: SubsetUse[];
  /** Cross-namespace backends: route namespace → backend namespace/name. */
  grants: { from: string; to: string; name: string }[];
  findings: Finding[];
}

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'ambit-migrate' } as const;

function defaultPort(svc: Item<ServiceSpecShape> | undefined): number | undefined {
  return svc?.spec.ports?.[0]?.port;
}

/** The resolver both the converter and the VirtualService evaluator use. */
export function destinationResolver(inv: Inventory, fromNs: string): Resolve {
  return (dest: VsDestination): ResolvedDestination => {
    const t = resolveHost(inv, dest.host, fromNs);
    const port = dest.port?.number;
    if (t.kind === 'service') {
      const p = port ?? defaultPort(t.service);
      return {
        namespace: t.namespace,
        name: dest.subset === undefined ? t.name : subsetServiceName(t.name, dest.subset),
        ...(p === undefined ? {} : { port: p }),
      };
    }
    if (t.kind === 'serviceEntry') {
      return {
        namespace: t.namespace,
        name: t.name,
        group: 'networking.istio.io',
        kind: 'ServiceEntry',
        ...(port === undefined ? {} : { port }),
      };
    }
    const k = serviceKeyOf(dest.host, fromNs);
    return {
      namespace: k.ns,
      name: dest.subset === undefined ? k.name : subsetServiceName(k.name, dest.subset),
      ...(port === undefined ? {} : { port }),
    };
  };
}

function appliesToMesh(vs: VirtualServiceSpec): boolean {
  return vs.gateways === undefined || vs.gateways.length === 0 || vs.gateways.includes('mesh');
}

function parentOf(t: HostTarget): ParentRef | undefined {
  if (t.kind === 'service') return { group: '', kind: 'Service', name: t.name };
  if (t.kind === 'serviceEntry')
    return { group: 'networking.istio.io', kind: 'ServiceEntry', name: t.name };
  return undefined;
}

/** Converts every mesh VirtualService in the inventory. */
export function convertRoutes(inv: Inventory): RoutesResult {
  const out: RoutesResult = { routes: [], pairs: [], subsets: [], grants: [], findings: [] };
  const perParent = new Map<string, number>();
  for (const vs of inv.virtualServices) {
    const ctx = itemContext(vs);
    const add = (id: FeatureId, detail: string) => out.findings.push(finding(id, ctx, detail));
    const spec = vs.spec;
    if (!appliesToMesh(spec)) {
      add('vs.gateways', `bound to ${spec.gateways?.join(', ')}`);
      continue;
    }
    if ((spec.tcp?.length ?? 0) > 0 || (spec.tls?.length ?? 0) > 0)
      add('vs.tcp', 'tcp/tls routes are not converted');
    const ns = vs.meta.namespace;
    const resolve = destinationResolver(inv, ns);
    for (const host of spec.hosts ?? []) {
      const target = resolveHost(inv, host, ns);
      const parent = parentOf(target);
      if (target.kind === 'wildcard') {
        add('vs.host.wildcard', host);
        continue;
      }
      if (parent === undefined || target.kind === 'unknown') {
        add('vs.host.unknown', `${host} is not a Service or ServiceEntry in the input`);
        continue;
      }
      if (target.kind === 'serviceEntry') add('vs.host.serviceEntry', host);
      const routeNs = target.namespace;
      const parentKey = `${routeNs}/${parent.kind}/${parent.name}`;
      const seen = perParent.get(parentKey) ?? 0;
      perParent.set(parentKey, seen + 1);
      if (seen > 0) add('vs.host.duplicate', `${host} also routed by another VirtualService`);
      if (
        inv.httpRoutes.some(
          (r) =>
            r.meta.namespace === routeNs &&
            JSON.stringify(r.spec).includes(`"name":"${parent.name}"`),
        )
      ) {
        add('vs.mixed', `an HTTPRoute in ${routeNs} already references ${parent.name}`);
      }
      const rules: GwRule[] = [];
      (spec.http ?? []).forEach((rule, i) => {
        const r = convertRule(rule, `http[${i}]`, routeNs, resolve, spec.gateways);
        for (const n of r.notes) add(n.id, n.detail);
        if (r.rule !== undefined) rules.push(r.rule);
        for (const d of rule.route ?? []) {
          const dt = resolveHost(inv, d.destination.host, ns);
          if (d.destination.subset !== undefined && dt.kind === 'service') {
            out.subsets.push({
              namespace: dt.namespace,
              service: dt.name,
              subset: d.destination.subset,
            });
          }
          if (dt.kind === 'service' && dt.namespace !== routeNs) {
            out.grants.push({ from: routeNs, to: dt.namespace, name: dt.name });
          }
        }
      });
      if (rules.length === 0) continue;
      const hosts = spec.hosts ?? [];
      const name = hosts.length > 1 ? `${vs.meta.name}-${parent.name}` : vs.meta.name;
      const route: HTTPRouteObject = {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: {
          name,
          namespace: routeNs,
          labels: { ...MANAGED_BY },
          annotations: { 'migrate.ambit.dev/from': `VirtualService ${ns}/${vs.meta.name}` },
        },
        spec: { parentRefs: [parent], rules },
      };
      out.routes.push(route);
      out.pairs.push({ vs, host, parent: { namespace: routeNs, name: parent.name }, route });
    }
  }
  return out;
}
