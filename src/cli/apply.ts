/** `ambit apply -f FILE`: add resources to a running local cluster. Needs the control plane (next round). */
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import { LocalErrors } from '../local/index.js';

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('apply manifests to the local cluster (not yet available)')
    .option('-f, --filename <path>', 'manifest file or directory')
    .action(() => {
      throw new AmbitError(
        LocalErrors.NOT_AVAILABLE,
        'ambit apply needs the mesh control plane, which ambit up does not start yet; edit the manifests and run `ambit down` + `ambit up`',
      );
    });
}
