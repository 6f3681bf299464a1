/**
 * `ambit down`: stop the local cluster and remove everything it created
 * (processes, namespaces, veths, nft tables, hosts files, run directory),
 * also what a crashed runner left behind, from its ledger. Idempotent.
 */
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import {
  LocalErrors,
  listRuns,
  preflight,
  readState,
  runRoot,
  teardownRun,
} from '../local/index.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('stop the local cluster and remove everything it created (also after a crash)')
    .action(async () => {
      preflight('ambit down');
      const root = runRoot();
      const runs = listRuns(root);
      if (runs.length === 0) {
        process.stdout.write(`nothing to do: no local cluster under ${root}\n`);
        return;
      }
      const problems: string[] = [];
      for (const dir of runs) {
        const id = readState(dir)?.runId ?? dir;
        const failed = await teardownRun(dir);
        if (failed.length === 0) process.stdout.write(`run ${id}: stopped and removed\n`);
        else problems.push(`run ${id}:\n  ${failed.join('\n  ')}`);
      }
      if (problems.length > 0) {
        throw new AmbitError(
          LocalErrors.START_FAILED,
          `some resources could not be removed (run \`ambit down\` again):\n${problems.join('\n')}`,
        );
      }
    });
}
