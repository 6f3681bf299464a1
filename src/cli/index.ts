/**
 * The `ambit` command tree. Each area registers its own subcommands; this file
 * only assembles them, so adding a command never touches another area's code.
 */
import { Command, Option } from 'commander';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { isLevel, logs } from '../telemetry/logger.js';
import { registerApply } from './apply.js';
import { registerCa } from './ca.js';
import { registerControlPlane } from './controlplane.js';
import { registerDown } from './down.js';
import { registerExec } from './exec.js';
import { registerGet } from './get.js';
import { registerLabel } from './label.js';
import { registerLogs } from './logs.js';
import { registerMigrate } from './migrate.js';
import { registerUp } from './up.js';
import { VERSION } from './version.js';
import { registerWaypoint } from './waypoint.js';
import { registerZtunnel } from './ztunnel.js';

export type CommandRegistrar = (program: Command) => void;

// One registrar per area, in the order they appear in `ambit --help`.
const registrars: CommandRegistrar[] = [
  registerUp,
  registerDown,
  registerGet,
  registerExec,
  registerLogs,
  registerLabel,
  registerApply,
  registerControlPlane,
  registerWaypoint,
  registerZtunnel,
  registerCa,
  registerMigrate,
];

export function buildProgram(): Command {
  const program = new Command('ambit')
    .description('ambit: a sidecarless (ambient) service mesh, wire-compatible with Istio ambient')
    .version(VERSION, '-v, --version')
    .addOption(
      new Option('--log-level <level>', 'log level for all components')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
        .env('AMBIT_LOG_LEVEL'),
    )
    .showHelpAfterError()
    .enablePositionalOptions();
  program.hook('preAction', (cmd) => {
    const level = cmd.optsWithGlobals<{ logLevel?: string }>().logLevel;
    if (level !== undefined) {
      if (!isLevel(level))
        throw new AmbitError(CoreErrors.CONFIG_INVALID, `unknown log level ${level}`);
      logs.setLevel(level);
    }
  });
  for (const register of registrars) register(program);
  return program;
}
