/**
 * `ambit waypoint apply|list|delete|status` on the running local cluster,
 * mirroring `istioctl waypoint`. A waypoint is a Gateway of class
 * `istio-waypoint`; `apply` and `delete` go through `ambit apply`'s path
 * (validated, stored in the run's applied directory, reconciled live by the
 * runner, which runs the Gateway as a pod: src/local/waypoints.ts). `list`
 * and `status` read the run's state and each waypoint's admin endpoint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { AmbitError, CoreErrors } from '../core/errors.js';
import type { RawObject } from '../kube/index.js';
import {
  type ClusterState,
  currentState,
  effectiveManifests,
  fetchInNetns,
  LocalErrors,
  runnerAlive,
  runRoot,
  WAYPOINT_CLASS,
  type WaypointGateway,
  waypointGateways,
} from '../local/index.js';
import { applyToCluster } from './apply.js';
import { labelResource } from './label.js';
import { outputOption, printResult, renderTable } from './output.js';

const FOR = ['service', 'workload', 'all', 'none'] as const;
const ADMIN_PORT = 15000;

/** The Gateway `istioctl waypoint apply` generates. */
export function waypointGateway(name: string, namespace: string, trafficFor: string): RawObject {
  return {
    object: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace, labels: { 'istio.io/waypoint-for': trafficFor } },
      spec: {
        gatewayClassName: WAYPOINT_CLASS,
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    },
    source: { file: `<ambit waypoint apply ${namespace}/${name}>`, document: 0 },
  };
}

export interface WaypointInfo {
  namespace: string;
  name: string;
  for: string;
  /** The Service's VIP: the waypoint's address. */
  address?: string;
  pod?: string;
  podReady: boolean;
  /** The control plane pushed config to it (xDS synced, certificate issued). */
  programmed: boolean;
  configVersion?: number;
  /** Services it serves (`name.ns` with VIPs), from its config dump. */
  services: string[];
  reason: string;
}

interface ConfigDump {
  configVersion?: number;
  services?: { key?: string; vips?: string[]; workload?: string; name?: string }[];
  certificates?: { state?: string }[];
}

async function inspect(state: ClusterState, gw: WaypointGateway): Promise<WaypointInfo> {
  const svc = state.services.find((s) => s.namespace === gw.namespace && s.name === gw.name);
  const pod = state.pods.find(
    (p) =>
      p.namespace === gw.namespace &&
      p.labels['gateway.networking.k8s.io/gateway-name'] === gw.name,
  );
  const info: WaypointInfo = {
    namespace: gw.namespace,
    name: gw.name,
    for: gw.for,
    address: svc?.vip,
    pod: pod?.name,
    podReady: pod?.ready ?? false,
    programmed: false,
    services: [],
    reason: '',
  };
  if (!state.mesh) {
    info.reason = 'this run has no mesh (--no-mesh): waypoints do not run';
    return info;
  }
  if (!pod) {
    info.reason = 'no waypoint pod yet';
    return info;
  }
  const text = await fetchInNetns(pod.netns, ADMIN_PORT, '/config_dump');
  let dump: ConfigDump | undefined;
  try {
    dump = text === undefined ? undefined : (JSON.parse(text) as ConfigDump);
  } catch {
    dump = undefined;
  }
  info.configVersion = dump?.configVersion;
  // `name.ns` for a Service, `pod/name` for a workload entry (waypoint-for workload|all).
  info.services = (dump?.services ?? []).map((s) =>
    s.workload
      ? `pod/${s.name ?? s.workload}`
      : `${(s.key ?? '').replace(/^[^/]*\//, '').replace(/\.svc\..*$/, '')}`,
  );
  const pushed = (dump?.configVersion ?? 0) > 0;
  const certified = (dump?.certificates ?? []).some((c) => c.state === 'available');
  info.programmed = info.podReady && pushed && certified;
  info.reason = info.programmed
    ? info.services.length > 0
      ? `serving ${info.services.join(', ')}`
      : 'programmed; no Service uses it yet (label one istio.io/use-waypoint)'
    : !info.podReady
      ? `pod ${pod.name} not ready (ambit logs -n ${pod.namespace} ${pod.name})`
      : dump === undefined
        ? 'its admin endpoint does not answer'
        : !pushed
          ? 'no config from the control plane yet'
          : 'no certificate yet';
  return info;
}

function running(): ClusterState {
  const state = currentState(runRoot());
  if (!runnerAlive(state) || state.status !== 'ready') {
    throw new AmbitError(
      LocalErrors.NOT_RUNNING,
      `the local cluster (run ${state.runId}) is not running (status ${state.status}); start it with \`ambit up\``,
    );
  }
  return state;
}

async function waypointsOf(
  namespace: string | undefined,
  name?: string,
): Promise<{ state: ClusterState; infos: WaypointInfo[] }> {
  const state = running();
  const gws = waypointGateways(effectiveManifests(state.dir, state.runDir).objects).filter(
    (g) =>
      (namespace === undefined || g.namespace === namespace) &&
      (name === undefined || g.name === name),
  );
  return { state, infos: await Promise.all(gws.map((g) => inspect(state, g))) };
}

