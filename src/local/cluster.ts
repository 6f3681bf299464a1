/**
 * Creates a planned cluster on this host, for real: a fabric netns with a
 * bridge joining the node namespaces, a bridge per node for its pods, one
 * netns per pod with a veth to its node, routes so pods reach pods on other
 * nodes through the nodes, per-pod hosts files, and (outside the mesh) VIP
 * DNAT. Every resource goes through the Ledger before it exists, so
 * `cleanupLedger` removes it all even after the runner is SIGKILLed.
 *
 * Nothing is routed on the host: pod, node and service addresses exist only
 * inside the run's namespaces.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyInpodAnchor } from '../inpod/apply.js';
import {
  addRoute,
  applyNft,
  createNetns,
  createVeth,
  deleteNetns,
  execIn,
  type Ledger,
  type LedgerEntry,
  setSysctl,
} from '../platform/index.js';
import { hostsFile, resolvConf, serviceRuleset } from './render.js';
import type { ClusterPlan, NodePlan, PodPlan } from './topology.js';

/** Where `ip netns exec` finds per-namespace /etc overrides. */
export const ETC_NETNS = '/etc/netns';
const BRIDGE = 'br0';

export type BuildProgress = (line: string) => void;

async function ipIn(netns: string, args: string[]): Promise<void> {
  await execIn(netns, 'ip', args);
}

async function createFabric(ledger: Ledger, plan: ClusterPlan): Promise<void> {
  await createNetns(ledger, plan.fabricNetns);
  await ipIn(plan.fabricNetns, ['link', 'add', BRIDGE, 'type', 'bridge']);
  await ipIn(plan.fabricNetns, ['addr', 'add', '10.243.0.1/24', 'dev', BRIDGE]);
  await ipIn(plan.fabricNetns, ['link', 'set', BRIDGE, 'up']);
}

async function createNode(ledger: Ledger, plan: ClusterPlan, node: NodePlan): Promise<void> {
  await createNetns(ledger, node.netns);
  const fabricEnd = `n${node.index}`;
  await createVeth(ledger, {
    name: 'eth0',
    netns: node.netns,
    peer: fabricEnd,
    peerNetns: plan.fabricNetns,
    address: `${node.ip}/24`,
  });
  await ipIn(plan.fabricNetns, ['link', 'set', fabricEnd, 'master', BRIDGE]);
  await setSysctl(node.netns, 'net.ipv4.ip_forward', '1');
  await ipIn(node.netns, ['link', 'add', BRIDGE, 'type', 'bridge']);
  await ipIn(node.netns, ['addr', 'add', `${node.gateway}/24`, 'dev', BRIDGE]);
  await ipIn(node.netns, ['link', 'set', BRIDGE, 'up']);
  // The way back from the fabric to this node's pods: pods that talk to the
  // control plane themselves (waypoints, as to istiod) reach 10.243.0.1 via
  // their node. The fabric does not forward, so pods still cannot use it as
  // a shortcut between nodes.
  await addRoute(ledger, plan.fabricNetns, { to: node.podCidr, via: node.ip });
  for (const other of plan.nodes) {
    if (other.index === node.index) continue;
    await addRoute(ledger, node.netns, { to: other.podCidr, via: other.ip });
  }
}

/** Writes `/etc/netns/<pod netns>/{hosts,resolv.conf}` (after the netns entry is in the ledger). */
export function writePodEtc(plan: ClusterPlan, pod: PodPlan): void {
  const dir = join(ETC_NETNS, pod.netns);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'hosts'), hostsFile(pod, plan.services), { mode: 0o644 });
  writeFileSync(join(dir, 'resolv.conf'), resolvConf(pod), { mode: 0o644 });
}

/**
 * The pod's veth end in its node netns: `vp<last octet of the pod IP>`, unique
 * per node (one /24 per node) and free again only when the pod is gone.
 */
export function nodeVethName(pod: PodPlan): string {
  return `vp${pod.ip.split('.')[3]}`;
}

