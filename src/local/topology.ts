/**
 * From parsed manifests to the local cluster's plan: nodes, pods (one per
 * Deployment replica plus bare Pods), addresses, service VIPs, enrollment and
 * what each container runs. Pure: nothing here touches the host, so the whole
 * plan is validated before `ambit up` creates anything.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AmbitError } from '../core/errors.js';
import {
  type Deployment,
  formatSource,
  type ManifestSet,
  type Namespace,
  type Pod,
  parseResources,
  type RawObject,
  resourceKey,
  type Service,
} from '../kube/index.js';
import { LocalErrors } from './errors.js';
import { withWaypoints } from './waypoints.js';

/** Nodes' addresses on the fabric bridge: node i is 10.243.0.(i+2); .1 is the fabric itself. */
export const NODE_CIDR = '10.243.0.0/24';
/** Service VIPs are allocated from 10.96.0.0/16, from 10.96.0.10 up. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const MAX_NODES = 200;
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';

export interface NodePlan {
  /** Kubernetes-style node name, `node-<i>` (what `spec.nodeName` refers to). */
  name: string;
  index: number;
  netns: string;
  /** Address on the fabric bridge. */
  ip: string;
  /** 10.244.<i>.0/24; exists only inside the run's namespaces. */
  podCidr: string;
  /** The node's address on its pod bridge (pods' default gateway). */
  gateway: string;
}

export interface ContainerPlan {
  name: string;
  /** argv: command + args, `$(VAR)` expanded from the container env. */
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  ports: { name?: string; containerPort: number; protocol: string }[];
  /** `readinessProbe.httpGet`: ready when GET answers 2xx/3xx inside the pod netns (else: ports listening). */
  readiness?: { port: number; path: string };
}

export interface PodPlan {
  name: string;
  namespace: string;
  /** The Deployment that owns it, if any. */
  deployment?: string;
  labels: Record<string, string>;
  node: string;
  netns: string;
  ip: string;
  serviceAccount: string;
  /** In the ambient mesh (`istio.io/dataplane-mode=ambient` on the pod or its namespace). */
  enrolled: boolean;
  containers: ContainerPlan[];
}

export interface ServicePortPlan {
  name?: string;
  port: number;
  protocol: string;
}

export interface EndpointPlan {
  pod: string;
  ip: string;
  /** Target port per service port (same order as `ports`). */
  ports: number[];
}

export interface ServicePlan {
  name: string;
  namespace: string;
  vip: string;
  ports: ServicePortPlan[];
  endpoints: EndpointPlan[];
}

export interface ClusterPlan {
  runId: string;
  /** The manifest directory (default working directory of every container). */
  dir: string;
  fabricNetns: string;
  nodes: NodePlan[];
  pods: PodPlan[];
  services: ServicePlan[];
  namespaces: { name: string; labels: Record<string, string> }[];
  /**
   * The run directory when the run has a mesh: waypoint Gateways become
   * Deployments using the mesh's credentials under it (waypoints.ts).
   */
  meshRunDir?: string;
}

export interface PlanOptions {
  runId: string;
  /** Manifest directory; relative `workingDir`s resolve against it. */
  dir: string;
  /** Default 2. */
  nodes?: number;
  /**
   * The running cluster's plan, when re-planning a live cluster (`ambit
   * apply`): pods that still exist keep their node and IP, services keep their
   * VIPs, and new pods and services never get an address the running plan
   * uses (a removed pod's IP may still be held by connections in flight).
   */
  previous?: ClusterPlan;
  /** See {@link ClusterPlan.meshRunDir}. */
  meshRunDir?: string;
}

// Fields the shared kube model strips but a local run needs to start a process.
const envVar = z.object({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z
    .object({ fieldRef: z.object({ fieldPath: z.string() }).optional() })
    .passthrough()
    .optional(),
});
const containerExtras = z.object({
  name: z.string(),
  command: z.array(z.string()).default([]),
  args: z.array(z.string()).default([]),
  env: z.array(envVar).default([]),
  workingDir: z.string().optional(),
  readinessProbe: z
    .object({
      httpGet: z
        .object({ path: z.string().default('/'), port: z.union([z.number(), z.string()]) })
        .optional(),
    })
    .passthrough()
    .optional(),
});
const extrasOf = z.object({ containers: z.array(containerExtras) });

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

function hashName(input: string, len: number): string {
  const digest = createHash('sha256').update(input).digest();
  let out = '';
  for (let i = 0; i < len; i++) out += SAFE[(digest[i] ?? 0) % SAFE.length];
  return out;
}

