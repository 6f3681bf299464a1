/**
 * `ambit apply -f PATH` (file, directory or `-` for stdin; multi-document):
 * adds or changes resources of the running local cluster, like kubectl. Every
 * document is validated with the control plane's own parser, and the whole
 * new manifest set is planned against the running cluster, before anything is
 * stored: one invalid document and nothing is applied. Valid documents are
 * stored in `<runDir>/applied/` (src/local/applied.ts), where the runner and
 * the control plane pick them up. `ambit delete -f` stores deletions the same
 * way (applied.ts `storeDeleted`).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { AmbitError, errorMessage, isAmbitError } from '../core/errors.js';
import { formatSource, type ManifestSet, parseManifestText, readManifests } from '../kube/index.js';
import {
  type ApplyResult,
  currentState,
  dropAppliedKeys,
  effectiveManifests,
  LABELS_SIGNAL,
  LocalErrors,
  manifestProblems,
  overlayManifests,
  planOf,
  readOverrides,
  readState,
  reconcile,
  runnerAlive,
  runRoot,
  seqOf,
  storeApplied,
  storeDeleted,
  withRunLock,
  writeOverrides,
} from '../local/index.js';

function readInput(paths: readonly string[]): ManifestSet {
  const sets = paths.map((p) =>
    p === '-' ? parseManifestText(readFileSync(0, 'utf8'), '<stdin>') : readManifests([p]),
  );
  return { objects: sets.flatMap((s) => s.objects), problems: sets.flatMap((s) => s.problems) };
}

function invalid(problems: readonly string[]): AmbitError {
  return new AmbitError(
    LocalErrors.MANIFEST_INVALID,
    `nothing was applied:\n  ${problems.join('\n  ')}`,
    { details: { problems } },
  );
}

/** The running cluster, or NOT_RUNNING. */
function runningState() {
  const state = currentState(runRoot());
  if (!runnerAlive(state) || state.status !== 'ready') {
    throw new AmbitError(
      LocalErrors.NOT_RUNNING,
      `the local cluster (run ${state.runId}) is not running (status ${state.status}); start it with \`ambit up\``,
    );
  }
  return state;
}

/**
 * Validates `input` against the running cluster, stores it in the applied
 * directory (or, with `deleting`, stores deletions of its objects), prints
 * kubectl's lines and waits up to `waitSeconds` for the runner to apply it.
 * One path for `ambit apply`, `ambit delete` and `ambit waypoint apply|delete`.
 */
export async function applyToCluster(
  input: ManifestSet,
  opts: { waitSeconds: number; deleting?: boolean; out?: (line: string) => void },
): Promise<ApplyResult[]> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const problems = manifestProblems(input);
  if (problems.length > 0 && !opts.deleting) throw invalid(problems);
  const state = runningState();
  // Under the run lock: concurrent applies get distinct sequence numbers,
  // and labels.json changes with the documents (see dropAppliedKeys).
  const { results, labels } = withRunLock(state.runDir, () => {
    const before = effectiveManifests(state.dir, state.runDir);
    const overrides = readOverrides(state.runDir);
    if (opts.deleting) {
      // Deleting never makes an invalid set; what it removes reconciles away.
      return { results: storeDeleted(state.runDir, before, input.objects), labels: undefined };
    }
    // The whole new set must still make a cluster (node names, commands, VIPs).
    try {
      reconcile({
        current: planOf(state),
        previous: before,
        next: overlayManifests(before, input),
        labels: overrides,
      });
    } catch (err) {
      if (isAmbitError(err) && err.code === LocalErrors.MANIFEST_INVALID)
        throw invalid((err.details.problems as string[] | undefined) ?? [errorMessage(err)]);
      throw err;
    }
    const results = storeApplied(state.runDir, before, input.objects);
    // Stored first, then labels: in between, the runner sees the new
    // documents with the old overrides, which only keeps today's values.
    // Like kubectl, even an unchanged document sets the labels it lists.
    let labels: number | undefined;
    if (dropAppliedKeys(overrides, input.objects)) {
      overrides.generation += 1;
      writeOverrides(state.runDir, overrides);
      labels = overrides.generation;
    }
    return { results, labels };
  });
  for (const r of results) {
    out(r.action === 'unchanged' && opts.deleting ? `${r.ref} not found` : `${r.ref} ${r.action}`);
  }
  const seq = Math.max(0, ...results.map((r) => (r.file ? seqOf(r.file) : 0)));
  if (seq === 0 && labels === undefined) return results;
  if (labels !== undefined) process.kill(state.runner.pid, LABELS_SIGNAL);
  if (state.applied === undefined) {
    // Every runner of this version publishes `applied` once ready.
    process.stderr.write(
      `note: stored in ${state.runDir}/applied, but this run's runner does not apply changes live yet (it was started by an older ambit); restart it with \`ambit down\` + \`ambit up\`\n`,
    );
    return results;
  }
  // Wait for the runner to reconcile (it publishes applied.seq in cluster.json).
  const until = Date.now() + opts.waitSeconds * 1000;
  for (;;) {
    const st = readState(state.runDir);
    if (st?.applied && st.applied.seq >= seq && (st.labels?.applied ?? 0) >= (labels ?? 0)) {
      if (st.applied.error !== undefined)
        throw new AmbitError(
          LocalErrors.APPLY_FAILED,
          `the runner could not apply the change: ${st.applied.error}`,
        );
      return results;
    }
    if (!st || !runnerAlive(st) || Date.now() > until) {
      throw new AmbitError(
        LocalErrors.APPLY_FAILED,
        `the runner did not confirm the change within ${opts.waitSeconds} s; see \`ambit get pods\` and the runner log`,
      );
    }
    await sleep(200);
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('apply manifests to the running local cluster (file, directory, or - for stdin)')
    .requiredOption(
      '-f, --filename <path>',
      'manifest file or directory, or - for stdin (repeatable)',
      collect,
    )
    .option('--wait <seconds>', 'how long to wait for the runner to apply the change', '60')
    .action(async (o: { filename: string[]; wait: string }) => {
      const input = readInput(o.filename);
      if (input.objects.length === 0 && input.problems.length === 0) {
        throw invalid([`${o.filename.join(', ')}: no Kubernetes objects found`]);
      }
      await applyToCluster(input, { waitSeconds: Number(o.wait) });
    });
  program
    .command('delete')
    .description(
      'delete the objects of manifests from the running local cluster (as kubectl delete -f)',
    )
    .requiredOption(
      '-f, --filename <path>',
      'manifest file or directory, or - for stdin (repeatable)',
      collect,
    )
    .option('--wait <seconds>', 'how long to wait for the runner to apply the change', '60')
    .action(async (o: { filename: string[]; wait: string }) => {
      const input = readInput(o.filename);
      if (input.problems.length > 0)
        throw invalid(input.problems.map((p) => `${formatSource(p.source)}: ${p.message}`));
      if (input.objects.length === 0)
        throw invalid([`${o.filename.join(', ')}: no Kubernetes objects found`]);
      await applyToCluster(input, { waitSeconds: Number(o.wait), deleting: true });
    });
}
