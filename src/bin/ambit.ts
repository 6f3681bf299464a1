/**
 * Process entry for every ambit component and command. Parses argv, runs the
 * command, and turns an AmbitError into one clear line and a non-zero exit.
 *
 * `ambit ztunnel` and `ambit waypoint run` are long-running data-plane
 * processes: they load only their own command, not the whole CLI (the control
 * plane, Kubernetes client, migrate's models…), which would cost each ~100 MB
 * of RSS and seconds of startup. (Other `ambit waypoint …` subcommands get
 * the full CLI.)
 */
import type { Command } from 'commander';
import { isAmbitError } from '../core/errors.js';

/** The subcommand in argv, skipping the global options (`--log-level X`). */
export function subcommandOf(argv: readonly string[]): string | undefined {
  return commandPath(argv)[0];
}

/** The first two non-option words of argv (`waypoint run`), skipping `--log-level X`. */
export function commandPath(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (let i = 2; i < argv.length && words.length < 2; i++) {
    const a = argv[i] as string;
    if (a === '--log-level') i += 1;
    else if (!a.startsWith('-')) words.push(a);
  }
  return words;
}

async function loadProgram(): Promise<Command> {
  const [cmd, sub] = commandPath(process.argv);
  if (cmd === 'waypoint' && sub === 'run') {
    const [{ buildProgram }, { registerWaypoint }] = await Promise.all([
      import('../cli/program.js'),
      import('../cli/waypoint.js'),
    ]);
    return buildProgram([registerWaypoint]);
  }
  if (cmd === 'ztunnel') {
    const [{ buildProgram }, { registerZtunnel }] = await Promise.all([
      import('../cli/program.js'),
      import('../cli/ztunnel.js'),
    ]);
    return buildProgram([registerZtunnel]);
  }
  const { buildProgram } = await import('../cli/index.js');
  return buildProgram();
}

async function main(): Promise<void> {
  try {
    const program = await loadProgram();
    await program.parseAsync(process.argv);
  } catch (err) {
    if (isAmbitError(err)) {
      process.stderr.write(`error: [${err.code}] ${err.message}\n`);
    } else {
      process.stderr.write(
        `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
    process.exitCode = process.exitCode || 1;
  }
}

await main();
