/**
 * Capped exponential backoff with full jitter. Time and randomness are
 * injectable so tests are deterministic.
 */
export interface BackoffOptions {
  /** First delay, in ms. Default 1000. */
  initialMs?: number;
  /** Upper bound of any delay, in ms. Default 150_000 (ztunnel's CA retry cap). */
  maxMs?: number;
  /** Growth factor per attempt. Default 2. */
  multiplier?: number;
  /** Fraction of the delay that is randomised, 0..1. Default 0.2. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly opts: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.opts = {
      initialMs: options.initialMs ?? 1000,
      maxMs: options.maxMs ?? 150_000,
      multiplier: options.multiplier ?? 2,
      jitter: options.jitter ?? 0.2,
      random: options.random ?? Math.random,
    };
  }

  /** The delay before the next attempt; each call grows the base delay. */
  next(): number {
    const { initialMs, maxMs, multiplier, jitter, random } = this.opts;
    const base = Math.min(maxMs, initialMs * multiplier ** this.attempt);
    this.attempt++;
    const spread = base * jitter;
    return Math.max(0, Math.min(maxMs, base - spread + random() * 2 * spread));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
