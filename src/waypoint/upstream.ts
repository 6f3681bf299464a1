/**
 * Upstream attempts: open streams through the injected connector (the
 * waypoint binary: HBONE to the endpoint's ztunnel; tests: plain TCP), send
 * the request as HTTP/1.1 or as h2c (gRPC and other HTTP/2 traffic), and
 * resolve once response headers arrive.
 *
 * Connections are kept alive per (endpoint, port, protocol), as Envoy's
 * upstream pools do: a new TCP handshake (or a new HBONE CONNECT stream plus
 * its 200) per request cost more CPU than the whole L7 pipeline. HTTP/1.1
 * goes through a bounded keep-alive `http.Agent` whose sockets come from the
 * connector; HTTP/2 multiplexes every request on one session per key. A
 * request that fails on a reused keep-alive connection before any response
 * (the app closed it while idle) is sent once more on a fresh connection when
 * its body is replayable, so keep-alive never surfaces as a spurious 503.
 */
import {
  Agent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants as h2c,
  connect as h2connect,
} from 'node:http2';
import { Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
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

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** Buffered body (replayable) or a stream (single attempt). */
  readonly body: Buffer | { readonly head: readonly Buffer[]; readonly rest: Readable };
  /** Default http1. */
  readonly protocol?: UpstreamProtocol;
}

/** A response whose headers arrived; the body streams. */
export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  /** Trailers (gRPC's `grpc-status`), complete once `body` ended. */
  trailers(): IncomingHttpHeaders | undefined;
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

/** Errors from the connector (not from the exchange), so they classify as connect-failure. */
const connectErrors = new WeakSet<object>();

/** An `http.Agent` whose sockets come from the connector (see ownedWrites for non-sockets). */
class ConnectorAgent extends Agent {
  constructor(
    private readonly open: (signal: AbortSignal) => Promise<Duplex>,
    idleTimeoutMs: number,
    opts: { maxSockets: number; maxFreeSockets: number },
  ) {
    super({ keepAlive: true, timeout: idleTimeoutMs, scheduling: 'lifo', ...opts });
  }

  /** The per-attempt signal for the dial (set by sendH1 right before the request). */
  signal: AbortSignal | undefined;

  override createConnection(
    _opts: unknown,
    cb?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    this.dial(cb ?? (() => {}));
    return undefined;
  }

  /** Opens a connection through the connector (pooled or not, per caller). */
  dial(cb: (err: Error | null, socket: Duplex) => void): void {
    const signal = this.signal ?? AbortSignal.timeout(10_000);
    this.open(signal).then(
      (s) => cb(null, ownedWrites(s)),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        connectErrors.add(e);
        cb(e, undefined as never);
      },
    );
  }

  /** No open and no idle connections. */
  get empty(): boolean {
    return (
      Object.keys(this.sockets).length === 0 &&
      Object.keys(this.freeSockets).length === 0 &&
      Object.keys(this.requests).length === 0
    );
  }
}

interface H2Entry {
  session?: ClientHttp2Session;
  pending?: Promise<ClientHttp2Session>;
}

/**
 * Keep-alive upstream connections per (endpoint, target port, protocol).
 * Unused keys are swept when the map grows, so endpoint churn does not leak.
 */
export class UpstreamPool {
  private readonly h1 = new Map<string, ConnectorAgent>();
  private readonly h2 = new Map<string, H2Entry>();
  private readonly maxSockets: number;
  private readonly maxIdle: number;
  private readonly idleTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly connector: UpstreamConnector,
    opts: UpstreamPoolOptions = {},
  ) {
    this.maxSockets = opts.maxSockets ?? 256;
    this.maxIdle = opts.maxIdle ?? 32;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  }

  private static key(t: UpstreamTarget): string {
    return `${t.endpoint.uid}|${t.endpoint.address}|${t.port}`;
  }

  agent(target: UpstreamTarget): ConnectorAgent {
    const key = UpstreamPool.key(target);
    let a = this.h1.get(key);
    if (!a) {
      if (this.h1.size >= 64)
        for (const [k, v] of this.h1)
          if (v.empty) {
            v.destroy();
            this.h1.delete(k);
          }
      a = new ConnectorAgent(
        (signal) => this.connector.connect(target, signal),
        this.idleTimeoutMs,
        { maxSockets: this.maxSockets, maxFreeSockets: this.maxIdle },
      );
      this.h1.set(key, a);
    }
    return a;
  }

  /** A live HTTP/2 session to the target, opening one if needed. */
  async session(
    target: UpstreamTarget,
    authority: string,
    signal: AbortSignal,
  ): Promise<ClientHttp2Session> {
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
      let socket: Duplex;
      try {
        socket = await this.connector.connect(target, signal);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        connectErrors.add(error);
        throw error;
      }
      const session = h2connect(`http://${authority}`, { createConnection: () => socket as never });
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
    for (const a of this.h1.values()) a.destroy();
    this.h1.clear();
    for (const e of this.h2.values()) e.session?.destroy();
    this.h2.clear();
  }
}

/** Sends one attempt. `signal` aborts it (per-try or request timeout). */
export async function sendAttempt(
  pool: UpstreamPool,
  target: UpstreamTarget,
  req: UpstreamRequest,
  signal: AbortSignal,
): Promise<AttemptResult> {
  if (signal.aborted) return { kind: 'failed', outcome: { kind: 'timeout' } };
  if (req.protocol === 'h2') return sendH2(pool, target, req, signal);
  const first = await sendH1(pool.agent(target), req, signal);
  // A keep-alive connection the app closed while idle fails before any
  // response; a replayable request goes once more on a fresh connection.
  if (first.kind === 'failed' && first.reused && Buffer.isBuffer(req.body) && !signal.aborted)
    return sendH1(pool.agent(target), req, signal, true);
  return first;
}

