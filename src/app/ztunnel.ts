/**
 * The ztunnel composition root: wires state, config source, identity, the
 * proxy listeners and the operational servers into one object.
 *
 * `buildZtunnel` binds every listener before it returns (a bind failure
 * rejects it, after closing whatever was bound), so a misconfigured port
 * fails startup instead of failing silently. `run()` then loads config and
 * starts fetching certificates; readiness turns green when the listeners are
 * up, config is synced and every local workload has a certificate.
 *
 * Shutdown: `drain(deadline)` stops accepting (listeners close, readiness
 * goes red), sends GOAWAY on HBONE sessions, lets open connections finish
 * and force-closes the rest at the deadline. Listeners use SO_REUSEPORT when
 * the native addon is present, so a new ztunnel can bind the same ports
 * while the old one drains and no connection is refused during a restart.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { Registry } from 'prom-client';
import { type BoundServer, Readiness, startOperationalServers } from '../admin/index.js';
import { VERSION } from '../cli/version.js';
import type { ZtunnelConfig } from '../config/ztunnel.js';
import { Drain } from '../core/drain.js';
import { AmbitError, CoreErrors, errorMessage } from '../core/errors.js';
import type { SpiffeId } from '../identity/index.js';
import { nativeAvailable } from '../platform/index.js';
import {
  ConnectionManager,
  DedicatedWorkloads,
  HbonePool,
  hostSocketFactory,
  Inbound,
  InboundPlaintext,
  type LocalWorkloads,
  NodeWorkloads,
  Outbound,
  type ProxyContext,
  ProxyMetrics,
  type SocketFactory,
  Socks5Server,
} from '../proxy/index.js';
import { ProxyState, StateUpdater } from '../state/index.js';
import { logger } from '../telemetry/index.js';
import type { ConfigSource } from './ztunnel-config-source.js';
import { certificatesFromConfig, type ManagedCertificateSource } from './ztunnel-identity.js';

const log = logger('ztunnel');

/** Upstream connect / HBONE session set-up deadline (ztunnel: 10 s). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Fakes and overrides for tests and for in-pod mode. */
export interface ZtunnelDeps {
  registry?: Registry;
  sockets?: SocketFactory;
  certificates?: ManagedCertificateSource;
  /** Replaces the config source (e.g. a test pushing through the updater). */
  configSource?: (updater: StateUpdater) => ConfigSource;
}

export interface ZtunnelAddresses {
  /** Absent in shared mode: the data-plane listeners live inside each pod's netns. */
  hbone?: AddressInfo;
  outbound?: AddressInfo;
  inboundPlaintext?: AddressInfo;
  socks5?: AddressInfo;
  admin: AddressInfo;
  metrics: AddressInfo;
  readiness: AddressInfo;
}

export interface Ztunnel {
  readonly addresses: ZtunnelAddresses;
  readonly state: ProxyState;
  readonly updater: StateUpdater;
  readonly readiness: Readiness;
  readonly registry: Registry;
  readonly connections: ConnectionManager;
  /** Loads config and starts certificate fetching; resolves once config is synced. */
  run(): Promise<void>;
  /** Graceful stop with a deadline (default `terminationDeadlineMs`); then everything is closed. */
  drain(deadlineMs?: number): Promise<void>;
  /** Immediate stop. */
  destroy(): Promise<void>;
  /** Resolves when the ztunnel has stopped (drain or destroy). */
  readonly closed: Promise<void>;
  /** What `/config_dump` serves. Never contains key material. */
  configDump(): Record<string, unknown>;
}

function localWorkloadsFor(config: Readonly<ZtunnelConfig>, state: ProxyState): LocalWorkloads {
  if (config.proxyWorkloadInfo !== undefined) {
    return new DedicatedWorkloads(state, config.proxyWorkloadInfo, config.trustDomain);
  }
  if (config.nodeName !== '') return new NodeWorkloads(state, config.nodeName, config.network);
  throw new AmbitError(
    CoreErrors.CONFIG_INVALID,
    'dedicated mode needs the workload it serves (--workload ns/pod/sa) or a node name (--node-name) selecting workloads from the config',
  );
}

