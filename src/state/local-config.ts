/**
 * ztunnel's local config YAML (`LOCAL_XDS_PATH`): workloads, services and
 * policies in camelCase, unknown keys rejected. Each item is validated on its
 * own so the error names it (`workloads[1] (dev//Pod/shop/x): ...`).
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AmbitError } from '../core/errors.js';
import { type Fail, failer, finishWorkload } from './build.js';
import { StateErrors } from './errors.js';
import { IpNet, normalizeIp } from './ip.js';
import type { StateSnapshot } from './proxy-state.js';
import type {
  GatewayAddress,
  Match,
  NetworkAddress,
  Policy,
  PortMap,
  Service,
  StringMatch,
  Workload,
} from './types.js';

const str = z.string().default('');
const port = z.number().int().min(1).max(65535);
const ip = z.string().transform((s, ctx) => {
  const n = normalizeIp(s);
  if (n === undefined) ctx.addIssue({ code: 'custom', message: `"${s}" is not an IP address` });
  return n ?? s;
});
const portMap = z
  .record(z.string(), z.number().int().min(0).max(65535))
  .default({})
  .transform((rec, ctx): PortMap => {
    const m = new Map<number, number>();
    for (const [k, v] of Object.entries(rec)) {
      const p = Number(k);
      if (!/^\d+$/.test(k) || p < 1 || p > 65535)
        ctx.addIssue({ code: 'custom', message: `"${k}" is not a port`, path: [k] });
      m.set(p, v);
    }
    return m;
  });

/** `network/ip`; empty network = default. */
function networkAddress(s: string): NetworkAddress | undefined {
  const slash = s.lastIndexOf('/');
  const address = normalizeIp(slash === -1 ? s : s.slice(slash + 1));
  if (slash === -1 || address === undefined) return undefined;
  return { network: s.slice(0, slash), address };
}

const vip = z.string().transform((s, ctx) => {
  const a = networkAddress(s);
  if (a === undefined)
    ctx.addIssue({
      code: 'custom',
      message: `"${s}" is not "<network>/<ip>" (network may be empty)`,
    });
  return a ?? { network: '', address: s };
});

// ztunnel's form is `destination: "network/ip"` or `"namespace/hostname"`;
// the object forms are accepted too.
const gateway = z
  .strictObject({
    destination: z.union([
      z.string(),
      z.strictObject({ network: str, address: z.string() }),
      z.strictObject({ namespace: z.string(), hostname: z.string() }),
    ]),
    hboneMtlsPort: port.default(15008),
  })
  .transform((g, ctx): GatewayAddress => {
    const d = g.destination;
    const bad = (why: string): GatewayAddress => {
      ctx.addIssue({ code: 'custom', message: why, path: ['destination'] });
      return { destination: { kind: 'address', network: '', address: '' }, hboneMtlsPort: 0 };
    };
    if (typeof d === 'string') {
      const a = networkAddress(d);
      if (a !== undefined)
        return { destination: { kind: 'address', ...a }, hboneMtlsPort: g.hboneMtlsPort };
      const slash = d.indexOf('/');
      if (slash <= 0 || slash === d.length - 1)
        return bad(`"${d}" is neither "network/ip" nor "namespace/hostname"`);
      return {
        destination: {
          kind: 'hostname',
          namespace: d.slice(0, slash),
          hostname: d.slice(slash + 1),
        },
        hboneMtlsPort: g.hboneMtlsPort,
      };
    }
    if ('address' in d) {
      const address = normalizeIp(d.address);
      if (address === undefined) return bad(`"${d.address}" is not an IP address`);
      return {
        destination: { kind: 'address', network: d.network, address },
        hboneMtlsPort: g.hboneMtlsPort,
      };
    }
    return { destination: { kind: 'hostname', ...d }, hboneMtlsPort: g.hboneMtlsPort };
  });

const workloadSchema = z.strictObject({
  uid: str,
  name: str,
  namespace: z.string().min(1),
  workloadIps: z.array(ip).default([]),
  hostname: str,
  network: str,
  protocol: z.enum(['HBONE', 'TCP']).default('TCP'),
  trustDomain: str,
  serviceAccount: str,
  waypoint: gateway.optional(),
  networkGateway: gateway.optional(),
  node: str,
  canonicalName: str,
  canonicalRevision: str,
  workloadType: z.enum(['deployment', 'cronjob', 'pod', 'job']).default('deployment'),
  workloadName: str,
  nativeTunnel: z.boolean().default(false),
  applicationTunnel: z
    .strictObject({ protocol: z.enum(['NONE', 'PROXY']).default('NONE'), port: port.optional() })
    .optional(),
  services: z.record(z.string(), portMap).default({}),
  authorizationPolicies: z.array(z.string()).default([]),
  status: z.enum(['Healthy', 'Unhealthy']).default('Healthy'),
  clusterId: str,
  locality: z
    .strictObject({ region: str, zone: str, subzone: str })
    .default({ region: '', zone: '', subzone: '' }),
  networkMode: z.enum(['Standard', 'HostNetwork']).default('Standard'),
  capacity: z.number().int().min(0).default(1),
});

