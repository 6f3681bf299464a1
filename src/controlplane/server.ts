/**
 * The control plane's one gRPC server (istiod's 15012): TLS with the control
 * plane's serving certificate, hosting the CA service now and delta ADS later.
 *
 * Client certificates are requested but not required at the TLS layer: node
 * proxies authenticate with bearer tokens, and a workload renewing its own
 * identity may present its current certificate. node:tls verifies it against
 * the mesh roots; grpc-js exposes only verified certificates to handlers, so
 * an expired or foreign certificate reaches the CA service as "no credential"
 * and the call, not the handshake, fails (UNAUTHENTICATED).
 *
 * Serving certificate and roots can be replaced at runtime
 * ({@link ControlPlaneGrpcServer.updateCredentials}), e.g. during a root rotation.
 */
import {
  type ChannelOptions,
  experimental,
  Server,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Drain } from '../core/index.js';
import { logger } from '../telemetry/index.js';

/** istiod's port for xDS and CA over TLS. */
export const DEFAULT_CONTROL_PLANE_PORT = 15012;

/**
 * Keepalive like istiod's defaults: ping each client connection every 30 s and
 * drop it if no ack arrives within 10 s, so a vanished node frees its streams
 * (xDS streams are otherwise idle for long stretches). Connections that sit
 * idle for 30 min are closed. Messages are capped at 4 MiB.
 */
export const CONTROL_PLANE_GRPC_OPTIONS: ChannelOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.max_connection_idle_ms': 30 * 60_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
};

export interface ControlPlaneTlsCredentials {
  /** Serving certificate chain, PEM, leaf first. */
  certChainPem: string;
  /** Serving private key, PEM. */
  keyPem: string;
  /** Mesh roots, PEM: client certificates must chain to one of them. */
  rootsPem: string;
}

export interface ControlPlaneGrpcServerOptions {
  /** Address to bind, e.g. "0.0.0.0" or "127.0.0.1". */
  host: string;
  /** TCP port; 0 picks a free one. Default 15012. */
  port?: number;
  credentials: ControlPlaneTlsCredentials;
  /** Extra grpc-js options, merged over {@link CONTROL_PLANE_GRPC_OPTIONS}. */
  grpcOptions?: ChannelOptions;
  /** When given, the server registers itself so `drain.drain(deadline)` stops it. */
  drain?: Drain;
}

export interface ControlPlaneGrpcServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** `host:port` clients dial. */
  readonly address: string;
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void;
  /** Replaces serving certificate and roots; new connections use them. */
  updateCredentials(credentials: ControlPlaneTlsCredentials): void;
  /** Stops accepting calls, lets in-flight calls finish, force-closes at `deadlineMs`. */
  shutdown(deadlineMs: number): Promise<void>;
}

const log = logger('controlplane-grpc');

export async function createControlPlaneGrpcServer(
  opts: ControlPlaneGrpcServerOptions,
): Promise<ControlPlaneGrpcServer> {
  const server = new Server({ ...CONTROL_PLANE_GRPC_OPTIONS, ...opts.grpcOptions });
  const identity = new MemoryCertificateProvider();
  const roots = new MemoryCertificateProvider();
  const updateCredentials = (c: ControlPlaneTlsCredentials): void => {
    identity.setIdentity(c.certChainPem, c.keyPem);
    roots.setCa(c.rootsPem);
  };
  updateCredentials(opts.credentials);
  // grpc-js names these parameters (ca, identity) but passes them on as
  // (identity, ca): the first is the serving identity, the second the roots.
  // requireClientCertificate=false → requestCert: true, rejectUnauthorized: false.
  const creds = experimental.createCertificateProviderServerCredentials(identity, roots, false);
  const hostPort = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostPort}:${opts.port ?? DEFAULT_CONTROL_PLANE_PORT}`, creds, (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  log.info({ host: opts.host, port }, 'control plane gRPC listening');

  let stopping: Promise<void> | undefined;
  const graceful = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
    });
  const force = (): void => server.forceShutdown();
  const unregister = opts.drain?.register({ name: 'controlplane-grpc', graceful, force });

  const shutdown = (deadlineMs: number): Promise<void> => {
    stopping ??= (async () => {
      unregister?.();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => resolve('deadline'), deadlineMs);
      });
      const outcome = await Promise.race([graceful().then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'deadline') {
        log.warn({ port }, 'gRPC drain deadline reached; closing remaining calls');
        force();
      }
    })();
    return stopping;
  };

  return {
    port,
    address: `${hostPort}:${port}`,
    addService: (service, implementation) => server.addService(service, implementation),
    updateCredentials,
    shutdown,
  };
}

type CaListener = Parameters<experimental.CertificateProvider['addCaCertificateListener']>[0];
type IdentityListener = Parameters<
  experimental.CertificateProvider['addIdentityCertificateListener']
>[0];

/** A grpc-js certificate provider fed from memory; listeners hear every update. */
class MemoryCertificateProvider implements experimental.CertificateProvider {
  private ca: Buffer | undefined;
  private identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  setCa(pem: string): void {
    this.ca = Buffer.from(pem);
    for (const l of this.caListeners) l({ caCertificate: this.ca });
  }

  setIdentity(certChainPem: string, keyPem: string): void {
    this.identity = { certificate: Buffer.from(certChainPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.identityListeners) l(this.identity);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Asynchronously: grpc-js registers its own watcher only after adding this
    // listener, so a synchronous call would be lost and the server would drop
    // every connection as "credentials not loaded".
    queueMicrotask(() => {
      if (this.ca && this.caListeners.has(listener)) listener({ caCertificate: this.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identity && this.identityListeners.has(listener)) listener(this.identity);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
