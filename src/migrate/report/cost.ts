/** Renders a cost report as a terminal table, Markdown or HTML. */
import { renderTable } from '../../cli/output.js';
import type { CostReport } from '../cost.js';
import { type Block, h, list, p, renderHtml, renderMarkdown, table } from './doc.js';

const vcpu = (m: number) => (m / 1000).toFixed(2);
const gib = (mi: number) => (mi / 1024).toFixed(2);

function totals(r: CostReport): string[][] {
  return [
    [
      'sidecars',
      String(r.sidecarTotal.proxies),
      vcpu(r.sidecarTotal.cpuMillicores),
      gib(r.sidecarTotal.memoryMiB),
    ],
    [
      `ambient (${r.ambient.nodeProxies} node proxies, ${r.ambient.waypoints} waypoints)`,
      String(r.ambient.nodeProxies + r.ambient.waypoints),
      vcpu(r.ambient.cpuMillicores),
      gib(r.ambient.memoryMiB),
    ],
    [
      'saving',
      '',
      `${r.saving.vcpu.toFixed(2)} (${r.saving.cpuPercent}%)`,
      `${r.saving.gib.toFixed(2)} (${r.saving.memoryPercent}%)`,
    ],
  ];
}

const TOTAL_HEADERS = ['data plane', 'proxies', 'vCPU requested', 'GiB requested'];

export function costTable(r: CostReport): string {
  const rows = r.sidecars.map((s) => [
    s.namespace,
    s.workload,
    s.pods,
    `${s.requests.cpuMillicores}m`,
    `${Math.round(s.requests.memoryMiB)}Mi`,
    s.from,
  ]);
  return [
    renderTable(['namespace', 'workload', 'pods', 'sidecar cpu', 'sidecar memory', 'from'], rows),
    '\n',
    renderTable(TOTAL_HEADERS, totals(r)),
    `\nnodes: ${r.nodes}; ambient figures: ${r.ambient.figures.source}\n`,
    r.transient.length > 0 ? `not counted (run to completion): ${r.transient.join(', ')}\n` : '',
  ].join('');
}

function blocks(r: CostReport): Block[] {
  return [
    h(1, 'ambit migrate cost'),
    table(TOTAL_HEADERS, totals(r)),
    p(
      `Nodes: ${r.nodes}. Node proxy ${r.ambient.figures.nodeProxy.cpuMillicores}m / ${r.ambient.figures.nodeProxy.memoryMiB}Mi, waypoint ${r.ambient.figures.waypoint.cpuMillicores}m / ${r.ambient.figures.waypoint.memoryMiB}Mi, from ${r.ambient.figures.source}. Sidecar limits today: ${vcpu(r.sidecarTotal.limitCpuMillicores)} vCPU, ${gib(r.sidecarTotal.limitMemoryMiB)} GiB.`,
    ),
    h(2, 'Sidecars'),
    table(
      ['namespace', 'workload', 'pods', 'cpu request', 'memory request', 'from'],
      r.sidecars.map((s) => [
        s.namespace,
        s.workload,
        String(s.pods),
        `${s.requests.cpuMillicores}m`,
        `${Math.round(s.requests.memoryMiB)}Mi`,
        s.from,
      ]),
    ),
    ...(r.transient.length > 0
      ? [p('Not counted (pods that run to completion):'), list(r.transient)]
      : []),
  ];
}

export function costMarkdown(r: CostReport): string {
  return renderMarkdown(blocks(r));
}

export function costHtml(r: CostReport): string {
  return renderHtml('ambit migrate cost', blocks(r));
}
