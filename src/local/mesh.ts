/**
 * The mesh of a local run: the control plane in the fabric netns, and per
 * node a ztunnel (shared mode) in the node's netns plus a node agent in the
 * runner process that enrols pods (in-pod nft rules + hands the pod's netns
 * to that ztunnel). The runner (runner.ts) owns the topology and the pods;
 * this module owns the mesh processes and enrollment.
 *
 * Addresses: the control plane listens on 0.0.0.0:15012 *inside the fabric
 * netns*, so nodes reach it at the fabric bridge address (10.243.0.1) and the
 * host cannot reach it at all. Monitoring stays on 127.0.0.1:15014 there.
 *
 * Files (all under the run dir):
 *   controlplane/            state dir: CA (ca/), node-tokens.json
 *   controlplane/manifests/  what the control plane watches (mesh-manifests.ts)
 *   nodes/<node>/token       the node's bootstrap token (0600)
 *   nodes/<node>/ztunnel.sock  the node agent's socket (ztunnel connects to it)
 *   logs/istio-system_{controlplane,ztunnel-<node>}.log
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS, processEnv } from '../config/index.js';
import { CertificateAuthority, NodeTokenRegistry } from '../controlplane/ca/index.js';
import { AmbitError } from '../core/errors.js';
import { type EnrolledPod, NodeAgent } from '../inpod/agent.js';
import type { RawObject } from '../kube/index.js';
import type { Ledger } from '../platform/index.js';
import { logger } from '../telemetry/logger.js';
import { LocalErrors } from './errors.js';
import { renderMeshManifests } from './mesh-manifests.js';
import { probeHttp } from './probe.js';
import { ProcessRunner, podLogPath } from './supervisor.js';
import type { ClusterPlan, NodePlan, PodPlan } from './topology.js';

export { probeHttp };

const log = logger('local.mesh');

/** Namespace the mesh's own processes appear under in `ambit logs` / `get`. */
export const MESH_NAMESPACE = 'istio-system';
/** The fabric bridge address: where nodes reach the control plane. */
export const CONTROLPLANE_IP = '10.243.0.1';
export const XDS_PORT = 15012;
const MONITORING_PORT = 15014;
const ZTUNNEL_READY_PORT = 15021;

const BIN = fileURLToPath(new URL('../../bin/ambit.js', import.meta.url));

export interface MeshStatus {
  controlPlane: { ready: boolean; pid?: number; restarts: number; address: string };
  ztunnels: { node: string; ready: boolean; pid?: number; restarts: number; connected: boolean }[];
  enrolled: string[];
}

function ambitArgv(args: string[]): string[] {
  return [process.execPath, BIN, ...args];
}

/** A proxy (ztunnel) process: with ambit's V8 flags for proxies. */
function proxyArgv(args: string[]): string[] {
  return [process.execPath, ...PROXY_NODE_FLAGS, BIN, ...args];
}

export function podUid(p: Pick<PodPlan, 'namespace' | 'name'>): string {
  return `${p.namespace}/${p.name}`;
}

/** What the control plane is shown: the live plan's parts, and (when they changed) the effective manifests. */
export interface MeshView {
  namespaces: ClusterPlan['namespaces'];
  pods: readonly PodPlan[];
  services: ClusterPlan['services'];
  objects?: readonly RawObject[];
}

export class Mesh {
  readonly stateDir: string;
  readonly manifestsDir: string;
  private readonly controlPlane: ProcessRunner;
  private readonly ztunnels = new Map<string, ProcessRunner>();
  private readonly agents = new Map<string, NodeAgent>();
  private cpReady = false;
  private readonly ztReady = new Map<string, boolean>();
  private probeTimer?: NodeJS.Timeout;

  constructor(
    private readonly plan: ClusterPlan,
    private readonly runDir: string,
    private readonly ledger: Ledger,
    private readonly logDir: string,
    private objects: readonly RawObject[],
  ) {
    this.stateDir = join(runDir, 'controlplane');
    this.manifestsDir = join(this.stateDir, 'manifests');
    const env = { ...this.baseEnv() };
    this.controlPlane = new ProcessRunner(
      ledger,
      { netns: plan.fabricNetns, name: 'controlplane' },
      {
        name: 'controlplane',
        argv: ambitArgv([
          'controlplane',
          '--manifests',
          this.manifestsDir,
          '--state-dir',
          this.stateDir,
          '--listen',
          '0.0.0.0',
          '--port',
          String(XDS_PORT),
        ]),
        env,
        workingDir: runDir,
        ports: [],
      },
      podLogPath(logDir, MESH_NAMESPACE, 'controlplane'),
    );
    for (const node of plan.nodes) {
      this.ztunnels.set(
        node.name,
        new ProcessRunner(
          ledger,
          { netns: node.netns, name: `ztunnel-${node.name}` },
          {
            name: 'ztunnel',
            argv: proxyArgv([
              'ztunnel',
              '--mode',
              'shared',
              '--node-name',
              node.name,
              '--inpod-socket',
              this.socketPath(node),
              '--xds-address',
              `https://${CONTROLPLANE_IP}:${XDS_PORT}`,
              '--ca-root',
              join(this.stateDir, 'ca', 'root-cert.pem'),
              '--token-file',
              this.tokenPath(node),
            ]),
            env,
            workingDir: runDir,
            ports: [],
          },
          podLogPath(logDir, MESH_NAMESPACE, `ztunnel-${node.name}`),
        ),
      );
    }
  }

