/**
 * The bookkeeping of one proxied connection: labels learned as the
 * connection progresses (source, routing decision, peer identity), then one
 * `finish()` that records the metrics and writes the access log. ztunnel's
 * `ConnectionResult` does the same in `Drop`; here every code path ends in
 * `finish()` (a `finally`, a close handler or a drain), and `finish()` is
 * idempotent, so opened == closed holds for every exit path.
 */
import { performance } from 'node:perf_hooks';
import { errorMessage, isAmbitError } from '../core/errors.js';
import type { Service, Workload } from '../state/index.js';
import { writeAccessLog } from './access-log.js';
import {
  type PeerInfo,
  type ProxyMetrics,
  type Reporter,
  type ResponseFlag,
  type ServiceInfo,
  trafficLabels,
} from './metrics.js';

export interface FinishInfo {
  /** Bytes client → server. */
  bytesSent?: number;
  /** Bytes server → client. */
  bytesRecv?: number;
  error?: unknown;
  responseFlags?: ResponseFlag;
}

/** Peer labels from a workload of the state. */
export function peerOf(w: Workload | undefined, principal?: string): PeerInfo {
  if (w === undefined) return principal === undefined ? {} : { principal };
  return {
    workload: w.workloadName || w.name,
    namespace: w.namespace,
    canonicalService: w.canonicalName || w.workloadName || w.name,
    canonicalRevision: w.canonicalRevision || 'latest',
    principal,
    cluster: w.clusterId,
  };
}

export function serviceOf(s: Service | undefined): ServiceInfo | undefined {
  return s === undefined
    ? undefined
    : { hostname: s.hostname, name: s.name, namespace: s.namespace };
}

export class ConnectionResult {
  source: PeerInfo = {};
  destination: PeerInfo = {};
  service: ServiceInfo | undefined;
  mtls = false;
  /** `ip:port` of the upstream we dialled (…:15008 for HBONE). */
  dstAddr: string | undefined;
  hboneAddr: string | undefined;
  private readonly started = performance.now();
  private openedRecorded = false;
  private finished = false;

  constructor(
    private readonly metrics: ProxyMetrics,
    readonly reporter: Reporter,
    /** `ip:port` of the downstream client. */
    readonly srcAddr: string,
  ) {
    metrics.socketsOpen.inc({ reporter });
  }

  get direction(): 'inbound' | 'outbound' {
    return this.reporter === 'source' ? 'outbound' : 'inbound';
  }

  /** Source and destination principals learned so far. */
  peers(): { src?: string; dst?: string } {
    return { src: this.source.principal, dst: this.destination.principal };
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** Counts the connection as opened with the labels known now. Idempotent. */
  opened(): void {
    if (this.openedRecorded) return;
    this.openedRecorded = true;
    this.metrics.opened.inc(this.labels('-'));
  }

  /** Records metrics and writes the access log. Only the first call counts. */
  finish(info: FinishInfo = {}): void {
    if (this.finished) return;
    this.finished = true;
    this.metrics.socketsOpen.dec({ reporter: this.reporter });
    this.opened();
    const flags = info.responseFlags ?? (info.error === undefined ? '-' : 'CONNECT');
    const labels = this.labels(flags);
    const sent = info.bytesSent ?? 0;
    const recv = info.bytesRecv ?? 0;
    this.metrics.closed.inc(labels);
    if (info.error !== undefined && sent + recv === 0) this.metrics.failed.inc(labels);
    // Istio flips sent/received for reporter=source (istio#32399); ztunnel keeps the flip.
    const [metricSent, metricRecv] = this.reporter === 'source' ? [sent, recv] : [recv, sent];
    if (metricSent > 0) this.metrics.sentBytes.inc(labels, metricSent);
    if (metricRecv > 0) this.metrics.receivedBytes.inc(labels, metricRecv);
    const code = isAmbitError(info.error) ? `[${info.error.code}] ` : '';
    writeAccessLog({
      direction: this.direction,
      'src.addr': this.srcAddr,
      'src.workload': this.source.workload,
      'src.namespace': this.source.namespace,
      'src.identity': this.source.principal,
      'src.cluster': this.source.cluster,
      'dst.addr': this.dstAddr,
      'dst.hbone_addr': this.hboneAddr,
      'dst.service': this.service?.hostname,
      'dst.workload': this.destination.workload,
      'dst.namespace': this.destination.namespace,
      'dst.identity': this.destination.principal,
      'dst.cluster': this.destination.cluster,
      bytes_sent: sent,
      bytes_recv: recv,
      duration: `${Math.round(performance.now() - this.started)}ms`,
      error: info.error === undefined ? undefined : `${code}${errorMessage(info.error)}`,
      response_flags: flags === '-' ? undefined : flags,
    });
  }

  private labels(responseFlags: ResponseFlag) {
    return trafficLabels({
      reporter: this.reporter,
      source: this.source,
      destination: this.destination,
      service: this.service,
      mtls: this.mtls,
      responseFlags,
    });
  }
}
