/**
 * One upstream attempt: open a stream through the injected connector (the
 * waypoint binary: HBONE to the endpoint's ztunnel; tests: plain TCP), send
 * the request as HTTP/1.1 or as h2c (gRPC and other HTTP/2 traffic), and
 * resolve once response headers arrive.
 *
 * Every attempt gets its own stream: with HBONE that is one CONNECT on a
 * pooled mTLS session, so there is no per-request handshake to amortise and
 * no upstream keep-alive state to get wrong across retries.
 */
import {
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

/** Sends one attempt. `signal` aborts it (per-try or request timeout). */
export async function sendAttempt(
  connector: UpstreamConnector,
  target: UpstreamTarget,
  req: UpstreamRequest,
  signal: AbortSignal,
): Promise<AttemptResult> {
  let socket: Duplex;
  try {
    socket = await connector.connect(target, signal);
  } catch (error) {
    return {
      kind: 'failed',
      outcome: signal.aborted ? { kind: 'timeout' } : { kind: 'connect-failure' },
      error,
    };
  }
  if (signal.aborted) {
    socket.destroy();
    return { kind: 'failed', outcome: { kind: 'timeout' } };
  }
  return req.protocol === 'h2' ? sendH2(socket, req, signal) : sendH1(socket, req, signal);
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

function sendH1(tunnel: Duplex, req: UpstreamRequest, signal: AbortSignal): Promise<AttemptResult> {
  const socket = ownedWrites(tunnel);
  return new Promise<AttemptResult>((resolve) => {
    const out = httpRequest({
      method: req.method,
      path: req.path,
      headers: req.headers,
      createConnection: () => socket as never,
    });
    let settled = false;
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => {
      out.destroy();
      socket.destroy();
      settle({ kind: 'failed', outcome: { kind: 'timeout' } });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    out.on('error', (error) => settle({ kind: 'failed', outcome: { kind: 'reset' }, error }));
    out.on('response', (res: IncomingMessage) => {
      // The tunnel carries exactly one exchange; close it when the body is done.
      res.once('end', () => socket.end());
      settle({
        kind: 'response',
        res: {
          statusCode: res.statusCode ?? 502,
          headers: res.headers,
          body: res,
          trailers: () => res.trailers,
        },
        abort: () => {
          out.destroy();
          socket.destroy();
        },
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

function sendH2(socket: Duplex, req: UpstreamRequest, signal: AbortSignal): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    const authority = String(req.headers.host ?? 'localhost');
    let session: ClientHttp2Session;
    let stream: ClientHttp2Stream | undefined;
    let settled = false;
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const kill = () => {
      stream?.close(h2c.NGHTTP2_CANCEL);
      session.destroy();
      socket.destroy();
    };
    const onAbort = () => {
      kill();
      settle({ kind: 'failed', outcome: { kind: 'timeout' } });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      session = h2connect(`http://${authority}`, { createConnection: () => socket as never });
    } catch (error) {
      socket.destroy();
      settle({ kind: 'failed', outcome: { kind: 'connect-failure' }, error });
      return;
    }
    session.on('error', (error) => settle({ kind: 'failed', outcome: { kind: 'reset' }, error }));
    const headers: OutgoingHttpHeaders = {
      ':method': req.method,
      ':path': req.path,
      ':authority': authority,
      ':scheme': 'http',
    };
    for (const [k, v] of Object.entries(req.headers)) if (!H2_DROP.has(k)) headers[k] = v;
    const s = session.request(headers, { endStream: false });
    stream = s;
    let trailers: IncomingHttpHeaders | undefined;
    s.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    s.on('error', (error) => settle({ kind: 'failed', outcome: { kind: 'reset' }, error }));
    s.on('close', () => {
      session.close();
      settle({ kind: 'failed', outcome: { kind: 'reset' } });
    });
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
  });
}
