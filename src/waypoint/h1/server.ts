/**
 * The downstream side of HTTP/1.1 on one tunnelled byte stream: requests are
 * parsed as they arrive (parse.ts), handed to `onRequest` one at a time, and
 * answered through an {@link H1Response} that frames the body (length,
 * chunked, or until close for HTTP/1.0) and keeps the connection alive when
 * both sides allow it. Pipelined requests wait their turn in a bounded
 * buffer; reading stops while it is full.
 *
 * This replaces node:http's server on the waypoint's hot path: with no
 * IncomingMessage/ServerResponse streams, socket emulation or per-request
 * timers, a request costs a fraction of the CPU (docs/performance.md).
 *
 * Protections: a head larger than the limit → 431; malformed → 400 (both
 * close the connection, nothing is forwarded); a head not complete within
 * `headersTimeoutMs` of its first byte → 408 (slowloris); a connection idle
 * between requests for `idleTimeoutMs` is closed. One interval timer per
 * server checks the deadlines, so requests arm no timers of their own.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import { type Duplex, Readable } from 'node:stream';
import {
  type BodyDecoder,
  BodyFramingError,
  bodyDecoder,
  encodeChunk,
  LAST_CHUNK,
} from './body.js';
import {
  DEFAULT_HEAD_LIMITS,
  type HeadLimits,
  parseRequestHead,
  type RequestHead,
} from './parse.js';
import {
  type FieldLines,
  fieldLines,
  HeaderValueError,
  statusLine,
  withBody,
} from './serialize.js';

export interface H1ServerOptions<C> {
  readonly limits?: HeadLimits;
  /** A request head must be complete this long after its first byte, ms. Default 10 000. */
  readonly headersTimeoutMs?: number;
  /** Idle time between requests before the connection is closed, ms. Default 300 000. */
  readonly idleTimeoutMs?: number;
  /** A request arrived. `body` is undefined when the request has none. */
  readonly onRequest: (
    head: RequestHead,
    body: Readable | undefined,
    res: H1Response,
    context: C,
  ) => void;
  /** A request was refused with a client error (logs, metrics). */
  readonly onClientError?: (status: number, reason: string, context: C) => void;
}

/** A connection that left HTTP/1.1 for another protocol (a 101). */
export interface SwitchedConnection {
  /** Paused, with none of the server's listeners left. */
  readonly stream: Duplex;
  /** Bytes the client sent after the request that switched. */
  readonly pending: Buffer | undefined;
  /** The server's idle timeout, for the new protocol's connection. */
  readonly idleTimeoutMs: number;
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** Framing and connection fields are written by the response itself. */
const OWN_FIELDS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
]);
/** Deadline checks run this often, ms (node:http checks every second too). */
const CHECK_INTERVAL_MS = 1000;

/** Serves HTTP/1.1 connections; `C` is what the caller knows of each (its tunnel). */
export class H1Server<C> {
  private readonly conns = new Set<H1Connection<C>>();
  private timer: NodeJS.Timeout | undefined;
  readonly limits: HeadLimits;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;

  constructor(readonly options: H1ServerOptions<C>) {
    this.limits = options.limits ?? DEFAULT_HEAD_LIMITS;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  }

