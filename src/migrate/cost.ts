/**
 * `ambit migrate cost`: CPU and memory the sidecars reserve today (requests,
 * from the proxy annotations or Istio's defaults, times replicas) against the
 * ambient replacement: one node proxy per node plus waypoints only where L7
 * is needed. Per-proxy ambient figures come from ambit's benchmark results
 * when present (see docs/migration.md for the file's fields).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { hasSidecar } from './analyze/injection.js';
import type { Conversion } from './convert.js';
import { type Inventory, podAnnotations, type Workload } from './inventory.js';
import { cpuMillicores, memoryMiB } from './quantity.js';

export interface ProxyFigures {
  cpuMillicores: number;
  memoryMiB: number;
}

/** Istio's injected sidecar requests (values.global.proxy.resources.requests). */
export const ISTIO_SIDECAR_REQUESTS: ProxyFigures = { cpuMillicores: 100, memoryMiB: 128 };
/** Istio's injected sidecar limits (values.global.proxy.resources.limits). */
export const ISTIO_SIDECAR_LIMITS: ProxyFigures = { cpuMillicores: 2000, memoryMiB: 1024 };
/** Node proxy reservation per node when no benchmark is present (Istio's ztunnel chart requests). */
export const DEFAULT_NODE_PROXY: ProxyFigures = { cpuMillicores: 200, memoryMiB: 512 };
/** Waypoint reservation per replica when no benchmark is present (Istio's waypoint defaults). */
export const DEFAULT_WAYPOINT: ProxyFigures = { cpuMillicores: 100, memoryMiB: 128 };

const Figures = z.object({
  cpuMillicores: z.number().nonnegative(),
  memoryMiB: z.number().nonnegative(),
});
const BenchFile = z.object({
  proxies: z.object({ ztunnel: Figures.optional(), waypoint: Figures.optional() }),
});

export interface AmbientFigures {
  nodeProxy: ProxyFigures;
  waypoint: ProxyFigures;
  /** Where the figures came from: "defaults" or the benchmark file. */
  source: string;
}

/** Reads `proxies.ztunnel` / `proxies.waypoint` from a benchmark results file, if it exists and parses. */
export function ambientFigures(benchFile: string | undefined): AmbientFigures {
  const defaults = {
    nodeProxy: DEFAULT_NODE_PROXY,
    waypoint: DEFAULT_WAYPOINT,
    source: 'defaults',
  };
  if (benchFile === undefined || !existsSync(benchFile)) return defaults;
  try {
    const parsed = BenchFile.safeParse(JSON.parse(readFileSync(benchFile, 'utf8')));
    if (!parsed.success)
      return {
        ...defaults,
        source: `defaults (${benchFile} has no proxies.ztunnel/waypoint figures)`,
      };
    return {
      nodeProxy: parsed.data.proxies.ztunnel ?? DEFAULT_NODE_PROXY,
      waypoint: parsed.data.proxies.waypoint ?? DEFAULT_WAYPOINT,
      source: benchFile,
    };
  } catch {
    return { ...defaults, source: `defaults (${benchFile} is not valid JSON)` };
  }
}

export interface SidecarRow {
  namespace: string;
  workload: string;
  pods: number;
  /** Per-pod sidecar requests and limits. */
  requests: ProxyFigures;
  limits: ProxyFigures;
  from: 'annotations' | 'istio-proxy container' | 'defaults';
}

export interface CostReport {
  nodes: number;
  sidecars: SidecarRow[];
  /** Jobs/CronJobs with sidecars, left out of the steady-state totals. */
  transient: string[];
  sidecarTotal: ProxyFigures & {
    proxies: number;
    limitCpuMillicores: number;
    limitMemoryMiB: number;
  };
  ambient: ProxyFigures & { nodeProxies: number; waypoints: number; figures: AmbientFigures };
  saving: { vcpu: number; gib: number; cpuPercent: number; memoryPercent: number };
}

export interface CostOptions {
  nodes: number;
  waypointReplicas?: number;
  figures?: AmbientFigures;
  /** Mesh-wide sidecar requests when set in Istio's values (default {@link ISTIO_SIDECAR_REQUESTS}). */
  sidecarRequests?: ProxyFigures;
}

