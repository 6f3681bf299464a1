/**
 * ztunnel's TCP metrics with Istio's names and full label set
 * (istio/ztunnel src/proxy/metrics.rs `CommonTrafficLabels`). Missing values
 * render as `unknown`. Cardinality is bounded by the mesh itself: labels carry
 * workload, service and identity names, never IPs or ports (ztunnel#1600).
 * Locality labels are left out, since Istio only adds them when known, which
 * would make the label set vary per series.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Who reports: the client-side proxy (`source`) or the server-side one (`destination`). */
export type Reporter = 'source' | 'destination';

/** Istio's response flags on TCP metrics. `-` = none. */
export type ResponseFlag =
  | '-'
  | 'DENY'
  | 'CONNECT'
  | 'TLS_FAILURE'
  | 'H2_HANDSHAKE_FAILURE'
  | 'NETWORK_POLICY'
  | 'IDENTITY_ERROR';

export const TRAFFIC_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export type TrafficLabelName = (typeof TRAFFIC_LABELS)[number];
export type TrafficLabels = Record<TrafficLabelName, string>;

/** One side of a connection, as far as it is known. */
export interface PeerInfo {
  /** Workload name (`workloadName`, else the pod name). */
  workload?: string;
  namespace?: string;
  canonicalService?: string;
  canonicalRevision?: string;
  /** SPIFFE URI; only from an mTLS handshake or the expected peer identity. */
  principal?: string;
  cluster?: string;
}

export interface ServiceInfo {
  /** Hostname, e.g. `cart.shop.svc.cluster.local`. */
  hostname: string;
  name?: string;
  namespace?: string;
}

export interface TrafficInfo {
  reporter: Reporter;
  source: PeerInfo;
  destination: PeerInfo;
  service?: ServiceInfo;
  mtls: boolean;
  responseFlags: ResponseFlag;
}

const UNKNOWN = 'unknown';

/** The full label set, `unknown` for anything missing. */
export function trafficLabels(t: TrafficInfo): TrafficLabels {
  const v = (x: string | undefined): string => (x === undefined || x === '' ? UNKNOWN : x);
  const s = t.source;
  const d = t.destination;
  return {
    reporter: t.reporter,
    source_workload: v(s.workload),
    source_canonical_service: v(s.canonicalService),
    source_canonical_revision: v(s.canonicalRevision),
    source_workload_namespace: v(s.namespace),
    source_principal: v(s.principal),
    source_app: v(s.canonicalService),
    source_version: v(s.canonicalRevision),
    source_cluster: v(s.cluster),
    destination_service: v(t.service?.hostname),
    destination_service_namespace: v(t.service?.namespace),
    destination_service_name: v(t.service?.name),
    destination_workload: v(d.workload),
    destination_canonical_service: v(d.canonicalService),
    destination_canonical_revision: v(d.canonicalRevision),
    destination_workload_namespace: v(d.namespace),
    destination_principal: v(d.principal),
    destination_app: v(d.canonicalService),
    destination_version: v(d.canonicalRevision),
    destination_cluster: v(d.cluster),
    request_protocol: 'tcp',
    response_flags: t.responseFlags,
    connection_security_policy: t.mtls ? 'mutual_tls' : UNKNOWN,
  };
}

/** The proxy's metrics, registered on the composition root's registry. */
export class ProxyMetrics {
  readonly opened: Counter<TrafficLabelName>;
  readonly closed: Counter<TrafficLabelName>;
  readonly failed: Counter<TrafficLabelName>;
  readonly receivedBytes: Counter<TrafficLabelName>;
  readonly sentBytes: Counter<TrafficLabelName>;
  readonly socketsOpen: Gauge<'reporter'>;

  constructor(registry: Registry, build: { tag: string; component: string }) {
    const labelNames = [...TRAFFIC_LABELS];
    const counter = (name: string, help: string): Counter<TrafficLabelName> =>
      new Counter({ name, help, labelNames, registers: [registry] });
    this.opened = counter(
      'istio_tcp_connections_opened_total',
      'The total number of TCP connections opened',
    );
    this.closed = counter(
      'istio_tcp_connections_closed_total',
      'The total number of TCP connections closed',
    );
    this.failed = counter(
      'istio_tcp_connections_failed_total',
      'The total number of TCP connections that failed to establish (unstable)',
    );
    this.receivedBytes = counter(
      'istio_tcp_received_bytes_total',
      'The size of total bytes received during request in case of a TCP connection',
    );
    this.sentBytes = counter(
      'istio_tcp_sent_bytes_total',
      'The size of total bytes sent during response in case of a TCP connection',
    );
    this.socketsOpen = new Gauge({
      name: 'istio_tcp_sockets_open',
      help: 'The current number of open TCP sockets (unstable)',
      labelNames: ['reporter'],
      registers: [registry],
    });
    const info = new Gauge({
      name: 'istio_build',
      help: 'Istio component build info',
      labelNames: ['component', 'tag'],
      registers: [registry],
    });
    info.set({ component: build.component, tag: build.tag }, 1);
  }
}
