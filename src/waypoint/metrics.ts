/**
 * Istio standard metrics as a waypoint reports them (`reporter="waypoint"`,
 * Istio's label set), one access-log line per request (component `access`),
 * and W3C trace context: `traceparent` is propagated, or generated when
 * absent; spans are in tracing.ts.
 */
import { randomBytes } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from '../telemetry/label-families.js';
import { logger } from '../telemetry/logger.js';

const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;
const TCP_LABELS = LABELS.filter(
  (l) => l !== 'response_code' && l !== 'grpc_response_status' && l !== 'request_protocol',
);

type Labels = Record<(typeof LABELS)[number], string>;

/** Istio's duration buckets, ms. */
const DURATION_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];
/** Istio's size buckets, bytes. */
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** One finished HTTP exchange, as the engine reports it. */
export interface RequestRecord {
  /** Peer SPIFFE ID ("spiffe://td/ns/x/sa/y"); undefined when plaintext. */
  readonly sourcePrincipal?: string;
  readonly sourceIp: string;
  /** `"<ns>/<hostname>"` of the destination Service, or "" when unknown. */
  readonly destinationService: string;
  readonly destinationPrincipal?: string;
  readonly destinationWorkload?: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly protocol: 'http' | 'grpc';
  readonly status: number;
  /** Envoy response flags: "-", "UO", "RL", "UT", "UF", "UH", "URX", "DC", "UAEX"… */
  readonly flags: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly route?: string;
  readonly upstream?: string;
  readonly traceId?: string;
  readonly grpcStatus?: string;
}

function principalParts(p: string | undefined): { ns: string; sa: string; id: string } {
  if (!p) return { ns: 'unknown', sa: 'unknown', id: 'unknown' };
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(p);
  return { ns: m?.[1] ?? 'unknown', sa: m?.[2] ?? 'unknown', id: p };
}

/** Longest a finished request waits to be counted and logged, ms. */
const FLUSH_MS = 50;
/** Queued records that trigger a flush at once (bounds memory under load). */
const MAX_QUEUED = 1024;

export class WaypointMetrics {
  private readonly requests: CounterFamily;
  private readonly duration: HistogramFamily;
  private readonly requestBytes: HistogramFamily;
  private readonly responseBytes: HistogramFamily;
  private readonly tcpOpened: Counter<string>;
  private readonly tcpClosed: Counter<string>;
  private readonly tcpSent: Counter<string>;
  private readonly tcpReceived: Counter<string>;
  private readonly access = logger('access');
  private queued: RequestRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushNow = (): void => this.flush();

  constructor(
    registry: Registry,
    private readonly cluster = 'Kubernetes',
  ) {
    const reg = { registers: [registry] };
    const flush = this.flushNow;
    this.requests = new CounterFamily(
      'istio_requests_total',
      'Requests processed by the waypoint',
      registry,
      flush,
    );
    this.duration = new HistogramFamily(
      'istio_request_duration_milliseconds',
      'Request duration',
      registry,
      DURATION_BUCKETS,
      flush,
    );
    this.requestBytes = new HistogramFamily(
      'istio_request_bytes',
      'Request body size',
      registry,
      SIZE_BUCKETS,
      flush,
    );
    this.responseBytes = new HistogramFamily(
      'istio_response_bytes',
      'Response body size',
      registry,
      SIZE_BUCKETS,
      flush,
    );
    const tcp = [...TCP_LABELS];
    this.tcpOpened = new Counter({
      name: 'istio_tcp_connections_opened_total',
      help: 'TCP connections opened',
      labelNames: tcp,
      ...reg,
    });
    this.tcpClosed = new Counter({
      name: 'istio_tcp_connections_closed_total',
      help: 'TCP connections closed',
      labelNames: tcp,
      ...reg,
    });
    this.tcpSent = new Counter({
      name: 'istio_tcp_sent_bytes_total',
      help: 'Bytes sent to the client',
      labelNames: tcp,
      ...reg,
    });
    this.tcpReceived = new Counter({
      name: 'istio_tcp_received_bytes_total',
      help: 'Bytes received from the client',
      labelNames: tcp,
      ...reg,
    });
  }

  private labels(
    r: Pick<
      RequestRecord,
      'sourcePrincipal' | 'destinationService' | 'destinationPrincipal' | 'destinationWorkload'
    >,
  ): Omit<
    Labels,
    'response_code' | 'grpc_response_status' | 'request_protocol' | 'response_flags'
  > {
    const src = principalParts(r.sourcePrincipal);
    const dst = principalParts(r.destinationPrincipal);
    const [svcNs = 'unknown', host = 'unknown'] = r.destinationService
      ? r.destinationService.split('/')
      : [];
    return {
      reporter: 'waypoint',
      source_workload: src.sa === 'unknown' ? 'unknown' : src.sa,
      source_workload_namespace: src.ns,
      source_principal: src.id,
      source_app: 'unknown',
      source_version: 'unknown',
      source_cluster: this.cluster,
      destination_workload: r.destinationWorkload ?? 'unknown',
      destination_workload_namespace: dst.ns === 'unknown' ? svcNs : dst.ns,
      destination_principal: dst.id,
      destination_app: 'unknown',
      destination_version: 'unknown',
      destination_service: host,
      destination_service_name: host.split('.')[0] ?? host,
      destination_service_namespace: svcNs,
      destination_cluster: this.cluster,
      connection_security_policy: r.sourcePrincipal ? 'mutual_tls' : 'none',
    };
  }

