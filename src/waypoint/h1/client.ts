/**
 * The upstream side of HTTP/1.1: keep-alive connections per upstream key,
 * opened through the waypoint's connector (HBONE streams in production,
 * TCP in tests), one exchange at a time per connection, as Envoy's HTTP/1
 * pool does. Requests are written as one Buffer (head plus a buffered
 * body) or head plus a chunked stream; responses are parsed strictly
 * (parse.ts, body.ts) and their bodies delivered straight to a sink, with
 * backpressure, without Readable streams in between.
 *
 * Limits: `maxSockets` open connections per key (further requests wait),
 * `maxIdle` idle ones kept (LIFO, so a burst's extra connections age out),
 * idle connections closed after `idleTimeoutMs`. A connection is reused
 * only after a complete exchange with known framing and no `close`.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { CancelSignal } from '../cancel.js';
import type {
  AttemptResult,
  BodySink,
  ResponseBody,
  Upgraded,
  UpstreamResponse,
} from '../upstream.js';
import {
  type BodyDecoder,
  BodyFramingError,
  bodyDecoder,
  encodeChunk,
  LAST_CHUNK,
} from './body.js';
import {
  type HeaderList,
  type HeadLimits,
  headerObject,
  NO_BODY,
  parseResponseHead,
  type ResponseHead,
} from './parse.js';
import {
  CONNECTION_FIELDS,
  checkedValue,
  FieldLines,
  fieldLines,
  parsedLines,
  withBody,
} from './serialize.js';

export interface H1PoolOptions {
  /** Open connections per key. Default 256. */
  readonly maxSockets?: number;
  /** Idle connections kept per key. Default 32. */
  readonly maxIdle?: number;
  /** Idle time before a pooled connection closes, ms. Default 30 000. */
  readonly idleTimeoutMs?: number;
  /** Response head limits. Default 64 KiB, 100 fields. */
  readonly limits?: HeadLimits;
}

export interface H1Request {
  readonly method: string;
  readonly path: string;
  /** End-to-end fields: an object (checked as written) or lines built from checked input. */
  readonly headers: OutgoingHttpHeaders | FieldLines;
  readonly body: Buffer | { readonly head: readonly Buffer[]; readonly rest: Readable };
  /** Protocols to upgrade to (sent as `Upgrade` with `Connection: upgrade`). */
  readonly upgrade?: string;
}

export interface H1Response {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
}

/**
 * An exchange's result, in the upstream attempt's own terms, handed to the
 * caller's callback in the same tick the response head is parsed: no
 * promise between a response head arriving and the waypoint answering
 * (docs/performance.md, "Fifth pass"). Failures: the
 * connection could not be had (connect-failure), closed or reset before a
 * complete response head (reset), the response was not valid HTTP/1.1
 * (protocol-error), or the attempt's signal aborted (timeout).
 */
export type H1Result = AttemptResult;
type FailureKind = Extract<AttemptResult, { kind: 'failed' }>['outcome']['kind'];
/** Receives an exchange's result, once. */
export type OnResult = (r: H1Result) => void;

const OWN_FIELDS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
]);
/** Body bytes kept before the caller attaches its sink, before reading stops. */
const EARLY_BODY_LIMIT = 256 * 1024;
const RESPONSE_LIMITS: HeadLimits = Object.freeze({ maxBytes: 65536, maxFields: 100 });
/** Methods whose requests carry no body unless one is given. */
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

interface Entry {
  readonly idle: Connection[];
  open: number;
  readonly waiters: Array<() => void>;
}

