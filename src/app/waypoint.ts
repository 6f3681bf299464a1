/**
 * The waypoint composition root (`ambit waypoint run`): HBONE in on 15008
 * with the waypoint's own SPIFFE identity, the L7 engine (src/waypoint) in
 * the middle, HBONE out (pooled) to the chosen endpoint's ztunnel with the
 * same identity; admin on 127.0.0.1:15000, metrics on 15020, readiness on
 * 15021, like ztunnel.
 *
 * A CONNECT's `:authority` is the Service `VIP:port` the client dialled
 * (ztunnel keeps it when it sends traffic to a waypoint); the waypoint finds
 * the Service by it and answers 400 for anything it does not serve, so it is
 * never an open relay. Inside the tunnel the engine sniffs HTTP/1.1, h2c or
 * opaque TCP.
 *
 * Shutdown: `drain(deadline)` closes the listener, turns readiness red, sends
 * GOAWAY on every downstream HBONE session, lets in-flight tunnels finish and
 * force-closes what is left at the deadline.
 */
import {
  type AddressInfo,
  createServer,
  type Server,
  type Socket,
  connect as tcpConnect,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { type BoundServer, Readiness, startOperationalServers } from '../admin/index.js';
import { VERSION } from '../cli/version.js';
import type { WaypointConfig } from '../config/waypoint.js';
import { Drain } from '../core/drain.js';
import { AmbitError, CoreErrors, errorMessage } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import {
  formatAuthority,
  type HboneConnectContext,
  type HboneConnectDecision,
  type HboneCredentials,
  HbonePool,
  HboneServer,
} from '../proxy/hbone/index.js';
import { logger } from '../telemetry/index.js';
import {
  ConfigStore,
  initTracing,
  type UpstreamConnector,
  type UpstreamTarget,
  WaypointMetrics,
  WaypointProxy,
} from '../waypoint/index.js';
import { WaypointFileSource, WaypointXdsSource } from './waypoint-config-source.js';
import type { ConfigSource } from './ztunnel-config-source.js';
import { certificatesFromConfig, type ManagedCertificateSource } from './ztunnel-identity.js';

const log = logger('waypoint');
const CONNECT_TIMEOUT_MS = 10_000;

export interface WaypointDeps {
  registry?: Registry;
  certificates?: ManagedCertificateSource;
  configSource?: (store: ConfigStore) => ConfigSource;
}

export interface WaypointAddresses {
  hbone: AddressInfo;
  admin: AddressInfo;
  metrics: AddressInfo;
  readiness: AddressInfo;
}

export interface Waypoint {
  readonly identity: SpiffeId;
  readonly addresses: WaypointAddresses;
  readonly store: ConfigStore;
  readonly readiness: Readiness;
  readonly registry: Registry;
  readonly proxy: WaypointProxy;
  /** Loads config and fetches the certificate; resolves once both are there. */
  run(): Promise<void>;
  drain(deadlineMs?: number): Promise<void>;
  destroy(): Promise<void>;
  readonly closed: Promise<void>;
  configDump(): Record<string, unknown>;
}

/**
 * Opens upstream streams as the waypoint: HBONE (pooled mTLS sessions, one
 * CONNECT per attempt) to `<endpoint IP>:15008` with `:authority
 * <endpoint IP>:<target port>`, requiring the endpoint's own identity;
 * plain TCP to endpoints outside the mesh.
 */
export class HboneUpstreamConnector implements UpstreamConnector {
  constructor(
    private readonly pool: HbonePool,
    private readonly credentials: () => Promise<HboneCredentials>,
    private readonly hbonePort: number,
  ) {}

  async connect(target: UpstreamTarget, signal: AbortSignal): Promise<Duplex> {
    const ep = target.endpoint;
    if (!ep.hbone) return dialTcp(ep.address, target.port, signal);
    const expected = SpiffeId.tryParse(ep.identity);
    if (expected === undefined)
      throw new AmbitError(CoreErrors.CONFIG_INVALID, `endpoint ${ep.uid} has no valid identity`);
    return this.pool.connect(
      {
        credentials: await this.credentials(),
        expectedIdentities: [expected],
        address: { host: ep.address, port: this.hbonePort },
      },
      { authority: formatAuthority(ep.address, target.port), signal },
    );
  }
}

function dialTcp(host: string, port: number, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host, port });
    const onAbort = () => s.destroy(new Error('connect aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(s);
    });
    s.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

