/** Renders a check report as a terminal table, Markdown or HTML. */
import { renderTable } from '../../cli/output.js';
import { formatSource } from '../../kube/index.js';
import type { CheckReport } from '../check.js';
import type { EquivalenceResult } from '../equivalence/check.js';
import { sampleKey } from '../equivalence/samples.js';
import type { Finding } from '../types.js';
import { type Block, h, list, p, renderHtml, renderMarkdown, table } from './doc.js';

function summaryRows(r: CheckReport): string[][] {
  return r.namespaces.map((n) => [
    n.name,
    n.verdict,
    `${n.workloads.filter((w) => w.sidecar).length}/${n.workloads.length}`,
    n.waypoint ? 'yes' : 'no',
    String(n.counts.blocker),
    String(n.counts.auto),
    String(n.counts.warning),
  ]);
}

const SUMMARY_HEADERS = [
  'namespace',
  'verdict',
  'sidecars',
  'waypoint',
  'blockers',
  'auto',
  'warnings',
];

/** The default human output: a summary table, then reasons and steps. */
export function checkTable(r: CheckReport): string {
  const parts = [renderTable(SUMMARY_HEADERS, summaryRows(r))];
  for (const n of r.namespaces) {
    if (n.verdict === 'not-in-mesh') continue;
    const lines = [`\n${n.name}: ${n.verdict}`];
    for (const reason of n.reasons) lines.push(`  blocked: ${reason}`);
    const notable = r.findings.filter((f) => f.namespace === n.name && f.severity === 'warning');
    for (const f of notable)
      lines.push(`  warning: ${f.resource}: ${f.feature}${f.detail ? ` (${f.detail})` : ''}`);
    for (const [i, s] of n.steps.entries()) lines.push(`  ${i + 1}. ${s}`);
    parts.push(`${lines.join('\n')}\n`);
  }
  const mism = r.equivalence.filter((e) => e.mismatches > 0);
  for (const e of mism)
    parts.push(
      `\nroute mismatch: ${e.virtualService} (${e.mismatches}/${e.rows.length} samples)\n`,
    );
  if (r.problems.length > 0) {
    parts.push(
      `\ninput problems (${r.problems.length}):\n${r.problems.map((x) => `  ${formatSource(x.source)}: ${x.message.split('\n')[0]}`).join('\n')}\n`,
    );
  }
  return parts.join('');
}

function findingRows(fs: readonly Finding[]): string[][] {
  return fs.map((f) => [
    f.severity,
    f.resource,
    f.workloads.join(', '),
    f.feature,
    f.support,
    f.detail + (f.patch ? ` — patch: ${JSON.stringify(f.patch)}` : ''),
    f.ambient,
  ]);
}

export function equivalenceBlocks(es: readonly EquivalenceResult[]): Block[] {
  const blocks: Block[] = [h(2, 'Route equivalence (sample requests)')];
  if (es.length === 0) blocks.push(p('No VirtualService was converted.'));
  for (const e of es) {
    blocks.push(
      h(
        3,
        `${e.virtualService} → ${e.routes.join(', ')} (${e.mismatches === 0 ? 'all samples agree' : `${e.mismatches} mismatch(es)`})`,
      ),
    );
    blocks.push(
      table(
        ['request', 'VirtualService', 'rule', 'HTTPRoute', 'rule', 'same'],
        e.rows.map((r) => [
          sampleKey(r.request),
          r.virtualService,
          r.virtualServiceRule,
          r.httpRoute,
          r.httpRouteRule,
          r.same ? 'yes' : 'NO',
        ]),
      ),
    );
  }
  return blocks;
}

export function checkBlocks(r: CheckReport): Block[] {
  const blocks: Block[] = [h(1, 'ambit migrate check'), table(SUMMARY_HEADERS, summaryRows(r))];
  for (const n of r.namespaces) {
    blocks.push(h(2, `${n.name}: ${n.verdict}`));
    if (n.reasons.length > 0) blocks.push(p('Blocked by:'), list(n.reasons));
    if (n.steps.length > 0) blocks.push(p('Steps:'), list(n.steps, true));
    if (n.workloads.length > 0) {
      blocks.push(
        table(
          ['workload', 'replicas', 'sidecar', 'findings'],
          n.workloads.map((w) => [
            `${w.kind} ${w.name}`,
            String(w.replicas),
            w.sidecar ? 'yes' : 'no',
            String(w.findings),
          ]),
        ),
      );
    }
    const fs = r.findings.filter((f) => f.namespace === n.name);
    if (fs.length > 0)
      blocks.push(
        table(
          ['severity', 'resource', 'workloads', 'feature', 'support', 'detail', 'ambient'],
          findingRows(fs),
        ),
      );
  }
  blocks.push(...equivalenceBlocks(r.equivalence));
  if (r.problems.length > 0) {
    blocks.push(
      h(2, 'Input problems'),
      table(
        ['file', 'document', 'problem'],
        r.problems.map((x) => [x.source.file, String(x.source.document), x.message]),
      ),
    );
  }
  return blocks;
}

export function checkMarkdown(r: CheckReport): string {
  return renderMarkdown(checkBlocks(r));
}

export function checkHtml(r: CheckReport): string {
  return renderHtml('ambit migrate check', checkBlocks(r));
}