const serviceSchema = z.strictObject({
  name: str,
  namespace: z.string().min(1),
  hostname: z.string().min(1),
  vips: z.array(vip).default([]),
  ports: portMap,
  subjectAltNames: z.array(z.string()).default([]),
  waypoint: gateway.optional(),
  loadBalancer: z
    .strictObject({
      routingPreferences: z
        .array(z.enum(['Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network']))
        .default([]),
      mode: z.enum(['Standard', 'Strict', 'Failover', 'Passthrough']).default('Standard'),
      healthPolicy: z.enum(['OnlyHealthy', 'AllowAll']).default('OnlyHealthy'),
    })
    .optional(),
  ipFamilies: z.enum(['Dual', 'IPv4', 'IPv6']).optional(),
  canonical: z.boolean().default(false),
});

// Accepts `{exact: x}` (camelCase) and ztunnel's serde form `{Exact: x}`;
// presence is `{presence: {}}` (or `{Presence: []}`).
const stringMatch = z.record(z.string(), z.unknown()).transform((o, ctx): StringMatch => {
  const keys = Object.keys(o);
  const k = keys[0]?.toLowerCase();
  const v = keys[0] === undefined ? undefined : o[keys[0]];
  if (
    keys.length === 1 &&
    (k === 'exact' || k === 'prefix' || k === 'suffix') &&
    typeof v === 'string'
  )
    return k === 'exact' ? { exact: v } : k === 'prefix' ? { prefix: v } : { suffix: v };
  if (keys.length === 1 && k === 'presence') return { presence: true };
  ctx.addIssue({
    code: 'custom',
    message: 'must be one of {exact|prefix|suffix: string} or {presence: {}}',
  });
  return { presence: true };
});
const cidr = z.string().transform((s, ctx) => {
  const n = IpNet.parse(s);
  if (n === undefined) ctx.addIssue({ code: 'custom', message: `"${s}" is not an IP or CIDR` });
  return n as IpNet;
});
const list = <T extends z.ZodType>(t: T) => z.array(t).default([]);
const sa = z.strictObject({ namespace: z.string(), serviceAccount: z.string() });
const matchSchema = z.strictObject({
  namespaces: list(stringMatch),
  notNamespaces: list(stringMatch),
  serviceAccounts: list(sa),
  notServiceAccounts: list(sa),
  principals: list(stringMatch),
  notPrincipals: list(stringMatch),
  sourceIps: list(cidr),
  notSourceIps: list(cidr),
  destinationIps: list(cidr),
  notDestinationIps: list(cidr),
  destinationPorts: list(port),
  notDestinationPorts: list(port),
});
const policySchema = z.strictObject({
  name: z.string().min(1),
  namespace: str,
  scope: z.enum(['Global', 'Namespace', 'WorkloadSelector']),
  action: z.enum(['Allow', 'Deny']),
  rules: z.array(z.array(z.array(matchSchema))).default([]),
  dryRun: z.boolean().default(false),
});

const topSchema = z.strictObject({
  workloads: z.array(z.unknown()).nullish(),
  services: z.array(z.unknown()).nullish(),
  policies: z.array(z.unknown()).nullish(),
});

function describe(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function label(
  kind: string,
  i: number,
  raw: unknown,
  key: (o: Record<string, unknown>) => string,
): string {
  const o = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const k = key(o);
  return k === '' ? `${kind}[${i}]` : `${kind}[${i}] (${k})`;
}

function item<T>(schema: z.ZodType<T>, raw: unknown, where: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new AmbitError(StateErrors.LOCAL_CONFIG_INVALID, `${where}: ${describe(r.error.issues)}`, {
    details: { item: where },
  });
}

/**
 * Parses the local config YAML into domain objects. Throws
 * `AMBIT_STATE_LOCAL_CONFIG_INVALID` naming the item and field. A workload
 * without a uid gets `<clusterId>//Pod/<namespace>/<name>`.
 */
export function parseLocalConfig(yamlText: string): StateSnapshot {
  const fail: Fail = failer(StateErrors.LOCAL_CONFIG_INVALID, 'local config');
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    return fail('yaml', (err as Error).message);
  }
  const top = item(topSchema, doc ?? {}, 'local config');
  const workloads: Workload[] = (top.workloads ?? []).map((raw, i) => {
    const where = label('workloads', i, raw, (o) => String(o.uid ?? o.name ?? ''));
    const w = item(workloadSchema, raw, where);
    const uid = w.uid || `${w.clusterId || 'Kubernetes'}//Pod/${w.namespace}/${w.name}`;
    const services = new Map(Object.entries(w.services));
    return finishWorkload({ ...w, uid, services }, failer(StateErrors.LOCAL_CONFIG_INVALID, where));
  });
  const services: Service[] = (top.services ?? []).map((raw, i) => {
    const where = label('services', i, raw, (o) =>
      o.hostname ? `${o.namespace}/${o.hostname}` : '',
    );
    return Object.freeze(item(serviceSchema, raw, where));
  });
  const policies: Policy[] = (top.policies ?? []).map((raw, i) => {
    const where = label('policies', i, raw, (o) =>
      o.name ? `${o.namespace ?? ''}/${o.name}` : '',
    );
    const p = item(policySchema, raw, where);
    return Object.freeze({ ...p, rules: p.rules as Match[][][] });
  });
  return { workloads, services, policies };
}
