/**
 * HTTP/2 PING keepalive: a PING every `intervalMs`; if one stays unanswered
 * for `timeoutMs` the session is declared dead (ztunnel: 10 s / 20 s). This is
 * how a peer that vanished without FIN/RST (node crash, blackholed route) is
 * noticed on an otherwise idle pooled session.
 */
import type { Http2Session } from 'node:http2';

/** Starts pinging; returns a stop function. Timers are unref'd. */
export function startKeepalive(
  session: Http2Session,
  intervalMs: number,
  timeoutMs: number,
  onDead: (reason: string) => void,
): () => void {
  if (intervalMs <= 0) return () => {};
  let deadline: NodeJS.Timeout | undefined;
  const tick = (): void => {
    if (deadline !== undefined || session.destroyed || session.closed) return;
    deadline = setTimeout(() => onDead(`no PING ack within ${timeoutMs} ms`), timeoutMs);
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      deadline = undefined;
      // An error here means the session went away; its own close handling reports that.
      void err;
    });
    if (!sent) {
      clearTimeout(deadline);
      deadline = undefined;
    }
  };
  const interval = setInterval(tick, intervalMs);
  interval.unref();
  const stop = (): void => {
    clearInterval(interval);
    clearTimeout(deadline);
    deadline = undefined;
  };
  session.once('close', stop);
  return stop;
}
