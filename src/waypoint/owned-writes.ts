/**
 * node:http2 over a stream that is not a socket (an HBONE tunnel) goes
 * through Node's JSStreamSocket, which hands the stream views of memory it
 * reuses once the write callback ran; an HTTP/2 tunnel stream may still be
 * holding such a chunk then, and the bytes arrive zeroed (seen on Node 20).
 * This wrapper gives the inner stream a copy it owns. ambit's own HTTP/1.1
 * engine writes fresh Buffers and does not need it.
 */
import { constants as h2 } from 'node:http2';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** How long a tunnel whose side we ended may wait for the peer's END_STREAM, ms. */
const END_LINGER_MS = 5_000;

function isHttp2Stream(d: Duplex): d is Duplex & { close(code?: number): void } {
  return 'session' in d && typeof (d as { close?: unknown }).close === 'function';
}

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
      if (err || inner.destroyed) inner.destroy(err ?? undefined);
      else if (!inner.writableEnded) {
        // An abort: RST_STREAM(CANCEL). A plain destroy sends NO_ERROR, which
        // a relay (the client ztunnel's included) reads as a clean close.
        if (isHttp2Stream(inner)) inner.close(h2.NGHTTP2_CANCEL);
        else inner.destroy();
      } else {
        // Ended cleanly: our END_STREAM (and the data before it, a GOAWAY
        // say) may still be queued, and a reset now would drop it. Let the
        // peer close its side, within a bound.
        const t = setTimeout(() => inner.destroy(), END_LINGER_MS);
        t.unref();
        inner.once('close', () => clearTimeout(t));
      }
      cb(err);
    },
  });
  inner.on('data', (c: Buffer) => {
    // Once `d` is gone nothing reads: drop the bytes rather than stall the peer.
    if (!d.push(c) && !d.destroyed) inner.pause();
  });
  inner.on('end', () => d.push(null));
  inner.on('error', (err) => d.destroy(err));
  inner.on('close', () => {
    if (!d.destroyed) d.destroy();
  });
  return d;
}
