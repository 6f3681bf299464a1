/**
 * Request body buffering for retries: bodies up to `limit` bytes are kept
 * whole (replayable); a larger body is handed on as the bytes read so far
 * plus the rest of the stream, and is sent only once.
 */
import type { Readable } from 'node:stream';

export type BufferedBody = Buffer | { readonly head: readonly Buffer[]; readonly rest: Readable };

export function readBody(stream: Readable, limit: number): Promise<BufferedBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        cleanup();
        stream.pause();
        resolve({ head: chunks, rest: stream });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
