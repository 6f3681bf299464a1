/**
 * One upstream attempt: open a stream through the injected connector (next
 * round: HBONE to the endpoint's ztunnel; tests: plain TCP), send the
 * request as HTTP/1.1, and resolve once response headers arrive.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
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

/** Opens byte streams to endpoints. The integration round plugs in HBONE. */
export interface UpstreamConnector {
  connect(target: UpstreamTarget, signal: AbortSignal): Promise<Duplex>;
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** Buffered body (replayable) or a stream (single attempt). */
  readonly body: Buffer | { readonly head: readonly Buffer[]; readonly rest: Readable };
}

export type AttemptResult =
  | { readonly kind: 'response'; readonly res: IncomingMessage; readonly abort: () => void }
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
    out.on('response', (res) => {
      signal.removeEventListener('abort', onAbort);
      settle({
        kind: 'response',
        res,
        abort: () => {
          out.destroy();
          socket.destroy();
        },
      });
    });
    if (Buffer.isBuffer(req.body)) out.end(req.body);
    else {
      for (const chunk of req.body.head) out.write(chunk);
      req.body.rest.pipe(out);
    }
  });
}
