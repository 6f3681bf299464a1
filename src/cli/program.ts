/**
 * The root `ambit` command without subcommands: global options and the
 * log-level hook. `index.ts` adds every area's commands; the process entry
 * adds only the ztunnel's when that is all it runs (see src/bin/ambit.ts).
 */
import { Command, Option } from 'commander';
import { AmbitError, CoreErrors } from '../core/errors.js';
import { isLevel, logs } from '../telemetry/logger.js';
import { VERSION } from './version.js';

export type CommandRegistrar = (program: Command) => void;

export function buildProgram(registrars: readonly CommandRegistrar[]): Command {
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
