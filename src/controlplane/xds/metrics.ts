/**
 * xDS server metrics. Names follow istiod's (pilot/pkg/xds/monitoring.go) so
 * existing Istio dashboards work; the send→ACK histogram has no istiod
 * equivalent and carries the ambit_ prefix. Registered on the caller's
 * registry; the `type` label is bounded (`wds`, `wads`, …).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SIZE_BUCKETS = [1e3, 1e4, 1e5, 1e6, 4e6, 1e7, 4e7];

export class XdsMetrics {
  readonly connected: Gauge;
  readonly pushes: Counter<'type'>;
  readonly rejects: Counter<'type'>;
  readonly convergence: Histogram;
  readonly ackLatency: Histogram<'type'>;
  readonly configSize: Histogram<'type'>;
  readonly resources: Gauge<'type'>;
  readonly authFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connected = new Gauge({
      name: 'pilot_xds',
      help: 'Number of proxies connected to this control plane over xDS.',
      registers,
    });
    this.pushes = new Counter({
      name: 'pilot_xds_pushes',
      help: 'xDS responses sent, by type.',
      labelNames: ['type'],
      registers,
    });
    this.rejects = new Counter({
      name: 'pilot_total_xds_rejects',
      help: 'xDS responses NACKed by proxies, by type.',
      labelNames: ['type'],
      registers,
    });
    this.convergence = new Histogram({
      name: 'pilot_proxy_convergence_time',
      help: 'Seconds from a config change entering the cache to the response carrying it being sent.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ackLatency = new Histogram({
      name: 'ambit_xds_ack_latency_seconds',
      help: 'Seconds from sending an xDS response to receiving its ACK or NACK.',
      labelNames: ['type'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.configSize = new Histogram({
      name: 'pilot_xds_config_size_bytes',
      help: 'Size in bytes of xDS responses sent, by type.',
      labelNames: ['type'],
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.resources = new Gauge({
      name: 'ambit_xds_resources',
      help: 'Resources held in the xDS cache, by type.',
      labelNames: ['type'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'ambit_xds_auth_failures_total',
      help: 'xDS streams rejected as unauthenticated.',
      registers,
    });
  }
}
