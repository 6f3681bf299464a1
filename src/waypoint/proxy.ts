/**
 * The waypoint's HTTP engine. {@link WaypointProxy.handle} takes one
 * tunnelled byte stream (the inner stream of an HBONE CONNECT, or a plain
 * socket in tests) plus what the tunnel knows (target service, port, peer
 * identity), sniffs the protocol from the first bytes, and serves it:
 * HTTP/1.1 through ambit's own lean engine (h1/: bounded heads → 431,
 * malformed requests → 400, a headers timeout against slowloris), h2c
 * through node:http2 (heads over the limits → 431, protocol errors → GOAWAY
 * with RFC 9113's code and the tunnel closed), anything else as opaque TCP
 * to an endpoint. Limits: downstream.ts, docs/waypoint.md.
 */
import {
  createServer as createH2,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  constants as h2constants,
} from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { logger } from '../telemetry/logger.js';
import type { ConfigStore } from './config.js';
import {
  CLOSE_LINGER_MS,
  closeGracefully,
  DEFAULT_DOWNSTREAM_LIMITS,
  type DownstreamLimits,
  headOverLimits,
  watchGoaway,
} from './downstream.js';
import { type ConnectionInfo, forward } from './forward.js';
import type { RequestHead } from './h1/parse.js';
import { type H1Response, H1Server } from './h1/server.js';
import { type DownstreamResponse, ListDownstream, ObjectDownstream } from './messages.js';
import type { WaypointMetrics } from './metrics.js';
import { ownedWrites } from './owned-writes.js';
import {
  CircuitBreakers,
  type Clock,
  LoadBalancer,
  OutlierDetector,
  RateLimiter,
  systemClock,
} from './resilience/index.js';
import type { Runtime } from './runtime.js';
import type { Locality } from './types.js';
import { type UpstreamConnector, UpstreamPool, type UpstreamPoolOptions } from './upstream.js';

/** Engine options; the downstream limits default to {@link DEFAULT_DOWNSTREAM_LIMITS}. */
export interface WaypointProxyOptions extends Partial<DownstreamLimits> {
  readonly store: ConfigStore;
  readonly connector: UpstreamConnector;
  /** Upstream keep-alive limits. */
  readonly upstreamPool?: UpstreamPoolOptions;
  readonly metrics?: WaypointMetrics;
  /** The waypoint's own locality, for locality-preferring LB. */
  readonly locality?: Locality;
  readonly clock?: Clock;
  readonly random?: () => number;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');
const METHOD = /^[A-Z]{1,20}( |$)/;

export type SniffedProtocol = 'h2' | 'http1' | 'tcp';

/**
 * Protocol from the first bytes of a stream; undefined while they are still
 * a prefix of the HTTP/2 preface's "PRI " (one more byte decides).
 */
export function sniff(first: Buffer): SniffedProtocol | undefined {
  const n = Math.min(first.length, H2_PREFACE.length);
  if (n > 0 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n)))
    return n >= 4 ? 'h2' : undefined;
  if (METHOD.test(first.subarray(0, 21).toString('latin1'))) return 'http1';
  return 'tcp';
}

/**
 * Port protocols served as HTTP only: bytes that are neither HTTP/1.1 nor
 * HTTP/2 get a 400, as Envoy's HTTP codec answers on an `http` port.
 */
const HTTP_ONLY: ReadonlySet<string> = new Set([
  'http',
  'http2',
  'h2c',
  'grpc',
  'grpc-web',
  'kubernetes.io/h2c',
  'kubernetes.io/ws',
]);
/** Port protocols passed through opaquely, never parsed. Unset or other: sniffed. */
const OPAQUE: ReadonlySet<string> = new Set(['tcp', 'tls', 'https', 'mongo', 'mysql', 'redis']);

/**
 * nghttp2 reports some connection errors to Node (not as its own GOAWAY),
 * and Node then closes with INTERNAL_ERROR. RFC 9113 names the right codes:
 * a bad preface or first frame (§3.4) is PROTOCOL_ERROR, a flood is
 * ENHANCE_YOUR_CALM. Keys are nghttp2's library error numbers.
 */
