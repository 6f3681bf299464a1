/**
 * Request body buffering for retries and mirrors: bodies up to `limit` bytes
 * are kept whole (replayable); a larger body is handed on as the bytes read
 * so far plus the rest of the stream, and is sent only once. So a request
 * never holds more than about `limit` bytes of its body in memory.
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
      stream.off('close', onClose);
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
    // A client that goes away mid-body (a reset h2 stream, a closed
    // connection) may close the stream without 'error': fail rather than
    // wait forever.
    const onClose = () => {
      cleanup();
      if (!stream.readableEnded)
        reject(new Error('the client closed the request before its body ended'));
      else resolve(Buffer.concat(chunks, size));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