export class H1Pool {
  private readonly entries = new Map<string, Entry>();
  private readonly maxSockets: number;
  private readonly maxIdle: number;
  private readonly idleTimeoutMs: number;
  private readonly limits: HeadLimits;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: H1PoolOptions = {}) {
    this.maxSockets = opts.maxSockets ?? 256;
    this.maxIdle = opts.maxIdle ?? 32;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
    this.limits = opts.limits ?? RESPONSE_LIMITS;
  }

  /**
   * Sends one request on a pooled connection to `key` (opened with `dial`
   * when none is idle); `onResult` gets the response head (or the failure),
   * once. `fresh` skips idle connections (the retry after a stale one).
   *
   * A request that fails on a reused connection before any response (the
   * app closed it while idle) is sent once more on a fresh connection when
   * its body is replayable, so keep-alive never surfaces as a spurious 503.
   */
  send(
    key: string,
    dial: (signal: CancelSignal | undefined) => Promise<Duplex>,
    req: H1Request,
    signal: CancelSignal | undefined,
    onResult: OnResult,
    fresh = false,
  ): void {
    // The common case, an idle keep-alive connection, takes no promise at all.
    if (!fresh && !this.closed) {
      const idle = this.entries.get(key)?.idle;
      let c = idle?.pop();
      while (c && !c.usable) c = idle?.pop();
      if (c) {
        c.exchange(req, signal, onResult, this.replay(key, dial, req, signal, onResult));
        return;
      }
    }
    this.sendNew(key, dial, req, signal, onResult, fresh);
  }

  private sendNew(
    key: string,
    dial: (signal: CancelSignal | undefined) => Promise<Duplex>,
    req: H1Request,
    signal: CancelSignal | undefined,
    onResult: OnResult,
    fresh: boolean,
  ): void {
    this.acquire(key, dial, signal, fresh).then(
      ({ conn, reused }) =>
        conn.exchange(
          req,
          signal,
          onResult,
          reused ? this.replay(key, dial, req, signal, onResult) : undefined,
        ),
      (error: unknown) => {
        const kind = signal?.aborted ? 'timeout' : 'connect-failure';
        onResult({ kind: 'failed', outcome: { kind }, error });
      },
    );
  }

  /** The send once more on a fresh connection, for a replayable request. */
  private replay(
    key: string,
    dial: (signal: CancelSignal | undefined) => Promise<Duplex>,
    req: H1Request,
    signal: CancelSignal | undefined,
    onResult: OnResult,
  ): (() => void) | undefined {
    if (!Buffer.isBuffer(req.body)) return undefined;
    return () => this.sendNew(key, dial, req, signal, onResult, true);
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= 256)
        for (const [k, v] of this.entries)
          if (v.open === 0 && v.waiters.length === 0) this.entries.delete(k);
      e = { idle: [], open: 0, waiters: [] };
      this.entries.set(key, e);
    }
    return e;
  }

  private async acquire(
    key: string,
    dial: (signal: CancelSignal | undefined) => Promise<Duplex>,
    signal: CancelSignal | undefined,
    fresh: boolean,
  ): Promise<{ conn: Connection; reused: boolean }> {
    const e = this.entry(key);
    for (;;) {
      if (this.closed) throw new Error('upstream pool closed');
      if (!fresh) {
        let c = e.idle.pop();
        while (c && !c.usable) c = e.idle.pop();
        if (c) return { conn: c, reused: true };
      }
      if (e.open < this.maxSockets) {
        e.open += 1;
        let stream: Duplex;
        try {
          stream = await dial(signal);
        } catch (err) {
          this.closedOne(e);
          throw err;
        }
        if (this.closed) {
          stream.destroy();
          this.closedOne(e);
          throw new Error('upstream pool closed');
        }
        return { conn: new Connection(this, e, stream, this.limits), reused: false };
      }
      await waitTurn(e, signal);
    }
  }

  /** A finished exchange hands its connection back (or closes it). */
  release(e: Entry, c: Connection): void {
    if (this.closed) {
      c.destroy();
      return;
    }
    c.idleSince = performance.now();
    e.idle.push(c);
    if (e.idle.length > this.maxIdle) e.idle.shift()?.destroy();
    e.waiters.shift()?.();
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(this.idleTimeoutMs, 5000));
      this.sweeper.unref();
    }
  }

  /** A connection of `e` closed. */
  closedOne(e: Entry, c?: Connection): void {
    e.open = Math.max(0, e.open - 1);
    if (c) {
      const i = e.idle.indexOf(c);
      if (i >= 0) e.idle.splice(i, 1);
    }
    e.waiters.shift()?.();
  }

  private sweep(): void {
    const cutoff = performance.now() - this.idleTimeoutMs;
    let idle = 0;
    for (const e of this.entries.values()) {
      while (e.idle.length > 0 && (e.idle[0] as Connection).idleSince < cutoff)
        e.idle.shift()?.destroy();
      idle += e.idle.length;
    }
    if (idle === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Open and idle connections per key, for tests and admin dumps. */
  stats(): { open: number; idle: number } {
    let open = 0;
    let idle = 0;
    for (const e of this.entries.values()) {
      open += e.open;
      idle += e.idle.length;
    }
    return { open, idle };
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      for (const c of e.idle.splice(0)) c.destroy();
      for (const w of e.waiters.splice(0)) w();
    }
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

function waitTurn(e: Entry, signal: CancelSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      const i = e.waiters.indexOf(wake);
      if (i >= 0) e.waiters.splice(i, 1);
      reject(signal?.reason);
    };
    const wake = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    e.waiters.push(wake);
  });
}

