/**
 * HTTP/1.1 body framing (RFC 9112 §6, §7.1): an incremental decoder per
 * message that takes bytes as they arrive, hands on the payload without
 * copying it, and says where the body ends (the next message starts
 * there). Chunked framing is parsed strictly (hex sizes, CRLF after every
 * line and chunk, bounded extensions and trailers); trailers are read and
 * dropped. Pure: no I/O.
 */
import type { Framing } from './parse.js';

/** Malformed chunked framing; the connection cannot be used any more. */
export class BodyFramingError extends Error {
  override readonly name = 'BodyFramingError';
}

export interface BodyDecoder {
  /**
   * Consumes `chunk` from `start`, calling `onData` with payload slices.
   * Returns the index just past the body's last byte, or -1 when all of the
   * chunk was consumed and the body goes on. Throws {@link BodyFramingError}.
   */
  feed(chunk: Buffer, start: number, onData: (data: Buffer) => void): number;
  /** The body is complete. */
  readonly done: boolean;
  /** Close-delimited bodies end with the connection; others must be done by then. */
  readonly endsAtClose: boolean;
}

/** Limits of chunked framing: one size line with its extensions, and the trailer section. */
const MAX_SIZE_LINE = 4096;
const MAX_TRAILERS = 16384;

export function bodyDecoder(framing: Framing): BodyDecoder {
  switch (framing.kind) {
    case 'none':
      return EMPTY_BODY;
    case 'length':
      return new LengthDecoder(framing.length);
    case 'chunked':
      return new ChunkedDecoder();
    case 'close':
      return new CloseDecoder();
  }
}

const EMPTY_BODY: BodyDecoder = Object.freeze({
  feed: (_c: Buffer, start: number) => start,
  done: true,
  endsAtClose: false,
});

class LengthDecoder implements BodyDecoder {
  readonly endsAtClose = false;
  constructor(private remaining: number) {}

  get done(): boolean {
    return this.remaining === 0;
  }

  feed(chunk: Buffer, start: number, onData: (data: Buffer) => void): number {
    const available = chunk.length - start;
    if (available <= 0) return this.remaining === 0 ? start : -1;
    if (available < this.remaining) {
      this.remaining -= available;
      onData(start === 0 ? chunk : chunk.subarray(start));
      return -1;
    }
    const end = start + this.remaining;
    this.remaining = 0;
    if (end > start) onData(chunk.subarray(start, end));
    return end;
  }
}

class CloseDecoder implements BodyDecoder {
  readonly done = false;
  readonly endsAtClose = true;

  feed(chunk: Buffer, start: number, onData: (data: Buffer) => void): number {
    if (start < chunk.length) onData(start === 0 ? chunk : chunk.subarray(start));
    return -1;
  }
}

enum State {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLf,
  Done,
}

const CR = 13;
const LF = 10;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

class ChunkedDecoder implements BodyDecoder {
  readonly endsAtClose = false;
  private state = State.Size;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  /** Bytes on the current trailer line (0 at a line start: an empty line ends the trailers). */
  private trailerLine = 0;

  get done(): boolean {
    return this.state === State.Done;
  }

  feed(chunk: Buffer, start: number, onData: (data: Buffer) => void): number {
    let i = start;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.Size: {
          const c = chunk[i] as number;
          const v = hexValue(c);
          if (v >= 0) {
            // 2^52 is far past any real chunk and still exact in a double.
            if (++this.digits > 13) throw new BodyFramingError('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) throw new BodyFramingError('invalid chunk size');
          else if (c === CR) this.state = State.SizeLf;
          else if (c === 59 /* ; */ || c === 32 || c === 9) this.state = State.Ext;
          else throw new BodyFramingError('invalid chunk size');
          i++;
          if (++this.lineBytes > MAX_SIZE_LINE) throw new BodyFramingError('chunk line too long');
          break;
        }
        case State.Ext: {
          const c = chunk[i] as number;
          if (c === CR) this.state = State.SizeLf;
          else if (c === LF || c < 9 || (c > 9 && c < 32) || c === 127)
            throw new BodyFramingError('invalid chunk extension');
          i++;
          if (++this.lineBytes > MAX_SIZE_LINE) throw new BodyFramingError('chunk line too long');
          break;
        }
        case State.SizeLf:
          if (chunk[i] !== LF) throw new BodyFramingError('expected LF after chunk size');
          i++;
          this.lineBytes = 0;
          this.digits = 0;
          if (this.size === 0) {
            this.state = State.Trailer;
            this.trailerLine = 0;
          } else this.state = State.Data;
          break;
        case State.Data: {
          const take = Math.min(this.size, n - i);
          onData(chunk.subarray(i, i + take));
          i += take;
          this.size -= take;
          if (this.size === 0) this.state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (chunk[i] !== CR) throw new BodyFramingError('expected CRLF after chunk data');
          i++;
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (chunk[i] !== LF) throw new BodyFramingError('expected CRLF after chunk data');
          i++;
          this.state = State.Size;
          break;
        case State.Trailer: {
          const c = chunk[i] as number;
          i++;
          if (++this.trailerBytes > MAX_TRAILERS) throw new BodyFramingError('trailers too large');
          if (c === CR) this.state = State.TrailerLf;
          else if (c === LF) throw new BodyFramingError('bare LF in trailers');
          else this.trailerLine++;
          break;
        }
        case State.TrailerLf:
          if (chunk[i] !== LF) throw new BodyFramingError('bare CR in trailers');
          i++;
          if (this.trailerLine === 0) {
            this.state = State.Done;
            return i;
          }
          this.trailerLine = 0;
          this.state = State.Trailer;
          break;
        case State.Done:
          return i;
      }
    }
    return this.state === State.Done ? i : -1;
  }
}

/** One payload piece in chunked encoding (never empty: an empty chunk ends the body). */
export function encodeChunk(data: Buffer): Buffer {
  const size = `${data.length.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(size.length + data.length + 2);
  out.write(size, 0, 'latin1');
  data.copy(out, size.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/** The last chunk and an empty trailer section. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n');