function listen(host: string, port: number, onSocket: (s: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, onSocket);
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      server.on('error', (err) => log.error({ err: errorMessage(err) }, 'listener error'));
      resolve(server);
    });
  });
}

export async function buildWaypoint(
  config: Readonly<WaypointConfig>,
  deps: WaypointDeps = {},
): Promise<Waypoint> {
  const identity = SpiffeId.parse(
    `spiffe://${config.trustDomain}/ns/${config.namespace}/sa/${config.serviceAccount}`,
  );
  const self = `${config.namespace}/${config.name}`;
  const registry = deps.registry ?? new Registry();
  const store = new ConfigStore();
  const source =
    deps.configSource?.(store) ??
    (config.localConfigPath !== undefined
      ? new WaypointFileSource(store, config.localConfigPath, self)
      : new WaypointXdsSource(store, config));
  const certs = deps.certificates ?? (await certificatesFromConfig(config));
  const credentials = async (): Promise<HboneCredentials> =>
    certs.current(identity) ?? (await certs.fetch(identity));
  const pool = new HbonePool({
    maxStreamsPerConnection: config.poolMaxStreamsPerConnection,
    idleTimeoutMs: config.poolUnusedReleaseTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  });
  const metrics = new WaypointMetrics(registry, config.clusterId);
  // Spans only when an OpenTelemetry SDK was set up in this process.
  if (await initTracing()) log.info('OpenTelemetry SDK found: server spans on');
  const proxy = new WaypointProxy({
    store,
    connector: new HboneUpstreamConnector(pool, credentials, config.upstreamHbonePort),
    metrics,
    ...config.http,
  });

  const onConnect = async (c: HboneConnectContext): Promise<HboneConnectDecision> => {
    const host = c.target.kind === 'ip' ? c.target.ip : c.target.hostname;
    const svc = store.resolve(host);
    if (svc === undefined)
      return { status: 400, reason: `${c.authority} is not a Service served by waypoint ${self}` };
    if (svc.ports.size > 0 && !svc.ports.has(c.target.port))
      return { status: 400, reason: `Service ${svc.key} has no port ${c.target.port}` };
    const conn = {
      service: svc.key,
      port: c.target.port,
      peerIdentity: c.peerIdentity.uri,
      sourceIp: c.source.ip,
    };
    return {
      terminate: (tunnel) =>
        new Promise((resolve) => {
          tunnel.once('close', () => resolve({ bytesSent: 0, bytesRecv: 0 }));
          proxy.handle(tunnel, conn);
        }),
    };
  };
  const hbone = new HboneServer({
    // One identity for every local IP: the waypoint is one workload.
    certificateFor: () => certs.current(identity),
    onConnect,
    allowForeignAuthority: (c) =>
      store.resolve(c.target.kind === 'ip' ? c.target.ip : c.target.hostname) !== undefined,
    handshakeTimeoutMs: CONNECT_TIMEOUT_MS,
  });

  const readiness = new Readiness();
  const listenerReady = readiness.register('HBONE listener');
  const configReady = readiness.register('config synced');
  const certReady = readiness.register('waypoint certificate');

  const servers: BoundServer[] = [];
  let listener: Server | undefined;
  try {
    listener = await listen(config.listeners.host, config.listeners.hbonePort, (s) =>
      hbone.handle(s),
    );
    listenerReady();
    let wp!: Waypoint;
    const ops = await startOperationalServers({
      adminAddress: config.adminAddress,
      metricsAddress: config.metricsAddress,
      readinessAddress: config.readinessAddress,
      registry,
      readiness,
      configDump: () => wp.configDump(),
      onQuit: () => {
        void wp.drain().catch(() => {});
      },
      bound: servers,
    });
    const addresses: WaypointAddresses = {
      hbone: listener.address() as AddressInfo,
      ...ops,
    };
    const l = listener;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => {
      resolveClosed = r;
    });
    const release = async (): Promise<void> => {
      // The last requests' metrics and access-log lines are not lost.
      metrics.flush();
      source.close();
      certs.close();
      l.close();
      await Promise.allSettled(servers.map((s) => s.close()));
      resolveClosed();
    };
    const drainer = new Drain();
    drainer.register({
      name: 'inbound HBONE',
      graceful: async () => {
        await hbone.drain(config.terminationDeadlineMs);
      },
      force: () => hbone.close(),
    });
    drainer.register({
      name: 'upstream HBONE pool',
      graceful: async () => {
        await pool.drain(config.terminationDeadlineMs);
      },
      force: () => pool.close(),
    });
    let stopping: Promise<void> | undefined;
    wp = {
      identity,
      addresses,
      store,
      readiness,
      registry,
      proxy,
      closed,
      async run() {
        certs.track(identity);
        await source.start();
        configReady();
        // The CA may not be reachable yet (the waypoint pod can start before
        // the control plane listens): the tracked identity keeps retrying
        // with backoff, and readiness waits for it instead of failing startup.
        await new Promise<void>((resolve) => {
          if (certs.current(identity) !== undefined) {
            resolve();
            return;
          }
          const off = certs.onChange(() => {
            if (certs.current(identity) === undefined) return;
            off();
            resolve();
          });
        });
        certReady();
        log.info(
          {
            waypoint: self,
            identity: identity.uri,
            hbone: `${addresses.hbone.address}:${addresses.hbone.port}`,
            services: store.snapshot().services.size,
          },
          'waypoint ready',
        );
      },
      drain(deadlineMs = config.terminationDeadlineMs) {
        stopping ??= (async () => {
          log.info({ deadlineMs }, 'draining');
          readiness.register('draining');
          l.close();
          const result = await drainer.drain(deadlineMs);
          if (result.forced.length > 0)
            log.warn(
              { code: CoreErrors.DRAIN_DEADLINE, forced: result.forced },
              'drain deadline passed; closed the rest',
            );
          proxy.close();
          hbone.close();
          pool.close();
          await release();
          log.info('stopped');
        })();
        return stopping;
      },
      destroy() {
        stopping ??= (async () => {
          l.close();
          proxy.close();
          hbone.close();
          pool.close();
          await release();
        })();
        return stopping;
      },
      configDump() {
        const snap = store.snapshot();
        return {
          version: VERSION,
          waypoint: self,
          identity: identity.uri,
          config: { ...config },
          configVersion: snap.version,
          services: [...snap.services.values()].map((s) => ({
            key: s.key,
            ...(s.workload ? { workload: s.workload, name: s.name } : {}),
            vips: s.vips,
            ports: [...s.ports.values()],
            routes: s.routes.map((r) => r.id),
            policies: s.policies.length,
            backend: s.backend ?? null,
            rateLimit: s.rateLimit ?? null,
          })),
          endpoints: Object.fromEntries(
            [...snap.endpoints].map(([k, e]) => [
              k,
              e.endpoints.map((x) => ({ uid: x.uid, address: x.address, healthy: x.healthy })),
            ]),
          ),
          certificates: certs.dump(),
          pool: pool.stats(),
          hbone: hbone.stats(),
          configSource: source.dump(),
          listeners: addresses,
          ready: readiness.ready,
          waitingFor: readiness.waitingFor,
        };
      },
    };
    return wp;
  } catch (err) {
    listener?.close();
    await Promise.allSettled(servers.map((s) => s.close()));
    pool.close();
    hbone.close();
    certs.close();
    source.close();
    throw err;
  }
}
