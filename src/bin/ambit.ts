/**
 * Process entry for every ambit component and command. Parses argv, runs the
 * command, and turns an AmbitError into one clear line and a non-zero exit.
 */
import { buildProgram } from '../cli/index.js';
import { isAmbitError } from '../core/errors.js';

async function main(): Promise<void> {
  const program = buildProgram();
  try {
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
