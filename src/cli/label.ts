/**
 * `ambit label namespace|pod|service NAME key=value… | key-…`: change labels
 * on a running local cluster. Enrollment follows `istio.io/dataplane-mode`
 * live: pods are enrolled or released without restarting; a Service's
 * `istio.io/use-waypoint` binds it to a waypoint (or `none` unbinds it). The change goes through
 * the runner's control channel (src/local/labels.ts: labels.json + SIGUSR2),
 * and this command returns once the runner has applied it.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import {
  currentState,
  findPod,
  LABELS_SIGNAL,
  LocalErrors,
  parseLabelArgs,
  preflight,
  readState,
  runnerAlive,
  runRoot,
  updateOverrides,
} from '../local/index.js';

export function registerLabel(program: Command): void {
  program
    .command('label')
    .description(
      'label a namespace, pod or service of the running local cluster (istio.io/dataplane-mode=ambient enrolls live; istio.io/use-waypoint binds a service)',
    )
    .argument('<kind>', 'namespace | ns | pod | service | svc')
    .argument('<name>', 'namespace name, pod name / deploy/NAME, or service name (with -n)')
    .argument('<labels...>', 'key=value to set, key- to remove')
    .option('-n, --namespace <ns>', "the pod's or service's namespace", 'default')
    .option('--timeout <seconds>', 'how long to wait for the runner to apply it', '30')
    .action(labelResource);
}

/** `ambit label`'s whole path (also `ambit waypoint apply --enroll-namespace`): returns once the runner applied it. */
export async function labelResource(
  kind: string,
  name: string,
  args: string[],
  o: { namespace: string; timeout: string },
): Promise<void> {
  preflight('ambit label');
  const patch = parseLabelArgs(args);
  const state = currentState(runRoot());
  if (!runnerAlive(state) || state.status !== 'ready') {
    throw new AmbitError(
      LocalErrors.NOT_RUNNING,
      `the local cluster ${state.runId} is not running (status ${state.status}); start it with \`ambit up\``,
    );
  }
  let what: string;
  let key: string;
  let table: 'namespaces' | 'pods' | 'services';
  if (kind === 'namespace' || kind === 'ns' || kind === 'namespaces') {
    if (!state.namespaces.some((n) => n.name === name)) {
      throw new AmbitError(
        LocalErrors.LABEL_INVALID,
        `namespace ${name} not found (namespaces: ${state.namespaces.map((n) => n.name).join(', ')})`,
      );
    }
    [table, key, what] = ['namespaces', name, `namespace/${name}`];
  } else if (kind === 'pod' || kind === 'pods' || kind === 'po') {
    const pod = findPod(state, o.namespace, name);
    [table, key, what] = ['pods', `${pod.namespace}/${pod.name}`, `pod/${pod.name}`];
  } else if (kind === 'service' || kind === 'services' || kind === 'svc') {
    if (!state.services.some((s) => s.namespace === o.namespace && s.name === name)) {
      throw new AmbitError(
        LocalErrors.LABEL_INVALID,
        `service ${o.namespace}/${name} not found (services: ${state.services.map((s) => `${s.namespace}/${s.name}`).join(', ')})`,
      );
    }
    [table, key, what] = ['services', `${o.namespace}/${name}`, `service/${name}`];
  } else {
    throw new AmbitError(
      LocalErrors.LABEL_INVALID,
      `cannot label ${kind}: only namespace, pod and service are supported`,
    );
  }
  // Read-modify-write under the run lock: a concurrent `ambit label`
  // (or `ambit apply`) cannot lose this update, nor this one theirs.
  const { overrides } = updateOverrides(state.runDir, (ov) => {
    const t = ov[table] ?? {};
    t[key] = { ...t[key], ...patch };
    ov[table] = t;
    return true;
  });
  process.kill(state.runner.pid, LABELS_SIGNAL);
  const until = Date.now() + Number(o.timeout) * 1000;
  const before = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, p.enrolled]));
  for (;;) {
    const now = readState(state.runDir);
    if (now && (now.labels?.applied ?? 0) >= overrides.generation) {
      if (now.labels?.error) {
        throw new AmbitError(LocalErrors.LABEL_FAILED, `${what}: ${now.labels.error}`);
      }
      process.stdout.write(`${what} labeled\n`);
      if (!now.mesh) {
        process.stdout.write(
          '  note: this run has no mesh (--no-mesh): labels recorded, no pod enrolled or released\n',
        );
        return;
      }
      for (const p of now.pods) {
        const was = before.get(`${p.namespace}/${p.name}`);
        if (was !== undefined && was !== p.enrolled) {
          process.stdout.write(
            `  ${p.enrolled ? 'enrolled' : 'released'} ${p.namespace}/${p.name} (not restarted)\n`,
          );
        }
      }
      return;
    }
    if (!now || !runnerAlive(now) || Date.now() > until) {
      throw new AmbitError(
        LocalErrors.LABEL_FAILED,
        `the runner did not apply the change to ${what} within ${o.timeout} s`,
      );
    }
    await sleep(100);
  }
}
