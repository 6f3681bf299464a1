/** `ambit label` / `ambit apply`: change a running local cluster. Needs the control plane (next round). */
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import { LocalErrors } from '../local/index.js';

function notYet(what: string): never {
  throw new AmbitError(
    LocalErrors.NOT_AVAILABLE,
    `${what} needs the mesh control plane, which ambit up does not start yet; edit the manifests and run \`ambit down\` + \`ambit up\``,
  );
}

export function registerLabel(program: Command): void {
  program
    .command('label')
    .description('label a namespace or pod of the local cluster (not yet available)')
    .argument('<args...>')
    .allowUnknownOption()
    .action(() => notYet('ambit label'));
}
