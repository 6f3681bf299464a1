/**
 * Outlier detection (DestinationRule outlierDetection / BackendPolicy):
 * consecutive 5xx, gateway errors (502/503/504) or connect failures eject an
 * endpoint for baseEjectionTime × (number of times it was ejected), capped
 * at 300 s like Envoy. At most maxEjectionPercent of a service's endpoints
 * are ejected at once (at least one may be), and never all of them.
 *
 * As in Envoy, the ejection count decays: each `interval` an endpoint spends
 * back in service takes one off, so an endpoint that failed once long ago
 * is not ejected for a multiple of the base time on its next bad streak.
 * State is kept only for endpoints with something to remember (a streak,
 * an ejection, a count not yet decayed), so endpoints that come and go
 * (pod churn) do not pile up in memory.
 */
import type { BackendTraffic } from '../types.js';
import type { Clock } from './clock.js';

/** Defaults when the policy enables outlier detection but leaves a field out (Istio's). */
export const OUTLIER_DEFAULTS = {
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  intervalMs: 10_000,
} as const;
const MAX_EJECTION_MS = 300_000;
/** Endpoints remembered before the quiet ones are dropped (their streaks restart). */
const MAX_TRACKED = 4096;

export type EndpointOutcome = 'success' | '5xx' | 'gateway-error' | 'connect-failure';

interface EndpointState {
  c5xx: number;
  cGateway: number;
  cConnect: number;
  ejections: number;
  ejectedUntil: number;
  /** Since when `ejections` has been decaying (the end of the last ejection, then steps of the interval). */
  decayFrom: number;
}

/** True when the policy turns outlier detection on. */
export function outlierEnabled(p: BackendTraffic | undefined): boolean {
  return !!(
    p &&
    (p.consecutive5xxErrors || p.consecutiveGatewayErrors || p.consecutiveConnectFailures)
  );
}

export class OutlierDetector {
  private readonly state = new Map<string, EndpointState>();

  constructor(private readonly clock: Clock) {}

  private get(id: string): EndpointState {
    let s = this.state.get(id);
    if (!s) {
      if (this.state.size >= MAX_TRACKED) this.forgetQuiet();
      s = { c5xx: 0, cGateway: 0, cConnect: 0, ejections: 0, ejectedUntil: 0, decayFrom: 0 };
      this.state.set(id, s);
    }
    return s;
  }

  /** Drops every endpoint not ejected now: the bound on remembered endpoints. */
  private forgetQuiet(): void {
    const now = this.clock();
    for (const [id, s] of this.state) if (s.ejectedUntil <= now) this.state.delete(id);
  }

  /** Takes one ejection off per interval spent back in service. */
  private decay(s: EndpointState, intervalMs: number, now: number): void {
    if (s.ejections === 0 || s.ejectedUntil > now) return;
    const steps = Math.floor((now - s.decayFrom) / intervalMs);
    if (steps <= 0) return;
    s.ejections = Math.max(0, s.ejections - steps);
    s.decayFrom += steps * intervalMs;
  }

  isEjected(id: string): boolean {
    const s = this.state.get(id);
    return s !== undefined && s.ejectedUntil > this.clock();
  }

  /**
   * Records one request outcome for endpoint `id` of a service whose
   * endpoint ids are `peers` (including `id`; a function is called only
   * when an ejection is considered, so the request path builds no list).
   * Returns true if this ejected it.
   */
  record(
    id: string,
    outcome: EndpointOutcome,
    policy: BackendTraffic | undefined,
    peerIds: readonly string[] | (() => readonly string[]),
  ): boolean {
    if (!outlierEnabled(policy) || !policy) return false;
    const interval = policy.intervalMs || OUTLIER_DEFAULTS.intervalMs;
    if (outcome === 'success') {
      // The common case: a healthy endpoint with nothing remembered.
      const s = this.state.get(id);
      if (s === undefined) return false;
      s.c5xx = 0;
      s.cGateway = 0;
      s.cConnect = 0;
      const now = this.clock();
      this.decay(s, interval, now);
      if (s.ejections === 0 && s.ejectedUntil <= now) this.state.delete(id);
      return false;
    }
    const s = this.get(id);
    this.decay(s, interval, this.clock());
    if (outcome === 'connect-failure') s.cConnect++;
    else {
      s.c5xx++;
      if (outcome === 'gateway-error') s.cGateway++;
    }
    const trip =
      (!!policy.consecutive5xxErrors && s.c5xx >= policy.consecutive5xxErrors) ||
      (!!policy.consecutiveGatewayErrors && s.cGateway >= policy.consecutiveGatewayErrors) ||
      (!!policy.consecutiveConnectFailures && s.cConnect >= policy.consecutiveConnectFailures);
    if (!trip || this.isEjected(id)) return false;
    const peers = typeof peerIds === 'function' ? peerIds() : peerIds;
    const ejected = peers.filter((p) => p !== id && this.isEjected(p)).length;
    const pct = policy.maxEjectionPercent ?? OUTLIER_DEFAULTS.maxEjectionPercent;
    const allowed = Math.max(1, Math.floor((peers.length * pct) / 100));
    if (ejected + 1 > allowed || ejected + 1 >= peers.length) return false;
    s.ejections++;
    const base = policy.baseEjectionTimeMs ?? OUTLIER_DEFAULTS.baseEjectionTimeMs;
    s.ejectedUntil = this.clock() + Math.min(MAX_EJECTION_MS, base * s.ejections);
    s.decayFrom = s.ejectedUntil;
    s.c5xx = 0;
    s.cGateway = 0;
    s.cConnect = 0;
    return true;
  }

  /** Endpoints remembered (tests, admin). */
  get tracked(): number {
    return this.state.size;
  }

  /** Ejection state per endpoint, for admin dumps. */
  dump(): Record<string, { ejections: number; ejectedForMs: number }> {
    const now = this.clock();
    const out: Record<string, { ejections: number; ejectedForMs: number }> = {};
    for (const [id, s] of this.state)
      out[id] = { ejections: s.ejections, ejectedForMs: Math.max(0, s.ejectedUntil - now) };
    return out;
  }
}

/** Classifies a response status for outlier detection. */
export function classifyStatus(status: number): EndpointOutcome {
  if (status === 502 || status === 503 || status === 504) return 'gateway-error';
  if (status >= 500) return '5xx';
  return 'success';
}