function failure(signal: AbortSignal, error: unknown): Extract<AttemptResult, { kind: 'failed' }> {
  if (signal.aborted) return { kind: 'failed', outcome: { kind: 'timeout' }, error };
  if (error && typeof error === 'object' && connectErrors.has(error))
    return { kind: 'failed', outcome: { kind: 'connect-failure' }, error };
  return { kind: 'failed', outcome: { kind: 'reset' }, error };
}

function writeBody(req: UpstreamRequest, out: NodeJS.WritableStream): void {
  if (Buffer.isBuffer(req.body)) out.end(req.body);
  else {
    for (const chunk of req.body.head) out.write(chunk);
    req.body.rest.pipe(out);
  }
}

/**
 * node:http's client corks the socket and writes the request head as a
 * latin1 string; on an HTTP/2 stream (an HBONE CONNECT) the first chunk of
 * such a writev arrived zeroed at the app (seen on Node 20). Handing the
 * stream one owned Buffer per write avoids that path.
 */
export function ownedWrites(inner: Duplex): Duplex {
  if (inner instanceof Socket) return inner;
  const d = new Duplex({
    write(chunk: Buffer | string, enc: BufferEncoding, cb) {
      inner.write(Buffer.isBuffer(chunk) ? Buffer.from(chunk) : Buffer.from(chunk, enc), cb);
    },
    final(cb) {
      inner.end(cb);
    },
    read() {
      inner.resume();
    },
    destroy(err, cb) {
      inner.destroy(err ?? undefined);
      cb(err);
    },
  });
  // node:http's client and Agent treat their stream as a net.Socket
  // (keep-alive pooling calls setTimeout/setKeepAlive/ref/unref): give the
  // tunnel stream those, with an idle timer that any traffic re-arms.
  let idleMs = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (idleMs > 0 && !d.destroyed) {
      timer = setTimeout(() => d.emit('timeout'), idleMs);
      timer.unref();
    }
  };
  Object.assign(d, {
    timeout: 0,
    setTimeout(ms: number, cb?: () => void) {
      idleMs = ms;
      (d as unknown as { timeout: number }).timeout = ms;
      if (cb) d.once('timeout', cb);
      arm();
      return d;
    },
    setKeepAlive: () => d,
    setNoDelay: () => d,
    ref: () => d,
    unref: () => d,
  });
  const write = d.write.bind(d);
  d.write = ((...args: Parameters<Duplex['write']>) => {
    if (idleMs > 0) arm();
    return write(...args);
  }) as Duplex['write'];
  inner.on('data', (c: Buffer) => {
    if (idleMs > 0) arm();
    if (!d.push(c)) inner.pause();
  });
  inner.on('end', () => d.push(null));
  inner.on('error', (err) => d.destroy(err));
  inner.on('close', () => {
    if (timer) clearTimeout(timer);
    if (!d.destroyed) d.destroy();
  });
  return d;
}

function sendH1(
  agent: ConnectorAgent,
  req: UpstreamRequest,
  signal: AbortSignal,
  fresh = false,
): Promise<AttemptResult & { reused?: boolean }> {
  return new Promise((resolve) => {
    agent.signal = signal;
    const out = httpRequest({
      method: req.method,
      path: req.path,
      headers: req.headers,
      // The retry after a stale keep-alive connection must not pick another
      // idle one: it dials a connection of its own, closed after the exchange.
      ...(fresh
        ? {
            createConnection: (_o: unknown, cb: (err: Error | null, s: Duplex) => void) => {
              agent.dial(cb);
              return undefined;
            },
          }
        : { agent }),
    } as never);
    agent.signal = undefined;
    let settled = false;
    const settle = (r: AttemptResult & { reused?: boolean }) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => {
      out.destroy();
      settle({ kind: 'failed', outcome: { kind: 'timeout' } });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    out.on('error', (error) => settle({ ...failure(signal, error), reused: out.reusedSocket }));
    out.on('response', (res: IncomingMessage) => {
      settle({
        kind: 'response',
        res: {
          statusCode: res.statusCode ?? 502,
          headers: res.headers,
          body: res,
          trailers: () => res.trailers,
        },
        abort: () => out.destroy(),
      });
    });
    writeBody(req, out);
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
  req: UpstreamRequest,
  signal: AbortSignal,
): Promise<AttemptResult> {
  const authority = String(req.headers.host ?? 'localhost');
  return pool.session(target, authority, signal).then(
    (session) =>
      new Promise<AttemptResult>((resolve) => {
        let settled = false;
        const settle = (r: AttemptResult) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
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
        signal.addEventListener('abort', onAbort, { once: true });
        let trailers: IncomingHttpHeaders | undefined;
        s.on('trailers', (t: IncomingHttpHeaders) => {
          trailers = t;
        });
        s.on('error', (error) => settle(failure(signal, error)));
        s.on('close', () => settle({ kind: 'failed', outcome: { kind: 'reset' } }));
        s.on('response', (h) => {
          const statusCode = Number(h[':status'] ?? 502);
          const out: IncomingHttpHeaders = {};
          for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k] = v as string;
          settle({
            kind: 'response',
            res: { statusCode, headers: out, body: s, trailers: () => trailers },
            abort: kill,
          });
        });
        writeBody(req, s);
      }),
    (error: unknown) => failure(signal, error),
  );
}
