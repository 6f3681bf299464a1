/**
 * `ambit migrate check|convert|cost`: from Istio sidecars to ambit.
 * Exit codes: 0 done, 1 error, 2 at least one namespace is blocked (check and
 * convert still print/write everything).
 */
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import { type ManifestSet, readManifests } from '../kube/index.js';
import {
  ambientFigures,
  buildInventory,
  check,
  checkHtml,
  checkMarkdown,
  checkTable,
  convert,
  cost,
  costHtml,
  costMarkdown,
  costTable,
  type Inventory,
  MigrateErrors,
  readCluster,
  writeConversion,
} from '../migrate/index.js';
import { outputOption, printResult } from './output.js';

interface InputOptions {
  filename: string[];
  kubeconfig?: string;
  context?: string;
  namespace: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function inputOptions(cmd: Command): Command {
  return cmd
    .option(
      '-f, --filename <path>',
      'manifest file or directory (repeatable): YAML, kubectl List, Helm/kustomize output',
      collect,
      [],
    )
    .option('--kubeconfig <path>', 'read a live cluster with this kubeconfig')
    .option('--context <name>', 'kubeconfig context')
    .option('-n, --namespace <ns>', 'namespace for objects that name none', 'default');
}

async function load(o: InputOptions): Promise<Inventory> {
  if (o.filename.length === 0 && o.kubeconfig === undefined) {
    throw new AmbitError(
      MigrateErrors.INPUT_INVALID,
      'nothing to read: pass -f FILE|DIR or --kubeconfig PATH',
    );
  }
  const set: ManifestSet =
    o.filename.length > 0 ? readManifests(o.filename) : { objects: [], problems: [] };
  if (o.kubeconfig !== undefined) {
    const live = await readCluster({
      kubeconfig: o.kubeconfig,
      ...(o.context === undefined ? {} : { context: o.context }),
    });
    set.objects.push(...live.objects);
    set.problems.push(...live.problems);
  }
  return buildInventory(set.objects, set.problems, { defaultNamespace: o.namespace });
}

function warnProblems(inv: Inventory): void {
  if (inv.problems.length > 0)
    process.stderr.write(`warning: ${inv.problems.length} input problem(s); see the report\n`);
}

export function registerMigrate(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('move from Istio sidecars to ambit: check, convert, cost');

  inputOptions(
    migrate
      .command('check')
      .description('report per namespace what blocks migration, what converts, and the steps'),
  )
    .addOption(outputOption(['markdown', 'html']))
    .action(async (o: InputOptions & { output: string }) => {
      const inv = await load(o);
      const report = check(inv);
      if (o.output === 'markdown') process.stdout.write(checkMarkdown(report));
      else if (o.output === 'html') process.stdout.write(checkHtml(report));
      else printResult(o.output, report, () => checkTable(report));
      if (report.namespaces.some((n) => n.verdict === 'blocked')) process.exitCode = 2;
    });

  inputOptions(
    migrate
      .command('convert')
      .description('write the ambient configuration and a report of what was not converted'),
  )
    .requiredOption('-o, --output <dir>', 'output directory')
    .action(async (o: InputOptions & { output: string }) => {
      const inv = await load(o);
      const conversion = convert(inv);
      const report = check(inv, conversion);
      const files = writeConversion(o.output, conversion, inv.problems);
      warnProblems(inv);
      for (const n of report.namespaces) {
        if (n.verdict !== 'not-in-mesh') process.stdout.write(`${n.name}: ${n.verdict}\n`);
      }
      process.stdout.write(`wrote ${files.map((f) => `${o.output}/${f}`).join(', ')}\n`);
      if (conversion.invalid.length > 0) {
        throw new AmbitError(
          MigrateErrors.OUTPUT_INVALID,
          `${conversion.invalid.length} converted object(s) failed schema validation: ${conversion.invalid.map((i) => `${i.object}: ${i.error}`).join('; ')}`,
        );
      }
      if (report.namespaces.some((n) => n.verdict === 'blocked')) process.exitCode = 2;
    });

  inputOptions(
    migrate
      .command('cost')
      .description('sidecar CPU/memory reservations against the ambient data plane'),
  )
    .option('--nodes <n>', 'node count (default: Node objects in the input)', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--waypoint-replicas <n>', 'replicas per waypoint', (v) => Number.parseInt(v, 10), 1)
    .option(
      '--bench <file>',
      'benchmark results with per-proxy figures',
      new URL('../../bench/results/latest.json', import.meta.url).pathname,
    )
    .addOption(outputOption(['markdown', 'html']))
    .action(
      async (
        o: InputOptions & {
          output: string;
          nodes?: number;
          waypointReplicas: number;
          bench: string;
        },
      ) => {
        const inv = await load(o);
        const nodes = o.nodes ?? inv.nodes;
        if (!Number.isInteger(nodes) || nodes <= 0) {
          throw new AmbitError(
            MigrateErrors.INPUT_INVALID,
            'node count unknown: pass --nodes N or include Node objects',
          );
        }
        const report = cost(inv, convert(inv), {
          nodes,
          waypointReplicas: o.waypointReplicas,
          figures: ambientFigures(o.bench),
        });
        if (o.output === 'markdown') process.stdout.write(costMarkdown(report));
        else if (o.output === 'html') process.stdout.write(costHtml(report));
        else printResult(o.output, report, () => costTable(report));
      },
    );
}
