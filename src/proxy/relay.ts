/**
 * Bidirectional byte relay between two duplex streams (an app TCP socket and
 * an HBONE tunnel stream, or a tunnel stream and the upstream socket), the way
 * ztunnel's `copy_bidirectional` does it:
 *
 * - Each direction runs on its own; when one source ends (TCP FIN or HTTP/2
 *   END_STREAM) the other side is `end()`ed (half-close) and the opposite
 *   direction keeps flowing until it ends too. The relay finishes when both
 *   sides have closed.
 * - A reset (ECONNRESET, EPIPE, RST_STREAM) on one side is a normal way for a
 *   connection to end, not an error: it is recorded as `reset` and the other
 *   side is aborted too (TCP RST / RST_STREAM CANCEL), so the abort propagates.
 * - Backpressure: a source is paused while its destination's write buffer is
 *   above its high-water mark (raised to 256 KiB, see RELAY_HIGH_WATER_MARK),
 *   so a peer that stops reading bounds memory to one high-water mark plus one
 *   chunk per direction (HTTP/2 flow control and TCP windows then stop the
 *   sender).
 * - Normal completion never resets anything: HTTP/2 streams close with
 *   END_STREAM in both directions. (Resetting streams rapidly trips nghttp2's
 *   rapid-reset protection and kills the whole session after ~1000 resets.)
 */
import { constants as h2 } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Outcome of {@link relay}, for access logs and byte counters. */
export interface RelayResult {
  /** Bytes read from `downstream` and written to `upstream`. */
  bytesSent: number;
  /** Bytes read from `upstream` and written to `downstream`. */
  bytesRecv: number;
  /** True when a side ended by reset or abort rather than a clean close both ways. */
  reset: boolean;
  /** The first error that is not a benign reset (e.g. the HTTP/2 session died), or the abort reason. */
  error?: Error;
}

export interface RelayOptions {
  /** Aborting resets both sides; `error` is set to the signal's reason. */
  signal?: AbortSignal;
  /** Updated as bytes flow (the admin dump shows live connections' byte counts). */
  counters?: { bytesSent: number; bytesRecv: number };
}

/** Error codes that are a peer closing abruptly rather than a failure. */
const BENIGN_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_STREAM_CANCEL',
]);

/** Whether an error is a benign reset/EOF (see {@link relay}). */
export function isBenignReset(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && BENIGN_CODES.has(code);
}

/**
 * Copies bytes both ways between `downstream` and `upstream` until both are
 * closed. Never rejects. `net.Socket`s are switched to `allowHalfOpen` (so a
 * FIN from one peer does not end the other direction) and TCP_NODELAY.
 */
export function relay(
  downstream: Duplex,
  upstream: Duplex,
  options: RelayOptions = {},
): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { bytesSent: 0, bytesRecv: 0, reset: false };
    let closed = 0;
    const { signal } = options;

    const onAbort = (): void => {
      const reason = signal?.reason;
      result.error ??= reason instanceof Error ? reason : new Error(String(reason));
      result.reset = true;
      abort(downstream);
      abort(upstream);
    };

    const onSideClosed = (side: Duplex, other: Duplex): void => {
      // A close without a clean end in both directions is a reset/abort. Node
      // marks a reset HTTP/2 stream as ended both ways, so check its RST code.
      if (!side.readableEnded || !side.writableFinished || wasReset(side)) {
        result.reset = true;
        abort(other);
      }
      closed += 1;
      if (closed === 2) {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      }
    };

    const watch = (side: Duplex, other: Duplex): void => {
      side.on('error', (err: Error) => {
        result.reset = true;
        if (!isBenignReset(err)) result.error ??= err;
        abort(other);
      });
      // A side that already emitted 'close' before we started never will again.
      if (side.closed) queueMicrotask(() => onSideClosed(side, other));
      else side.once('close', () => onSideClosed(side, other));
    };

    for (const s of [downstream, upstream]) {
      if (s instanceof Socket) {
        s.allowHalfOpen = true;
        // Nagle plus delayed ACKs adds ~40 ms stalls to request/response traffic.
        if (!s.destroyed && !s.connecting) s.setNoDelay(true);
      }
    }
    watch(downstream, upstream);
    watch(upstream, downstream);
    const live = options.counters;
    pump(downstream, upstream, (n) => {
      result.bytesSent += n;
      if (live) live.bytesSent += n;
    });
    pump(upstream, downstream, (n) => {
      result.bytesRecv += n;
      if (live) live.bytesRecv += n;
    });

    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Write buffering per direction. Node's defaults (16 KiB) make a bulk
 * transfer pause and resume its source (readStop/readStart) for nearly every
 * 64 KiB socket read; ztunnel's copy buffers grow to 256 KiB for bulk
 * transfers too. This is a threshold, not an allocation: idle tunnels cost
 * nothing more, and a stalled peer still bounds memory per direction.
 */
