/**
 * ztunnel's local config YAML (`LOCAL_XDS_PATH`): workloads, services and
 * policies in camelCase, unknown keys rejected. Each item is validated on its
 * own so the error names it (`workloads[1] (dev//Pod/shop/x): ...`).
 */
import { parse as parseYaml } from 'yaml';
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

// A small validator instead of a schema library: zod costs a ztunnel ~10 MB
// of RSS (its core is ~90 modules), for a file of a few dozen fields.
// A validator returns the parsed value or throws an Issue at a path; the
// first issue is reported (`services[0] (ns/h): vips.0: ...`).

type Path = readonly (string | number)[];
class Issue extends Error {
  constructor(
    readonly path: Path,
    message: string,
  ) {
    super(message);
  }
}
type V<T> = (v: unknown, path: Path) => T;
type Out<S> = S extends V<infer T> ? T : never;

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
const expected = (what: string, v: unknown, path: Path): never => {
  throw new Issue(path, `expected ${what}, received ${typeName(v)}`);
};
const string: V<string> = (v, path) => (typeof v === 'string' ? v : expected('string', v, path));
const nonEmpty: V<string> = (v, path) => {
  const s = string(v, path);
  if (s === '') throw new Issue(path, 'must not be empty');
  return s;
};
const boolean: V<boolean> = (v, path) =>
  typeof v === 'boolean' ? v : expected('boolean', v, path);
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): V<number> =>
  (v, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return expected('integer', v, path);
    if (v < min || v > max) throw new Issue(path, `must be between ${min} and ${max}`);
    return v;
  };
const oneOf =
  <const T extends string>(values: readonly T[]): V<T> =>
  (v, path) => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    throw new Issue(path, `must be one of ${values.join(', ')}; got ${JSON.stringify(v)}`);
  };
/** Absent (undefined) → the default; null is not absent, as in zod. */
const withDefault =
  <T>(inner: V<T>, d: () => T): V<T> =>
  (v, path) =>
    v === undefined ? d() : inner(v, path);
const optional =
  <T>(inner: V<T>): V<T | undefined> =>
  (v, path) =>
    v === undefined ? undefined : inner(v, path);
const array =
  <T>(inner: V<T>): V<T[]> =>
  (v, path) =>
    Array.isArray(v) ? v.map((x, i) => inner(x, [...path, i])) : expected('array', v, path);
const list = <T>(inner: V<T>): V<T[]> => withDefault(array(inner), () => []);
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const record =
  <T>(inner: V<T>): V<Record<string, T>> =>
  (v, path) => {
    if (!isObject(v)) return expected('object', v, path);
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) out[k] = inner(x, [...path, k]);
    return out;
  };
/** Unknown keys are rejected (the config is hand-written; a typo must not pass silently). */
const strictObject =
  <S extends Record<string, V<unknown>>>(shape: S): V<{ [K in keyof S]: Out<S[K]> }> =>
  (v, path) => {
    if (!isObject(v)) return expected('object', v, path);
    const unknown = Object.keys(v).filter((k) => !Object.hasOwn(shape, k));
    if (unknown.length > 0)
      throw new Issue(path, `unrecognized key(s): ${unknown.map((k) => `"${k}"`).join(', ')}`);
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(shape)) out[k] = inner(v[k], [...path, k]);
    return out as { [K in keyof S]: Out<S[K]> };
  };

const str = withDefault(string, () => '');
const port = int(1, 65535);
const ip: V<string> = (v, path) => {
  const s = string(v, path);
  const n = normalizeIp(s);
  if (n === undefined) throw new Issue(path, `"${s}" is not an IP address`);
  return n;
};
const portMap: V<PortMap> = withDefault(
  (v, path) => {
    const rec = record(int(0, 65535))(v, path);
    const m = new Map<number, number>();
    for (const [k, target] of Object.entries(rec)) {
      const p = Number(k);
      if (!/^\d+$/.test(k) || p < 1 || p > 65535)
        throw new Issue([...path, k], `"${k}" is not a port`);
      m.set(p, target);
    }
    return m;
  },
  () => new Map(),
);

/** `network/ip`; empty network = default. */
function networkAddress(s: string): NetworkAddress | undefined {
  const slash = s.lastIndexOf('/');
  const address = normalizeIp(slash === -1 ? s : s.slice(slash + 1));
  if (slash === -1 || address === undefined) return undefined;
  return { network: s.slice(0, slash), address };
}

const vip: V<NetworkAddress> = (v, path) => {
  const s = string(v, path);
  const a = networkAddress(s);
  if (a === undefined)
    throw new Issue(path, `"${s}" is not "<network>/<ip>" (network may be empty)`);
  return a;
};