  /**
   * Queues one finished HTTP request for its metrics and access-log line.
   * Records land in batches, every {@link FLUSH_MS} ms, before every scrape,
   * and at once when {@link MAX_QUEUED} are waiting: like Envoy, which
   * flushes its access logs every second, the per-request work stays off
   * the moment the answer leaves, when the client (often woken on this
   * very CPU) is waiting to run; in a batch it also runs with warm caches.
   */
  recordRequest(r: RequestRecord): void {
    const q = this.queued;
    q.push(r);
    if (q.length >= MAX_QUEUED) this.flush();
    else if (q.length === 1) {
      this.timer = setTimeout(this.flushNow, FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Records every queued request now (scrapes, shutdown, tests). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const q = this.queued;
    if (q.length === 0) return;
    this.queued = [];
    for (const r of q) this.record(r);
  }

  /**
   * Counts one HTTP request and writes its access-log line. The label tuple
   * is keyed by the few fields it derives from; Istio's 21-label object is
   * built only the first time a tuple is seen (label-families.ts).
   */
  private record(r: RequestRecord): void {
    const key = `${r.sourcePrincipal ?? ''}\0${r.destinationService}\0${r.destinationPrincipal ?? ''}\0${r.destinationWorkload ?? ''}\0${r.protocol}\0${r.status}\0${r.grpcStatus ?? ''}\0${r.flags}`;
    let labels: Labels | undefined;
    const make = (): Labels =>
      (labels ??= {
        ...this.labels(r),
        request_protocol: r.protocol,
        response_code: String(r.status),
        grpc_response_status: r.grpcStatus ?? '',
        response_flags: r.flags,
      });
    this.requests.child(key, make).inc();
    this.duration.child(key, make).observe(r.durationMs);
    this.requestBytes.child(key, make).observe(r.requestBytes);
    this.responseBytes.child(key, make).observe(r.responseBytes);
    if (!this.access.isLevelEnabled('info')) return;
    this.access.info(
      {
        src: r.sourceIp,
        src_principal: r.sourcePrincipal,
        method: r.method,
        path: r.path,
        authority: r.authority,
        protocol: r.protocol,
        status: r.status,
        flags: r.flags,
        duration_ms: Math.round(r.durationMs * 1000) / 1000,
        bytes_received: r.requestBytes,
        bytes_sent: r.responseBytes,
        route: r.route,
        upstream: r.upstream,
        dst_service: r.destinationService,
        trace_id: r.traceId,
      },
      'request',
    );
  }

  /** TCP (non-HTTP) stream through the waypoint: call on open, then on close with byte counts. */
  recordTcp(r: {
    sourcePrincipal?: string;
    sourceIp: string;
    destinationService: string;
    destinationPrincipal?: string;
  }): {
    close(sent: number, received: number): void;
  } {
    const labels = { ...this.labels(r), response_flags: '-' };
    this.tcpOpened.inc(labels);
    return {
      close: (sent, received) => {
        this.tcpClosed.inc(labels);
        this.tcpSent.inc(labels, sent);
        this.tcpReceived.inc(labels, received);
        this.access.info(
          {
            src: r.sourceIp,
            src_principal: r.sourcePrincipal,
            dst_service: r.destinationService,
            bytes_sent: sent,
            bytes_received: received,
          },
          'tcp',
        );
      },
    };
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/** Random hex from a pooled buffer: one getrandom call per ~170 requests, not two per request. */
const entropy = { buf: Buffer.alloc(0), off: 0 };
function randomHex(bytes: number): string {
  if (entropy.off + bytes > entropy.buf.length) {
    entropy.buf = randomBytes(4096);
    entropy.off = 0;
  }
  const s = entropy.buf.toString('hex', entropy.off, entropy.off + bytes);
  entropy.off += bytes;
  return s;
}

/**
 * The traceparent to send upstream: the incoming one with a new parent id
 * (this hop), or a fresh sampled one. Returns the trace id for logs and
 * whether the incoming context was sampled.
 */
export function nextTraceparent(incoming: string | undefined): {
  traceparent: string;
  traceId: string;
  sampled: boolean;
} {
  const m = incoming ? TRACEPARENT.exec(incoming.trim()) : null;
  if (m === null || !m[1] || m[1] === ZERO_TRACE) {
    // A new trace: its id and this hop's parent id from one random draw.
    const hex = randomHex(24);
    const traceId = hex.slice(0, 32);
    return { traceparent: `00-${traceId}-${hex.slice(32)}-01`, traceId, sampled: false };
  }
  const traceId = m[1];
  const flags = m[3] ?? '01';
  return {
    traceparent: `00-${traceId}-${randomHex(8)}-${flags}`,
    traceId,
    sampled: (Number.parseInt(flags, 16) & 1) === 1,
  };
}
