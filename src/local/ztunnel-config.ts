/**
 * `ambit get workloads|policies|certificates|connections`: what the node
 * ztunnels hold, read the way `istioctl ztunnel-config` reads it — the admin
 * `/config_dump` of each ztunnel — but through every node's netns (the admin
 * port listens on 127.0.0.1:15000 *inside* the node netns, so a socket made in
 * that netns is the only way in). Fetching is separate from the pure
 * merge/format code, which is table-tested on captured dumps.
 *
 * Workloads and policies are the same on every node (one control plane), so
 * they are merged by uid / namespace+name. Certificates and connections are
 * per node and carry the node's name.
 */
import http from 'node:http';
import type net from 'node:net';
import { errorMessage } from '../core/errors.js';
import { connectFrom } from '../platform/index.js';

/** Where a node's ztunnel serves `/config_dump`, inside the node netns. */
export const ZTUNNEL_ADMIN = { host: '127.0.0.1', port: 15000 } as const;

export const ZTUNNEL_VIEWS = ['workloads', 'policies', 'certificates', 'connections'] as const;
export type ZtunnelView = (typeof ZTUNNEL_VIEWS)[number];

/** The parts of a ztunnel `/config_dump` these views read (src/app/ztunnel.ts `configDump()`). */
export interface ZtunnelDump {
  workloads?: DumpWorkload[];
  policies?: DumpPolicy[];
  certificates?: DumpCertificate[];
  connections?: DumpConnection[];
  /** Shared (in-pod) mode: each enrolled pod's proxy keeps its own connections. */
  enrolled?: { connections?: DumpConnection[] }[];
  /** Pods released while their connections drain. */
  draining?: { connections?: DumpConnection[] }[];
}

/** Every connection a ztunnel holds: its own, and (shared mode) each enrolled or draining pod's. */
function allConnections(dump: ZtunnelDump | undefined): DumpConnection[] {
  if (dump === undefined) return [];
  return [
    ...(dump.connections ?? []),
    ...[...(dump.enrolled ?? []), ...(dump.draining ?? [])].flatMap((p) => p.connections ?? []),
  ];
}

export interface DumpWorkload {
  uid: string;
  name: string;
  namespace: string;
  workloadIps?: string[];
  node?: string;
  protocol?: string;
  serviceAccount?: string;
  identity?: string;
  waypoint?: {
    destination?: { kind?: string; address?: string; hostname?: string; namespace?: string };
  };
  [k: string]: unknown;
}

export interface DumpPolicy {
  name: string;
  namespace: string;
  scope?: string;
  action?: string;
  [k: string]: unknown;
}

export interface DumpCertificate {
  identity: string;
  state: string;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  lastError?: string;
  [k: string]: unknown;
}

export interface DumpConnection {
  direction: string;
  /** `src ip:port -> dst ip:port` */
  connection: string;
  srcIdentity?: string;
  dstIdentity?: string;
  dstWorkload?: string;
  bytesSent?: number;
  bytesRecv?: number;
  ageMs: number;
}

/** One node's answer: a dump, or why there is none. */
export interface NodeDump {
  node: string;
  netns: string;
  dump?: ZtunnelDump;
  error?: string;
}

export interface FetchOptions {
  host?: string;
  port?: number;
  /** Per node, ms. Default 3000. */
  timeoutMs?: number;
}

/** GET `/config_dump` from the ztunnel admin port inside `netns`. */
export function fetchConfigDump(netns: string, opts: FetchOptions = {}): Promise<ZtunnelDump> {
  const host = opts.host ?? ZTUNNEL_ADMIN.host;
  const port = opts.port ?? ZTUNNEL_ADMIN.port;
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        path: '/config_dump',
        host,
        port,
        // The socket is created inside the node netns (native addon), then
        // used as a normal Node socket.
        createConnection: () => connectFrom({ netns, host, port }) as unknown as net.Socket,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode} from /config_dump`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ZtunnelDump);
          } catch (err) {
            reject(new Error(`/config_dump is not JSON: ${errorMessage(err)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Every node's dump, fetched concurrently; a node that does not answer gets `error`. */
export async function fetchNodeDumps(
  nodes: readonly { name: string; netns: string }[],
  opts: FetchOptions = {},
): Promise<NodeDump[]> {
  return Promise.all(
    nodes.map(async (n): Promise<NodeDump> => {
      try {
        return { node: n.name, netns: n.netns, dump: await fetchConfigDump(n.netns, opts) };
      } catch (err) {
        return { node: n.name, netns: n.netns, error: errorMessage(err) };
      }
    }),
  );
}

/** One warning line per node whose ztunnel did not answer. */
export function dumpWarnings(dumps: readonly NodeDump[], opts: FetchOptions = {}): string[] {
  const where = `${opts.host ?? ZTUNNEL_ADMIN.host}:${opts.port ?? ZTUNNEL_ADMIN.port}`;
  return dumps
    .filter((d) => d.dump === undefined)
    .map(
      (d) =>
        `warning: ${d.node}: ztunnel admin ${where} in netns ${d.netns} did not answer (${d.error ?? 'no dump'}); its data is missing below`,
    );
}

/** `spiffe://td/ns/X/sa/Y` → namespace X (undefined if not a SPIFFE workload id). */
function identityNamespace(id: string | undefined): string | undefined {
  return id === undefined ? undefined : /\/ns\/([^/]+)\/sa\//.exec(id)?.[1];
}

/** Istio's principal form (SPIFFE id without `spiffe://`), as istioctl and policies show it. */
export function principal(id: string | undefined): string | undefined {
  return id?.replace(/^spiffe:\/\//, '');
}

export interface ViewResult {
  headers: string[];
  rows: unknown[][];
  /** Machine form for `-o json|yaml`. */
  items: unknown[];
}

function waypointOf(w: DumpWorkload): string {
  const d = w.waypoint?.destination;
  if (d === undefined) return 'None';
  if (d.hostname !== undefined) return d.hostname.split('.')[0] ?? d.hostname;
  return d.address ?? 'None';
}

export function workloadsView(dumps: readonly NodeDump[], namespace?: string): ViewResult {
  const byUid = new Map<string, DumpWorkload>();
  for (const d of dumps) for (const w of d.dump?.workloads ?? []) byUid.set(w.uid, w);
  const items = [...byUid.values()]
    .filter((w) => namespace === undefined || w.namespace === namespace)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    headers: ['namespace', 'pod-name', 'address', 'node', 'waypoint', 'protocol'],
    rows: items.map((w) => [
      w.namespace,
      w.name,
      w.workloadIps?.join(',') ?? '',
      w.node ?? '',
      waypointOf(w),
      w.protocol ?? '',
    ]),
    items,
  };
}

export function policiesView(dumps: readonly NodeDump[], namespace?: string): ViewResult {
  const byKey = new Map<string, DumpPolicy>();
  for (const d of dumps)
    for (const p of d.dump?.policies ?? []) byKey.set(`${p.namespace}/${p.name}`, p);
  const items = [...byKey.values()]
    .filter((p) => namespace === undefined || p.namespace === namespace)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    headers: ['namespace', 'policy-name', 'action', 'scope'],
    rows: items.map((p) => [p.namespace, p.name, p.action ?? '', p.scope ?? '']),
    items,
  };
}