  /** Serves HTTP/1.1 on `stream` until either side closes it. */
  handle(stream: Duplex, context: C, first?: Buffer): void {
    // A client that half-closes after its requests still gets the answers
    // (HTTP/2 tunnel streams allow this already; sockets need it set).
    if (stream instanceof Socket) stream.allowHalfOpen = true;
    const conn = new H1Connection(this, stream, context);
    this.conns.add(conn);
    stream.once('close', () => this.conns.delete(conn));
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
      this.timer.unref();
    }
    conn.start(first);
  }

  get connections(): number {
    return this.conns.size;
  }

  private check(): void {
    const now = performance.now();
    for (const c of this.conns) c.checkDeadlines(now);
    if (this.conns.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Closes every connection at once. */
  closeAll(): void {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

enum Phase {
  /** Waiting for (more of) a request head. */
  Head,
  /** Reading the request body. */
  Body,
  /** Body complete; waiting for the response to finish. */
  Respond,
  Closed,
}

class H1Connection<C> {
  private phase = Phase.Head;
  /** Bytes received and not yet parsed (next head, pipelined requests). */
  private pending: Buffer | undefined;
  private decoder: BodyDecoder | undefined;
  private body: Readable | undefined;
  private res: H1Response | undefined;
  /** When the current head's first byte arrived (0: none pending). */
  private headStart = 0;
  /**
   * When the connection was last seen active, to the deadline check's
   * resolution: traffic only sets `active`, and the next check turns it
   * into a time. A clock read per chunk on the request path costs more
   * than a flag, and the idle timeout is coarse anyway (checked each second).
   */
  private lastActive = performance.now();
  private active = false;
  private paused = false;
  /** The client half-closed: end the connection after the requests it sent. */
  private halfClosed = false;
  private readonly onBodyData = (d: Buffer): void => {
    if (this.body && !this.body.push(d)) this.pause();
  };

  constructor(
    private readonly server: H1Server<C>,
    readonly stream: Duplex,
    private readonly context: C,
  ) {}

  // Kept to be removed again when the connection switches protocols.
  private readonly onDataL = (c: Buffer): void => this.onData(c);
  private readonly onEndL = (): void => this.onEnd();
  private readonly onErrorL = (): void => this.destroy();
  private readonly onCloseL = (): void => this.onClose();

  start(first?: Buffer): void {
    const s = this.stream;
    s.on('data', this.onDataL);
    s.on('end', this.onEndL);
    s.on('error', this.onErrorL);
    s.on('close', this.onCloseL);
    if (first && first.length > 0) this.onData(first);
    s.resume();
  }

  /**
   * The current response switched protocols (101): the connection leaves
   * HTTP/1.1. Returns the stream (paused, none of our listeners left) and
   * the bytes received after the request head.
   */
  switchProtocols(): SwitchedConnection {
    const s = this.stream;
    s.pause();
    s.off('data', this.onDataL);
    s.off('end', this.onEndL);
    s.off('error', this.onErrorL);
    s.off('close', this.onCloseL);
    this.phase = Phase.Closed;
    this.res = undefined;
    const pending = this.pending;
    this.pending = undefined;
    return { stream: s, pending, idleTimeoutMs: this.server.idleTimeoutMs };
  }

  checkDeadlines(now: number): void {
    if (this.active) {
      this.active = false;
      this.lastActive = now;
    }
    if (this.phase === Phase.Head && this.headStart > 0) {
      if (now - this.headStart > this.server.headersTimeoutMs)
        this.reject(408, 'request head not complete in time');
    } else if (
      this.phase === Phase.Head &&
      this.res === undefined &&
      now - this.lastActive > this.server.idleTimeoutMs
    ) {
      // End of stream, not a reset: the client sees a clean close.
      this.end();
      setTimeout(() => this.stream.destroy(), 5000).unref();
    }
  }

  private onData(chunk: Buffer): void {
    this.active = true;
    switch (this.phase) {
      case Phase.Head:
        this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
        this.nextRequest();
        return;
      case Phase.Body:
        this.feedBody(chunk);
        return;
      case Phase.Respond:
        // Pipelined: keep for after this response, bounded.
        this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
        if (this.pending.length > this.server.limits.maxBytes) this.pause();
        return;
      case Phase.Closed:
        return;
    }
  }

  private nextRequest(): void {
    const buf = this.pending;
    if (!buf || buf.length === 0 || this.phase !== Phase.Head) return;
    const r = parseRequestHead(buf, this.server.limits);
    if (r === undefined) {
      // A half-closed client can never complete this head.
      if (this.halfClosed) this.end();
      else if (this.headStart === 0) this.headStart = performance.now();
      return;
    }
    if (r.error) {
      this.reject(r.status, r.reason);
      return;
    }
    this.headStart = 0;
    this.pending = r.length < buf.length ? buf.subarray(r.length) : undefined;
    const head = r.head;
    const res = new H1Response(this as Connection, head);
    this.res = res;
    let body: Readable | undefined;
    if (head.framing.kind !== 'none') {
      this.decoder = bodyDecoder(head.framing);
      body = new Readable({ read: () => this.resume() });
      this.body = body;
      this.phase = Phase.Body;
      if (head.expectContinue) this.stream.write(CONTINUE);
    } else this.phase = Phase.Respond;
    this.server.options.onRequest(head, body, res, this.context);
    if (this.phase === Phase.Body && this.pending) {
      const rest = this.pending;
      this.pending = undefined;
      this.feedBody(rest);
    }
  }

  private feedBody(chunk: Buffer): void {
    const decoder = this.decoder;
    if (!decoder) return;
    let end: number;
    try {
      end = decoder.feed(chunk, 0, this.onBodyData);
    } catch (err) {
      const reason = err instanceof BodyFramingError ? err.message : 'malformed body';
      this.body?.destroy(err as Error);
      this.reject(400, reason);
      return;
    }
    if (end < 0) return;
    this.body?.push(null);
    this.body = undefined;
    this.decoder = undefined;
    if (this.phase === Phase.Body) this.phase = Phase.Respond;
    if (end < chunk.length) {
      const rest = chunk.subarray(end);
      this.pending = this.pending ? Buffer.concat([this.pending, rest]) : rest;
    }
  }

  /** The response for the current request was written completely. */
  responseDone(res: H1Response, close: boolean): void {
    if (this.res !== res) return;
    this.res = undefined;
    this.active = true;
    // A request body nobody read to the end leaves the connection mid-message.
    if (this.phase === Phase.Body) {
      this.body?.destroy();
      this.body = undefined;
      this.end();
      return;
    }
    this.afterResponse(close);
  }

  private afterResponse(close: boolean): void {
    if (this.phase === Phase.Closed) return;
    if (close) {
      this.end();
      return;
    }
    this.phase = Phase.Head;
    this.resume();
    if (this.pending) this.nextRequest();
    else if (this.halfClosed) this.end();
  }

  /** Answers a client error and closes: nothing of the request goes upstream. */
  private reject(status: number, reason: string): void {
    this.server.options.onClientError?.(status, reason, this.context);
    const s = this.stream;
    this.phase = Phase.Closed;
    this.pending = undefined;
    if (this.res?.headersSent) {
      this.destroy();
      return;
    }
    this.res?.abandon();
    this.res = undefined;
    if (!s.destroyed && s.writable) {
      const text = `${reason}\n`;
      s.end(
        withBody(
          `${statusLine(status)}content-type: text/plain\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n`,
          text,
        ),
      );
    }
    // Stop reading; the stream closes once our bytes are out (or the peer goes).
    s.pause();
    setTimeout(() => s.destroy(), 1000).unref();
  }

  private onEnd(): void {
    // The client half-closed. Mid-head or mid-body the request can never
    // complete; otherwise finish the response in flight, then close.
    if (this.phase === Phase.Body) {
      this.body?.destroy(new BodyFramingError('request body cut short'));
      this.body = undefined;
      this.destroy();
    } else if (this.res === undefined) this.end();
    else this.halfClosed = true;
  }

  get lastResponse(): boolean {
    return this.halfClosed && (this.pending === undefined || this.pending.length === 0);
  }

  private onClose(): void {
    this.phase = Phase.Closed;
    this.body?.destroy(new BodyFramingError('connection closed'));
    this.body = undefined;
    this.res?.abandon();
    this.res = undefined;
    this.pending = undefined;
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private resume(): void {
    if (this.paused && this.phase !== Phase.Closed) {
      this.paused = false;
      this.stream.resume();
    }
  }

  private end(): void {
    this.phase = Phase.Closed;
    if (!this.stream.destroyed) this.stream.end();
  }

  destroy(): void {
    this.phase = Phase.Closed;
    this.stream.destroy();
  }
}

/** What a response needs of its connection. */
interface Connection {
  readonly stream: Duplex;
  /** The client half-closed and sent nothing more: this response ends the connection. */
  readonly lastResponse: boolean;
  responseDone(res: H1Response, close: boolean): void;
  switchProtocols(): SwitchedConnection;
  destroy(): void;
}

/**
 * One response on an HTTP/1.1 connection. The head is held back until the
 * first body bytes (or the end), so head and a small body leave together.
 */
export class H1Response {
  private head: string | undefined;
  private sent = false;
  private chunked = false;
  private noBody = false;
  private close: boolean;
  private finished = false;
  private abandoned = false;
  private onGone: (() => void) | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly req: RequestHead,
  ) {
    this.close = req.close;
  }

  get headersSent(): boolean {
    return this.head !== undefined || this.sent;
  }

  /** The stream is gone or the response was replaced by an error. */
  get aborted(): boolean {
    return this.abandoned || this.conn.stream.destroyed;
  }

  /** Builds the head; it goes out with the first body bytes or at `end`. */
  writeHead(status: number, headers: OutgoingHttpHeaders = {}): void {
    if (this.headersSent) return;
    const length = headers['content-length'];
    this.buildHead(
      status,
      fieldLines(headers, OWN_FIELDS),
      length === undefined ? undefined : Number(length),
    );
  }

  /** {@link writeHead} for fields already written as checked lines. */
  writeHeadLines(status: number, lines: FieldLines, contentLength: number | undefined): void {
    if (this.headersSent) return;
    this.buildHead(status, lines.text, contentLength);
  }

  private buildHead(status: number, lines: string, contentLength: number | undefined): void {
    if (this.conn.lastResponse) this.close = true;
    this.noBody = this.req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let framing = '';
    if (contentLength !== undefined) framing = `content-length: ${contentLength}\r\n`;
    else if (!this.noBody) {
      if (this.req.minor === 1) {
        this.chunked = true;
        framing = 'transfer-encoding: chunked\r\n';
      } else this.close = true; // HTTP/1.0: the body ends with the connection
    }
    const conn = this.close
      ? 'connection: close\r\n'
      : this.req.minor === 0
        ? 'connection: keep-alive\r\n'
        : '';
    this.head = `${statusLine(status)}${lines}${framing}${conn}\r\n`;
  }

  /** Body bytes; false when the stream's buffer is full (wait for `onDrain`). */
  write(chunk: Buffer): boolean {
    if (this.finished || this.aborted) return true;
    if (this.head === undefined && !this.sent) this.writeHead(200);
    if (this.noBody || chunk.length === 0) return this.flushHead();
    const framed = this.chunked ? encodeChunk(chunk) : chunk;
    const head = this.head;
    if (head !== undefined) {
      this.head = undefined;
      this.sent = true;
      return this.conn.stream.write(withBody(head, framed));
    }
    return this.conn.stream.write(framed);
  }

  onDrain(cb: () => void): void {
    this.conn.stream.once('drain', cb);
  }

  /** Ends the response, with an optional last piece of body. */
  end(body?: Buffer | string): void {
    if (this.finished || this.aborted) return;
    if (this.head === undefined && !this.sent) {
      const len = body === undefined ? 0 : Buffer.byteLength(body);
      this.writeHead(200, { 'content-length': len });
    }
    this.finished = true;
    const tail = this.noBody || body === undefined || body.length === 0 ? undefined : body;
    const head = this.head;
    this.head = undefined;
    this.sent = true;
    const s = this.conn.stream;
    if (this.chunked) {
      const last =
        tail === undefined
          ? LAST_CHUNK
          : Buffer.concat([encodeChunk(Buffer.from(tail)), LAST_CHUNK]);
      s.write(head === undefined ? last : withBody(head, last));
    } else if (head !== undefined) s.write(withBody(head, tail));
    else if (tail !== undefined) s.write(tail);
    this.conn.responseDone(this, this.close);
  }

  /**
   * Answers 101 with `lines` and leaves HTTP/1.1: returns the connection's
   * stream and the bytes the client sent after its request head.
   */
  upgrade(lines: FieldLines, protocol: string): SwitchedConnection {
    this.finished = true;
    this.sent = true;
    this.head = undefined;
    this.conn.stream.write(
      Buffer.from(
        `${statusLine(101)}${lines.text}connection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`,
        'latin1',
      ),
    );
    return this.conn.switchProtocols();
  }

  private flushHead(): boolean {
    const head = this.head;
    if (head === undefined) return true;
    this.head = undefined;
    this.sent = true;
    return this.conn.stream.write(Buffer.from(head, 'latin1'));
  }

  /** Resets the connection (a response that cannot be completed). */
  destroy(): void {
    this.finished = true;
    this.conn.destroy();
  }

  /** Calls `cb` once if the client goes away (or answered an error) before this response ended. */
  onClose(cb: () => void): void {
    if (this.aborted) cb();
    else this.onGone = cb;
  }

  /** The connection went away or answered an error instead. */
  abandon(): void {
    const wasFinished = this.finished;
    this.abandoned = true;
    this.finished = true;
    const cb = this.onGone;
    this.onGone = undefined;
    if (!wasFinished) cb?.();
  }
}

export { HeaderValueError };
