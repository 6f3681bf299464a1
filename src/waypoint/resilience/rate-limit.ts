/**
 * Local token-bucket rate limiting (RateLimitPolicy `local`), with Envoy's
 * local_ratelimit semantics: the bucket holds `burst` tokens and gains
 * `requests` tokens every `interval` (discrete fills). Over the limit: 429,
 * `retry-after` = seconds until the next fill, rounded up (min 1), flag RL.
 */
import type { RateLimitConfig } from '../types.js';
import type { Clock } from './clock.js';

/** Most per-identity buckets kept per limiter; least recently used go first. */
export const MAX_BUCKETS = 10_000;

interface Bucket {
  tokens: number;
  lastFill: number;
}

export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export class RateLimiter {
  /** Keyed by "<scope>|<identity>"; Map order = recency (re-inserted on use). */
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock) {}

  /**
   * Takes one token. `scope` identifies the policy target (route id or
   * service key); `identity` is used only when the policy is per identity.
   */
  take(scope: string, cfg: RateLimitConfig, identity: string | undefined): RateDecision {
    const key = cfg.perSourceIdentity ? `${scope}|${identity ?? ''}` : scope;
    const now = this.clock();
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key);
    else b = { tokens: cfg.burst, lastFill: now };
    const fills = Math.floor((now - b.lastFill) / cfg.intervalMs);
    if (fills > 0) {
      b.tokens = Math.min(cfg.burst, b.tokens + fills * cfg.requests);
      b.lastFill += fills * cfg.intervalMs;
    }
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_BUCKETS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens >= 1) {
      b.tokens--;
      return { allowed: true };
    }
    const waitMs = b.lastFill + cfg.intervalMs - now;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }
}
