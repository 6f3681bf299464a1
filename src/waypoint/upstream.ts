/**
 * Upstream attempts: open streams through the injected connector (the
 * waypoint binary: HBONE to the endpoint's ztunnel; tests: plain TCP), send
 * the request as HTTP/1.1 or as h2c (gRPC and other HTTP/2 traffic), and
 * resolve once response headers arrive. Response bodies are delivered to a
 * {@link BodySink} with backpressure.
 *
 * Connections are kept alive per (endpoint, port, protocol), as Envoy's
 * upstream pools do: a new TCP handshake (or a new HBONE CONNECT stream plus
 * its 200) per request cost more CPU than the whole L7 pipeline. HTTP/1.1
 * goes through ambit's own keep-alive pool (h1/client.ts); HTTP/2
 * multiplexes every request on one session per key. A request that fails
 * on a reused keep-alive connection before any response (the app closed it
 * while idle) is sent once more on a fresh connection when its body is
 * replayable, so keep-alive never surfaces as a spurious 503.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants as h2c,
  connect as h2connect,
} from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { type CancelSignal, dialSignal } from './cancel.js';
import { H1Pool } from './h1/client.js';
import type { FieldLines } from './h1/serialize.js';
import { ownedWrites } from './owned-writes.js';
import type { AttemptOutcome } from './resilience/index.js';
import type { EndpointInfo, ServiceKey } from './types.js';

/** Where an attempt goes. */
export interface UpstreamTarget {
  readonly service: ServiceKey;
  readonly servicePort: number;
  readonly endpoint: EndpointInfo;
  /** Endpoint target port for `servicePort`. */
  readonly port: number;
}

/** Opens byte streams to endpoints (HBONE in the waypoint binary, TCP in unit tests). */
export interface UpstreamConnector {
  connect(target: UpstreamTarget, signal: AbortSignal): Promise<Duplex>;
}

/** Wire protocol towards the app: HTTP/1.1, or HTTP/2 cleartext (gRPC needs it). */
export type UpstreamProtocol = 'http1' | 'h2';

interface RequestBase {
  readonly method: string;
  readonly path: string;
  /** Buffered body (replayable) or a stream (single attempt). */
  readonly body: Buffer | { readonly head: readonly Buffer[]; readonly rest: Readable };
  /**
   * HTTP/1.1 only: ask the app to switch to this protocol (`Upgrade`, sent
   * with `Connection: upgrade`); a 101 then hands over the connection
   * ({@link UpstreamResponse.upgraded}).
   */
  readonly upgrade?: string;
}

/**
 * An upstream request. HTTP/1.1 ones may carry their fields as lines built
 * from checked input ({@link FieldLines}: the fast path with no filters).
 */
export type UpstreamRequest =
  | (RequestBase & { readonly protocol: 'h2'; readonly headers: OutgoingHttpHeaders })
  | (RequestBase & {
      /** Default http1. */
      readonly protocol?: 'http1';
      readonly headers: OutgoingHttpHeaders | FieldLines;
    });

/** Where a response body goes. */
export interface BodySink {
  /** A piece of body; false asks the source to wait for `resume()`. */
  data(chunk: Buffer): boolean;
  /** The body is complete; `trailers` from HTTP/2 (gRPC status). */
  end(trailers: IncomingHttpHeaders | undefined): void;
  /** The body was cut short. */
  error(err: Error): void;
}

/** A response body, read once. */
export interface ResponseBody {
  pipe(sink: BodySink): void;
  /** After `data` returned false: deliver more. */
  resume(): void;
  /** Reads and drops the body (a response that is retried instead). */
  discard(): void;
}

/** A response whose headers arrived; the body streams. */
export interface UpstreamResponse {
  readonly statusCode: number;
  /** End-to-end fields only (no hop-by-hop ones); a fresh object the caller may change. */
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
  /**
   * HTTP/1.1 only: the same fields as checked wire lines, without
   * Content-Length, for a response nothing changes (no object in between).
   */
  lines?(): FieldLines;
  /** HTTP/1.1 only: the Content-Length the app sent. */
  readonly contentLength?: number | undefined;
  /** After a 101 to an upgrade request: the connection, now in the new protocol. */
  readonly upgraded?: Upgraded;
}

/**
 * An upstream connection that switched protocols: the app's side of the
 * new protocol (paused, out of any pool), the bytes the app sent after its
 * 101, and the protocol its `Upgrade` named.
 */
export interface Upgraded {
  readonly stream: Duplex;
  readonly early: Buffer | undefined;
  readonly protocol: string;
}

export type AttemptResult =
  | { readonly kind: 'response'; readonly res: UpstreamResponse; readonly abort: () => void }
  | {
      readonly kind: 'failed';
      readonly outcome: Exclude<AttemptOutcome, { kind: 'status' }>;
      readonly error?: unknown;
    };

