/**
 * ztunnel shared (in-pod) mode: one set of proxy listeners per enrolled pod,
 * opened INSIDE the pod's network namespace, driven by the node agent over
 * ZDS (src/inpod/zds-client.ts).
 *
 * Each pod gets its own proxy context over the node's shared state,
 * certificates and metrics: a socket factory bound to the pod netns (so
 * upstream connections, HBONE to other pods included, leave from the pod
 * with its IP, marked 0x539 so the pod's capture rules let them pass), its
 * own HBONE pool and connection tracking (so un-enrolling the pod drains or
 * closes exactly its connections), and `DedicatedWorkloads` for the pod's
 * identity from the ZDS workload_info.
 *
 * Sockets pin namespaces: everything opened for a pod is closed when it is
 * deleted, or drained with the termination deadline when it is un-enrolled.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import type { ZtunnelConfig } from '../config/ztunnel.js';
import { AmbitError, CoreErrors, errorMessage } from '../core/errors.js';
import type { SpiffeId } from '../identity/index.js';
import type { WorkloadRequest, ZdsHandler } from '../inpod/index.js';
import {
  ConnectionManager,
  DedicatedWorkloads,
  HbonePool,
  Inbound,
  InboundPlaintext,
  type LocalWorkloads,
  NativeSocketFactory,
  Outbound,
  type ProxyContext,
} from '../proxy/index.js';
import type { ProxyState, Workload } from '../state/index.js';
import { logger } from '../telemetry/index.js';

const log = logger('inpod');

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  serviceAccount: string;
  netnsPath: string;
}

/** What a pod proxy shares with the node (everything but sockets, pool, tracking, identity). */
export type SharedContext = Omit<ProxyContext, 'sockets' | 'pool' | 'connections' | 'local'>;

/** The proxy of one enrolled pod: 15001/15006/15008 inside its netns. */
class PodProxy {
  readonly ctx: ProxyContext;
  private readonly inbound: Inbound;
  private readonly listeners: Server[] = [];
  readonly addresses: Record<string, AddressInfo> = {};
  readonly since = Date.now();

  constructor(
    readonly info: PodInfo,
    shared: SharedContext,
    private readonly config: Readonly<ZtunnelConfig>,
  ) {
    this.ctx = {
      ...shared,
      local: new DedicatedWorkloads(shared.state, info, config.trustDomain),
      sockets: new NativeSocketFactory({ netns: info.netnsPath, mark: config.packetMark }),
      pool: newPool(config, shared.tunables.connectTimeoutMs),
      connections: new ConnectionManager(),
    };
    const l = config.listeners;
    this.inbound = new Inbound(this.ctx, {
      settings: h2Settings(config),
      illegalPorts: [l.hbonePort, l.outboundPort, l.inboundPlaintextPort],
    });
  }

