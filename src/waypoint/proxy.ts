/**
 * The waypoint's HTTP engine. {@link WaypointProxy.handle} takes one
 * tunnelled byte stream (the inner stream of an HBONE CONNECT, or a plain
 * socket in tests) plus what the tunnel knows (target service, port, peer
 * identity), sniffs the protocol from the first bytes, and serves it:
 * HTTP/1.1 through ambit's own lean engine (h1/: bounded heads → 431,
 * malformed requests → 400, a headers timeout against slowloris), h2c
 * through node:http2 (HTTP/2 protocol errors → GOAWAY), anything else as
 * opaque TCP to an endpoint.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  createServer as createH2,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { logger } from '../telemetry/logger.js';
import type { ConfigStore } from './config.js';
import { type ConnectionInfo, type DownstreamResponse, forward } from './forward.js';
import type { HeaderList, RequestHead } from './h1/parse.js';
import { type H1Response, H1Server } from './h1/server.js';
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

export interface WaypointProxyOptions {
  readonly store: ConfigStore;
  readonly connector: UpstreamConnector;
  /** Upstream keep-alive limits. */
  readonly upstreamPool?: UpstreamPoolOptions;
  readonly metrics?: WaypointMetrics;
  /** The waypoint's own locality, for locality-preferring LB. */
  readonly locality?: Locality;
  /** Largest request header block, bytes. Default 16384 (over it: 431). */
  readonly maxHeaderBytes?: number;
  /** Most request header fields. Default 100 (over it: 431). */
  readonly maxHeaderFields?: number;
  /** Time to receive a complete request head, ms. Default 10000. */
  readonly headersTimeoutMs?: number;
  /** Idle time before a downstream connection is closed, ms. Default 300000. */
  readonly idleTimeoutMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');
const METHOD = /^[A-Z]{1,20}( |$)/;

export type SniffedProtocol = 'h2' | 'http1' | 'tcp';

/** Protocol from the first bytes of a stream. */
export function sniff(first: Buffer): SniffedProtocol {
  const n = Math.min(first.length, H2_PREFACE.length);
  if (n > 0 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n)) && n >= 4) return 'h2';
  if (METHOD.test(first.subarray(0, 21).toString('latin1'))) return 'http1';
  return 'tcp';
}

/** Request fields as node:http gives them: lowercase keys, duplicates joined, set-cookie a list. */
function headerObject(list: HeaderList): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = `${prev}, ${value}`;
  }
  return out;
}

export class WaypointProxy {
  private readonly rt: Runtime;
  private readonly h1: H1Server<ConnectionInfo>;
  private readonly h2: Http2Server;
  private readonly conns = new WeakMap<object, ConnectionInfo>();
  private readonly open = new Set<Duplex>();
  private pendingH2: ConnectionInfo | undefined;

  constructor(opts: WaypointProxyOptions) {
    const clock = opts.clock ?? systemClock;
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
      log: logger('waypoint'),
    };
    this.h1 = new H1Server({
      limits: {
        maxBytes: opts.maxHeaderBytes ?? 16384,
        maxFields: opts.maxHeaderFields ?? 100,
      },
      headersTimeoutMs: opts.headersTimeoutMs ?? 10_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 300_000,
      onRequest: (head, body, res, conn) => this.serveH1(conn, head, body, res),
      onClientError: (status, reason) =>
        this.rt.log.debug({ status, reason }, 'bad HTTP/1.1 request'),
    });
    this.h2 = createH2({
      maxSessionMemory: 10,
      settings: { maxHeaderListSize: opts.maxHeaderBytes ?? 16384 },
    });
    this.h2.setTimeout(opts.idleTimeoutMs ?? 300_000);
    this.h2.on('session', (session: Http2Session) => {
      if (this.pendingH2) this.conns.set(session, this.pendingH2);
      session.on('error', (err) => this.rt.log.debug({ err }, 'http2 session error'));
    });
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const conn = this.conns.get(req.stream.session as object);
      req.stream.on('error', () => {});
      if (conn) this.serveH2(conn, req, res);
      else res.stream.close();
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
    const down = {
      method: head.method,
      url: head.target,
      headers: headerObject(head.headers),
      httpVersionMajor: 1,
      ...(body ? { body } : {}),
    };
    forward(this.rt, conn, down, res).catch((err: unknown) => {
      this.rt.log.error({ err }, 'request handler failed');
      res.destroy();
    });
  }

  private serveH2(conn: ConnectionInfo, req: Http2ServerRequest, res: Http2ServerResponse): void {
    const down = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      httpVersionMajor: 2,
      // A HEADERS frame with END_STREAM: no body to read.
      ...(req.stream.endAfterHeaders ? {} : { body: req as unknown as Readable }),
    };
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
    };
    forward(this.rt, conn, down, out).catch((err: unknown) => {
      this.rt.log.error({ err }, 'request handler failed');
      out.destroy();
    });
  }

  /** Serves one tunnelled stream. The stream is owned by the proxy from here on. */
  handle(stream: Duplex, conn: ConnectionInfo): void {
    this.open.add(stream);
    stream.on('close', () => this.open.delete(stream));
    stream.on('error', (err) => this.rt.log.debug({ err }, 'downstream error'));
    const appProtocol = this.rt.store
      .snapshot()
      .services.get(conn.service)
      ?.ports.get(conn.port)?.appProtocol;
    if (appProtocol === 'tcp') {
      this.tcp(stream, conn);
      return;
    }
    stream.once('data', (first: Buffer) => {
      const proto = sniff(first);
      if (proto === 'http1') {
        this.h1.handle(stream, conn, first);
        return;
      }
      stream.pause();
      stream.unshift(first);
      if (proto === 'tcp') return this.tcp(stream, conn);
      if (proto === 'h2') {
        this.pendingH2 = conn;
        try {
          this.h2.emit('connection', ownedWrites(stream));
        } finally {
          this.pendingH2 = undefined;
        }
      }
    });
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
    this.rt.pool.close();
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.h1.closeAll();
    this.h2.close(() => {});
  }
}