  private baseEnv(): Record<string, string> {
    const base = processEnv();
    const env: Record<string, string> = {};
    // The mesh processes inherit what configures logging and coverage, nothing else.
    for (const k of ['PATH', 'AMBIT_LOG_LEVEL', 'NODE_V8_COVERAGE', 'NODE_OPTIONS']) {
      const v = base[k];
      if (v !== undefined) env[k] = v;
    }
    return env;
  }

  nodeDir(node: NodePlan): string {
    return join(this.runDir, 'nodes', node.name);
  }
  tokenPath(node: NodePlan): string {
    return join(this.nodeDir(node), 'token');
  }
  socketPath(node: NodePlan): string {
    return join(this.nodeDir(node), 'ztunnel.sock');
  }

  /**
   * Rewrites `cluster.yaml`/`config.yaml` atomically from the live plan (pods,
   * services, namespaces with their current labels) and the effective
   * manifests (the user's directory overlaid with `ambit apply`'s documents);
   * the control plane's watcher picks them up. Unchanged files are not
   * rewritten (no needless push to every ztunnel).
   */
  writeManifests(view: MeshView): void {
    mkdirSync(this.manifestsDir, { recursive: true, mode: 0o700 });
    if (view.objects) this.objects = view.objects;
    const out = renderMeshManifests({
      objects: this.objects,
      namespaces: view.namespaces,
      pods: view.pods,
      services: view.services,
    });
    for (const [file, text] of [
      ['config.yaml', out.config],
      ['cluster.yaml', out.cluster],
    ] as const) {
      const path = join(this.manifestsDir, file);
      if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
      // The temp name must not end in .yaml: the watcher would read it.
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, path);
    }
  }

  /**
   * Starts everything without waiting (the processes take seconds to load;
   * they come up in parallel with the pods): the mesh CA and node tokens
   * (written here, so the ztunnels can verify the control plane from their
   * first attempt), the control plane, and per node the agent and ztunnel.
   * Readiness is {@link waitReady}.
   */
  async start(view: MeshView, progress: (line: string) => void): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.logDir, { recursive: true, mode: 0o700 });
    this.writeManifests(view);
    const caDir = join(this.stateDir, 'ca');
    if (!existsSync(join(caDir, 'root-cert.pem'))) CertificateAuthority.init(caDir);
    const registry = await NodeTokenRegistry.open(this.stateDir);
    for (const node of this.plan.nodes) {
      mkdirSync(this.nodeDir(node), { recursive: true, mode: 0o700 });
      await registry.issue(node.name, this.tokenPath(node));
    }
    progress(`certificates: mesh CA in ${caDir}; node tokens in ${join(this.runDir, 'nodes')}`);
    this.controlPlane.start();
    progress(
      `control plane: starting in ${this.plan.fabricNetns} (xDS + CA on ${CONTROLPLANE_IP}:${XDS_PORT})`,
    );
    for (const node of this.plan.nodes) {
      const agent = new NodeAgent({ socketPath: this.socketPath(node), ledger: this.ledger });
      await agent.start();
      this.agents.set(node.name, agent);
      this.ztunnels.get(node.name)?.start();
    }
    progress(`ztunnels: ${this.plan.nodes.length} starting in shared mode, one per node`);
    this.probeTimer = setInterval(() => void this.probe(), 1000);
    this.probeTimer.unref();
  }

  /** Waits for the control plane, then every ztunnel (config synced, workload certificates issued). */
  async waitReady(progress: (line: string) => void, deadline: number): Promise<void> {
    await this.until(deadline, 'the control plane', async () => {
      this.cpReady =
        (await probeHttp(this.plan.fabricNetns, '127.0.0.1', MONITORING_PORT, '/ready')) === 200;
      return this.cpReady;
    });
    progress('control plane: ready');
    await this.waitZtunnelsReady(progress, deadline);
  }

  /** Enrolls pods on their node's agent (in-pod rules + netns handed to ztunnel). */
  async enroll(pod: PodPlan): Promise<void> {
    const agent = this.agents.get(pod.node);
    if (!agent) throw new Error(`no node agent for ${pod.node}`);
    await agent.enroll(this.enrolledPod(pod));
  }

  /** `podDeleted`: the netns is about to go; ztunnel closes every socket it holds in it. */
  async release(pod: PodPlan, opts: { podDeleted?: boolean } = {}): Promise<void> {
    await this.agents.get(pod.node)?.release(podUid(pod), opts);
  }

  /**
   * The mesh's hooks for a live change (cluster-changes.ts `LiveCluster`): a
   * new enrolled pod is enrolled before its processes start (non-enrolled
   * ones got VIP DNAT from `addPod`); a pod being deleted is released with
   * `podDeleted` before its netns goes; an enrollment flip enrols or releases
   * (the VIP DNAT swap around it is `applyChanges`'s).
   */
  liveHooks(): {
    podAdded: (pod: PodPlan) => Promise<void>;
    releasePod: (pod: PodPlan) => Promise<void>;
    enrollmentChanged: (pod: PodPlan, enrolled: boolean) => Promise<void>;
  } {
    return {
      podAdded: async (pod) => {
        if (pod.enrolled) await this.enroll(pod);
      },
      releasePod: (pod) => this.release(pod, { podDeleted: true }),
      enrollmentChanged: (pod, enrolled) => (enrolled ? this.enroll(pod) : this.release(pod)),
    };
  }

  enrolledPod(pod: PodPlan): EnrolledPod {
    return {
      uid: podUid(pod),
      namespace: pod.namespace,
      name: pod.name,
      serviceAccount: pod.serviceAccount,
      netns: pod.netns,
      ips: [pod.ip],
    };
  }

  /** Waits until every node's ztunnel answers 200 on /healthz/ready (config synced, certificates issued). */
  private async waitZtunnelsReady(
    progress: (line: string) => void,
    deadline: number,
  ): Promise<void> {
    let shown = -1;
    await this.until(deadline, 'the ztunnels', async () => {
      await this.probe();
      const ready = [...this.ztReady.values()].filter(Boolean).length;
      if (ready !== shown) {
        progress(
          `ztunnels: ${ready}/${this.plan.nodes.length} ready (xDS synced, a workload certificate for every enrolled pod)`,
        );
        shown = ready;
      }
      return ready === this.plan.nodes.length;
    });
  }

  private async probe(): Promise<void> {
    this.cpReady =
      (await probeHttp(this.plan.fabricNetns, '127.0.0.1', MONITORING_PORT, '/ready')) === 200;
    await Promise.all(
      this.plan.nodes.map(async (n) => {
        const code = await probeHttp(n.netns, '127.0.0.1', ZTUNNEL_READY_PORT, '/healthz/ready');
        this.ztReady.set(n.name, code === 200);
      }),
    );
  }

  private async until(deadline: number, what: string, ok: () => Promise<boolean>): Promise<void> {
    for (;;) {
      if (await ok()) return;
      if (Date.now() > deadline) {
        throw new AmbitError(
          LocalErrors.START_FAILED,
          `${what} did not become ready in time (logs: ${this.logDir}/${MESH_NAMESPACE}_*.log)`,
        );
      }
      await sleep(250);
    }
  }

  status(): MeshStatus {
    return {
      controlPlane: {
        ready: this.cpReady,
        pid: this.controlPlane.child?.pid,
        restarts: this.controlPlane.restarts,
        address: `${CONTROLPLANE_IP}:${XDS_PORT}`,
      },
      ztunnels: this.plan.nodes.map((n) => {
        const r = this.ztunnels.get(n.name);
        return {
          node: n.name,
          ready: this.ztReady.get(n.name) ?? false,
          pid: r?.child?.pid,
          restarts: r?.restarts ?? 0,
          connected: this.agents.get(n.name)?.ztunnelConnected ?? false,
        };
      }),
      enrolled: [...this.agents.values()].flatMap((a) => a.enrolled().map((p) => p.uid)).sort(),
    };
  }

  /**
   * Stops ztunnels, then agents, then the control plane. Pods' in-pod rules
   * are left to the netns removal (they die with the namespace).
   */
  async stop(graceMs = 5000): Promise<void> {
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.all([...this.ztunnels.values()].map((z) => z.stop(graceMs)));
    for (const a of this.agents.values()) {
      await a.close().catch((err: unknown) => log.warn({ err }, 'node agent close failed'));
    }
    await this.controlPlane.stop(graceMs);
  }
}
