/**
 * The control plane's one gRPC server (istiod's 15012): TLS with the control
 * plane's serving certificate, hosting the CA service now and delta ADS later.
 *
 * Client certificates are requested but not required at the TLS layer: node
 * proxies authenticate with bearer tokens, and a workload renewing its own
 * identity may present its current certificate, which the CA service checks
 * itself so that an expired or foreign certificate yields UNAUTHENTICATED
 * rather than an opaque handshake failure.
 */
import {
  type ChannelOptions,
  Server,
  ServerCredentials,
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

export interface ControlPlaneGrpcServerOptions {
  /** Address to bind, e.g. "0.0.0.0" or "127.0.0.1". */
  host: string;
  /** TCP port; 0 picks a free one. Default 15012. */
  port?: number;
  credentials: {
    /** Serving certificate chain, PEM, leaf first. */
    certChainPem: string;
    /** Serving private key, PEM. */
    keyPem: string;
    /** Mesh roots, PEM: offered to clients as acceptable client-certificate issuers. */
    rootsPem: string;
  };
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
  /** Stops accepting calls, lets in-flight calls finish, force-closes at `deadlineMs`. */
  shutdown(deadlineMs: number): Promise<void>;
}

const log = logger('controlplane-grpc');

export async function createControlPlaneGrpcServer(
  opts: ControlPlaneGrpcServerOptions,
): Promise<ControlPlaneGrpcServer> {
  const server = new Server({ ...CONTROL_PLANE_GRPC_OPTIONS, ...opts.grpcOptions });
  const creds = ServerCredentials.createSsl(
    Buffer.from(opts.credentials.rootsPem),
    [
      {
        cert_chain: Buffer.from(opts.credentials.certChainPem),
        private_key: Buffer.from(opts.credentials.keyPem),
      },
    ],
    false,
  );
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
    shutdown,
  };
}