const CERT_STATUS: Record<string, string> = {
  available: 'Available',
  initializing: 'Initializing',
  unavailable: 'Unavailable',
};

/**
 * Leaf certificates per node. Only metadata: the dump never holds key material,
 * and the view copies named fields only, so nothing else can leak through.
 */
export function certificatesView(
  dumps: readonly NodeDump[],
  namespace?: string,
  now = Date.now(),
): ViewResult {
  const items = dumps
    .flatMap((d) =>
      (d.dump?.certificates ?? []).map((c) => {
        const notAfter = c.notAfter === undefined ? undefined : Date.parse(c.notAfter);
        const notBefore = c.notBefore === undefined ? undefined : Date.parse(c.notBefore);
        const valid =
          c.state === 'available' &&
          notAfter !== undefined &&
          notBefore !== undefined &&
          notBefore <= now &&
          now < notAfter;
        return {
          node: d.node,
          name: c.identity,
          type: 'Leaf',
          status: CERT_STATUS[c.state] ?? c.state,
          validCert: valid,
          serial: c.serial?.toLowerCase(),
          notAfter: c.notAfter,
          notBefore: c.notBefore,
          ...(c.lastError === undefined ? {} : { lastError: c.lastError }),
        };
      }),
    )
    .filter((c) => namespace === undefined || identityNamespace(c.name) === namespace)
    .sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
  return {
    headers: [
      'node',
      'certificate-name',
      'type',
      'status',
      'valid-cert',
      'serial',
      'not-after',
      'not-before',
    ],
    rows: items.map((c) => [
      c.node,
      c.name,
      c.type,
      c.status,
      String(c.validCert),
      c.serial ?? '',
      c.notAfter ?? '',
      c.notBefore ?? '',
    ]),
    items,
  };
}

/** `12ms`, `3s`, `4m10s`, `2h5m` */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function connectionsView(dumps: readonly NodeDump[], namespace?: string): ViewResult {
  const items = dumps
    .flatMap((d) =>
      allConnections(d.dump).map((c) => {
        const [source = '', destination = ''] = c.connection.split(' -> ');
        return {
          node: d.node,
          direction: c.direction,
          source,
          destination,
          sourceIdentity: principal(c.srcIdentity),
          destinationIdentity: principal(c.dstIdentity),
          bytesSent: c.bytesSent,
          bytesRecv: c.bytesRecv,
          durationMs: c.ageMs,
        };
      }),
    )
    .filter(
      (c) =>
        namespace === undefined ||
        identityNamespace(c.sourceIdentity) === namespace ||
        identityNamespace(c.destinationIdentity) === namespace,
    )
    .sort(
      (a, b) =>
        a.node.localeCompare(b.node) ||
        a.direction.localeCompare(b.direction) ||
        a.source.localeCompare(b.source),
    );
  return {
    headers: [
      'node',
      'direction',
      'source',
      'destination',
      'source-identity',
      'destination-identity',
      'bytes-sent',
      'bytes-recv',
      'duration',
    ],
    rows: items.map((c) => [
      c.node,
      c.direction,
      c.source,
      c.destination,
      c.sourceIdentity ?? '',
      c.destinationIdentity ?? '',
      c.bytesSent ?? '',
      c.bytesRecv ?? '',
      formatDuration(c.durationMs),
    ]),
    items,
  };
}

export function ztunnelView(
  view: ZtunnelView,
  dumps: readonly NodeDump[],
  namespace?: string,
): ViewResult {
  switch (view) {
    case 'workloads':
      return workloadsView(dumps, namespace);
    case 'policies':
      return policiesView(dumps, namespace);
    case 'certificates':
      return certificatesView(dumps, namespace);
    case 'connections':
      return connectionsView(dumps, namespace);
  }
}