/** Keep-alive limits per upstream key. */
export interface UpstreamPoolOptions {
  /** Open HTTP/1.1 connections per key; more requests queue. Default 256. */
  readonly maxSockets?: number;
  /** Idle HTTP/1.1 connections kept per key. Default 32. */
  readonly maxIdle?: number;
  /** Idle time before a pooled connection or HTTP/2 session closes, ms. Default 30000. */
  readonly idleTimeoutMs?: number;
}

/** Dial deadline when the attempt has no timeout of its own, ms (ztunnel's). */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A string derived from an endpoint and a port, built once per pair rather
 * than on every request: endpoints are config objects, replaced (never
 * changed) by updates, so the cache follows them out of memory.
 */
export function perEndpointPort(
  build: (ep: EndpointInfo, port: number) => string,
): (ep: EndpointInfo, port: number) => string {
  const cache = new WeakMap<EndpointInfo, Map<number, string>>();
  return (ep, port) => {
    let byPort = cache.get(ep);
    if (byPort === undefined) {
      byPort = new Map();
      cache.set(ep, byPort);
    }
    let s = byPort.get(port);
    if (s === undefined) {
      s = build(ep, port);
      byPort.set(port, s);
    }
    return s;
  };
}

const poolKey = perEndpointPort((ep, port) => `${ep.uid}|${ep.address}|${port}`);

/** Errors from the connector (not from the exchange), so they classify as connect-failure. */
const connectErrors = new WeakSet<object>();

interface H2Entry {
  session?: ClientHttp2Session;
  pending?: Promise<ClientHttp2Session>;
}

/**
 * Keep-alive upstream connections per (endpoint, target port, protocol).
 * Unused keys are swept when the map grows, so endpoint churn does not leak.
 */
export class UpstreamPool {
  readonly h1: H1Pool;
  private readonly h2 = new Map<string, H2Entry>();
  private readonly idleTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly connector: UpstreamConnector,
    opts: UpstreamPoolOptions = {},
  ) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
    this.h1 = new H1Pool({
      ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}),
      ...(opts.maxIdle !== undefined ? { maxIdle: opts.maxIdle } : {}),
      idleTimeoutMs: this.idleTimeoutMs,
    });
  }

  static key(t: UpstreamTarget): string {
    return poolKey(t.endpoint, t.port);
  }

  /**
   * Opens a stream to `target` through the connector (connect failures are
   * marked). It ends at the connect timeout or when `signal` aborts.
   */
  dial(target: UpstreamTarget, signal: CancelSignal | undefined): Promise<Duplex> {
    return this.connector
      .connect(target, dialSignal(signal, CONNECT_TIMEOUT_MS))
      .catch((err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        connectErrors.add(error);
        throw error;
      });
  }

  /** A live HTTP/2 session to the target, opening one if needed. */
  async session(target: UpstreamTarget, authority: string): Promise<ClientHttp2Session> {
    const key = UpstreamPool.key(target);
    let e = this.h2.get(key);
    if (e?.session && !e.session.closed && !e.session.destroyed) return e.session;
    if (e?.pending !== undefined) return e.pending;
    if (!e) {
      if (this.h2.size >= 64)
        for (const [k, v] of this.h2) if (!v.session && !v.pending) this.h2.delete(k);
      e = {};
      this.h2.set(key, e);
    }
    const entry = e;
    entry.session = undefined;
    const pending = (async () => {
      // Shared by every request waiting for this session: one request's
      // timeout or departure must not fail the others (sendH2 stops waiting).
      const socket = await this.dial(target, undefined);
      const session = h2connect(`http://${authority}`, {
        createConnection: () => ownedWrites(socket) as never,
      });
      const forget = () => {
        if (entry.session === session) entry.session = undefined;
      };
      session.on('error', forget);
      session.on('close', forget);
      session.on('goaway', forget);
      session.setTimeout(this.idleTimeoutMs, () => session.close());
      // Pooled idle sessions must not keep the process alive.
      session.unref();
      if (this.closed) session.destroy();
      return session;
    })();
    entry.pending = pending;
    try {
      entry.session = await pending;
      return entry.session;
    } finally {
      entry.pending = undefined;
    }
  }

  /** Closes every pooled connection (waypoint shutdown). */
  close(): void {
    this.closed = true;
    this.h1.close();
    for (const e of this.h2.values()) e.session?.destroy();
    this.h2.clear();
  }
}

/**
 * Sends one attempt; `onResult` gets the response head or the failure,
 * once, possibly before this returns. `signal` aborts it (per-try or
 * request timeout). HTTP/1.1 calls back in the tick the head is parsed
 * (h1/client.ts), and replays a request that met a stale keep-alive
 * connection.
 */
