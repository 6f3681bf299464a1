/** `ambit logs -n NS POD|deploy/NAME [-f]`: a pod's output (all restarts) from its log file. */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import {
  type ClusterState,
  currentState,
  findPod,
  LocalErrors,
  MESH_NAMESPACE,
  podLogPath,
  runnerAlive,
  runRoot,
} from '../local/index.js';

/** The mesh's own processes: `-n istio-system controlplane | ztunnel-<node> | ztunnel/<node>`. */
function meshLog(state: ClusterState, ref: string): string {
  const name = ref.replace(/^ztunnel\//, 'ztunnel-');
  const known = ['controlplane', ...state.nodes.map((n) => `ztunnel-${n.name}`)];
  if (!state.mesh || !known.includes(name)) {
    throw new AmbitError(
      LocalErrors.POD_NOT_FOUND,
      state.mesh
        ? `${ref} not found in ${MESH_NAMESPACE} (${known.join(', ')})`
        : `this run has no mesh (started with --no-mesh)`,
    );
  }
  return podLogPath(join(state.runDir, 'logs'), MESH_NAMESPACE, name);
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description(
      'print the output of a pod of the local cluster (kept across restarts); -n istio-system controlplane|ztunnel-<node> for the mesh',
    )
    .argument('<pod>', 'pod name or deploy/NAME')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --follow', 'keep printing new output until Ctrl-C', false)
    .action(async (ref: string, o: { namespace: string; follow: boolean }) => {
      const state = currentState(runRoot());
      let path: string;
      if (o.namespace === MESH_NAMESPACE) path = meshLog(state, ref);
      else {
        const pod = findPod(state, o.namespace, ref);
        path = podLogPath(join(state.runDir, 'logs'), pod.namespace, pod.name);
      }
      if (!existsSync(path)) return;
      const fd = openSync(path, 'r');
      const buf = Buffer.alloc(65536);
      let pos = 0;
      let stop = false;
      process.once('SIGINT', () => {
        stop = true;
      });
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n > 0) {
            pos += n;
            process.stdout.write(buf.subarray(0, n));
            continue;
          }
          if (!o.follow || stop || !runnerAlive(state)) break;
          await sleep(200);
        }
      } finally {
        closeSync(fd);
      }
    });
}
