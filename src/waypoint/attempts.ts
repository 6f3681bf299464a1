/**
 * A request's way to its backend and back: endpoint pick (LB, outlier
 * ejection), circuit breaker lease, upstream attempts with per-try and
 * request timeouts and retries, then the answer streamed to the client
 * through the response filters.
 *
 * Written as callbacks rather than an async loop: the upstream client
 * reports a response head in the tick it parsed it, and the answer leaves
 * in that same tick. Promise hops there cost ~3 µs of a ~30 µs path at
 * 1000 RPS (docs/performance.md, "Fifth pass").
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { Cancel, type CancelSignal } from './cancel.js';
import { type ConfigSnapshot, mergeTraffic } from './config.js';
import { applyResponseFilters } from './filters.js';
import { FieldLines, fieldLines } from './h1/serialize.js';
import { cleanHeaders, type DownstreamResponse } from './messages.js';
import {
  type AcquireResult,
  attemptTimeoutMs,
  classifyStatus,
  Deadline,
  retryBackoffMs,
  shouldRetry,
} from './resilience/index.js';
import type { Runtime } from './runtime.js';
import type { CompiledRoute, EndpointInfo, RouteFilter, ServiceKey } from './types.js';
import {
  type AttemptResult,
  perEndpointPort,
  sendAttempt,
  type Upgraded,
  type UpstreamRequest,
  type UpstreamResponse,
} from './upstream.js';

/**
 * What a request did, for telemetry. Every field exists from the start (no
 * optional ones added later): objects whose shape changes mid-request, and
 * literals with spreads, send V8 to slow runtime paths on every request.
 */
export interface Exchange {
  status: number;
  flags: string;
  responseBytes: number;
  requestBytes: number;
  route: string | undefined;
  upstream: string | undefined;
  destinationPrincipal: string | undefined;
}

/** Answers the client with a local response (and records it in the exchange). */
export type Reply = (
  status: number,
  flags: string,
  body: string,
  headers?: OutgoingHttpHeaders,
) => void;

/** The local answer to an attempt that got no response: status, Envoy flags, body. */
const FAILED: Record<
  Extract<AttemptResult, { kind: 'failed' }>['outcome']['kind'],
  readonly [number, string, string]
> = {
  timeout: [504, 'UT', 'upstream request timeout'],
  'connect-failure': [503, 'UF', 'upstream connect error'],
  'protocol-error': [502, 'UPE', 'upstream protocol error'],
  reset: [503, 'UC', 'upstream reset before response'],
};

/** "address:target port" of an endpoint for a service port, for the access log. */
const upstreamAddress = perEndpointPort(
  (ep, servicePort) => `${ep.address}:${ep.ports.get(servicePort) ?? servicePort}`,
);

/**
 * Sends `req` to `target` and answers the client. Resolves when the
 * exchange is over; rejects only on an unexpected error (the caller answers
 * 503 then), never from inside a socket's event handler.
 */
