/**
 * `ambit exec -n NS POD|deploy/NAME -- CMD…`: run a command inside a pod's
 * network namespace with its hosts file and resolv.conf (via `ip netns exec`),
 * in the manifest directory, with the pod's environment. The exit code passes through.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { processEnv } from '../config/index.js';
import { currentState, findPod, preflight, runRoot } from '../local/index.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a pod of the local cluster (its netns, hosts file and env)')
    .argument('<pod>', 'pod name or deploy/NAME')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .passThroughOptions()
    .action(async (ref: string, command: string[], o: { namespace: string }) => {
      preflight('ambit exec');
      const state = currentState(runRoot());
      const pod = findPod(state, o.namespace, ref);
      const env = { ...processEnv(), ...(pod.containers[0]?.env ?? {}) };
      const argv = command[0] === '--' ? command.slice(1) : command;
      const child = spawn('ip', ['netns', 'exec', pod.netns, ...argv], {
        stdio: 'inherit',
        env,
        cwd: pod.containers[0]?.workingDir ?? state.dir,
      });
      const code = await new Promise<number>((resolve) => {
        child.once('error', () => resolve(127));
        child.once('exit', (c, sig) => {
          const n = sig ? (constants.signals[sig] ?? 0) : 0;
          resolve(c ?? 128 + n);
        });
      });
      process.exitCode = code;
    });
}
