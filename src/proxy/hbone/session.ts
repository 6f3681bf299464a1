/**
 * An established HBONE session and its CONNECT streams (RFC 9113 §8.5 plain
 * CONNECT: `:method` and `:authority` only). Created by `openSession`.
 */
import { EventEmitter } from 'node:events';
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { AmbitError, errorMessage } from '../../core/errors.js';
import type { SpiffeId } from '../../identity/index.js';
import { logger } from '../../telemetry/index.js';
import { HboneErrors } from './errors.js';
import type { HboneRequestHeaders } from './headers.js';
import { startKeepalive } from './keepalive.js';
import type { HboneSettings } from './settings.js';

const log = logger('hbone-client');

/** One CONNECT request. */
export interface HboneConnectRequest {
  /** `ip:port` (IPv6 bracketed) or `<fqdn>:port`; see `formatAuthority`. */
  authority: string;
  headers?: HboneRequestHeaders & Record<string, string | undefined>;
  /** Aborting before the response resets the stream and rejects. */
  signal?: AbortSignal;
  /** Called with the 200 response headers (e.g. the destination's `baggage`). */
  onResponse?: (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => void;
}

interface SessionEvents {
  /** The last open stream closed. */
  idle: [];
  /** The session is gone; `err` when it died rather than closed. */
  close: [err: Error | undefined];
}

/** An established HBONE session. Streams are opened with {@link HboneSession.connect}. */
export class HboneSession extends EventEmitter<SessionEvents> {
  private active = 0;
  private total = 0;
  private goaway = false;
  private failure: Error | undefined;
  readonly createdAt = Date.now();

  constructor(
    private readonly h2: ClientHttp2Session,
    /** The server's verified SPIFFE identity. */
    readonly peerIdentity: SpiffeId,
    readonly settings: Readonly<HboneSettings>,
    /** `host:port` this session is connected to. */
    readonly address: string,
  ) {
    super();
    h2.on('goaway', () => {
      this.goaway = true;
    });
    h2.on('error', (err) => {
      this.failure ??= err;
      log.debug({ address, err: errorMessage(err) }, 'session error');
    });
    h2.once('close', () => this.emit('close', this.failure));
    startKeepalive(h2, settings.pingIntervalMs, settings.pingTimeoutMs, (reason) => {
      this.destroy(
        new AmbitError(HboneErrors.SESSION_CLOSED, `HBONE session to ${address}: ${reason}`),
      );
    });
  }

  /** Open streams right now. */
  get activeStreams(): number {
    return this.active;
  }

  /** Streams opened over the session's life. */
  get totalStreams(): number {
    return this.total;
  }

  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unbounded if it sent none). */
  get peerMaxConcurrentStreams(): number {
    return this.h2.remoteSettings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
  }

  /** Whether new streams may be opened: not closed, failed or told to go away. */
  get usable(): boolean {
    return !this.goaway && !this.h2.closed && !this.h2.destroyed && this.failure === undefined;
  }

  get closed(): boolean {
    return this.h2.destroyed;
  }

  /**
   * Opens a CONNECT tunnel. Resolves with the stream (a Duplex) only on
   * `:status 200`; any other status rejects with `AMBIT_HBONE_CONNECT_REJECTED`
   * (`details.status`). End the stream with `end()`: resetting many streams
   * trips the server's rapid-reset protection and kills the session.
   */
  connect(request: HboneConnectRequest): Promise<ClientHttp2Stream> {
    if (!this.usable) {
      return Promise.reject(
        new AmbitError(HboneErrors.SESSION_CLOSED, `HBONE session to ${this.address} is closed`, {
          cause: this.failure,
        }),
      );
    }
    const headers: Record<string, string> = {
      ':method': 'CONNECT',
      ':authority': request.authority,
    };
    for (const [k, v] of Object.entries(request.headers ?? {})) {
      if (v !== undefined) headers[k] = v;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = this.h2.request(headers, { endStream: false });
    } catch (err) {
      return Promise.reject(
        new AmbitError(HboneErrors.SESSION_CLOSED, `HBONE session to ${this.address} is closed`, {
          cause: err,
        }),
      );
    }
    this.active += 1;
    this.total += 1;
    stream.once('close', () => {
      this.active -= 1;
      if (this.active === 0) this.emit('idle');
    });
    return awaitResponse(stream, request, this.address);
  }

  /** Graceful: GOAWAY, then close once open streams finish. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.h2.destroyed) return resolve();
      this.goaway = true;
      this.h2.close(() => resolve());
    });
  }

  /** Immediate: tears down the session and every stream on it. */
  destroy(err?: Error): void {
    if (err) this.failure ??= err;
    this.h2.destroy(err);
  }
}

function awaitResponse(
  stream: ClientHttp2Stream,
  request: HboneConnectRequest,
  address: string,
): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const { signal } = request;
    const settle = (err?: Error): void => {
      stream.off('response', onResponse);
      stream.off('error', onError);
      stream.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(stream);
    };
    const onResponse = (headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void => {
      const status = Number(headers[':status']);
      if (status === 200) {
        request.onResponse?.(headers);
        settle();
        return;
      }
      // Finish the stream cleanly (END_STREAM, drain) rather than resetting it.
      stream.on('error', () => {});
      stream.resume();
      stream.end();
      settle(
        new AmbitError(
          HboneErrors.CONNECT_REJECTED,
          `HBONE CONNECT to ${request.authority} via ${address} was answered ${status}`,
          { details: { status, authority: request.authority } },
        ),
      );
    };
    const onError = (err: Error): void => {
      settle(
        new AmbitError(
          HboneErrors.STREAM_FAILED,
          `HBONE CONNECT to ${request.authority} via ${address} failed: ${errorMessage(err)}`,
          { cause: err, details: { authority: request.authority } },
        ),
      );
    };
    const onClose = (): void => {
      settle(
        new AmbitError(
          HboneErrors.STREAM_FAILED,
          `HBONE CONNECT to ${request.authority} via ${address} was reset (code ${stream.rstCode})`,
          { details: { authority: request.authority, rstCode: stream.rstCode } },
        ),
      );
    };
    const onAbort = (): void => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const reason = signal?.reason;
      settle(reason instanceof Error ? reason : new Error(String(reason)));
    };
    stream.once('response', onResponse);
    stream.once('error', onError);
    stream.once('close', onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