const NGHTTP2_GOAWAY_CODE: ReadonlyMap<number, number> = new Map([
  [-505, h2constants.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_PROTO
  [-903, h2constants.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_BAD_CLIENT_MAGIC
  [-904, h2constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_FLOODED
  [-905, h2constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_TOO_MANY_SETTINGS
  [-906, h2constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
]);

export class WaypointProxy {
  private readonly rt: Runtime;
  private readonly h1: H1Server<ConnectionInfo>;
  private readonly h2: Http2Server;
  private readonly limits: DownstreamLimits;
  private readonly conns = new WeakMap<object, ConnectionInfo>();
  /** The h2c session on a tunnel, to close it with GOAWAY when idle or after an error GOAWAY. */
  private readonly sessions = new WeakMap<object, Http2Session>();
  private readonly open = new Set<Duplex>();
  private pendingH2: { conn: ConnectionInfo; stream: Duplex } | undefined;

  constructor(opts: WaypointProxyOptions) {
    const clock = opts.clock ?? systemClock;
    const d = DEFAULT_DOWNSTREAM_LIMITS;
    const limits: DownstreamLimits = {
      maxHeaderBytes: opts.maxHeaderBytes ?? d.maxHeaderBytes,
      maxHeaderFields: opts.maxHeaderFields ?? d.maxHeaderFields,
      headersTimeoutMs: opts.headersTimeoutMs ?? d.headersTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? d.idleTimeoutMs,
      maxBufferedBodyBytes: opts.maxBufferedBodyBytes ?? d.maxBufferedBodyBytes,
    };
    this.limits = limits;
    this.rt = {
      store: opts.store,
      connector: opts.connector,
      pool: new UpstreamPool(opts.connector, opts.upstreamPool),
      breakers: new CircuitBreakers(),
      outlier: new OutlierDetector(clock),
      limiter: new RateLimiter(clock),
      lb: new LoadBalancer(),
      active: new Map(),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      clock,
      random: opts.random ?? Math.random,
      ...(opts.locality ? { locality: opts.locality } : {}),
      maxBufferedBodyBytes: limits.maxBufferedBodyBytes,
      log: logger('waypoint'),
    };
    this.h1 = new H1Server({
      limits: { maxBytes: limits.maxHeaderBytes, maxFields: limits.maxHeaderFields },
      headersTimeoutMs: limits.headersTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
      onRequest: (head, body, res, conn) => this.serveH1(conn, head, body, res),
      onClientError: (status, reason, conn) => {
        this.rt.log.debug({ status, reason }, 'bad HTTP/1.1 request');
        this.recordRefused(conn, status);
      },
    });
    this.h2 = createH2({
      maxSessionMemory: 10,
      // Room over the limits, so our own check (in 'request') answers 431 as
      // for HTTP/1.1; only far over them node:http2 resets the stream itself
      // (ENHANCE_YOUR_CALM).
      maxHeaderListPairs: limits.maxHeaderFields + 64,
      settings: { maxHeaderListSize: 2 * limits.maxHeaderBytes },
    });
    this.h2.on('session', (session: Http2Session) => {
      const pending = this.pendingH2;
      if (pending) {
        this.conns.set(session, pending.conn);
        this.sessions.set(pending.stream, session);
      }
      session.on('error', (err) => this.rt.log.debug({ err }, 'http2 session error'));
      const destroy = session.destroy.bind(session);
      session.destroy = ((err?: Error, code?: number) => {
        const mapped = NGHTTP2_GOAWAY_CODE.get((err as { errno?: number } | undefined)?.errno ?? 0);
        return destroy(err, code ?? mapped);
      }) as Http2Session['destroy'];
    });
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const conn = this.conns.get(req.stream.session as object);
      req.stream.on('error', () => {});
      if (!conn) return void res.stream.close();
      // Also holds a client that never acknowledged our SETTINGS, for which
      // node:http2 enforces no header list size at all.
      if (headOverLimits(req.rawHeaders, limits)) {
        const body = 'Request Header Fields Too Large\n';
        res.writeHead(431, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
        this.recordRefused(conn, 431, req.method);
        return;
      }
      this.serveH2(conn, req, res);
    });
  }

  /** A request the engine refused itself: counted with Envoy's flag DPE (downstream protocol error). */
  private recordRefused(conn: ConnectionInfo, status: number, method = '-'): void {
    this.rt.metrics?.recordRequest({
      ...(conn.peerIdentity ? { sourcePrincipal: conn.peerIdentity } : {}),
      sourceIp: conn.sourceIp,
      destinationService: conn.service,
      method,
      path: '-',
      authority: '-',
      protocol: 'http',
      status,
      flags: 'DPE',
      durationMs: 0,
      requestBytes: 0,
      responseBytes: 0,
    });
  }

  /** Shared runtime (resilience state), for admin dumps. */
  get runtime(): Runtime {
    return this.rt;
  }

  private serveH1(
    conn: ConnectionInfo,
    head: RequestHead,
    body: Readable | undefined,
    res: H1Response,
  ): void {
    const down = new ListDownstream(head.method, head.target, head.headers, body, head.upgrade);
    forward(this.rt, conn, down, res)?.catch((err: unknown) => {
      this.rt.log.error({ err }, 'request handler failed');
      res.destroy();
    });
  }

  private serveH2(conn: ConnectionInfo, req: Http2ServerRequest, res: Http2ServerResponse): void {
    const down = new ObjectDownstream(
      req.method ?? 'GET',
      req.url ?? '/',
      req.headers,
      // A HEADERS frame with END_STREAM: no body to read.
      req.stream.endAfterHeaders ? undefined : (req as unknown as Readable),
    );
    const out: DownstreamResponse = {
      get headersSent() {
        return res.headersSent;
      },
      writeHead: (s, h) => {
        res.writeHead(s, h as never);
      },
      write: (c) => res.write(c),
      onDrain: (cb) => {
        res.once('drain', cb);
      },
      end: (b, trailers) => {
        if (trailers && Object.keys(trailers).length > 0) res.addTrailers(trailers as never);
        if (b === undefined) res.end();
        else res.end(b);
      },
      destroy: () => res.stream.close(0x2),
      get aborted() {
        return res.stream.destroyed || (res.stream.closed && !res.writableEnded);
      },
      onClose: (cb) => {
        res.stream.once('close', () => {
          if (!res.writableEnded) cb();
        });
      },
    };
    forward(this.rt, conn, down, out)?.catch((err: unknown) => {
      this.rt.log.error({ err }, 'request handler failed');
      out.destroy();
    });
  }

  /** Serves one tunnelled stream. The stream is owned by the proxy from here on. */
  handle(stream: Duplex, conn: ConnectionInfo): void {
    this.open.add(stream);
    stream.on('close', () => this.open.delete(stream));
    stream.on('error', (err) => this.rt.log.debug({ err }, 'downstream error'));
    const appProtocol =
      this.rt.store.snapshot().services.get(conn.service)?.ports.get(conn.port)?.appProtocol ?? '';
    if (OPAQUE.has(appProtocol)) {
      this.tcp(stream, conn);
      return;
    }
    const httpOnly = HTTP_ONLY.has(appProtocol);
    // Until the protocol is known (a tunnel that never sends a byte), and for
    // h2c, the tunnel's own inactivity timer closes it; HTTP/1.1 keeps its
    // own deadlines (h1/server.ts).
    const idle = this.idleTimer(stream);
    let seen: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      const proto = sniff(seen);
      if (proto === undefined) return;
      stream.off('data', onData);
      if (proto === 'http1' || (proto === 'tcp' && httpOnly)) {
        // Bytes that are not HTTP on an HTTP port: the parser answers 400.
        idle.cancel();
        this.h1.handle(stream, conn, seen);
        return;
      }
      stream.pause();
      stream.unshift(seen);
      if (proto === 'tcp') {
        // Opaque TCP keeps its connections as long as the app does.
        idle.cancel();
        return this.tcp(stream, conn);
      }
      const wrapped = ownedWrites(stream);
      // After a GOAWAY for an error, close the connection (RFC 9113 §5.4.1;
      // node:http2 only stops reading).
      watchGoaway(wrapped, () =>
        setImmediate(() => this.sessions.get(stream)?.destroy() ?? closeGracefully(stream)),
      );
      this.pendingH2 = { conn, stream };
      try {
        this.h2.emit('connection', wrapped);
      } finally {
        this.pendingH2 = undefined;
      }
    };
    stream.on('data', onData);
  }

  /**
   * Closes a tunnel with no bytes either way for the idle timeout: GOAWAY
   * (NO_ERROR) on an h2c session, end of stream otherwise. Uses the stream's
   * own inactivity timer (an HBONE tunnel's Http2Stream, or a net.Socket).
   */
  private idleTimer(stream: Duplex): { cancel(): void } {
    const s = stream as Duplex & { setTimeout?: (ms: number) => unknown };
    if (typeof s.setTimeout !== 'function') return { cancel: () => {} };
    const onTimeout = () => {
      this.rt.log.debug('closing an idle downstream connection');
      const session = this.sessions.get(stream);
      if (session && !session.destroyed) {
        session.close();
        // Streams still open (a backend that never answers) get a bound.
        setTimeout(() => session.destroy(), CLOSE_LINGER_MS).unref();
      } else closeGracefully(stream);
    };
    s.setTimeout(this.limits.idleTimeoutMs);
    stream.on('timeout', onTimeout);
    return {
      cancel: () => {
        s.setTimeout?.(0);
        stream.off('timeout', onTimeout);
      },
    };
  }

  /** Opaque TCP to one endpoint of the service, with istio_tcp_* metrics. */
  private tcp(stream: Duplex, conn: ConnectionInfo): void {
    const snap = this.rt.store.snapshot();
    const endpoints = snap.endpoints.get(conn.service)?.endpoints ?? [];
    const ep = this.rt.lb.pick(conn.service, endpoints, {
      type: 'RoundRobin',
      port: conn.port,
      isEjected: (e) => this.rt.outlier.isEjected(e.uid),
      active: () => 0,
      ...(this.rt.locality ? { locality: this.rt.locality } : {}),
    });
    if (!ep) {
      stream.destroy();
      return;
    }
    const rec = this.rt.metrics?.recordTcp({
      ...(conn.peerIdentity ? { sourcePrincipal: conn.peerIdentity } : {}),
      sourceIp: conn.sourceIp,
      destinationService: conn.service,
      ...(ep.identity ? { destinationPrincipal: ep.identity } : {}),
    });
    let sent = 0;
    let received = 0;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 10_000);
    this.rt.connector
      .connect(
        {
          service: conn.service,
          servicePort: conn.port,
          endpoint: ep,
          port: ep.ports.get(conn.port) ?? conn.port,
        },
        ac.signal,
      )
      .then(
        (up) => {
          clearTimeout(timer);
          up.on('error', () => stream.destroy());
          stream.on('data', (c: Buffer) => {
            received += c.length;
          });
          up.on('data', (c: Buffer) => {
            sent += c.length;
          });
          up.on('close', () => {
            stream.destroy();
            rec?.close(sent, received);
          });
          stream.on('close', () => up.destroy());
          stream.pipe(up);
          up.pipe(stream);
          stream.resume();
        },
        () => {
          clearTimeout(timer);
          stream.destroy();
        },
      );
  }

  /** Closes every downstream connection (use with Drain for graceful shutdown). */
  close(): void {
    this.rt.metrics?.flush();
    this.rt.pool.close();
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.h1.closeAll();
    this.h2.close(() => {});
  }
}