export function sendUpstream(
  rt: Runtime,
  snap: ConfigSnapshot,
  route: CompiledRoute | undefined,
  target: { service: ServiceKey; port: number },
  req: UpstreamRequest,
  res: DownstreamResponse,
  ex: Exchange,
  reply: Reply,
  responseFilters: readonly RouteFilter[],
): Promise<void> {
  // The chosen backend Service's own settings (its DestinationRule /
  // BackendPolicy, as Istio applies a DestinationRule per destination host),
  // with a policy on the route winning for the fields it sets.
  const backendSet = snap.endpoints.get(target.service);
  const traffic = mergeTraffic(
    backendSet?.backend ?? snap.services.get(target.service)?.backend,
    route?.backend,
  );
  const endpoints = backendSet?.endpoints ?? [];
  const peers = () => endpoints.map((e) => e.uid);
  const deadline = new Deadline(rt.clock, route?.requestTimeoutMs ?? 0);
  const replayable = Buffer.isBuffer(req.body);
  return new Promise<void>((resolve, reject) => {
    // Callbacks from sockets, timers and the breaker queue run through
    // here: a throw ends this request, never the connection's handler.
    const run = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        reject(err);
      }
    };
    const answer: Reply = (status, flags, body, headers) => {
      reply(status, flags, body, headers);
      resolve();
    };
    // The client leaving cancels the attempt in flight at once, as Envoy
    // does (DC): its upstream connection and breaker slot are not held until
    // the app answers a request nobody waits for.
    let current: Cancel | undefined;
    res.onClose(() => current?.abort());

    const next = (retries: number): void => {
      if (res.aborted) {
        ex.flags = 'DC';
        resolve();
        return;
      }
      const ep = rt.lb.pick(target.service, endpoints, {
        type: traffic?.loadBalancer ?? 'RoundRobin',
        port: target.port,
        isEjected: (e) => rt.outlier.isEjected(e.uid),
        active: (e) => rt.active.get(e.uid) ?? 0,
        locality: rt.locality,
        random: rt.random,
      });
      if (!ep) {
        answer(503, 'UH', 'no healthy upstream');
        return;
      }
      const acquired = rt.breakers.acquire(target.service, traffic);
      if (acquired instanceof Promise)
        acquired.then((lease) => run(() => leased(retries, ep, lease)), reject);
      else leased(retries, ep, acquired);
    };

    const leased = (retries: number, ep: EndpointInfo, lease: AcquireResult): void => {
      if (!lease.ok) {
        answer(503, 'UO', 'overflow', { 'x-ambit-overflow': lease.limit });
        return;
      }
      const timeout = attemptTimeoutMs(deadline, route?.backendRequestTimeoutMs ?? 0);
      if (timeout === 0) {
        lease.lease.release();
        answer(504, 'UT', 'upstream request timeout');
        return;
      }
      // Most routes set no timeout: no timer per request then.
      const cancel = new Cancel();
      current = cancel;
      const timer = timeout === undefined ? undefined : setTimeout(() => cancel.abort(), timeout);
      rt.active.set(ep.uid, (rt.active.get(ep.uid) ?? 0) + 1);
      const done = (): void => {
        if (timer) clearTimeout(timer);
        // Idle endpoints leave the map: pods come and go, the map must not grow.
        const left = (rt.active.get(ep.uid) ?? 1) - 1;
        if (left > 0) rt.active.set(ep.uid, left);
        else rt.active.delete(ep.uid);
        lease.lease.release();
      };
      ex.upstream = upstreamAddress(ep, target.port);
      ex.destinationPrincipal = ep.identity || undefined;
      sendAttempt(
        rt.pool,
        {
          service: target.service,
          servicePort: target.port,
          endpoint: ep,
          port: ep.ports.get(target.port) ?? target.port,
        },
        req,
        cancel,
        (result) => run(() => answered(retries, ep, result, done, cancel)),
      );
    };

    const answered = (
      retries: number,
      ep: EndpointInfo,
      result: AttemptResult,
      done: () => void,
      cancel: Cancel,
    ): void => {
      // From here stream() watches the client itself.
      current = undefined;
      if (res.aborted) {
        // The client went away while the app was answering (Envoy: DC): no
        // retry, and the app's side of the exchange is reset at once.
        if (result.kind === 'response') result.abort();
        done();
        ex.flags = 'DC';
        resolve();
        return;
      }
      const outcome =
        result.kind === 'response'
          ? { kind: 'status' as const, status: result.res.statusCode }
          : result.outcome;
      rt.outlier.record(
        ep.uid,
        outcome.kind === 'status'
          ? classifyStatus(outcome.status)
          : outcome.kind === 'connect-failure'
            ? 'connect-failure'
            : 'gateway-error',
        traffic,
        peers,
      );
      const again = shouldRetry(route?.retry, outcome, {
        retries,
        responseStarted: res.headersSent,
        bodyReplayable: replayable,
      });
      if (again) {
        if (result.kind === 'response') result.res.body.discard();
        done();
        const wait = Math.min(
          retryBackoffMs(route?.retry?.backoffMs ?? 25, retries + 1, rt.random),
          deadline.remainingMs(),
        );
        setTimeout(
          () =>
            run(() => {
              if (deadline.expired()) answer(504, 'UT', 'upstream request timeout');
              else next(retries + 1);
            }),
          wait,
        );
        return;
      }
      if (result.kind === 'failed') {
        done();
        const [status, flags, text] = FAILED[result.outcome.kind];
        answer(status, flags, text);
        return;
      }
      try {
        stream(
          result.res,
          result.abort,
          res,
          ex,
          responseFilters,
          retries > 0 ? 'URX' : '-',
          () => {
            done();
            resolve();
          },
          cancel,
        );
      } catch (err) {
        // A response head that cannot be written (a filter's bad value):
        // the app's side is reset and the client gets the caller's 503.
        result.abort();
        done();
        throw err;
      }
    };

    next(0);
  });
}