  async start(): Promise<void> {
    const outbound = new Outbound(this.ctx);
    const plaintext = new InboundPlaintext(this.ctx);
    const l = this.config.listeners;
    const bind = async (name: string, port: number, on: (s: Socket) => void): Promise<void> => {
      // Reuse-port: a restarted ztunnel binds while the old one drains.
      const server = await this.ctx.sockets.listen({ address: '0.0.0.0', port, reusePort: true });
      server.on('connection', on);
      server.on('error', (err) =>
        log.error({ pod: this.key, err: errorMessage(err) }, 'pod listener error'),
      );
      this.listeners.push(server);
      this.addresses[name] = server.address() as AddressInfo;
    };
    try {
      await bind('hbone', l.hbonePort, (s) => this.inbound.handle(s));
      await bind('outbound', l.outboundPort, (s) => outbound.handleCaptured(s));
      await bind('inboundPlaintext', l.inboundPlaintextPort, (s) => plaintext.handle(s));
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  get key(): string {
    return `${this.info.namespace}/${this.info.name}`;
  }

  stopListening(): void {
    for (const s of this.listeners) s.close();
  }

  /** Stops accepting; open connections get until `deadlineMs`, then everything is closed. */
  async drain(deadlineMs: number): Promise<void> {
    this.stopListening();
    const { connections, pool } = this.ctx;
    await Promise.all([
      connections.drain(deadlineMs),
      this.inbound.drain(deadlineMs),
      pool.drain(deadlineMs),
    ]);
    this.destroy();
  }

  /** Closes every socket held in the pod's netns now. */
  destroy(): void {
    this.stopListening();
    this.ctx.connections.closeAll(
      new AmbitError(CoreErrors.DRAIN_DEADLINE, `pod ${this.key} removed`),
    );
    this.inbound.close();
    this.ctx.pool.close();
  }

  dump(): Record<string, unknown> {
    return {
      uid: this.info.uid,
      namespace: this.info.namespace,
      name: this.info.name,
      serviceAccount: this.info.serviceAccount,
      netns: this.info.netnsPath,
      listeners: this.addresses,
      connections: this.ctx.connections.dump(),
      pool: this.ctx.pool.stats(),
      hbone: this.inbound.server.stats(),
    };
  }
}

/**
 * The enrolled pods of this node, driven by ZDS requests. Also the node's
 * `LocalWorkloads` (the union of the pods), which is what decides which
 * identities the shared certificate source keeps certificates for.
 */
export class InpodProxies implements ZdsHandler, LocalWorkloads {
  private readonly pods = new Map<string, PodProxy>();
  private readonly draining = new Set<PodProxy>();
  /** uids added or kept since the current connection's hello (for SnapshotSent). */
  private seen = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private snapshots = 0;
  private readonly snapshotWaiters = new Set<() => void>();

  constructor(
    private readonly shared: SharedContext,
    private readonly config: Readonly<ZtunnelConfig>,
  ) {}

  /** Called whenever the set of enrolled pods changes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Resolves after the first snapshot from the node agent was applied. */
  firstSnapshot(): Promise<void> {
    if (this.snapshots > 0) return Promise.resolve();
    return new Promise((r) => this.snapshotWaiters.add(r));
  }

  connected(up: boolean): void {
    if (up) this.seen = new Set();
  }

  async handle(req: WorkloadRequest): Promise<void> {
    const p = req.payload;
    switch (p.case) {
      case 'add': {
        const info = p.value.workloadInfo;
        if (info === undefined || p.value.uid === '' || p.value.netnsPath === '') {
          throw new AmbitError(
            CoreErrors.CONFIG_INVALID,
            'AddWorkload needs uid, workload_info and netns_path (ambit passes the netns as a path)',
          );
        }
        this.seen.add(p.value.uid);
        await this.add({
          uid: p.value.uid,
          namespace: info.namespace,
          name: info.name,
          serviceAccount: info.serviceAccount,
          netnsPath: p.value.netnsPath,
        });
        return;
      }
      case 'keep':
        if (!this.pods.has(p.value.uid))
          throw new Error(`KeepWorkload for unknown uid ${p.value.uid}`);
        this.seen.add(p.value.uid);
        return;
      case 'del':
        this.remove(p.value.uid, p.value.podDeleted);
        return;
      case 'snapshotSent': {
        for (const uid of [...this.pods.keys()]) {
          if (!this.seen.has(uid)) this.remove(uid, false);
        }
        this.snapshots += 1;
        for (const w of this.snapshotWaiters) w();
        this.snapshotWaiters.clear();
        log.info({ pods: this.pods.size }, 'node agent snapshot applied');
        return;
      }
      default:
        throw new Error('empty or unknown ZDS request');
    }
  }

  private async add(info: PodInfo): Promise<void> {
    const old = this.pods.get(info.uid);
    if (old !== undefined) {
      // A replay of what we already serve (agent or ztunnel reconnect): keep it as is.
      if (old.info.netnsPath === info.netnsPath) return;
      this.remove(info.uid, false);
    }
    const pod = new PodProxy(info, this.shared, this.config);
    await pod.start();
    this.pods.set(info.uid, pod);
    log.info(
      { pod: pod.key, uid: info.uid, netns: info.netnsPath },
      'pod enrolled: listening inside its netns',
    );
    this.changed();
  }

  private remove(uid: string, podDeleted: boolean): void {
    const pod = this.pods.get(uid);
    if (pod === undefined) return;
    this.pods.delete(uid);
    this.changed();
    if (podDeleted) {
      pod.destroy();
      log.info({ pod: pod.key, uid }, 'pod deleted: closed its sockets');
      return;
    }
    log.info(
      { pod: pod.key, uid, deadlineMs: this.config.terminationDeadlineMs },
      'pod released: draining',
    );
    this.draining.add(pod);
    void pod
      .drain(this.config.terminationDeadlineMs)
      .catch((err: unknown) =>
        log.warn({ pod: pod.key, err: errorMessage(err) }, 'pod drain failed'),
      )
      .finally(() => this.draining.delete(pod));
  }

  /** Policy change: re-check every pod's inbound connections. */
  recheck(state: ProxyState): number {
    let n = 0;
    for (const pod of [...this.pods.values(), ...this.draining])
      n += pod.ctx.connections.recheck(state);
    return n;
  }

  get connectionCount(): number {
    let n = 0;
    for (const pod of [...this.pods.values(), ...this.draining]) n += pod.ctx.connections.size;
    return n;
  }

  async drain(deadlineMs: number): Promise<void> {
    const all = [...this.pods.values(), ...this.draining];
    this.pods.clear();
    await Promise.all(all.map((p) => p.drain(deadlineMs)));
  }

  destroy(): void {
    for (const p of [...this.pods.values(), ...this.draining]) p.destroy();
    this.pods.clear();
    this.draining.clear();
  }

  dump(): Record<string, unknown>[] {
    return [...this.pods.values()].map((p) => p.dump());
  }

  drainingDump(): Record<string, unknown>[] {
    return [...this.draining].map((p) => p.dump());
  }

  // LocalWorkloads (node-wide view, for certificates and the dump).
  byIp(ip: string): Workload | undefined {
    for (const p of this.pods.values()) {
      const w = p.ctx.local.byIp(ip);
      if (w !== undefined) return w;
    }
    return undefined;
  }

  sourceFor(ip: string): Workload | undefined {
    return this.byIp(ip);
  }

  all(): Workload[] {
    return [...this.pods.values()].flatMap((p) => p.ctx.local.all());
  }

  identities(): SpiffeId[] {
    const seen = new Map<string, SpiffeId>();
    for (const p of this.pods.values())
      for (const id of p.ctx.local.identities()) seen.set(id.uri, id);
    return [...seen.values()];
  }
}

function h2Settings(config: Readonly<ZtunnelConfig>) {
  return {
    streamWindowBytes: config.http2StreamWindowSize,
    connectionWindowBytes: config.http2ConnectionWindowSize,
    maxFrameBytes: config.http2FrameSize,
  };
}

export function newPool(config: Readonly<ZtunnelConfig>, connectTimeoutMs: number): HbonePool {
  return new HbonePool({
    maxStreamsPerConnection: config.poolMaxStreamsPerConnection,
    idleTimeoutMs: config.poolUnusedReleaseTimeoutMs,
    connectTimeoutMs,
    settings: h2Settings(config),
  });
}
