/** The report `ambit migrate convert` writes next to the converted files. */
import { formatSource } from '../../kube/index.js';
import type { Conversion } from '../convert.js';
import { equivalenceBlocks } from './check.js';
import { type Block, h, list, p, renderMarkdown, table } from './doc.js';

export function convertMarkdown(
  c: Conversion,
  problems: readonly { source: { file: string; document: number }; message: string }[],
): string {
  const lost = c.findings.filter((f) => f.support === 'none' || f.support === 'approximate');
  const blocks: Block[] = [
    h(1, 'ambit migrate convert'),
    table(
      ['namespace', 'file', 'objects', 'waypoint', 'delete at cutover'],
      c.namespaces
        .filter((n) => n.objects.length > 0)
        .map((n) => [
          n.name,
          `${n.name}.yaml`,
          String(n.objects.length),
          n.waypoint ? 'yes' : 'no',
          n.retire.join(', '),
        ]),
    ),
    h(2, 'Not converted, or converted approximately'),
    lost.length === 0
      ? p('Everything converted exactly.')
      : table(
          ['namespace', 'resource', 'feature', 'support', 'detail', 'what to do'],
          lost.map((f) => [f.namespace, f.resource, f.feature, f.support, f.detail, f.ambient]),
        ),
    ...equivalenceBlocks(c.equivalence),
  ];
  if (c.invalid.length > 0)
    blocks.push(
      h(2, 'Failed schema validation (not written)'),
      list(c.invalid.map((i) => `${i.object}: ${i.error}`)),
    );
  if (problems.length > 0)
    blocks.push(
      h(2, 'Input problems'),
      list(problems.map((x) => `${formatSource(x.source)}: ${x.message}`)),
    );
  return renderMarkdown(blocks);
}