function sidecarOf(
  w: Workload,
  dflt: ProxyFigures,
): Pick<SidecarRow, 'requests' | 'limits' | 'from'> {
  const proxy = (w.template.spec?.containers ?? []).find((c) => c.name === 'istio-proxy');
  if (proxy?.resources !== undefined) {
    const r = proxy.resources;
    return {
      requests: {
        cpuMillicores: cpuMillicores(r.requests?.cpu) ?? 0,
        memoryMiB: memoryMiB(r.requests?.memory) ?? 0,
      },
      limits: {
        cpuMillicores: cpuMillicores(r.limits?.cpu) ?? 0,
        memoryMiB: memoryMiB(r.limits?.memory) ?? 0,
      },
      from: 'istio-proxy container',
    };
  }
  const a = podAnnotations(w);
  const cpu = cpuMillicores(a['sidecar.istio.io/proxyCPU']);
  const mem = memoryMiB(a['sidecar.istio.io/proxyMemory']);
  const cpuL = cpuMillicores(a['sidecar.istio.io/proxyCPULimit']);
  const memL = memoryMiB(a['sidecar.istio.io/proxyMemoryLimit']);
  const annotated = [cpu, mem, cpuL, memL].some((x) => x !== undefined);
  return {
    requests: { cpuMillicores: cpu ?? dflt.cpuMillicores, memoryMiB: mem ?? dflt.memoryMiB },
    limits: {
      cpuMillicores: cpuL ?? ISTIO_SIDECAR_LIMITS.cpuMillicores,
      memoryMiB: memL ?? ISTIO_SIDECAR_LIMITS.memoryMiB,
    },
    from: annotated ? 'annotations' : 'defaults',
  };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function cost(inv: Inventory, conversion: Conversion, options: CostOptions): CostReport {
  const figures = options.figures ?? ambientFigures(undefined);
  const dflt = options.sidecarRequests ?? ISTIO_SIDECAR_REQUESTS;
  const sidecars: SidecarRow[] = [];
  const transient: string[] = [];
  for (const w of inv.workloads) {
    if (!hasSidecar(inv, w)) continue;
    if (w.transient) {
      transient.push(`${w.meta.namespace}/${w.kind} ${w.meta.name}`);
      continue;
    }
    const pods = w.perNode ? options.nodes : w.replicas;
    sidecars.push({
      namespace: w.meta.namespace,
      workload: `${w.kind} ${w.meta.name}`,
      pods,
      ...sidecarOf(w, dflt),
    });
  }
  const sum = (f: (r: SidecarRow) => number) => sidecars.reduce((acc, r) => acc + f(r) * r.pods, 0);
  const sidecarTotal = {
    proxies: sidecars.reduce((a, r) => a + r.pods, 0),
    cpuMillicores: sum((r) => r.requests.cpuMillicores),
    memoryMiB: sum((r) => r.requests.memoryMiB),
    limitCpuMillicores: sum((r) => r.limits.cpuMillicores),
    limitMemoryMiB: sum((r) => r.limits.memoryMiB),
  };
  const waypoints =
    conversion.namespaces.filter((n) => n.waypoint).length * (options.waypointReplicas ?? 1);
  const ambient = {
    nodeProxies: options.nodes,
    waypoints,
    cpuMillicores:
      options.nodes * figures.nodeProxy.cpuMillicores + waypoints * figures.waypoint.cpuMillicores,
    memoryMiB: options.nodes * figures.nodeProxy.memoryMiB + waypoints * figures.waypoint.memoryMiB,
    figures,
  };
  const pct = (before: number, after: number) =>
    before === 0 ? 0 : round(((before - after) / before) * 100, 1);
  return {
    nodes: options.nodes,
    sidecars,
    transient,
    sidecarTotal,
    ambient,
    saving: {
      vcpu: round((sidecarTotal.cpuMillicores - ambient.cpuMillicores) / 1000),
      gib: round((sidecarTotal.memoryMiB - ambient.memoryMiB) / 1024),
      cpuPercent: pct(sidecarTotal.cpuMillicores, ambient.cpuMillicores),
      memoryPercent: pct(sidecarTotal.memoryMiB, ambient.memoryMiB),
    },
  };
}