/** Streams an upstream response to the client; `finished` once it is over. */
function stream(
  up: UpstreamResponse,
  abort: () => void,
  res: DownstreamResponse,
  ex: Exchange,
  responseFilters: readonly RouteFilter[],
  flags: string,
  finished: () => void,
  signal: CancelSignal | undefined,
): void {
  if (up.upgraded !== undefined) {
    relaySwitched(up, up.upgraded, abort, res, ex, responseFilters, flags, finished);
    return;
  }
  if (responseFilters.length === 0 && up.lines !== undefined && res.writeHeadLines !== undefined) {
    // Nothing changes the fields: they go down as the lines they came as.
    res.writeHeadLines(up.statusCode, up.lines(), up.contentLength);
  } else {
    // End-to-end fields only (UpstreamResponse), and ours to change.
    const headers = up.headers;
    applyResponseFilters(responseFilters, headers);
    res.writeHead(up.statusCode, headers);
  }
  ex.status = up.statusCode;
  ex.flags = flags;
  let over = false;
  const finish = (): void => {
    if (over) return;
    over = true;
    signal?.removeEventListener('abort', onAbort);
    finished();
  };
  const onAbort = (): void => {
    // The timeout fired after headers were sent: all we can do is reset.
    ex.flags = 'UT';
    abort();
    res.destroy();
    finish();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  // The client went away mid-response: release the upstream exchange
  // instead of leaving it paused (its connection and breaker slot held).
  res.onClose(() => {
    if (over) return;
    ex.flags = 'DC';
    abort();
    finish();
  });
  const body = up.body;
  const resume = (): void => body.resume();
  body.pipe({
    data: (c) => {
      ex.responseBytes += c.length;
      if (res.write(c)) return true;
      res.onDrain(resume);
      return false;
    },
    end: (trailers) => {
      if (over) return;
      res.end(undefined, trailers ? cleanHeaders(trailers) : undefined);
      finish();
    },
    error: () => {
      if (over) return;
      res.destroy();
      finish();
    },
  });
}

/** Fields a 101 never forwards: the switch is stated by the waypoint itself. */
const SWITCH_SKIP: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
]);

/**
 * The app switched protocols (a WebSocket's 101): the client gets the 101,
 * then both connections are relayed byte for byte until both sides end,
 * with half-closes passed on and the downstream idle timeout applied. The
 * exchange is counted when the relay ends (status 101, the bytes each way,
 * the whole relay as its duration), as Envoy reports an upgraded stream.
 */
function relaySwitched(
  res101: UpstreamResponse,
  up: Upgraded,
  abort: () => void,
  res: DownstreamResponse,
  ex: Exchange,
  responseFilters: readonly RouteFilter[],
  flags: string,
  finished: () => void,
): void {
  if (res.upgrade === undefined || res.headersSent) {
    // Only an HTTP/1.1 client's upgrade is ever sent on (forward.ts).
    abort();
    res.destroy();
    finished();
    return;
  }
  let lines: FieldLines;
  if (responseFilters.length === 0 && res101.lines !== undefined) lines = res101.lines();
  else {
    const headers = res101.headers;
    applyResponseFilters(responseFilters, headers);
    lines = new FieldLines(fieldLines(headers, SWITCH_SKIP));
  }
  ex.status = 101;
  ex.flags = flags;
  const down = res.upgrade(lines, up.protocol);
  const a = down.stream;
  const b = up.stream;
  let open = 2;
  let over = false;
  const done = (): void => {
    if (over) return;
    over = true;
    finished();
  };
  const fail = (): void => {
    a.destroy();
    // A reset the app's ztunnel passes on (RST_STREAM CANCEL on HBONE), not a clean end.
    abort();
    done();
  };
  const closed = (other: Duplex) => (): void => {
    // One side is gone: the other ends once its bytes are out.
    if (!other.destroyed) other.end();
    if (--open === 0) done();
  };
  relayOneWay(a, b, (n) => {
    ex.requestBytes += n;
  });
  relayOneWay(b, a, (n) => {
    ex.responseBytes += n;
  });
  a.on('error', fail);
  b.on('error', fail);
  a.once('close', closed(b));
  b.once('close', closed(a));
  const idle = a as Duplex & { setTimeout?: (ms: number, cb?: () => void) => unknown };
  if (typeof idle.setTimeout === 'function' && down.idleTimeoutMs > 0)
    idle.setTimeout(down.idleTimeoutMs, fail);
  if (up.early !== undefined && up.early.length > 0) {
    ex.responseBytes += up.early.length;
    a.write(up.early);
  }
  if (down.pending !== undefined && down.pending.length > 0) {
    ex.requestBytes += down.pending.length;
    b.write(down.pending);
  }
  a.resume();
  b.resume();
}

/** Bytes from `from` to `to` with backpressure; `from`'s end ends `to`. */
function relayOneWay(from: Duplex, to: Duplex, count: (n: number) => void): void {
  from.on('data', (c: Buffer) => {
    count(c.length);
    if (!to.write(c)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => {
    if (!to.destroyed) to.end();
  });
}
