/**
 * The delta ADS server: `envoy.service.discovery.v3.AggregatedDiscoveryService/
 * DeltaAggregatedResources`, as istiod serves it to ztunnels and waypoints.
 *
 * Changes to the cache are coalesced for `debounceMs` (istiod's
 * PILOT_DEBOUNCE_AFTER, 100 ms; at most `debounceMaxMs`, PILOT_DEBOUNCE_MAX,
 * 10 s), then every connection is told which names changed and sends only
 * what it is subscribed to. The gRPC server itself belongs to the caller (it
 * is shared with the CA on 15012); `addTo(server)` registers the method.
 */
import { randomBytes } from 'node:crypto';
import {
  status as GrpcStatus,
  Metadata,
  type Server,
  type ServerDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import type { DrainTask } from '../../core/drain.js';
import { errorMessage } from '../../core/errors.js';
import {
  AggregatedDiscoveryService,
  type DeltaDiscoveryRequest,
} from '../../gen/envoy/discovery/discovery_pb.js';
import { grpcService } from '../../grpc/service.js';
import { type Logger, logger } from '../../telemetry/logger.js';
import { shortType } from '../../xds/index.js';
import { type Authenticator, credentialsFromCall } from './auth.js';
import type { CacheChange, ResourceCache } from './cache.js';
import { type AckEvent, type ConnectionStatus, ProxyConnection } from './connection.js';
import { XdsServerErrors } from './errors.js';
import type { XdsMetrics } from './metrics.js';

export interface DeltaAdsOptions {
  cache: ResourceCache;
  /** Every stream is authenticated before its first request is read. */
  authenticate: Authenticator;
  /** Metrics, registered by the caller on its registry. */
  metrics?: XdsMetrics;
  /** Quiet period before a push, ms. Default 100 (PILOT_DEBOUNCE_AFTER). 0 = next tick. */
  debounceMs?: number;
  /** Longest a change waits while changes keep coming, ms. Default 10_000 (PILOT_DEBOUNCE_MAX). */
  debounceMaxMs?: number;
  /**
   * False until the cache holds the first full config. Streams opened before are refused
   * UNAVAILABLE (clients retry): answering from an empty cache would tell a reconnecting
   * proxy, via its initial_resource_versions, to delete everything. Default: always ready.
   */
  ready?: () => boolean;
  /** Target size of one response, bytes; bigger syncs are split. Default 4 MiB (gRPC's default limit). */
  maxResponseBytes?: number;
  log?: Logger;
}

export type AckListener = (e: AckEvent) => void;

/** `/debug/connections` content. */
export interface XdsStatus {
  connections: ConnectionStatus[];
  resources: Record<string, { count: number; bytes: number }>;
  nacks: number;
  draining: boolean;
}

function grpcError(code: GrpcStatus, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

export class DeltaAdsService {
  private readonly cache: ResourceCache;
  private readonly opts: Required<Omit<DeltaAdsOptions, 'metrics' | 'log' | 'ready'>>;
  private readonly metrics: XdsMetrics | undefined;
  private readonly log: Logger;
  private readonly connections = new Set<ProxyConnection>();
  private readonly ackListeners = new Set<AckListener>();
  private readonly bootId = randomBytes(4).toString('hex');
  private nonces = 0;
  private connIds = 0;
  private nackTotal = 0;
  private pending = new Map<string, { names: Set<string>; at: number }>();
  private firstPendingAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  private drained: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly ready: () => boolean;

  constructor(options: DeltaAdsOptions) {
    this.cache = options.cache;
    this.metrics = options.metrics;
    this.log = options.log ?? logger('xds-server');
    this.opts = {
      cache: options.cache,
      authenticate: options.authenticate,
      debounceMs: options.debounceMs ?? 100,
      debounceMaxMs: options.debounceMaxMs ?? 10_000,
      maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024,
    };
    this.ready = options.ready ?? (() => true);
    this.unsubscribe = this.cache.subscribe((c) => this.onCacheChange(c));
  }

  /** Registers DeltaAggregatedResources on a grpc-js server. */
  addTo(server: Pick<Server, 'addService'>): void {
    const base = grpcService(AggregatedDiscoveryService).deltaAggregatedResources;
    // Responses are written pre-encoded (see encode.ts), so the serializer passes bytes through.
    const method = { ...base, responseSerialize: (b: Buffer) => b };
    server.addService(
      { deltaAggregatedResources: method },
      {
        deltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) => {
          void this.accept(call);
        },
      },
    );
  }

  private async accept(call: ServerDuplexStream<DeltaDiscoveryRequest, Buffer>): Promise<void> {
    if (this.draining) {
      this.refuseDraining(call);
      return;
    }
    const creds = credentialsFromCall(call);
    let caller: Awaited<ReturnType<Authenticator>>;
    try {
      caller = await this.opts.authenticate(creds);
    } catch (err) {
      this.metrics?.authFailures.inc();
      this.log.warn(
        { code: XdsServerErrors.UNAUTHENTICATED, peer: creds.peer, reason: errorMessage(err) },
        'xDS stream rejected',
      );
      call.emit('error', grpcError(GrpcStatus.UNAUTHENTICATED, errorMessage(err)));
      return;
    }
    if (call.cancelled) return;
    if (this.draining) {
      this.refuseDraining(call);
      return;
    }
    if (!this.ready()) {
      this.log.info(
        { code: XdsServerErrors.NOT_READY, peer: creds.peer, caller: caller.identity },
        'xDS stream refused: no config published yet',
      );
      call.emit(
        'error',
        grpcError(
          GrpcStatus.UNAVAILABLE,
          `[${XdsServerErrors.NOT_READY}] the control plane has not published its config yet`,
        ),
      );
      return;
    }
    const conn = new ProxyConnection(
      `${this.bootId}-${++this.connIds}`,
      caller,
      creds.peer,
      call,
      this.cache,
      {
        nonce: () => `${this.bootId}-${++this.nonces}`,
        systemVersion: () => String(this.cache.generation),
        maxResponseBytes: this.opts.maxResponseBytes,
        onSent: (_c, e) => {
          const type = shortType(e.typeUrl);
          this.metrics?.pushes.inc({ type });
          this.metrics?.configSize.observe({ type }, e.bytes);
          if (e.changeAt !== undefined)
            this.metrics?.convergence.observe((performance.now() - e.changeAt) / 1000);
        },
        onAck: (e) => this.onAck(e),
      },
    );
    this.connections.add(conn);
    this.metrics?.connected.inc();
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      conn.closed = true;
      this.connections.delete(conn);
      this.metrics?.connected.dec();
      this.log.debug({ id: conn.id, node: conn.nodeId }, 'xDS stream closed');
      if (this.connections.size === 0) this.drained?.();
    };
    call.on('data', (req: DeltaDiscoveryRequest) => {
      if (conn.closed) return;
      const problem = conn.handle(req);
      if (problem !== undefined) {
        this.log.warn(
          { code: XdsServerErrors.BAD_REQUEST, id: conn.id, problem },
          'bad xDS request',
        );
        conn.closed = true;
        call.emit('error', grpcError(GrpcStatus.INVALID_ARGUMENT, problem));
      }
    });
    call.on('end', () => conn.end());
    call.on('finish', cleanup);
    call.on('close', cleanup);
    call.on('cancelled', cleanup);
    call.on('error', cleanup);
  }

  private refuseDraining(call: ServerDuplexStream<DeltaDiscoveryRequest, Buffer>): void {
    this.log.debug({ code: XdsServerErrors.DRAINING, peer: call.getPeer() }, 'xDS stream refused');
    call.emit('error', grpcError(GrpcStatus.UNAVAILABLE, `[${XdsServerErrors.DRAINING}] draining`));
  }

  private onAck(e: AckEvent): void {
    const type = shortType(e.typeUrl);
    this.metrics?.ackLatency.observe({ type }, (e.at - e.sentAt) / 1000);
    if (e.nack) {
      this.nackTotal++;
      this.metrics?.rejects.inc({ type });
      this.log.warn(
        { node: e.connection.nodeId, type: e.typeUrl, nonce: e.nonce, error: e.error?.message },
        'proxy rejected xDS response (NACK)',
      );
    }
    for (const l of this.ackListeners) l(e);
  }

  private onCacheChange(c: CacheChange): void {
    let p = this.pending.get(c.typeUrl);
    if (!p) {
      p = { names: new Set(), at: c.at };
      this.pending.set(c.typeUrl, p);
    }
    for (const n of c.names) p.names.add(n);
    const now = performance.now();
    if (this.timer === undefined) this.firstPendingAt = now;
    clearTimeout(this.timer);
    const wait = Math.min(
      this.opts.debounceMs,
      this.firstPendingAt + this.opts.debounceMaxMs - now,
    );
    this.timer = setTimeout(() => this.push(), Math.max(0, wait));
  }

  /** Fans the debounced changes out to every connection. */
  private push(): void {
    this.timer = undefined;
    const batches = this.pending;
    this.pending = new Map();
    for (const [typeUrl, { names, at }] of batches) {
      const list = [...names];
      const set = () => names;
      for (const conn of this.connections) conn.onChange(typeUrl, list, set, at);
      this.metrics?.resources.set({ type: shortType(typeUrl) }, this.cache.size(typeUrl));
    }
  }

  /** Called for every ACK and NACK (benchmarks, tests, convergence tracking). */
  onAckEvent(listener: AckListener): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  status(): XdsStatus {
    const resources: XdsStatus['resources'] = {};
    for (const t of this.cache.typeUrls())
      resources[t] = { count: this.cache.size(t), bytes: this.cache.bytes(t) };
    return {
      connections: [...this.connections].map((c) => c.status()),
      resources,
      nacks: this.nackTotal,
      draining: this.draining,
    };
  }

  /**
   * Drain: refuse new streams, end every stream with OK so proxies reconnect
   * (with their own jittered backoff) to another replica; graceful resolves
   * when all streams are gone. Stops the debounce timer.
   */
  drainTask(): DrainTask {
    return {
      name: 'xds-server',
      graceful: () => {
        this.stop();
        if (this.connections.size === 0) return Promise.resolve();
        const done = new Promise<void>((resolve) => {
          this.drained = resolve;
        });
        for (const c of [...this.connections]) c.end();
        return done;
      },
      force: () => {
        this.stop();
        for (const c of this.connections) c.closed = true;
        this.connections.clear();
        this.metrics?.connected.set(0);
      },
    };
  }

  private stop(): void {
    this.draining = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe();
  }
}
