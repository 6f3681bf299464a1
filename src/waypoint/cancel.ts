/**
 * Cancelling one upstream attempt: when its timeout fires or when the
 * client goes away before the answer (Envoy resets the upstream request
 * then too, flag DC). Every attempt gets one, so it must cost next to
 * nothing: Node 20's AbortSignal is an EventTarget, and one
 * addEventListener/removeEventListener pair on it costs ~5 µs, a few
 * percent of the waypoint's whole per-request budget.
 */

/** What the upstream code reads of a signal; an AbortSignal also fits. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** An AbortController without EventTarget: listeners are a plain array, each called once. */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] = [];

  abort(reason: unknown = new Error('This operation was aborted')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }
}

/**
 * A real AbortSignal that aborts with `s` and after `timeoutMs`, for the
 * APIs that need one (dialling: a new connection is the rare case).
 */
export function dialSignal(s: CancelSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  if (s === undefined) return timeout;
  if (s instanceof AbortSignal) return AbortSignal.any([s, timeout]);
  const ac = new AbortController();
  if (s.aborted) ac.abort(s.reason);
  else s.addEventListener('abort', () => ac.abort(s.reason));
  return AbortSignal.any([ac.signal, timeout]);
}