// ztunnel's form is `destination: "network/ip"` or `"namespace/hostname"`;
// the object forms are accepted too.
const gatewayFields = strictObject({
  destination: (v: unknown, path: Path) =>
    typeof v === 'string'
      ? v
      : isObject(v) && 'address' in v
        ? strictObject({ network: str, address: string })(v, path)
        : strictObject({ namespace: string, hostname: string })(v, path),
  hboneMtlsPort: withDefault(port, () => 15008),
});
const gateway: V<GatewayAddress> = (v, path) => {
  const g = gatewayFields(v, path);
  const d = g.destination;
  const bad = (why: string): never => {
    throw new Issue([...path, 'destination'], why);
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
};

const workloadSchema = strictObject({
  uid: str,
  name: str,
  namespace: nonEmpty,
  workloadIps: list(ip),
  hostname: str,
  network: str,
  protocol: withDefault(oneOf(['HBONE', 'TCP']), () => 'TCP' as const),
  trustDomain: str,
  serviceAccount: str,
  waypoint: optional(gateway),
  networkGateway: optional(gateway),
  node: str,
  canonicalName: str,
  canonicalRevision: str,
  workloadType: withDefault(
    oneOf(['deployment', 'cronjob', 'pod', 'job']),
    () => 'deployment' as const,
  ),
  workloadName: str,
  nativeTunnel: withDefault(boolean, () => false),
  applicationTunnel: optional(
    strictObject({
      protocol: withDefault(oneOf(['NONE', 'PROXY']), () => 'NONE' as const),
      port: optional(port),
    }),
  ),
  services: withDefault<Record<string, PortMap>>(record(portMap), () => ({})),
  authorizationPolicies: list(string),
  status: withDefault(oneOf(['Healthy', 'Unhealthy']), () => 'Healthy' as const),
  clusterId: str,
  locality: withDefault(strictObject({ region: str, zone: str, subzone: str }), () => ({
    region: '',
    zone: '',
    subzone: '',
  })),
  networkMode: withDefault(oneOf(['Standard', 'HostNetwork']), () => 'Standard' as const),
  capacity: withDefault(int(0), () => 1),
});

const serviceSchema = strictObject({
  name: str,
  namespace: nonEmpty,
  hostname: nonEmpty,
  vips: list(vip),
  ports: portMap,
  subjectAltNames: list(string),
  waypoint: optional(gateway),
  allowWaypointBypass: optional(boolean),
  loadBalancer: optional(
    strictObject({
      routingPreferences: list(oneOf(['Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network'])),
      mode: withDefault(
        oneOf(['Standard', 'Strict', 'Failover', 'Passthrough']),
        () => 'Standard' as const,
      ),
      healthPolicy: withDefault(oneOf(['OnlyHealthy', 'AllowAll']), () => 'OnlyHealthy' as const),
    }),
  ),
  ipFamilies: optional(oneOf(['Dual', 'IPv4', 'IPv6'])),
  canonical: withDefault(boolean, () => false),
});

// Accepts `{exact: x}` (camelCase) and ztunnel's serde form `{Exact: x}`;
// presence is `{presence: {}}` (or `{Presence: []}`).
const stringMatch: V<StringMatch> = (raw, path) => {
  const o = record((x) => x)(raw, path);
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
  throw new Issue(path, 'must be one of {exact|prefix|suffix: string} or {presence: {}}');
};
const cidr: V<IpNet> = (v, path) => {
  const s = string(v, path);
  const n = IpNet.parse(s);
  if (n === undefined) throw new Issue(path, `"${s}" is not an IP or CIDR`);
  return n;
};
const sa = strictObject({ namespace: string, serviceAccount: string });
const matchSchema = strictObject({
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
const policySchema = strictObject({
  name: nonEmpty,
  namespace: str,
  scope: oneOf(['Global', 'Namespace', 'WorkloadSelector']),
  action: oneOf(['Allow', 'Deny']),
  rules: list(array(array(matchSchema))),
  dryRun: withDefault(boolean, () => false),
});

const items: V<unknown[] | undefined> = (v, path) =>
  v === undefined || v === null ? undefined : array((x) => x)(v, path);
const topSchema = strictObject({ workloads: items, services: items, policies: items });

function describe(i: Issue): string {
  return i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message;
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

function item<T>(schema: V<T>, raw: unknown, where: string): T {
  try {
    return schema(raw, []);
  } catch (err) {
    if (!(err instanceof Issue)) throw err;
    throw new AmbitError(StateErrors.LOCAL_CONFIG_INVALID, `${where}: ${describe(err)}`, {
      details: { item: where },
    });
  }
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