/** `<deploy>-<template hash>-<suffix>`, deterministic for a given manifest and replica. */
export function podNameFor(deploy: Deployment, replica: number): string {
  const hash = hashName(JSON.stringify(deploy.spec.template), 10);
  return `${deploy.metadata.name}-${hash}-${hashName(`${hash}/${replica}`, 5)}`;
}

/** The pod's netns name: `ambit-<run>-<ns>.<pod>`, shortened with a hash to fit 62 chars. */
export function podNetnsName(runId: string, namespace: string, pod: string): string {
  const base = `ambit-${runId}-${namespace}.${pod}`;
  if (base.length <= 62) return base;
  return `${base.slice(0, 55)}-${hashName(base, 6)}`;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
function inServiceCidr(ip: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ip.startsWith('10.96.');
}

interface PodSource {
  name: string;
  namespace: string;
  deployment?: string;
  labels: Record<string, string>;
  spec: Pod['spec'];
  raw: unknown;
  nodeName: string;
}

/** Builds the plan; throws MANIFEST_INVALID listing every problem, before anything is created. */
export function planCluster(input: ManifestSet, opts: PlanOptions): ClusterPlan {
  const set = withWaypoints(input, opts.meshRunDir);
  const problems = set.problems.map((p) => `${formatSource(p.source)}: ${p.message}`);
  const parsed = parseResources(set.objects);
  for (const r of parsed.rejected) problems.push(`${r.reason} (${formatSource(r.source)})`);
  const rawByKey = new Map<string, RawObject>();
  for (const o of set.objects) {
    const meta = (o.object.metadata ?? {}) as { name?: string; namespace?: string };
    const ns = o.object.kind === 'Namespace' ? '' : (meta.namespace ?? 'default');
    const key = `${String(o.object.kind)}/${ns}/${meta.name ?? ''}`;
    if (!rawByKey.has(key)) rawByKey.set(key, o);
  }

  const nodeCount = opts.nodes ?? 2;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > MAX_NODES) {
    problems.push(`--nodes ${nodeCount}: must be an integer 1..${MAX_NODES}`);
  }
  const nodes: NodePlan[] = [];
  for (let i = 0; i < Math.min(Math.max(nodeCount, 0), MAX_NODES); i++) {
    nodes.push({
      name: `node-${i}`,
      index: i,
      netns: `ambit-${opts.runId}-n${i}`,
      ip: `10.243.0.${i + 2}`,
      podCidr: `10.244.${i}.0/24`,
      gateway: `10.244.${i}.1`,
    });
  }

  const namespaces = new Map<string, Record<string, string>>();
  const sources: PodSource[] = [];
  const services: Service[] = [];
  for (const { resource: r } of parsed.resources) {
    if (r.kind === 'Namespace') namespaces.set(r.metadata.name, (r as Namespace).metadata.labels);
    else if (r.kind === 'Service') services.push(r);
    else if (r.kind === 'Deployment') {
      const raw = rawByKey.get(resourceKey(r))?.object as {
        spec?: { template?: { spec?: unknown } };
      };
      for (let i = 0; i < r.spec.replicas; i++) {
        sources.push({
          name: podNameFor(r, i),
          namespace: r.metadata.namespace,
          deployment: r.metadata.name,
          labels: r.spec.template.metadata.labels,
          spec: r.spec.template.spec,
          raw: raw?.spec?.template?.spec,
          nodeName: r.spec.template.spec.nodeName,
        });
      }
    } else if (r.kind === 'Pod') {
      const raw = rawByKey.get(resourceKey(r))?.object as { spec?: unknown };
      sources.push({
        name: r.metadata.name,
        namespace: r.metadata.namespace,
        labels: r.metadata.labels,
        spec: r.spec,
        raw: raw?.spec,
        nodeName: r.spec.nodeName,
      });
    }
  }
  for (const s of sources) if (!namespaces.has(s.namespace)) namespaces.set(s.namespace, {});

  const prev = opts.previous;
  // Addresses of the running plan are never handed to a different pod.
  const usedIps = new Set<string>(prev?.pods.map((p) => p.ip) ?? []);
  const perNode = new Map<string, number>();
  for (const p of prev?.pods ?? []) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
  let rr = 0;
  const pods: PodPlan[] = [];
  for (const s of sources) {
    const what = s.deployment
      ? `Deployment ${s.namespace}/${s.deployment}`
      : `Pod ${s.namespace}/${s.name}`;
    const before = prev?.pods.find((p) => p.namespace === s.namespace && p.name === s.name);
    let node: NodePlan | undefined;
    let ip: string | undefined;
    if (before && (s.nodeName === '' || s.nodeName === before.node)) {
      node = nodes.find((n) => n.name === before.node);
      ip = node ? before.ip : undefined;
    }
    if (!node && s.nodeName !== '') {
      node = nodes.find((n) => n.name === s.nodeName);
      if (!node) {
        problems.push(
          `${what}: spec.nodeName ${s.nodeName} is not a node (nodes: ${nodes.map((n) => n.name).join(', ')})`,
        );
        continue;
      }
    } else if (!node && prev) {
      // A live cluster: the least-loaded node (stable whatever else changed).
      node = [...nodes].sort(
        (a, b) => (perNode.get(a.name) ?? 0) - (perNode.get(b.name) ?? 0) || a.index - b.index,
      )[0];
    } else if (!node) {
      node = nodes[rr++ % Math.max(nodes.length, 1)];
    }
    if (!node) continue;
    if (ip === undefined) {
      for (let host = 2; host <= 254 && ip === undefined; host++) {
        const candidate = `10.244.${node.index}.${host}`;
        if (!usedIps.has(candidate)) ip = candidate;
      }
      if (ip === undefined) {
        problems.push(`${what}: no free pod address left on ${node.name} (${node.podCidr})`);
        continue;
      }
      perNode.set(node.name, (perNode.get(node.name) ?? 0) + 1);
    }
    usedIps.add(ip);
    const extras = extrasOf.safeParse(s.raw);
    if (!extras.success) {
      problems.push(`${what}: spec.containers: ${extras.error.issues[0]?.message ?? 'invalid'}`);
      continue;
    }
    const nsLabels = namespaces.get(s.namespace) ?? {};
    const mode = s.labels[DATAPLANE_MODE_LABEL] ?? nsLabels[DATAPLANE_MODE_LABEL];
    const fields: Record<string, string> = {
      'metadata.name': s.name,
      'metadata.namespace': s.namespace,
      'status.podIP': ip,
      'spec.nodeName': node.name,
      'spec.serviceAccountName': s.spec.serviceAccountName,
    };
    const containers: ContainerPlan[] = [];
    for (const c of s.spec.containers) {
      const x = extras.data.containers.find((e) => e.name === c.name);
      const argv = [...(x?.command ?? []), ...(x?.args ?? [])];
      if (!x || x.command.length === 0) {
        problems.push(
          `${what}: container ${c.name} has no command (ambit up runs commands on the host; image is ignored)`,
        );
        continue;
      }
      const env: Record<string, string> = {
        POD_NAME: s.name,
        POD_NAMESPACE: s.namespace,
        POD_IP: ip,
        NODE_NAME: node.name,
      };
      for (const e of x.env) {
        const path = e.valueFrom?.fieldRef?.fieldPath;
        if (e.value !== undefined) env[e.name] = expand(e.value, env);
        else if (path !== undefined && fields[path] !== undefined) env[e.name] = fields[path];
        else if (e.valueFrom !== undefined) {
          problems.push(
            `${what}: container ${c.name} env ${e.name}: only value and fieldRef (${Object.keys(fields).join(', ')}) are supported`,
          );
        } else env[e.name] = '';
      }
      const wd = x.workingDir;
      const probe = x.readinessProbe?.httpGet;
      const probePort =
        probe === undefined
          ? undefined
          : typeof probe.port === 'number'
            ? probe.port
            : /^\d+$/.test(probe.port)
              ? Number(probe.port)
              : c.ports.find((p) => p.name === probe.port)?.containerPort;
      if (probe !== undefined && probePort === undefined)
        problems.push(
          `${what}: container ${c.name} readinessProbe port ${probe.port} is not a port`,
        );
      containers.push({
        name: c.name,
        argv: argv.map((a) => expand(a, env)),
        env,
        workingDir: wd === undefined ? opts.dir : isAbsolute(wd) ? wd : resolve(opts.dir, wd),
        ports: c.ports.map((p) => ({
          name: p.name,
          containerPort: p.containerPort,
          protocol: p.protocol,
        })),
        ...(probe && probePort !== undefined
          ? { readiness: { port: probePort, path: probe.path } }
          : {}),
      });
    }
    const dup = pods.find((p) => p.namespace === s.namespace && p.name === s.name);
    if (dup) problems.push(`${what}: pod name ${s.name} is used twice in ${s.namespace}`);
    pods.push({
      name: s.name,
      namespace: s.namespace,
      deployment: s.deployment,
      labels: s.labels,
      node: node.name,
      netns: podNetnsName(opts.runId, s.namespace, s.name),
      ip,
      serviceAccount: s.spec.serviceAccountName,
      enrolled: mode === 'ambient',
      containers,
    });
  }

  const servicePlans = planServices(services, pods, problems, prev?.services ?? []);
  if (problems.length > 0) {
    throw new AmbitError(
      LocalErrors.MANIFEST_INVALID,
      `the manifests in ${opts.dir} cannot be run; nothing was created:\n  ${problems.join('\n  ')}`,
      { details: { problems } },
    );
  }
  return {
    runId: opts.runId,
    dir: opts.dir,
    fabricNetns: `ambit-${opts.runId}-fabric`,
    nodes,
    pods,
    services: servicePlans,
    namespaces: [...namespaces].map(([name, labels]) => ({ name, labels })),
    ...(opts.meshRunDir === undefined ? {} : { meshRunDir: opts.meshRunDir }),
  };
}

