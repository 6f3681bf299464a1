import { join } from 'node:path';
import { envString, processEnv } from '../config/index.js';
import { DEFAULT_RUN_DIR } from '../platform/index.js';

/**
 * Root of local cluster runs: `AMBIT_RUN_DIR`, default `/run/ambit`. Each run
 * lives in `<root>/<run-id>/` (ledger.json, cluster.json, logs/).
 */
export function runRoot(env = processEnv()): string {
  return envString(env, 'AMBIT_RUN_DIR') ?? DEFAULT_RUN_DIR;
}

export function runDir(root: string, runId: string): string {
  return join(root, runId);
}
