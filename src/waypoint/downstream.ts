/**
 * The downstream limits of the HTTP engine: what a malformed, oversized,
 * slow or idle client may cost (docs/waypoint.md, "Limits and protections").
 * Statuses follow Envoy's, which Istio users see: 400 for a malformed
 * request, 408 for a head not complete in time, 431 for a head over the size
 * or field-count limit.
 */
import type { Duplex } from 'node:stream';

export interface DownstreamLimits {
  /** Largest request head, bytes (HTTP/1: request line + fields; HTTP/2: RFC 9113 header list size). */
  readonly maxHeaderBytes: number;
  /** Most header fields in a request (pseudo-headers not counted). */
  readonly maxHeaderFields: number;
  /** Time from a request's first byte to its complete head, ms. */
  readonly headersTimeoutMs: number;
  /** A downstream connection with no bytes either way for this long is closed, ms. */
  readonly idleTimeoutMs: number;
  /**
   * Request bodies up to this size are buffered, so they can be retried and
   * mirrored; a larger body streams to one attempt only, unmirrored. Bytes.
   */
  readonly maxBufferedBodyBytes: number;
}

/**
 * Envoy's values where Istio users rely on them (100 header fields, a 5 min
 * stream idle timeout), tighter where Envoy's are loose (16 KiB heads, not
 * 60 KiB; a 10 s head deadline, which Envoy does not set by default).
 */
export const DEFAULT_DOWNSTREAM_LIMITS: Readonly<DownstreamLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaderFields: 100,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 5 * 60_000,
  maxBufferedBodyBytes: 64 * 1024,
});

/** After our last byte, how long a tunnel waits for the client to close its side. */
export const CLOSE_LINGER_MS = 5_000;

/**
 * Whether a request head is over the limits, from a flat field list (name,
 * value, name, value…, as node's `rawHeaders`). The size is the HTTP/2
 * header list size (RFC 9113 §6.5.2: name + value + 32 per field);
 * pseudo-headers count towards the size, not the field count.
 */
export function headOverLimits(rawHeaders: readonly string[], limits: DownstreamLimits): boolean {
  let fields = 0;
  let size = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    size += name.length + (rawHeaders[i + 1] as string).length + 32;
    if (!name.startsWith(':')) fields++;
  }
  return fields > limits.maxHeaderFields || size > limits.maxHeaderBytes;
}

/**
 * Closes a downstream stream after the bytes already written: end (FIN, or
 * END_STREAM on a tunnel), then destroy once the client closed its side or
 * after {@link CLOSE_LINGER_MS}. Destroying at once would reset a tunnel and
 * could drop what is still queued on it.
 */
export function closeGracefully(stream: Duplex, lingerMs = CLOSE_LINGER_MS): void {
  if (stream.destroyed) return;
  const timer = setTimeout(() => stream.destroy(), lingerMs);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
  // Whatever the client still sends is dropped, so its window keeps moving.
  stream.resume();
  if (!stream.writableEnded) stream.end();
}

const GOAWAY = 7;

/**
 * Watches the HTTP/2 bytes a server writes to `stream` and calls `onError`
 * once a GOAWAY with an error code goes out. node:http2 stops reading after
 * such a GOAWAY but leaves the connection open; RFC 9113 §5.4.1 says the
 * connection is then closed. Only streams written from JavaScript (HBONE
 * tunnels) can be watched; a net.Socket is written natively.
 */
export function watchGoaway(stream: Duplex, onError: (code: number) => void): void {
  let header = Buffer.alloc(0);
  /** Bytes of the current frame's payload still to come. */
  let left = 0;
  /** The GOAWAY payload's first 8 bytes (last stream id, error code), while collecting. */
  let goaway: Buffer | undefined;
  let fired = false;
  const scan = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length && !fired) {
      if (left === 0 && goaway === undefined) {
        const need = 9 - header.length;
        header = Buffer.concat([header, chunk.subarray(i, i + need)]);
        i += Math.min(need, chunk.length - i);
        if (header.length < 9) return;
        left = header.readUIntBE(0, 3);
        if (header[3] === GOAWAY && left >= 8) goaway = Buffer.alloc(0);
        header = Buffer.alloc(0);
        continue;
      }
      const take = Math.min(left, chunk.length - i);
      if (goaway !== undefined) {
        goaway = Buffer.concat([goaway, chunk.subarray(i, i + Math.min(take, 8 - goaway.length))]);
        if (goaway.length === 8) {
          const code = goaway.readUInt32BE(4);
          goaway = undefined;
          if (code !== 0) {
            fired = true;
            onError(code);
          }
        }
      }
      i += take;
      left -= take;
    }
  };
  const write = stream.write.bind(stream);
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!fired && Buffer.isBuffer(chunk)) scan(chunk);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as Duplex['write'];
}