export const RELAY_HIGH_WATER_MARK = 256 * 1024;

/**
 * Chunks at least this big mark a bulk transfer. HTTP/2 delivers at most one
 * TLS record (16 KiB) per chunk; such chunks towards a TCP socket are
 * collected for the rest of the event-loop turn and written with one writev
 * instead of one write(2) each. Smaller chunks (request/response traffic) are
 * written at once, so latency is unchanged.
 */
const BULK_CHUNK = 8 * 1024;

/** One direction: src → dst with backpressure and half-close. */
function pump(src: Duplex, dst: Duplex, count: (n: number) => void): void {
  raiseWriteBuffer(dst);
  let paused = false;
  let corked = false;
  const batch = dst instanceof Socket;
  const uncork = (): void => {
    corked = false;
    if (!dst.destroyed) dst.uncork();
  };
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (dst.destroyed) return;
    if (batch && !corked && chunk.length >= BULK_CHUNK) {
      // setImmediate runs right after this poll phase: same loop turn.
      corked = true;
      dst.cork();
      setImmediate(uncork);
    }
    if (!dst.write(chunk)) {
      paused = true;
      src.pause();
    }
  });
  dst.on('drain', () => {
    if (paused) {
      paused = false;
      src.resume();
    }
  });
  const onEnd = (): void => {
    if (corked) uncork();
    if (!dst.destroyed) dst.end();
  };
  if (src.readableEnded) queueMicrotask(onEnd);
  else src.once('end', onEnd);
  // 'data' listeners do not restart a stream someone paused explicitly.
  src.resume();
}

/**
 * Raises a stream's write high-water mark to {@link RELAY_HIGH_WATER_MARK}.
 * Neither sockets accepted by a server nor HTTP/2 streams take the option at
 * construction in Node 20, so the writable state is adjusted directly (the
 * public getter `writableHighWaterMark` reads the same field).
 */
function raiseWriteBuffer(d: Duplex): void {
  const state = (d as { _writableState?: { highWaterMark?: number } })._writableState;
  if (
    state &&
    typeof state.highWaterMark === 'number' &&
    state.highWaterMark < RELAY_HIGH_WATER_MARK
  )
    state.highWaterMark = RELAY_HIGH_WATER_MARK;
}

interface ResettableStream {
  close(code?: number): void;
  session: unknown;
}

function isHttp2Stream(d: Duplex): d is Duplex & ResettableStream {
  return 'session' in d && typeof (d as Partial<ResettableStream>).close === 'function';
}

/** An HTTP/2 stream closed by RST_STREAM with an error code (NO_ERROR is a clean close). */
function wasReset(d: Duplex): boolean {
  if (!isHttp2Stream(d)) return false;
  const code = (d as { rstCode?: number }).rstCode;
  return code !== undefined && code !== h2.NGHTTP2_NO_ERROR;
}

/** Aborts a side so the peer sees a reset: RST_STREAM(CANCEL) or TCP RST. */
export function abort(d: Duplex): void {
  if (d.destroyed) return;
  if (isHttp2Stream(d)) {
    d.close(h2.NGHTTP2_CANCEL);
    return;
  }
  // After our FIN, Node's resetAndDestroy fails with EINVAL and never emits
  // 'close'; a plain destroy is all that is left to do then.
  if (d instanceof Socket && !d.connecting && !d.writableEnded) {
    try {
      d.resetAndDestroy();
      return;
    } catch {
      // Not a TCP socket (e.g. a pipe); fall through to a plain destroy.
    }
  }
  d.destroy();
}