enum Phase {
  Idle,
  /** Request sent (or being sent); waiting for the response head. */
  Head,
  /** Response head delivered; body flowing. */
  Body,
  Closed,
}

/** One upstream connection and its current exchange. */
class Connection implements ResponseBody {
  idleSince = 0;
  private phase = Phase.Idle;
  private buf: Buffer | undefined;
  private settle: OnResult | undefined;
  /** Set on a reused connection with a replayable request (H1Pool.send). */
  private replay: (() => void) | undefined;
  private method = 'GET';
  /** The request asked for an upgrade: a 101 hands the connection over. */
  private upgrade = false;
  private requestClose = false;
  private requestSent = false;
  private decoder: BodyDecoder = bodyDecoder(NO_BODY);
  private responseClose = false;
  private sink: BodySink | undefined;
  /** Body bytes that arrived before `pipe`. */
  private early: Buffer[] = [];
  private ended = false;
  private paused = false;
  private signal: CancelSignal | undefined;
  private readonly onAbort = (): void => {
    this.fail('timeout');
  };
  private earlyBytes = 0;
  private readonly deliver = (d: Buffer): void => {
    if (this.sink) {
      if (!this.sink.data(d)) this.pauseStream();
      return;
    }
    // Body bytes before `pipe` (the caller is a few microtasks away): keep
    // them. Pausing the socket for that would cost two syscalls a response;
    // only a large early body stops reading.
    this.early.push(d);
    this.earlyBytes += d.length;
    if (this.earlyBytes > EARLY_BODY_LIMIT) this.pauseStream();
  };

  constructor(
    private readonly pool: H1Pool,
    private readonly entry: Entry,
    private readonly stream: Duplex,
    private readonly limits: HeadLimits,
  ) {
    stream.on('data', this.onDataL);
    stream.on('end', this.onEndL);
    stream.on('error', this.onErrorL);
    stream.on('close', this.onCloseL);
  }

  // Kept to be removed again when the connection switches protocols.
  private readonly onDataL = (c: Buffer): void => this.onData(c);
  private readonly onEndL = (): void => this.onEnd();
  private readonly onErrorL = (err: Error): void => this.onGone(err);
  private readonly onCloseL = (): void => this.onGone();

  get usable(): boolean {
    return this.phase === Phase.Idle && !this.stream.destroyed;
  }

