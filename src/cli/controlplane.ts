/**
 * `ambit controlplane`: run the control plane (istiod's role: CA + delta xDS
 * on 15012, monitoring on 15014), and `issue-node-token` to bootstrap a
 * node's ztunnel in local mode.
 */
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { buildControlPlane } from '../app/controlplane.js';
import {
  type ControlPlaneFlags,
  controlPlaneStateDir,
  DEFAULT_CONTROLPLANE_STATE_DIR,
  parseControlPlaneConfig,
} from '../config/controlplane.js';
import { processEnv } from '../config/index.js';
import { NodeTokenRegistry } from '../controlplane/ca/index.js';
import { logger } from '../telemetry/index.js';

const log = logger('controlplane');

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerControlPlane(program: Command): void {
  const cp = program
    .command('controlplane')
    .description(
      'run the control plane: Istio CA + delta xDS over TLS (15012), /metrics /ready /debug (15014)',
    )
    .option('--manifests <dir>', 'watch this directory of manifests (env AMBIT_MANIFESTS)')
    .option('--kubernetes', 'watch the Kubernetes API (kubeconfig or in-cluster) instead')
    .option(
      '--state-dir <dir>',
      `node tokens and default CA dir (env AMBIT_STATE_DIR; default ${DEFAULT_CONTROLPLANE_STATE_DIR})`,
    )
    .option(
      '--ca-dir <dir>',
      'CA in Istio cacerts layout; created if empty (env AMBIT_CA_DIR; default STATE_DIR/ca)',
    )
    .option('--port <port>', 'gRPC port for CA and xDS (TLS); 0 picks a free one (default 15012)')
    .option('--listen <ip>', 'gRPC listen address (env AMBIT_LISTEN; default 0.0.0.0)')
    .option('--monitoring-port <port>', 'monitoring port (default 15014)')
    .option('--monitoring-listen <ip>', 'monitoring listen address (default 127.0.0.1)')
    .option('--trust-domain <td>', 'SPIFFE trust domain (env TRUST_DOMAIN; default cluster.local)')
    .option(
      '--root-namespace <ns>',
      'root namespace for mesh-wide policy (env ROOT_NAMESPACE; default istio-system)',
    )
    .option(
      '--debounce <duration>',
      'quiet period before an xDS push (env PILOT_DEBOUNCE_AFTER; default 100ms)',
    )
    .option('--drain-timeout <duration>', 'drain deadline on SIGTERM (default 10s)')
    .addOption(
      new Option(
        '--dns-name <name>',
        'extra DNS name for the serving certificate (repeatable)',
      ).argParser(collect),
    )
    .action(async (o: ControlPlaneFlags) => {
      const config = parseControlPlaneConfig(processEnv(), o);
      const cp = await buildControlPlane(config);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal, deadlineMs: config.drainMs }, 'draining');
        cp.drain(config.drainMs).then(
          (r) => {
            if (r.forced.length > 0) log.warn({ forced: r.forced }, 'drain deadline reached');
            process.exit(0);
          },
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      await cp.run();
      process.stdout.write(
        `ambit controlplane ready: grpc ${cp.addresses.grpc}, monitoring ${cp.addresses.monitoring}\n`,
      );
    });

  cp.command('issue-node-token')
    .description(
      "issue a bootstrap bearer token for a node's ztunnel (writes FILE 0600; replaces the node's previous token)",
    )
    .option(
      '--state-dir <dir>',
      `control plane state dir (env AMBIT_STATE_DIR; default ${DEFAULT_CONTROLPLANE_STATE_DIR})`,
    )
    .requiredOption('--node <name>', "node name, as in the pods' spec.nodeName")
    .requiredOption('--out <file>', 'token file to write (mode 0600)')
    .action(async (o: { stateDir?: string; node: string; out: string }) => {
      const stateDir = controlPlaneStateDir(processEnv(), o.stateDir);
      const registry = await NodeTokenRegistry.open(stateDir);
      await registry.issue(o.node, resolve(o.out));
      process.stdout.write(`issued node token for ${o.node}: ${resolve(o.out)} (0600)\n`);
    });
}
