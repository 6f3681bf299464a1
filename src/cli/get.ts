/**
 * `ambit get nodes|pods|services [-n NS] [-o json|yaml]`: the local cluster
 * as kubectl shows a real one. JSON/YAML items are Kubernetes-shaped, with
 * an `ambit` field for what only a local run has (netns names, pids).
 * `ambit get workloads|policies|certificates|connections`: what the node
 * ztunnels hold, like `istioctl ztunnel-config` (src/local/ztunnel-config.ts).
 */
import type { Command } from 'commander';
import { AmbitError } from '../core/errors.js';
import {
  type ClusterState,
  currentState,
  dumpWarnings,
  fetchNodeDumps,
  LocalErrors,
  runRoot,
  ZTUNNEL_VIEWS,
  type ZtunnelView,
  ztunnelView,
} from '../local/index.js';
import { outputOption, printResult, renderTable } from './output.js';

const MESH_KINDS: readonly string[] = ZTUNNEL_VIEWS;

/** Reads every node's ztunnel; warns per silent node; fails only if none answers. */
async function meshView(
  st: ClusterState,
  view: ZtunnelView,
  o: { namespace?: string; output: string },
) {
  const dumps = await fetchNodeDumps(st.nodes);
  for (const w of dumpWarnings(dumps)) process.stderr.write(`${w}\n`);
  if (dumps.every((d) => d.dump === undefined)) {
    throw new AmbitError(
      LocalErrors.ZTUNNEL_UNREACHABLE,
      `no node's ztunnel answered on its admin port; is the mesh running? (ambit get pods, ambit logs)`,
    );
  }
  const v = ztunnelView(view, dumps, o.namespace);
  printResult(o.output, { kind: 'List', items: v.items }, () =>
    v.rows.length === 0 ? 'No resources found\n' : renderTable(v.headers, v.rows),
  );
}

function age(since: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

function nodes(st: ClusterState) {
  return st.nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name },
    spec: { podCIDR: n.podCidr },
    status: { addresses: [{ type: 'InternalIP', address: n.ip }] },
    ambit: { netns: n.netns, gateway: n.gateway },
  }));
}

function pods(st: ClusterState, ns?: string) {
  return st.pods
    .filter((p) => ns === undefined || p.namespace === ns)
    .map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
      spec: { nodeName: p.node, serviceAccountName: p.serviceAccount },
      status: {
        phase: p.phase,
        podIP: p.ip,
        conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
        containerStatuses: p.containers.map((c) => ({
          name: c.name,
          ready: p.ready,
          restartCount: p.restarts,
        })),
      },
      ambit: {
        netns: p.netns,
        pids: p.pids,
        enrolled: p.enrolled,
        deployment: p.deployment ?? null,
      },
    }));
}

function services(st: ClusterState, ns?: string) {
  return st.services
    .filter((s) => ns === undefined || s.namespace === ns)
    .map((s) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace },
      spec: { clusterIP: s.vip, ports: s.ports },
      ambit: { endpoints: s.endpoints },
    }));
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description(
      'show the local cluster: nodes, pods, services; and what the ztunnels hold: workloads, policies, certificates, connections',
    )
    .argument(
      '<kind>',
      'nodes | pods | services | workloads | policies | certificates | connections',
    )
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .addOption(outputOption())
    .action(async (kind: string, o: { namespace?: string; output: string }) => {
      const k = kind
        .replace(/^(node|pod|service|svc|workload|policy|certificate|connection)$/, '$1s')
        .replace(/^svcs$/, 'services')
        .replace(/^policys$/, 'policies')
        .replace(/^certs?$/, 'certificates');
      const st = currentState(runRoot());
      if (MESH_KINDS.includes(k)) {
        await meshView(st, k as ZtunnelView, o);
        return;
      }
      const created = st.createdAt;
      if (k === 'nodes') {
        const items = nodes(st);
        printResult(o.output, { apiVersion: 'v1', kind: 'List', items }, () =>
          renderTable(
            ['name', 'status', 'internal-ip', 'pod-cidr', 'netns', 'age'],
            items.map((n) => [
              n.metadata.name,
              'Ready',
              n.status.addresses[0]?.address,
              n.spec.podCIDR,
              n.ambit.netns,
              age(created),
            ]),
          ),
        );
      } else if (k === 'pods') {
        const items = pods(st, o.namespace);
        printResult(o.output, { apiVersion: 'v1', kind: 'List', items }, () =>
          renderTable(
            ['namespace', 'name', 'ready', 'status', 'restarts', 'ip', 'node', 'mesh', 'age'],
            items.map((p) => [
              p.metadata.namespace,
              p.metadata.name,
              `${p.status.conditions[0]?.status === 'True' ? p.status.containerStatuses.length : 0}/${p.status.containerStatuses.length}`,
              p.status.phase,
              p.status.containerStatuses.reduce((n, c) => n + c.restartCount, 0),
              p.status.podIP,
              p.spec.nodeName,
              p.ambit.enrolled ? 'ambient' : 'none',
              age(created),
            ]),
          ),
        );
      } else if (k === 'services') {
        const items = services(st, o.namespace);
        printResult(o.output, { apiVersion: 'v1', kind: 'List', items }, () =>
          renderTable(
            ['namespace', 'name', 'cluster-ip', 'ports', 'endpoints'],
            items.map((s) => [
              s.metadata.namespace,
              s.metadata.name,
              s.spec.clusterIP,
              s.spec.ports.map((p) => `${p.port}/${p.protocol}`),
              s.ambit.endpoints.map((e) => `${e.ip}:${e.ports[0]}`),
            ]),
          ),
        );
      } else {
        throw new AmbitError(
          LocalErrors.NOT_AVAILABLE,
          `unknown kind ${kind}: use nodes, pods, services, workloads, policies, certificates or connections`,
        );
      }
    });
}