export function registerWaypointManage(program: Command): void {
  const existing = program.commands.find((c) => c.name() === 'waypoint');
  const waypoint =
    existing ?? program.command('waypoint').description('waypoints: the opt-in L7 proxy');

  waypoint
    .command('apply')
    .description('create or change a waypoint (Gateway istio-waypoint) in the running cluster')
    .requiredOption('-n, --namespace <ns>', 'namespace')
    .option('--name <name>', 'waypoint name', 'waypoint')
    .option('--for <traffic>', `traffic it takes: ${FOR.join('|')}`, 'service')
    .option('--enroll-namespace', 'label the namespace istio.io/use-waypoint=<name>', false)
    .option('-o, --output <format>', 'yaml: print the Gateway instead of applying it')
    .option('--wait <seconds>', 'how long to wait for the runner', '60')
    .action(
      async (o: {
        namespace: string;
        name: string;
        for: string;
        enrollNamespace: boolean;
        output?: string;
        wait: string;
      }) => {
        if (!(FOR as readonly string[]).includes(o.for)) {
          throw new AmbitError(
            CoreErrors.CONFIG_INVALID,
            `--for ${o.for}: must be one of ${FOR.join(', ')}`,
          );
        }
        const gw = waypointGateway(o.name, o.namespace, o.for);
        if (o.output === 'yaml') {
          process.stdout.write(stringify(gw.object));
          return;
        }
        await applyToCluster({ objects: [gw], problems: [] }, { waitSeconds: Number(o.wait) });
        // As `istioctl waypoint apply --wait`: return once it is programmed.
        const until = Date.now() + Number(o.wait) * 1000;
        for (;;) {
          const { infos } = await waypointsOf(o.namespace, o.name);
          const info = infos[0];
          if (info?.programmed) {
            process.stdout.write(`waypoint ${o.namespace}/${o.name} applied and programmed\n`);
            break;
          }
          if (Date.now() > until) {
            throw new AmbitError(
              LocalErrors.APPLY_FAILED,
              `waypoint ${o.namespace}/${o.name} was applied but is not programmed after ${o.wait} s: ${info?.reason ?? 'not found'}`,
            );
          }
          await sleep(500);
        }
        if (o.enrollNamespace) {
          await labelResource('namespace', o.namespace, [`istio.io/use-waypoint=${o.name}`], {
            namespace: o.namespace,
            timeout: o.wait,
          });
        }
      },
    );

  waypoint
    .command('list')
    .description('list the waypoints of the running cluster')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace', false)
    .addOption(outputOption())
    .action(async (o: { namespace: string; allNamespaces: boolean; output?: string }) => {
      const { infos } = await waypointsOf(o.allNamespaces ? undefined : o.namespace);
      printResult(o.output, infos, () =>
        infos.length === 0
          ? 'No waypoints found.\n'
          : renderTable(
              ['namespace', 'name', 'for', 'programmed', 'address', 'pod'],
              infos.map((i) => [
                i.namespace,
                i.name,
                i.for,
                i.programmed ? 'True' : 'False',
                i.address,
                i.pod,
              ]),
            ),
      );
    });

  waypoint
    .command('status')
    .description('is each waypoint programmed (pod ready, control plane pushing to it)?')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--name <name>', 'only this waypoint')
    .addOption(outputOption())
    .action(async (o: { namespace: string; name?: string; output?: string }) => {
      const { infos } = await waypointsOf(o.namespace, o.name);
      printResult(o.output, infos, () =>
        infos.length === 0
          ? `No waypoints found in ${o.namespace}.\n`
          : renderTable(
              ['namespace', 'name', 'status', 'type', 'reason', 'message'],
              infos.map((i) => [
                i.namespace,
                i.name,
                i.programmed ? 'True' : 'False',
                'Programmed',
                i.programmed ? 'Programmed' : 'NotProgrammed',
                i.reason,
              ]),
            ),
      );
      if (infos.some((i) => !i.programmed)) process.exitCode = 1;
    });

  waypoint
    .command('delete')
    .description('delete waypoints (their pods and Services go with them)')
    .argument('[names...]', 'waypoint names (default: waypoint)')
    .requiredOption('-n, --namespace <ns>', 'namespace')
    .option('--all', 'every waypoint in the namespace', false)
    .option('--wait <seconds>', 'how long to wait for the runner', '60')
    .action(async (names: string[], o: { namespace: string; all: boolean; wait: string }) => {
      const state = running();
      const present = waypointGateways(effectiveManifests(state.dir, state.runDir).objects);
      const wanted = o.all
        ? present.filter((g) => g.namespace === o.namespace).map((g) => g.name)
        : names.length > 0
          ? names
          : ['waypoint'];
      for (const n of wanted) {
        if (!present.some((g) => g.namespace === o.namespace && g.name === n)) {
          throw new AmbitError(
            CoreErrors.CONFIG_INVALID,
            `waypoint ${o.namespace}/${n} not found (ambit waypoint list -A)`,
          );
        }
      }
      await applyToCluster(
        { objects: wanted.map((n) => waypointGateway(n, o.namespace, 'service')), problems: [] },
        { waitSeconds: Number(o.wait), deleting: true },
      );
    });
}
