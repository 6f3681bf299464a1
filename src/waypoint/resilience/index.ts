export {
  type AcquireResult,
  CircuitBreakers,
  type Lease,
  type OverflowLimit,
} from './circuit-breaker.js';
export { type Clock, systemClock } from './clock.js';
export { eligible, LoadBalancer, type PickOptions } from './load-balancer.js';
export {
  classifyStatus,
  type EndpointOutcome,
  OUTLIER_DEFAULTS,
  OutlierDetector,
  outlierEnabled,
} from './outlier.js';
export { MAX_BUCKETS, type RateDecision, RateLimiter } from './rate-limit.js';
export {
  type AttemptOutcome,
  DEFAULT_CONNECT_RETRIES,
  type RetryState,
  retryBackoffMs,
  shouldRetry,
} from './retry.js';
export { attemptTimeoutMs, Deadline } from './timeouts.js';