/**
 * The config source in use, imported on demand: the local file's YAML parser
 * and zod, or gRPC and the protobuf runtime, are each several MB of RSS that
 * the other kind of ztunnel would carry for nothing.
 */
async function configSourceFor(
  config: Readonly<ZtunnelConfig>,
  updater: StateUpdater,
): Promise<ConfigSource> {
  if (config.localXdsPath !== undefined || config.localXds !== undefined) {
    const { LocalConfigSource } = await import('./ztunnel-config-source.js');
    return config.localXdsPath !== undefined
      ? new LocalConfigSource(updater, { path: config.localXdsPath })
      : new LocalConfigSource(updater, { inline: config.localXds ?? '' });
  }
  if (config.xdsAddress !== undefined) {
    const { XdsConfigSource } = await import('./ztunnel-xds-source.js');
    return new XdsConfigSource(updater, config, config.listeners.host);
  }
  throw new AmbitError(
    CoreErrors.CONFIG_INVALID,
    'ztunnel needs config: --local-config <file> (LOCAL_XDS_PATH), LOCAL_XDS, or XDS_ADDRESS',
  );
}

export async function buildZtunnel(
  config: Readonly<ZtunnelConfig>,
  deps: ZtunnelDeps = {},
): Promise<Ztunnel> {
  const registry = deps.registry ?? new Registry();
  const metrics = new ProxyMetrics(registry, { tag: VERSION, component: 'ztunnel' });
  const state = new ProxyState();
  const updater = new StateUpdater(state);
  const shared = config.proxyMode === 'shared';
  if (shared && !nativeAvailable()) {
    throw new AmbitError(
      CoreErrors.CONFIG_INVALID,
      'shared (in-pod) mode opens listeners inside pod network namespaces and needs the native addon (`npm run build:native`)',
    );
  }
  const source = deps.configSource?.(updater) ?? (await configSourceFor(config, updater));
  const certs = deps.certificates ?? (await certificatesFromConfig(config));
  // SO_MARK lets capture rules skip our own sockets; setting it needs CAP_NET_ADMIN.
  const root = process.geteuid?.() === 0;
  const sockets =
    deps.sockets ?? hostSocketFactory(root && nativeAvailable() ? { mark: config.packetMark } : {});
  const pool = new HbonePool({
    maxStreamsPerConnection: config.poolMaxStreamsPerConnection,
    idleTimeoutMs: config.poolUnusedReleaseTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    settings: {
      streamWindowBytes: config.http2StreamWindowSize,
      connectionWindowBytes: config.http2ConnectionWindowSize,
      maxFrameBytes: config.http2FrameSize,
    },
  });
  const connections = new ConnectionManager();
  const l = config.listeners;
  const tunables = {
    hbonePort: l.hbonePort,
    workloadWaitTimeoutMs: config.workloadWaitTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    enableOrigSrc: config.enableOrigSrc,
    clusterId: config.clusterId,
    waypointBypassPrevention: config.waypointBypassPrevention,
  };
  // Shared mode: per-pod proxies (listeners inside each pod netns) driven by the node agent.
  // Imported only then: the ZDS client loads the protobuf runtime (~12 MB of RSS).
  const sharedMode = shared
    ? await Promise.all([import('./ztunnel-inpod.js'), import('../inpod/index.js')])
    : undefined;
  const inpod =
    sharedMode === undefined
      ? undefined
      : new sharedMode[0].InpodProxies({ state, updater, certs, metrics, tunables }, config);
  const zds =
    sharedMode === undefined || inpod === undefined
      ? undefined
      : new sharedMode[1].ZdsClient(config.inpodUds, inpod);
  const local = inpod ?? localWorkloadsFor(config, state);
  const ctx: ProxyContext = {
    state,
    updater,
    local,
    certs,
    sockets,
    pool,
    metrics,
    connections,
    tunables,
  };
  const outbound = new Outbound(ctx);
  const inbound = new Inbound(ctx, {
    settings: {
      streamWindowBytes: config.http2StreamWindowSize,
      connectionWindowBytes: config.http2ConnectionWindowSize,
      maxFrameBytes: config.http2FrameSize,
    },
    illegalPorts: [l.hbonePort, l.outboundPort, l.inboundPlaintextPort, l.socks5Port].filter(
      (p) => p !== 0,
    ),
  });
  const plaintext = new InboundPlaintext(ctx);
  const socks = new Socks5Server(ctx, outbound, config.clusterDomain);

  const readiness = new Readiness();
  const listenersReady = readiness.register('proxy listeners');
  const configReady = readiness.register('config synced');
  const certsReady = readiness.register('workload certificates');

  const listeners: Server[] = [];
  const servers: BoundServer[] = [];
  const closeBound = async (): Promise<void> => {
    for (const s of listeners) s.close();
    await Promise.allSettled(servers.map((s) => s.close()));
  };
  let ztunnel: Ztunnel;
  try {
    const reusePort = sockets.supportsReusePort;
    const bind = async (
      port: number,
      host: string,
      onSocket: (s: Socket) => void,
    ): Promise<AddressInfo> => {
      const server = await sockets.listen({ address: host, port, reusePort });
      server.on('connection', onSocket);
      server.on('error', (err) => log.error({ err: errorMessage(err) }, 'listener error'));
      listeners.push(server);
      return server.address() as AddressInfo;
    };
    // In shared mode the data-plane listeners are opened per pod (ztunnel-inpod.ts).
    const hbone = shared ? undefined : await bind(l.hbonePort, l.host, (s) => inbound.handle(s));
    const outAddr = shared
      ? undefined
      : await bind(l.outboundPort, l.host, (s) => outbound.handleCaptured(s));
    const ptAddr = shared
      ? undefined
      : await bind(l.inboundPlaintextPort, l.host, (s) => plaintext.handle(s));
    const socksAddr =
      config.enableSocks5 && !shared
        ? await bind(l.socks5Port, l.socks5Host, (s) => socks.handle(s))
        : undefined;
    listenersReady();
    const ops = await startOperationalServers({
      adminAddress: config.adminAddress,
      metricsAddress: config.metricsAddress,
      readinessAddress: config.readinessAddress,
      registry,
      readiness,
      configDump: () => ztunnel.configDump(),
      onQuit: () => {
        void ztunnel.drain().catch(() => {});
      },
      bound: servers,
    });
    ztunnel = assemble({
      addresses: {
        hbone,
        outbound: outAddr,
        inboundPlaintext: ptAddr,
        socks5: socksAddr,
        ...ops,
      },
    });
    log.info(
      {
        mode: config.proxyMode,
        sockets: sockets.description,
        reusePort,
        hbone: hbone && `${hbone.address}:${hbone.port}`,
        outbound: outAddr && `${outAddr.address}:${outAddr.port}`,
        inboundPlaintext: ptAddr && `${ptAddr.address}:${ptAddr.port}`,
        inpodUds: shared ? config.inpodUds : undefined,
        socks5: socksAddr ? `${socksAddr.address}:${socksAddr.port}` : undefined,
      },
      'ztunnel listening',
    );
    return ztunnel;
  } catch (err) {
    await closeBound();
    pool.close();
    inbound.close();
    certs.close();
    source.close();
    throw err;
  }

  function assemble(parts: { addresses: ZtunnelAddresses }): Ztunnel {
    const tracked = new Map<string, SpiffeId>();
    let certsDone = false;
    const syncCertificates = (): void => {
      const want = new Map(local.identities().map((id) => [id.uri, id]));
      for (const [uri, id] of want) {
        if (!tracked.has(uri)) {
          tracked.set(uri, id);
          certs.track(id);
        }
      }
      for (const [uri, id] of [...tracked]) {
        if (!want.has(uri)) {
          tracked.delete(uri);
          certs.untrack(id);
        }
      }
      if (!certsDone && [...want.values()].every((id) => certs.current(id) !== undefined)) {
        certsDone = true;
        certsReady();
      }
    };
    const unsubscribeCerts = certs.onChange(syncCertificates);
    const unsubscribePods = inpod?.onChange(syncCertificates);
    const onPolicies = (): void => {
      const n = connections.recheck(state) + (inpod?.recheck(state) ?? 0);
      if (n > 0) log.info({ closed: n }, 'policy change closed connections');
    };
    updater.on('policiesChanged', onPolicies);
    updater.on('workloadsChanged', syncCertificates);

    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => {
      resolveClosed = r;
    });
    let stopping: Promise<void> | undefined;
    const release = async (): Promise<void> => {
      updater.off('policiesChanged', onPolicies);
      updater.off('workloadsChanged', syncCertificates);
      unsubscribeCerts();
      unsubscribePods?.();
      zds?.close();
      source.close();
      certs.close();
      await closeBound();
      resolveClosed();
    };

    const drainer = new Drain();
    drainer.register({
      name: 'inbound HBONE',
      graceful: async () => {
        await inbound.drain(config.terminationDeadlineMs);
      },
      force: () => inbound.close(),
    });
    drainer.register({
      name: 'HBONE pool',
      graceful: async () => {
        await pool.drain(config.terminationDeadlineMs);
      },
      force: () => pool.close(),
    });
    if (inpod !== undefined) {
      drainer.register({
        name: 'in-pod proxies',
        graceful: async () => {
          zds?.close();
          await inpod.drain(config.terminationDeadlineMs);
        },
        force: () => inpod.destroy(),
      });
    }

    return {
      ...parts,
      state,
      updater,
      readiness,
      registry,
      connections,
      closed,
      async run() {
        await source.start();
        configReady();
        syncCertificates();
        if (zds !== undefined) {
          // Like ztunnel: ready once the node agent's snapshot is in (pods keep failing closed until then).
          const agentReady = readiness.register('node agent snapshot');
          void inpod?.firstSnapshot().then(agentReady);
          zds.start();
        }
      },
      drain(deadlineMs = config.terminationDeadlineMs) {
        stopping ??= (async () => {
          log.info({ deadlineMs, connections: connections.size }, 'draining');
          readiness.register('draining');
          for (const s of listeners) s.close();
          const [forcedConns, result] = await Promise.all([
            connections.drain(deadlineMs),
            drainer.drain(deadlineMs),
          ]);
          if (forcedConns > 0 || result.forced.length > 0) {
            log.warn(
              { code: CoreErrors.DRAIN_DEADLINE, connections: forcedConns, forced: result.forced },
              'drain deadline passed; closed the rest',
            );
          }
          inbound.close();
          pool.close();
          await release();
          log.info('stopped');
        })();
        return stopping;
      },
      destroy() {
        stopping ??= (async () => {
          for (const s of listeners) s.close();
          connections.closeAll(new AmbitError(CoreErrors.DRAIN_DEADLINE, 'ztunnel destroyed'));
          zds?.close();
          inpod?.destroy();
          inbound.close();
          pool.close();
          await release();
        })();
        return stopping;
      },
      configDump() {
        return {
          version: VERSION,
          config: { ...config },
          ...state.toJSON(),
          certificates: certs.dump(),
          connections: connections.dump(),
          ...(inpod === undefined
            ? {}
            : { enrolled: inpod.dump(), draining: inpod.drainingDump(), zds: zds?.dump() }),
          pool: pool.stats(),
          hbone: inbound.server.stats(),
          configSource: source.dump(),
          sockets: sockets.description,
          listeners: parts.addresses,
          ready: readiness.ready,
          waitingFor: readiness.waitingFor,
        };
      },
    };
  }
}