async function createPod(
  ledger: Ledger,
  plan: ClusterPlan,
  pod: PodPlan,
  meshActive: boolean,
): Promise<void> {
  const node = plan.nodes.find((n) => n.name === pod.node);
  if (!node) throw new Error(`pod ${pod.name}: unknown node ${pod.node}`);
  await createNetns(ledger, pod.netns);
  writePodEtc(plan, pod);
  const nodeEnd = nodeVethName(pod);
  await createVeth(ledger, {
    name: 'eth0',
    netns: pod.netns,
    peer: nodeEnd,
    peerNetns: node.netns,
    address: `${pod.ip}/24`,
  });
  await ipIn(node.netns, ['link', 'set', nodeEnd, 'master', BRIDGE]);
  await addRoute(ledger, pod.netns, { to: 'default', via: node.gateway, family: 4 });
  // The netns anchor before any NAT rule: swapping the VIP DNAT for the
  // in-pod capture (enrol/release) then never strands an open connection
  // without a NAT hook or conntrack (src/inpod/rules.ts anchorRuleset).
  await applyInpodAnchor(pod.netns);
  // Enrolled pods reach VIPs through ztunnel (it sees the VIP as original
  // destination); without the mesh, every pod gets kube-proxy's DNAT.
  if (!(meshActive && pod.enrolled))
    await applyNft(ledger, pod.netns, serviceRuleset(plan.services));
}

/**
 * Builds the whole topology. `meshActive` false (this runner without
 * control plane/ztunnel) gives every pod VIP DNAT.
 */
export async function buildCluster(
  ledger: Ledger,
  plan: ClusterPlan,
  progress: BuildProgress,
  meshActive = false,
): Promise<void> {
  await createFabric(ledger, plan);
  for (const node of plan.nodes) await createNode(ledger, plan, node);
  progress(`nodes: ${plan.nodes.map((n) => n.name).join(', ')} (fabric ${plan.fabricNetns})`);
  // Pods are independent of one another; creating them concurrently keeps
  // `ambit up` quick (each pod is ~8 `ip`/`nft` invocations).
  await Promise.all(plan.pods.map((p) => createPod(ledger, plan, p, meshActive)));
  progress(`pods: ${plan.pods.length} network namespaces with addresses and routes`);
}

/** Removes the per-netns /etc overrides for every namespace the ledger records. */
export function removePodEtc(entries: readonly LedgerEntry[]): void {
  for (const e of entries) {
    if (e.kind === 'netns' && e.name.startsWith('ambit-')) {
      rmSync(join(ETC_NETNS, e.name), { recursive: true, force: true });
    }
  }
}

/**
 * Adds one pod to a running cluster: netns, veth to its node's bridge, default
 * route, hosts file and (outside the mesh) VIP DNAT, all through the ledger.
 * `plan` is the plan that already contains `pod` (its services are what the
 * hosts file lists). Starting its processes is the Supervisor's `addPod`.
 */
export async function addPod(
  ledger: Ledger,
  plan: ClusterPlan,
  pod: PodPlan,
  meshActive = false,
): Promise<void> {
  await createPod(ledger, plan, pod, meshActive);
}

/**
 * Removes one pod's network from a running cluster: the netns (which takes its
 * veth pair, routes and nft tables with it), its ledger entries and its
 * /etc/netns overrides. Stop its processes first (Supervisor `removePod`), and
 * have ztunnel close every socket it holds in the netns, or the kernel keeps
 * the namespace alive unnamed.
 */
export async function removePod(ledger: Ledger, pod: PodPlan): Promise<void> {
  await deleteNetns(ledger, pod.netns);
  rmSync(join(ETC_NETNS, pod.netns), { recursive: true, force: true });
}

/**
 * After services changed: every pod's hosts file lists the current services,
 * and pods outside the mesh get the current VIP DNAT (the ruleset flushes its
 * own table, so re-applying replaces it atomically).
 */
export async function refreshServices(
  ledger: Ledger,
  plan: ClusterPlan,
  opts: { hosts: boolean; dnat: boolean; meshActive?: boolean },
): Promise<void> {
  await Promise.all(
    plan.pods.map(async (pod) => {
      if (opts.hosts) writePodEtc(plan, pod);
      if (opts.dnat && !(opts.meshActive && pod.enrolled))
        await applyNft(ledger, pod.netns, serviceRuleset(plan.services));
    }),
  );
}
