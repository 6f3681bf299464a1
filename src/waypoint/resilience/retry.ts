/**
 * Retry decisions (Gateway API HTTPRouteRetry). A retry happens only when
 * nothing of the response reached the client yet, and only when the request
 * body was fully buffered (bodies over the waypoint's buffer limit,
 * `maxBufferedBodyBytes`, stream once, like Linkerd). Without a retry policy, only connect failures are retried
 * (nothing reached the backend, so it is always safe).
 */
import type { RetryConfig } from '../types.js';

/** Retries of connect failures when the route has no retry policy. */
export const DEFAULT_CONNECT_RETRIES = 2;
/** Backoff cap as a multiple of the base (Envoy: 10×). */
const MAX_BACKOFF_FACTOR = 10;

export type AttemptOutcome =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'reset' }
  /** The upstream's response was not valid HTTP (answered 502). */
  | { readonly kind: 'protocol-error' };

export interface RetryState {
  /** Retries already made (0 after the first attempt). */
  readonly retries: number;
  readonly responseStarted: boolean;
  readonly bodyReplayable: boolean;
}

export function shouldRetry(
  cfg: RetryConfig | undefined,
  outcome: AttemptOutcome,
  s: RetryState,
): boolean {
  if (s.responseStarted || !s.bodyReplayable) return false;
  if (!cfg) return outcome.kind === 'connect-failure' && s.retries < DEFAULT_CONNECT_RETRIES;
  if (s.retries >= cfg.attempts) return false;
  switch (outcome.kind) {
    case 'status':
      return cfg.codes.has(outcome.status);
    case 'connect-failure':
      return true;
    case 'timeout':
      return cfg.codes.has(504);
    case 'reset':
      return cfg.codes.has(503);
    case 'protocol-error':
      return cfg.codes.has(502);
  }
}

/**
 * Delay before retry number `retry` (1-based): full jitter over
 * base × 2^(retry-1), capped at 10 × base (Envoy's scheme).
 */
export function retryBackoffMs(
  baseMs: number,
  retry: number,
  random: () => number = Math.random,
): number {
  const cap = baseMs * MAX_BACKOFF_FACTOR;
  const ceiling = Math.min(cap, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}
