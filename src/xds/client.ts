/**
 * The delta ADS client of node proxies and waypoints (ztunnel's
 * src/xds/client.rs, in TypeScript). It subscribes to each handler's type URL
 * (wildcard, or on-demand names), hands every response to the handler that
 * converts and applies it, and ACKs — or NACKs with the per-resource errors in
 * error_detail while keeping the good resources, as ztunnel does.
 *
 * When the control plane goes away nothing is dropped: handlers keep serving
 * their last config. On reconnect (jittered backoff) the client sends the
 * versions it holds in `initial_resource_versions`, so the server sends only
 * the difference.
 */
import type { JsonObject } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import {
  type ClientDuplexStream,
  credentials,
  Client as GrpcClient,
  status as GrpcStatus,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { Backoff, type BackoffOptions } from '../core/backoff.js';
import type { DrainTask } from '../core/drain.js';
import { AmbitError, CoreErrors, errorMessage } from '../core/errors.js';
import {
  AggregatedDiscoveryService,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  NodeSchema,
} from '../gen/envoy/discovery/discovery_pb.js';
import { StatusSchema } from '../gen/google/rpc/status_pb.js';
import { grpcService } from '../grpc/service.js';
import { type Logger, logger } from '../telemetry/logger.js';
import { XdsErrors } from './errors.js';
import { WILDCARD } from './types.js';

export interface XdsResource {
  name: string;
  version: string;
  aliases: string[];
  resource: Any;
}

export interface XdsUpdate {
  typeUrl: string;
  upserts: XdsResource[];
  removals: string[];
  nonce: string;
}

/** Per-resource failures; the rest of the update is considered applied. */
export interface ApplyResult {
  errors?: { name: string; message: string }[];
}

export interface TypeHandler {
  typeUrl: string;
  /** Converts and applies an update. Throwing rejects every resource in it. */
  apply(update: XdsUpdate): ApplyResult | undefined | Promise<ApplyResult | undefined>;
}

export interface DeltaXdsClientOptions {
  /** `host:port` of the control plane, e.g. `istiod.istio-system.svc:15012`. */
  address: string;
  node: { id: string; metadata?: JsonObject; cluster?: string };
  handlers: TypeHandler[];
  /**
   * On-demand mode (ztunnel's XDS_ON_DEMAND): open with "subscribe nothing"
   * and fetch names with `subscribe()`. Default false (wildcard).
   */
  onDemand?: boolean;
  /** TLS verified against the mesh root. Required unless `plaintext`. */
  tls?: { rootCerts: Buffer; certChain?: Buffer; privateKey?: Buffer; serverName?: string };
  /** Plaintext gRPC: tests only. */
  plaintext?: boolean;
  /** Bearer token, read on every (re)connect so rotated tokens are picked up. */
  token?: () => string | undefined | Promise<string | undefined>;
  /** Extra request metadata (ztunnel's XDS_HEADER_*). */
  headers?: Readonly<Record<string, string>>;
  /** Reconnect backoff. Default initial 1 s, max 15 s, jitter 0.5. */
  backoff?: BackoffOptions;
  /** HTTP/2 keepalive ping interval, ms. Default 30_000; 0 disables. */
  keepaliveMs?: number;
  /** Largest response accepted, bytes. Default 64 MiB. */
  maxReceiveBytes?: number;
  log?: Logger;
}

interface TypeState {
  handler: TypeHandler;
  versions: Map<string, string>;
  names: Set<string>;
  synced: boolean;
  lastNonce?: string;
  lastAck?: { nonce: string; at: Date };
  lastNack?: { nonce: string; at: Date; message: string };
}

export interface XdsClientState {
  address: string;
  connected: boolean;
  connectedSince?: string;
  lastError?: string;
  reconnects: number;
  synced: boolean;
  types: Record<
    string,
    {
      synced: boolean;
      resources: number;
      names?: string[];
      lastNonce?: string;
      lastAck?: { nonce: string; at: string };
      lastNack?: { nonce: string; at: string; message: string };
    }
  >;
}

type Stream = ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
const METHOD = grpcService(AggregatedDiscoveryService).deltaAggregatedResources;
const MAX_ERROR_DETAIL = 20;

export class DeltaXdsClient {
  private readonly grpc: GrpcClient;
  private readonly types = new Map<string, TypeState>();
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private stream: Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private connectedSince: Date | undefined;
  private lastError: string | undefined;
  private reconnects = 0;
  private resolveSynced!: () => void;
  /** Resolves once the first response of every type has been applied. */
  readonly synced: Promise<void>;

  constructor(private readonly opts: DeltaXdsClientOptions) {
    if (!opts.tls && !opts.plaintext)
      throw new AmbitError(CoreErrors.CONFIG_INVALID, 'xDS client needs tls options or plaintext');
    this.log = opts.log ?? logger('xds');
    this.backoff = new Backoff({ initialMs: 1000, maxMs: 15_000, jitter: 0.5, ...opts.backoff });
    this.synced = new Promise((r) => {
      this.resolveSynced = r;
    });
    for (const h of opts.handlers)
      this.types.set(h.typeUrl, {
        handler: h,
        versions: new Map(),
        names: new Set(),
        synced: false,
      });
    const creds = opts.tls
      ? credentials.createSsl(opts.tls.rootCerts, opts.tls.privateKey, opts.tls.certChain)
      : credentials.createInsecure();
    const keepalive = opts.keepaliveMs ?? 30_000;
    this.grpc = new GrpcClient(opts.address, creds, {
      // One connection per client, like a real proxy; never a pool shared with other clients.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': opts.maxReceiveBytes ?? 64 * 1024 * 1024,
      ...(keepalive > 0
        ? { 'grpc.keepalive_time_ms': keepalive, 'grpc.keepalive_timeout_ms': 10_000 }
        : {}),
      ...(opts.tls?.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName } : {}),
    });
  }

  /** Opens the stream; reconnects by itself until `close()`. */
  start(): void {
    if (this.closed || this.stream || this.timer) return;
    void this.connect();
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    const md = new Metadata();
    for (const [k, v] of Object.entries(this.opts.headers ?? {})) md.set(k, v);
    try {
      const token = await this.opts.token?.();
      if (token) md.set('authorization', `Bearer ${token}`);
    } catch (err) {
      this.fail(`reading token: ${errorMessage(err)}`);
      return;
    }
    if (this.closed) return;
    const stream: Stream = this.grpc.makeBidiStreamRequest(
      METHOD.path,
      METHOD.requestSerialize,
      METHOD.responseDeserialize,
      md,
    );
    this.stream = stream;
    stream.on('data', (resp: DeltaDiscoveryResponse) => {
      this.chain = this.chain.then(() => this.process(stream, resp));
    });
    stream.on('error', (err: ServiceError) => this.ended(stream, err));
    stream.on('end', () => this.ended(stream, undefined));
    let first = true;
    for (const [typeUrl, st] of this.types) {
      const req = create(DeltaDiscoveryRequestSchema, {
        typeUrl,
        initialResourceVersions: Object.fromEntries(st.versions),
      });
      if (first) {
        req.node = create(NodeSchema, {
          id: this.opts.node.id,
          cluster: this.opts.node.cluster ?? '',
          metadata: this.opts.node.metadata ?? {},
          userAgentName: 'ambit',
        });
        first = false;
      }
      if (this.opts.onDemand) {
        req.resourceNamesSubscribe = [WILDCARD, ...st.names];
        req.resourceNamesUnsubscribe = [WILDCARD];
      }
      this.send(stream, req);
    }
  }

  private send(stream: Stream, req: DeltaDiscoveryRequest): void {
    if (this.stream !== stream) return;
    try {
      stream.write(req);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'xDS write failed');
    }
  }

  private ended(stream: Stream, err: ServiceError | undefined): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.connectedSince = undefined;
    if (this.closed) return;
    const unauth = err?.code === GrpcStatus.UNAUTHENTICATED;
    const code = unauth ? XdsErrors.UNAUTHENTICATED : XdsErrors.STREAM_FAILED;
    this.fail(err ? `${err.details || err.message}` : 'stream ended by the control plane', code);
  }

  private fail(reason: string, code: string = XdsErrors.STREAM_FAILED): void {
    this.lastError = `[${code}] ${reason}`;
    if (this.closed) return;
    const delay = this.backoff.next();
    this.reconnects++;
    this.log.warn(
      { code, reason, retryInMs: Math.round(delay) },
      'xDS stream down; keeping last config',
    );
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private async process(stream: Stream, resp: DeltaDiscoveryResponse): Promise<void> {
    if (this.connectedSince === undefined && this.stream === stream) {
      this.connectedSince = new Date();
      this.lastError = undefined;
      this.backoff.reset();
    }
    const st = this.types.get(resp.typeUrl);
    let errors: { name: string; message: string }[] = [];
    if (!st) {
      errors = [{ name: '*', message: `unsubscribed type ${resp.typeUrl}` }];
    } else {
      const upserts: XdsResource[] = [];
      for (const r of resp.resources) {
        if (!r.resource) errors.push({ name: r.name, message: 'resource has no body' });
        else
          upserts.push({
            name: r.name,
            version: r.version,
            aliases: r.aliases,
            resource: r.resource,
          });
      }
      try {
        const result = await st.handler.apply({
          typeUrl: resp.typeUrl,
          upserts,
          removals: resp.removedResources,
          nonce: resp.nonce,
        });
        errors.push(...(result?.errors ?? []));
      } catch (err) {
        errors.push(...upserts.map((u) => ({ name: u.name, message: errorMessage(err) })));
      }
      const failed = new Set(errors.map((e) => e.name));
      for (const u of upserts) if (!failed.has(u.name)) st.versions.set(u.name, u.version);
      for (const name of resp.removedResources) st.versions.delete(name);
      st.lastNonce = resp.nonce;
      if (errors.length === 0) st.lastAck = { nonce: resp.nonce, at: new Date() };
      if (!st.synced) {
        st.synced = true;
        if ([...this.types.values()].every((t) => t.synced)) this.resolveSynced();
      }
    }
    const ack = create(DeltaDiscoveryRequestSchema, {
      typeUrl: resp.typeUrl,
      responseNonce: resp.nonce,
    });
    if (errors.length > 0) {
      const shown = errors.slice(0, MAX_ERROR_DETAIL).map((e) => `${e.name}: ${e.message}`);
      if (errors.length > MAX_ERROR_DETAIL)
        shown.push(`and ${errors.length - MAX_ERROR_DETAIL} more`);
      const message = shown.join('; ');
      ack.errorDetail = create(StatusSchema, { code: GrpcStatus.INVALID_ARGUMENT, message });
      if (st) st.lastNack = { nonce: resp.nonce, at: new Date(), message };
      this.log.warn(
        { code: XdsErrors.RESOURCE_REJECTED, type: resp.typeUrl, nonce: resp.nonce, errors: shown },
        'rejected xDS resources (NACK); the rest are applied',
      );
    }
    this.send(stream, ack);
  }

  /** On-demand: ask for names (primary or alias, e.g. `network/10.0.0.5`). */
  subscribe(typeUrl: string, names: readonly string[]): void {
    this.changeNames(typeUrl, names, true);
  }

  /** On-demand: stop receiving names. What the handler holds stays its business. */
  unsubscribe(typeUrl: string, names: readonly string[]): void {
    this.changeNames(typeUrl, names, false);
  }

  private changeNames(typeUrl: string, names: readonly string[], add: boolean): void {
    const st = this.types.get(typeUrl);
    if (!st) throw new AmbitError(CoreErrors.CONFIG_INVALID, `no handler for type ${typeUrl}`);
    const fresh = names.filter((n) => (add ? !st.names.has(n) : st.names.has(n)));
    if (fresh.length === 0) return;
    for (const n of fresh) add ? st.names.add(n) : st.names.delete(n);
    if (!this.stream) return;
    const req = create(DeltaDiscoveryRequestSchema, { typeUrl });
    if (add) req.resourceNamesSubscribe = fresh;
    else req.resourceNamesUnsubscribe = fresh;
    this.send(this.stream, req);
  }

  state(): XdsClientState {
    const types: XdsClientState['types'] = {};
    for (const [typeUrl, st] of this.types) {
      const t: XdsClientState['types'][string] = { synced: st.synced, resources: st.versions.size };
      if (this.opts.onDemand) t.names = [...st.names];
      if (st.lastNonce) t.lastNonce = st.lastNonce;
      if (st.lastAck) t.lastAck = { ...st.lastAck, at: st.lastAck.at.toISOString() };
      if (st.lastNack) t.lastNack = { ...st.lastNack, at: st.lastNack.at.toISOString() };
      types[typeUrl] = t;
    }
    const s: XdsClientState = {
      address: this.opts.address,
      connected: this.connectedSince !== undefined,
      reconnects: this.reconnects,
      synced: [...this.types.values()].every((t) => t.synced),
      types,
    };
    if (this.connectedSince) s.connectedSince = this.connectedSince.toISOString();
    if (this.lastError) s.lastError = this.lastError;
    return s;
  }

  /** Versions held per type (what `initial_resource_versions` will carry). */
  versions(typeUrl: string): ReadonlyMap<string, string> {
    return this.types.get(typeUrl)?.versions ?? new Map();
  }

  /** Stops for good: cancels the stream and any pending reconnect. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.grpc.close();
  }

  drainTask(): DrainTask {
    return {
      name: 'xds-client',
      graceful: async () => this.close(),
      force: () => this.close(),
    };
  }
}