export function sendAttempt(
  pool: UpstreamPool,
  target: UpstreamTarget,
  req: UpstreamRequest,
  signal: CancelSignal | undefined,
  onResult: (r: AttemptResult) => void,
): void {
  if (signal?.aborted) {
    onResult({ kind: 'failed', outcome: { kind: 'timeout' } });
    return;
  }
  if (req.protocol === 'h2') {
    void sendH2(pool, target, req, signal).then(onResult);
    return;
  }
  pool.h1.send(UpstreamPool.key(target), (s) => pool.dial(target, s), req, signal, onResult);
}

/** {@link sendAttempt} as a promise (mirrors, which nobody waits on closely). */
export function attempt(
  pool: UpstreamPool,
  target: UpstreamTarget,
  req: UpstreamRequest,
  signal: CancelSignal | undefined,
): Promise<AttemptResult> {
  return new Promise((resolve) => sendAttempt(pool, target, req, signal, resolve));
}

function failure(
  signal: CancelSignal | undefined,
  error: unknown,
  protocolError = false,
): Extract<AttemptResult, { kind: 'failed' }> {
  if (signal?.aborted) return { kind: 'failed', outcome: { kind: 'timeout' }, error };
  if (error && typeof error === 'object' && connectErrors.has(error))
    return { kind: 'failed', outcome: { kind: 'connect-failure' }, error };
  if (protocolError) return { kind: 'failed', outcome: { kind: 'protocol-error' }, error };
  return { kind: 'failed', outcome: { kind: 'reset' }, error };
}

function writeBody(req: UpstreamRequest, out: NodeJS.WritableStream): void {
  if (Buffer.isBuffer(req.body)) out.end(req.body);
  else {
    for (const chunk of req.body.head) out.write(chunk);
    req.body.rest.pipe(out);
  }
}

/** A Readable (an HTTP/2 stream) as a {@link ResponseBody}. */
export function readableBody(
  r: Readable,
  trailers: () => IncomingHttpHeaders | undefined,
): ResponseBody {
  return {
    pipe(sink) {
      let done = false;
      r.on('data', (c: Buffer) => {
        if (!sink.data(c)) r.pause();
      });
      r.once('end', () => {
        done = true;
        sink.end(trailers());
      });
      r.once('error', (err: Error) => {
        if (done) return;
        done = true;
        sink.error(err);
      });
      r.once('close', () => {
        if (done || r.readableEnded) return;
        done = true;
        sink.error(new Error('upstream stream closed before its end'));
      });
    },
    resume: () => r.resume(),
    discard: () => r.resume(),
  };
}

/** `p`, or a rejection as soon as `signal` aborts (p goes on for others). */
function untilAborted<T>(p: Promise<T>, signal: CancelSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Request headers that HTTP/2 forbids or that become pseudo-headers. */
const H2_DROP = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

function sendH2(
  pool: UpstreamPool,
  target: UpstreamTarget,
  req: Extract<UpstreamRequest, { protocol: 'h2' }>,
  signal: CancelSignal | undefined,
): Promise<AttemptResult> {
  const authority = String(req.headers.host ?? 'localhost');
  return untilAborted(pool.session(target, authority), signal).then(
    (session) =>
      new Promise<AttemptResult>((resolve) => {
        let settled = false;
        const settle = (r: AttemptResult) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const headers: OutgoingHttpHeaders = {
          ':method': req.method,
          ':path': req.path,
          ':authority': authority,
          ':scheme': 'http',
        };
        for (const [k, v] of Object.entries(req.headers)) if (!H2_DROP.has(k)) headers[k] = v;
        let s: ClientHttp2Stream;
        try {
          s = session.request(headers, { endStream: false });
        } catch (error) {
          settle(failure(signal, error));
          return;
        }
        // Only the stream is cancelled: the session is shared.
        const kill = () => s.close(h2c.NGHTTP2_CANCEL);
        const onAbort = () => {
          kill();
          settle({ kind: 'failed', outcome: { kind: 'timeout' } });
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        let trailers: IncomingHttpHeaders | undefined;
        s.on('trailers', (t: IncomingHttpHeaders) => {
          trailers = t;
        });
        s.on('error', (error) => settle(failure(signal, error)));
        s.on('close', () => settle({ kind: 'failed', outcome: { kind: 'reset' } }));
        s.on('response', (h) => {
          const statusCode = Number(h[':status'] ?? 502);
          const out: IncomingHttpHeaders = {};
          for (const [k, v] of Object.entries(h))
            if (!k.startsWith(':') && !H2_DROP.has(k)) out[k] = v as string;
          settle({
            kind: 'response',
            res: { statusCode, headers: out, body: readableBody(s, () => trailers) },
            abort: kill,
          });
        });
        writeBody(req, s);
      }),
    (error: unknown) => failure(signal, error),
  );
}