/** Kubernetes' `$(VAR)` expansion in command, args and env values; `$$(X)` escapes. */
export function expand(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : m;
  });
}

function planServices(
  services: Service[],
  pods: PodPlan[],
  problems: string[],
  previous: readonly ServicePlan[],
): ServicePlan[] {
  const used = new Set<string>();
  const prevVip = new Map(previous.map((s) => [`${s.namespace}/${s.name}`, s.vip]));
  const prevOwner = new Map(previous.map((s) => [s.vip, `${s.namespace}/${s.name}`]));
  for (const s of services) {
    const ip = s.spec.clusterIP;
    if (ip === undefined || ip === '' || ip === 'None') continue;
    const what = `Service ${s.metadata.namespace}/${s.metadata.name}`;
    const owner = prevOwner.get(ip);
    if (!inServiceCidr(ip))
      problems.push(`${what}: spec.clusterIP ${ip} is not in ${SERVICE_CIDR}`);
    else if (used.has(ip)) problems.push(`${what}: spec.clusterIP ${ip} is already used`);
    else if (owner !== undefined && owner !== `${s.metadata.namespace}/${s.metadata.name}`)
      problems.push(`${what}: spec.clusterIP ${ip} is already used by Service ${owner}`);
    used.add(ip);
  }
  // VIPs of the running plan stay with their service and are never reused.
  const reserved = new Set(prevOwner.keys());
  let next = ipv4ToInt('10.96.0.10');
  const out: ServicePlan[] = [];
  for (const s of services) {
    if (s.spec.type === 'ExternalName' || s.spec.clusterIP === 'None') continue;
    let vip = s.spec.clusterIP;
    const kept = prevVip.get(`${s.metadata.namespace}/${s.metadata.name}`);
    if ((vip === undefined || vip === '') && kept !== undefined && !used.has(kept)) {
      vip = kept;
      used.add(vip);
    }
    if (vip === undefined || vip === '') {
      while (used.has(intToIpv4(next)) || reserved.has(intToIpv4(next))) next++;
      vip = intToIpv4(next++);
      used.add(vip);
    }
    const selector = s.spec.selector;
    const members = selector
      ? pods.filter(
          (p) =>
            p.namespace === s.metadata.namespace &&
            Object.entries(selector).every(([k, v]) => p.labels[k] === v),
        )
      : [];
    const endpoints: EndpointPlan[] = [];
    for (const p of members) {
      const ports = s.spec.ports.map((sp) => targetPortOf(sp.targetPort, sp.port, p));
      if (ports.every((x): x is number => x !== undefined))
        endpoints.push({ pod: p.name, ip: p.ip, ports });
    }
    out.push({
      name: s.metadata.name,
      namespace: s.metadata.namespace,
      vip,
      ports: s.spec.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      endpoints,
    });
  }
  return out;
}

/** A service port's target on one pod: a number, or a named container port (undefined if the pod lacks it). */
function targetPortOf(
  target: number | string | undefined,
  port: number,
  pod: PodPlan,
): number | undefined {
  if (target === undefined) return port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of pod.containers) {
    const hit = c.ports.find((p) => p.name === target);
    if (hit) return hit.containerPort;
  }
  return undefined;
}
