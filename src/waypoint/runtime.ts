/**
 * Shared per-waypoint state that outlives config snapshots: resilience
 * counters, ejections, rate-limit buckets, LB cursors.
 */
import type { Logger } from '../telemetry/logger.js';
import type { ConfigStore } from './config.js';
import type { WaypointMetrics } from './metrics.js';
import type {
  CircuitBreakers,
  Clock,
  LoadBalancer,
  OutlierDetector,
  RateLimiter,
} from './resilience/index.js';
import type { Locality } from './types.js';
import type { UpstreamConnector, UpstreamPool } from './upstream.js';

export interface Runtime {
  readonly store: ConfigStore;
  readonly connector: UpstreamConnector;
  /** Keep-alive upstream connections (HTTP/1.1 agents, HTTP/2 sessions). */
  readonly pool: UpstreamPool;
  readonly breakers: CircuitBreakers;
  readonly outlier: OutlierDetector;
  readonly limiter: RateLimiter;
  readonly lb: LoadBalancer;
  /** In-flight requests per endpoint uid (least-request LB). */
  readonly active: Map<string, number>;
  readonly metrics?: WaypointMetrics;
  readonly clock: Clock;
  readonly random: () => number;
  readonly locality?: Locality;
  /** Request bodies up to this size are buffered (retries, mirrors), bytes. */
  readonly maxBufferedBodyBytes: number;
  readonly log: Logger;
}
