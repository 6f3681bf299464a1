/**
 * `ambit controlplane`, our istiod: the composition root. It wires the CA,
 * the delta ADS server, the config source and monitoring together; each
 * piece lives in src/controlplane/* and knows nothing of the others.
 *
 * Data flow: source (manifest dir | Kubernetes) → ConfigStore (last good
 * version of each resource) → translate → diff → ResourceCache → DeltaAds
 * (debounced push). The same translation keeps the CA's WorkloadIdentityTable
 * current, so a node may obtain exactly the identities of workloads on it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, Histogram, Registry } from 'prom-client';
import { Readiness } from '../admin/index.js';
import type { ControlPlaneConfig } from '../config/controlplane.js';
import {
  CA_CERT_FILE,
  type Authenticator as CaAuthenticator,
  CertificateAuthority,
  CertificateService,
  ChainAuthenticator,
  ClientCertificateAuthenticator,
  caGrpcService,
  KubernetesTokenAuthenticator,
  NodeAuthorizer,
  NodeTokenAuthenticator,
  NodeTokenRegistry,
  WorkloadIdentityTable,
} from '../controlplane/ca/index.js';
import {
  ConfigStore,
  KubernetesSource,
  ManifestDirectorySource,
} from '../controlplane/discovery/index.js';
import {
  type ControlPlaneGrpcServer,
  createControlPlaneGrpcServer,
} from '../controlplane/index.js';
import { MonitoringServer } from '../controlplane/monitoring.js';
import {
  configDump,
  DeltaAdsService,
  ResourceCache,
  unauthenticated,
  type Authenticator as XdsAuthenticator,
  XdsMetrics,
} from '../controlplane/xds/index.js';
import { Drain, type DrainResult, errorMessage } from '../core/index.js';
import { logger } from '../telemetry/index.js';
import { TranslationPipeline } from './controlplane-publish.js';

const log = logger('controlplane');

/** DNS names always in the serving certificate (what ztunnel verifies by default). */
export const SERVING_DNS_NAMES = [
  'istiod.istio-system.svc',
  'istiod.istio-system.svc.cluster.local',
  'localhost',
] as const;
const SERVING_TTL_MS = 24 * 3_600_000;

export interface ControlPlane {
  readonly addresses: {
    grpc: string;
    grpcPort: number;
    monitoring: string;
    monitoringPort: number;
  };
  readonly store: ConfigStore;
  readonly ca: CertificateAuthority;
  readonly tokens: NodeTokenRegistry;
  readonly identities: WorkloadIdentityTable;
  readonly xds: DeltaAdsService;
  readonly cache: ResourceCache;
  readonly readiness: Readiness;
  /** Starts the config source; resolves when the first config is published (ready). */
  run(): Promise<void>;
  /** Graceful shutdown: refuse new streams, end existing ones, force at `deadlineMs`. */
  drain(deadlineMs: number): Promise<DrainResult>;
  /** Immediate shutdown (tests, fatal errors). */
  destroy(): Promise<void>;
}

/** Loads the CA in `dir` (self-made or plug-in cacerts), or creates one if the dir has none. */
export function loadOrInitCa(dir: string, trustDomain: string): CertificateAuthority {
  if (existsSync(join(dir, CA_CERT_FILE))) return CertificateAuthority.load(dir, { trustDomain });
  log.info({ dir, trustDomain }, 'no CA found; creating a self-signed root');
  return CertificateAuthority.init(dir, { trustDomain });
}

function servingIps(listen: string): string[] {
  const ips = new Set(['127.0.0.1', '::1']);
  if (listen !== '0.0.0.0' && listen !== '::') ips.add(listen);
  return [...ips];
}

async function kubeAuthenticator(trustDomain: string): Promise<CaAuthenticator> {
  const k8s = await import('@kubernetes/client-node');
  const { KubePodNodeLookup, KubeTokenReviewer } = await import('../controlplane/ca/index.js');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return new KubernetesTokenAuthenticator({
    reviewer: new KubeTokenReviewer(kc),
    podLookup: new KubePodNodeLookup(kc),
    trustDomain,
  });
}

/** The CA's authenticator chain adapted to the xDS/monitoring authenticator shape. */
function xdsAuthenticator(chain: ChainAuthenticator): XdsAuthenticator {
  return async (creds) => {
    const raw = creds.peerCertificate?.raw;
    try {
      const caller = await chain.authenticate({
        authorization: creds.authorization === undefined ? [] : [creds.authorization],
        ...(raw ? { peerCertificate: raw } : {}),
      });
      return caller.kind === 'node'
        ? { identity: `node/${caller.node}`, method: caller.via }
        : { identity: caller.identity, method: caller.via };
    } catch (err) {
      throw unauthenticated(errorMessage(err));
    }
  };
}

