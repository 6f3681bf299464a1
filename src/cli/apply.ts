/**
 * `ambit apply -f PATH` (file, directory or `-` for stdin; multi-document):
 * adds or changes resources of the running local cluster, like kubectl. Every
 * document is validated with the control plane's own parser, and the whole
 * new manifest set is planned against the running cluster, before anything is
 * stored: one invalid document and nothing is applied. Valid documents are
 * stored in `<runDir>/applied/` (src/local/applied.ts), where the runner and
 * the control plane pick them up.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { AmbitError, errorMessage, isAmbitError } from '../core/errors.js';
import { type ManifestSet, parseManifestText, readManifests } from '../kube/index.js';
import {
  currentState,
  effectiveManifests,
  LocalErrors,
  manifestProblems,
  overlayManifests,
  planOf,
  readState,
  reconcile,
  runnerAlive,
  runRoot,
  seqOf,
  storeApplied,
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

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('apply manifests to the running local cluster (file, directory, or - for stdin)')
    .requiredOption(
      '-f, --filename <path>',
      'manifest file or directory, or - for stdin (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--wait <seconds>', 'how long to wait for the runner to apply the change', '60')
    .action(async (o: { filename: string[]; wait: string }) => {
      const input = readInput(o.filename);
      if (input.objects.length === 0 && input.problems.length === 0) {
        throw invalid([`${o.filename.join(', ')}: no Kubernetes objects found`]);
      }
      const problems = manifestProblems(input);
      if (problems.length > 0) throw invalid(problems);

      const state = currentState(runRoot());
      if (!runnerAlive(state)) {
        throw new AmbitError(
          LocalErrors.NOT_RUNNING,
          `the local cluster (run ${state.runId}) is not running; start it with \`ambit up\``,
        );
      }
      const before = effectiveManifests(state.dir, state.runDir);
      // The whole new set must still make a cluster (node names, commands, VIPs).
      try {
        reconcile({
          current: planOf(state),
          previous: before,
          next: overlayManifests(before, input),
        });
      } catch (err) {
        if (isAmbitError(err) && err.code === LocalErrors.MANIFEST_INVALID)
          throw invalid((err.details.problems as string[] | undefined) ?? [errorMessage(err)]);
        throw err;
      }

      const results = storeApplied(state.runDir, before, input.objects);
      for (const r of results) process.stdout.write(`${r.ref} ${r.action}\n`);
      const seq = Math.max(0, ...results.map((r) => (r.file ? seqOf(r.file) : 0)));
      if (seq === 0) return;
      if (state.applied === undefined) {
        process.stderr.write(
          `note: stored in ${state.runDir}/applied, but this run's runner does not apply changes live yet (the mesh runner does); to run them now, add them to ${state.dir} and restart with \`ambit down\` + \`ambit up\`\n`,
        );
        return;
      }
      // Wait for the runner to reconcile (it publishes applied.seq in cluster.json).
      const until = Date.now() + Number(o.wait) * 1000;
      for (;;) {
        const st = readState(state.runDir);
        if (st?.applied && st.applied.seq >= seq) {
          if (st.applied.error !== undefined)
            throw new AmbitError(
              LocalErrors.APPLY_FAILED,
              `the runner could not apply the change: ${st.applied.error}`,
            );
          return;
        }
        if (!st || !runnerAlive(st) || Date.now() > until) {
          throw new AmbitError(
            LocalErrors.APPLY_FAILED,
            `the runner did not confirm the change within ${o.wait} s; see \`ambit get pods\` and the runner log`,
          );
        }
        await sleep(200);
      }
    });
}