  /**
   * Sends `req`; `onResult` gets the response head. `replay`, given for a
   * reused connection, sends the request again on a fresh one (with the
   * same `onResult`) if this connection turns out closed before any
   * response. A request that cannot be written (a field value a filter
   * made unsafe) fails the exchange as a protocol error.
   */
  exchange(
    req: H1Request,
    signal: CancelSignal | undefined,
    onResult: OnResult,
    replay: (() => void) | undefined,
  ): void {
    this.phase = Phase.Head;
    this.settle = onResult;
    this.replay = replay;
    this.method = req.method;
    this.upgrade = req.upgrade !== undefined;
    // A connection that offered an upgrade is not reused, whatever the answer.
    this.requestClose = this.upgrade;
    this.requestSent = false;
    this.responseClose = false;
    this.sink = undefined;
    this.early = [];
    this.earlyBytes = 0;
    this.ended = false;
    this.buf = undefined;
    this.signal = signal;
    if (signal?.aborted) {
      this.fail('timeout');
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.resumeStream();
    try {
      this.write(req);
    } catch (err) {
      this.fail('protocol-error', err);
    }
  }

  private write(req: H1Request): void {
    const lines =
      req.headers instanceof FieldLines ? req.headers.text : fieldLines(req.headers, OWN_FIELDS);
    let head = `${req.method} ${req.path} HTTP/1.1\r\n${lines}`;
    if (req.upgrade !== undefined)
      head += `connection: upgrade\r\nupgrade: ${checkedValue('upgrade', req.upgrade)}\r\n`;
    const s = this.stream;
    if (Buffer.isBuffer(req.body)) {
      const b = req.body;
      if (b.length > 0 || !BODYLESS.has(req.method)) head += `content-length: ${b.length}\r\n`;
      s.write(withBody(`${head}\r\n`, b));
      this.requestSent = true;
      return;
    }
    s.write(Buffer.from(`${head}transfer-encoding: chunked\r\n\r\n`, 'latin1'));
    for (const c of req.body.head) if (c.length > 0) s.write(encodeChunk(c));
    const rest = req.body.rest;
    rest.on('data', (c: Buffer) => {
      if (c.length > 0 && !s.write(encodeChunk(c))) {
        rest.pause();
        s.once('drain', () => rest.resume());
      }
    });
    rest.once('end', () => {
      if (!s.destroyed) s.write(LAST_CHUNK);
      this.requestSent = true;
    });
    rest.once('error', () => this.destroy());
    rest.resume();
  }

  private onData(chunk: Buffer): void {
    switch (this.phase) {
      case Phase.Head:
        this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
        this.parseHead();
        return;
      case Phase.Body:
        this.feed(chunk, 0);
        return;
      default:
        // Bytes on an idle connection: the server is confused; drop it.
        this.destroy();
    }
  }

  private parseHead(): void {
    const buf = this.buf as Buffer;
    const r = parseResponseHead(buf, this.limits);
    if (r === undefined) return;
    if (r.error) {
      this.fail('protocol-error', new Error(r.reason));
      return;
    }
    const head = r.head;
    const rest = r.length < buf.length ? buf.subarray(r.length) : undefined;
    this.buf = undefined;
    if (head.status < 200) {
      // 100 Continue / 103 Early Hints: the final response follows.
      if (head.status === 101) {
        if (this.upgrade && head.upgrade !== undefined) this.switched(head, rest);
        else this.fail('protocol-error', new Error('unexpected 101 Switching Protocols'));
        return;
      }
      if (rest) {
        this.buf = rest;
        this.parseHead();
      }
      return;
    }
    const noBody = this.method === 'HEAD' || head.status === 204 || head.status === 304;
    this.decoder = bodyDecoder(noBody ? NO_BODY : head.framing);
    this.responseClose = head.close;
    this.phase = Phase.Body;
    const settle = this.settle;
    this.settle = undefined;
    this.replay = undefined;
    settle?.({
      kind: 'response',
      res: new ParsedResponse(head.status, head.headers, head.contentLength, this),
      abort: () => this.destroy(),
    });
    // The caller may have aborted the exchange already (its client left).
    if (this.phase !== Phase.Body) return;
    if (rest) this.feed(rest, 0);
    else if (this.decoder.done) this.bodyDone();
  }

  /**
   * The app switched protocols: this connection leaves HTTP/1.1 and the
   * pool, and goes to the caller as it is (paused, none of our listeners
   * left), with the bytes that followed the 101.
   */
  private switched(head: ResponseHead, rest: Buffer | undefined): void {
    const stream = this.stream;
    stream.pause();
    stream.off('data', this.onDataL);
    stream.off('end', this.onEndL);
    stream.off('error', this.onErrorL);
    stream.off('close', this.onCloseL);
    this.phase = Phase.Closed;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    this.pool.closedOne(this.entry, this);
    const settle = this.settle;
    this.settle = undefined;
    this.replay = undefined;
    settle?.({
      kind: 'response',
      res: new ParsedResponse(101, head.headers, undefined, NO_RESPONSE_BODY, {
        stream,
        early: rest,
        protocol: head.upgrade as string,
      }),
      abort: () => abortStream(stream),
    });
  }

  private feed(chunk: Buffer, start: number): void {
    let end: number;
    try {
      end = this.decoder.feed(chunk, start, this.deliver);
    } catch (err) {
      this.bodyFailed(err as BodyFramingError);
      return;
    }
    if (end >= 0) {
      // Bytes after the response: the server broke framing; never reuse.
      if (end < chunk.length) this.responseClose = true;
      this.bodyDone();
    }
  }

  private bodyDone(): void {
    if (this.sink) this.finish();
    else this.ended = true;
  }

  private finish(): void {
    const sink = this.sink;
    this.sink = undefined;
    this.ended = false;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    const reusable = !this.responseClose && !this.requestClose && this.requestSent;
    if (reusable && !this.stream.destroyed) {
      this.phase = Phase.Idle;
      this.resumeStream();
      this.pool.release(this.entry, this);
    } else this.destroy();
    sink?.end(undefined);
  }

  private bodyFailed(err: Error): void {
    const sink = this.sink;
    this.sink = undefined;
    this.destroy();
    sink?.error(err);
  }

  // ResponseBody

  pipe(sink: BodySink): void {
    this.sink = sink;
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    // Reading stops only for a large early body; it goes on now unless the
    // sink is already full (then the sink's resume() restarts it).
    let more = true;
    for (const d of early) if (!sink.data(d)) more = false;
    if (this.ended) {
      this.finish();
      return;
    }
    if (this.phase !== Phase.Body) {
      sink.error(new BodyFramingError('upstream connection closed'));
      return;
    }
    if (more) this.resumeStream();
  }

  resume(): void {
    this.resumeStream();
  }

  discard(): void {
    this.pipe({ data: () => true, end: () => {}, error: () => {} });
  }

  private pauseStream(): void {
    if (!this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private resumeStream(): void {
    if (this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }

  private onEnd(): void {
    if (this.phase === Phase.Body && this.decoder.endsAtClose) {
      this.responseClose = true;
      this.bodyDone();
      return;
    }
    this.onGone();
  }

  private onGone(err?: Error): void {
    if (this.phase === Phase.Closed) return;
    const phase = this.phase;
    this.phase = Phase.Closed;
    this.pool.closedOne(this.entry, this);
    this.signal?.removeEventListener('abort', this.onAbort);
    if (phase === Phase.Head) {
      const settle = this.settle;
      const replay = this.replay;
      this.settle = undefined;
      this.replay = undefined;
      const aborted = this.signal?.aborted === true;
      if (settle && replay && !aborted) replay();
      else
        settle?.({ kind: 'failed', outcome: { kind: aborted ? 'timeout' : 'reset' }, error: err });
    } else if (phase === Phase.Body) {
      const sink = this.sink;
      this.sink = undefined;
      // Without a sink yet, `pipe` reports the failure.
      if (sink) sink.error(err ?? new BodyFramingError('upstream closed mid-body'));
    }
    if (!this.stream.destroyed) abortStream(this.stream);
  }

  private fail(kind: FailureKind, error?: unknown): void {
    const settle = this.settle;
    this.settle = undefined;
    this.replay = undefined;
    if (settle) settle({ kind: 'failed', outcome: { kind }, error });
    else if (this.sink) this.sink.error(new Error(kind));
    this.destroy();
  }

  destroy(): void {
    if (this.phase !== Phase.Closed) {
      this.onGone();
      return;
    }
    if (!this.stream.destroyed) this.stream.destroy();
  }
}

/**
 * Aborts a connection mid-exchange. On an HBONE tunnel that is RST_STREAM
 * CANCEL: a plain destroy sends NO_ERROR, which the destination ztunnel's
 * relay takes for a clean close, so the app's half would live on (a paused
 * response, say) instead of being reset.
 */
function abortStream(stream: Duplex): void {
  const h2s = stream as Duplex & { close?: (code?: number) => void; session?: unknown };
  if (h2s.session !== undefined && typeof h2s.close === 'function') h2s.close(h2.NGHTTP2_CANCEL);
  else stream.destroy();
}

/** The body of a 101: none (what follows is the new protocol). */
const NO_RESPONSE_BODY: ResponseBody = {
  pipe: (sink) => sink.end(undefined),
  resume: () => {},
  discard: () => {},
};

/** Response fields never forwarded: trailers are decoded and dropped here. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([...CONNECTION_FIELDS, 'trailer']);
/** Left out of forwarded lines: hop-by-hop fields, and the length the writer frames with. */
const LINES_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/**
 * A parsed response head. Its fields stay the parser's list: the header
 * object is built only when something asks for it (response filters,
 * HTTP/2 clients); otherwise they go downstream as lines (`lines()`).
 */
class ParsedResponse implements UpstreamResponse {
  private object: IncomingHttpHeaders | undefined;

  constructor(
    readonly statusCode: number,
    private readonly fields: HeaderList,
    readonly contentLength: number | undefined,
    readonly body: ResponseBody,
    readonly upgraded?: Upgraded,
  ) {}

  get headers(): IncomingHttpHeaders {
    if (this.object === undefined) {
      this.object = headerObject(this.fields, HOP_BY_HOP);
      // Repeats that agree ("5, 5") are one length.
      if (this.contentLength !== undefined)
        this.object['content-length'] = String(this.contentLength);
    }
    return this.object;
  }

  lines(): FieldLines {
    return new FieldLines(parsedLines(this.fields, LINES_SKIP));
  }
}