export async function buildControlPlane(config: ControlPlaneConfig): Promise<ControlPlane> {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const ca = loadOrInitCa(config.caDir, config.trustDomain);
  const tokens = await NodeTokenRegistry.open(config.stateDir);
  const identities = new WorkloadIdentityTable();
  const drain = new Drain();
  const readiness = new Readiness();
  const synced = readiness.register('config synced');
  const serving = readiness.register('grpc serving');

  const authenticators: CaAuthenticator[] = [
    new NodeTokenAuthenticator(tokens),
    new ClientCertificateAuthenticator({
      roots: () => ca.roots,
      intermediates: () => ca.chainPem,
      trustDomain: ca.trustDomain,
    }),
  ];
  if (config.kubernetes) authenticators.push(await kubeAuthenticator(ca.trustDomain));
  const chain = new ChainAuthenticator(authenticators);
  const authenticate = xdsAuthenticator(chain);

  // Metrics.
  const registry = new Registry();
  const xdsMetrics = new XdsMetrics(registry);
  const store = new ConfigStore();
  new Gauge({
    name: 'ambit_controlplane_config_errors',
    help: 'Resources rejected as invalid (see /debug/config_status); their last good version stays in force.',
    registers: [registry],
    collect() {
      this.set(store.status().length);
    },
  });
  const translateSeconds = new Histogram({
    name: 'ambit_controlplane_translate_seconds',
    help: 'Seconds to translate the desired state and publish the diff to the xDS cache.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });

  // Until the first snapshot is published the cache is empty and the identity table too:
  // xDS and the CA answer UNAVAILABLE meanwhile (clients retry) instead of an empty config.
  let published = false;
  const configPublished = () => published;

  // xDS.
  const cache = new ResourceCache();
  const xds = new DeltaAdsService({
    cache,
    authenticate,
    metrics: xdsMetrics,
    debounceMs: config.debounceMs,
    debounceMaxMs: config.debounceMaxMs,
    ready: configPublished,
  });
  const pipeline = new TranslationPipeline({
    publisher: {
      publish: (typeUrl, upserts, removals) => cache.apply(typeUrl, { upserts, removals }),
    },
    identities,
    translate: {
      trustDomain: ca.trustDomain,
      rootNamespace: config.rootNamespace,
      domainSuffix: config.domainSuffix,
      clusterId: config.clusterId,
      network: config.network,
    },
  });
  const publish = (): void => {
    const snap = store.snapshot();
    const end = translateSeconds.startTimer();
    try {
      pipeline.apply(snap);
    } catch (err) {
      // Translation is pure; a throw is a bug. Keep serving the last good config.
      log.error({ err: errorMessage(err), version: snap.version }, 'translation failed');
    }
    end();
  };

  // gRPC on 15012: CA + delta ADS.
  const issueServing = () => {
    const s = ca.issueServingCertificate({
      dnsNames: [...SERVING_DNS_NAMES, ...config.extraDnsNames],
      ipAddresses: servingIps(config.listen),
      ttlMs: SERVING_TTL_MS,
    });
    return {
      certChainPem: s.chainPem.join(''),
      keyPem: s.keyPem,
      rootsPem: ca.trustBundle().join(''),
    };
  };
  const server: ControlPlaneGrpcServer = await createControlPlaneGrpcServer({
    host: config.listen,
    port: config.port,
    credentials: issueServing(),
  });
  const renew = setInterval(() => {
    try {
      server.updateCredentials(issueServing());
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'serving certificate renewal failed');
    }
  }, SERVING_TTL_MS / 2);
  renew.unref();
  const { definition, implementation } = caGrpcService(
    new CertificateService({
      authenticator: chain,
      authorizer: new NodeAuthorizer(identities),
      ready: configPublished,
      signer: {
        trustDomain: ca.trustDomain,
        sign: (csr, o) =>
          ca.sign(csr, { identity: o.identity, ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}) }),
      },
    }),
  );
  server.addService(definition, implementation);
  xds.addTo(server);
  serving();

  // Monitoring on 15014.
  const monitoring = new MonitoringServer({
    registry,
    authenticate,
    ready: () => readiness.ready,
    port: config.monitoringPort,
    host: config.monitoringListen,
    debug: {
      connections: () => xds.status(),
      configDump: (q) => configDump(cache, q),
      extra: {
        '/debug/config_status': () => ({
          version: store.snapshot().version,
          published: pipeline.publishedVersion,
          rejected: store.status(),
          conditions: pipeline.statuses(),
        }),
        '/debug/ready': () => ({ ready: readiness.ready, waitingFor: readiness.waitingFor }),
      },
    },
  });
  const monitoringPort = await monitoring.listen();

  // Drain order: xDS streams end first (proxies reconnect elsewhere), then the servers.
  drain.register(xds.drainTask());
  drain.register({
    name: 'controlplane-grpc',
    graceful: () => server.shutdown(2_000),
    force: () => void server.shutdown(0),
  });
  drain.register(monitoring.drainTask());
  drain.register({
    name: 'serving-cert-renewal',
    graceful: async () => clearInterval(renew),
    force: () => clearInterval(renew),
  });

  let unsubscribe: (() => void) | undefined;
  const run = async (): Promise<void> => {
    unsubscribe = store.onChange(() => publish());
    if (config.manifestsDir !== undefined) {
      new ManifestDirectorySource(store, config.manifestsDir, { drain }).start();
    } else {
      const source = new KubernetesSource(store, { drain });
      await source.start();
      await source.synced;
    }
    publish();
    published = true;
    synced();
    log.info(
      {
        grpc: server.address,
        monitoring: `${config.monitoringListen}:${monitoringPort}`,
        version: store.snapshot().version,
      },
      'control plane ready',
    );
  };
  drain.register({
    name: 'store-listener',
    graceful: async () => unsubscribe?.(),
    force: () => unsubscribe?.(),
  });

  return {
    addresses: {
      grpc: server.address,
      grpcPort: server.port,
      monitoring: `${config.monitoringListen}:${monitoringPort}`,
      monitoringPort,
    },
    store,
    ca,
    tokens,
    identities,
    xds,
    cache,
    readiness,
    run,
    drain: (ms) => drain.drain(ms),
    destroy: async () => {
      await drain.drain(0);
    },
  };
}
