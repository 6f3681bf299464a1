/**
 * node:http2 over a stream that is not a socket (an HBONE tunnel) goes
 * through Node's JSStreamSocket, which hands the stream views of memory it
 * reuses once the write callback ran; an HTTP/2 tunnel stream may still be
 * holding such a chunk then, and the bytes arrive zeroed (seen on Node 20).
 * This wrapper gives the inner stream a copy it owns. ambit's own HTTP/1.1
 * engine writes fresh Buffers and does not need it.
 */
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';

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
  inner.on('data', (c: Buffer) => {
    if (!d.push(c)) inner.pause();
  });
  inner.on('end', () => d.push(null));
  inner.on('error', (err) => d.destroy(err));
  inner.on('close', () => {
    if (!d.destroyed) d.destroy();
  });
  return d;
}
