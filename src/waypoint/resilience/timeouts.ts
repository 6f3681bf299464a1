/**
 * Gateway API timeouts: `request` bounds the whole exchange including
 * retries and backoff (exceeded → 504, flag UT); `backendRequest` bounds
 * each attempt (exceeded → that attempt fails with 504, and may be retried).
 */
import type { Clock } from './clock.js';

export class Deadline {
  private readonly end: number;

  /** `ms` 0 = no deadline. */
  constructor(
    private readonly clock: Clock,
    ms: number,
  ) {
    this.end = ms > 0 ? clock() + ms : Number.POSITIVE_INFINITY;
  }

  /** Milliseconds left (Infinity without a deadline, never negative). */
  remainingMs(): number {
    return Math.max(0, this.end - this.clock());
  }

  expired(): boolean {
    return this.remainingMs() === 0;
  }
}

/**
 * Timeout for one attempt: the smaller of the per-try timeout and what is
 * left of the request deadline. Undefined = no timer needed.
 */
export function attemptTimeoutMs(deadline: Deadline, backendRequestMs: number): number | undefined {
  const left = deadline.remainingMs();
  const perTry = backendRequestMs > 0 ? backendRequestMs : Number.POSITIVE_INFINITY;
  const t = Math.min(left, perTry);
  return Number.isFinite(t) ? t : undefined;
}
