/**
 * HBONE client: opens one mTLS HTTP/2 session to a peer's port 15008
 * (streams over it: see session.ts).
 *
 * Session set-up: TCP from a pluggable {@link Dialer} (so the platform can hand
 * us a socket made inside a pod's netns with the pod IP as source), then
 * TLS 1.3 with ALPN h2 and the SOURCE workload's certificate, then HTTP/2. The
 * server must present exactly one SPIFFE URI SAN that is among the expected
 * identities; DNS names are ignored and no SNI is sent. The session counts as
 * up only when the server's SETTINGS frame arrived: with TLS 1.3 the client
 * finishes its handshake before the server has checked the client
 * certificate, so SETTINGS is the first proof the server accepted us.
 */
import type { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AmbitError, errorMessage } from '../../core/errors.js';
import type { SpiffeId } from '../../identity/index.js';
import { logger } from '../../telemetry/index.js';
import { TlsErrors } from '../../tls/index.js';
import { formatAuthority } from './address.js';
import { HboneErrors } from './errors.js';
import { type HboneCredentials, verifyServerIdentity } from './identity.js';
import { HboneSession } from './session.js';
import {
  clientSessionOptions,
  HBONE_TLS,
  type HboneSettingsInput,
  resolveHboneSettings,
} from './settings.js';

const log = logger('hbone-client');

/** Default time for TCP + TLS + HTTP/2 set-up, ms (ztunnel's connect timeout). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface DialTarget {
  host: string;
  port: number;
  /** Source IP to bind (the pod IP in in-pod mode). */
  localAddress?: string;
  /** Aborted on timeout; the dialer must then destroy its socket and reject. */
  signal: AbortSignal;
}

/** Makes a connected TCP socket. Resolves only once connected. */
export type Dialer = (target: DialTarget) => Promise<Socket>;

/** The default {@link Dialer}: `net.connect` from the current netns. */
export const tcpDialer: Dialer = ({ host, port, localAddress, signal }) =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, localAddress, noDelay: true });
    const done = (err?: unknown): void => {
      socket.off('connect', done);
      socket.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(socket);
      else {
        socket.destroy();
        reject(err);
      }
    };
    const onAbort = (): void => done(signal.reason);
    socket.once('connect', done);
    socket.once('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export interface HboneSessionOptions {
  /** The peer's HBONE address, normally `<pod IP>:15008`. */
  address: { host: string; port: number };
  /** The SOURCE workload's certificate, key and trust roots. */
  credentials: HboneCredentials;
  /** The server must present one of these identities. Must not be empty. */
  expectedIdentities: readonly SpiffeId[];
  /** Source IP to connect from; passed to the dialer. */
  sourceIp?: string;
  /** Default {@link tcpDialer}. */
  dialer?: Dialer;
  settings?: HboneSettingsInput;
  /** Whole set-up deadline, ms. Default 10 000. */
  connectTimeoutMs?: number;
}

type Phase = 'tcp' | 'tls' | 'h2';

/**
 * Opens an HBONE session: dial, TLS 1.3 + ALPN h2 with the source identity,
 * verify the server identity, wait for the server's SETTINGS. Rejects with
 * `AMBIT_HBONE_CONNECT_TIMEOUT` / `_DIAL_FAILED` / `_TLS_HANDSHAKE` /
 * `_IDENTITY_MISMATCH` / `_PEER_IDENTITY_INVALID` / `_H2_HANDSHAKE`.
 */
export async function openSession(options: HboneSessionOptions): Promise<HboneSession> {
  const settings = resolveHboneSettings(options.settings);
  const { credentials, expectedIdentities } = options;
  const address = formatAuthority(options.address.host, options.address.port);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (expectedIdentities.length === 0) {
    throw new AmbitError(TlsErrors.PEER_IDENTITY_MISMATCH, `no expected identities for ${address}`);
  }
  let phase: Phase = 'tcp';
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(timeoutError(address, phase, timeoutMs)), timeoutMs);
  let socket: Socket | undefined;
  let tlsSocket: TLSSocket | undefined;
  let session: ClientHttp2Session | undefined;
  try {
    try {
      socket = await (options.dialer ?? tcpDialer)({
        host: options.address.host,
        port: options.address.port,
        localAddress: options.sourceIp,
        signal: ac.signal,
      });
    } catch (err) {
      if (ac.signal.aborted) throw ac.signal.reason;
      throw new AmbitError(
        HboneErrors.DIAL_FAILED,
        `HBONE connect to ${address} failed: ${errorMessage(err)}`,
        { cause: err, details: { address } },
      );
    }
    socket.setNoDelay(true);
    phase = 'tls';
    let verified: SpiffeId | undefined;
    tlsSocket = tlsConnect({
      socket,
      cert: credentials.certChainPem,
      key: credentials.keyPem,
      ca: [...credentials.rootsPem],
      // No SNI: IPs are illegal in SNI and the server picks its cert by destination IP.
      servername: '',
      ALPNProtocols: [...HBONE_TLS.alpn],
      minVersion: HBONE_TLS.minVersion,
      maxVersion: HBONE_TLS.maxVersion,
      ciphers: HBONE_TLS.ciphers,
      rejectUnauthorized: true,
      // Called after chain validation succeeded; SPIFFE certs have no DNS SAN.
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        try {
          verified = verifyServerIdentity(cert, expectedIdentities);
          return undefined;
        } catch (err) {
          return err as Error;
        }
      },
    });
    await waitFor(tlsSocket, 'secureConnect', ac.signal, (err) => tlsError(address, err));
    if (tlsSocket.alpnProtocol !== 'h2') {
      throw new AmbitError(
        HboneErrors.H2_HANDSHAKE,
        `HBONE peer ${address} did not negotiate ALPN h2 (got ${tlsSocket.alpnProtocol || 'none'})`,
      );
    }
    phase = 'h2';
    const tls = tlsSocket;
    session = http2.connect(`https://${address}`, {
      ...clientSessionOptions(settings),
      createConnection: () => tls,
    });
    // A TLS alert (our certificate rejected) arrives on the TLS socket, not the session.
    await waitFor(session, 'remoteSettings', ac.signal, (err) => h2Error(address, err), [tls]);
    session.setLocalWindowSize(settings.connectionWindowBytes);
    if (!verified) throw new AmbitError(TlsErrors.PEER_IDENTITY_INVALID, 'server not verified');
    log.debug({ address, peer: verified.uri }, 'HBONE session established');
    return new HboneSession(session, verified, settings, address);
  } catch (err) {
    session?.destroy();
    tlsSocket?.destroy();
    socket?.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function timeoutError(address: string, phase: Phase, ms: number): AmbitError {
  const what =
    phase === 'tcp'
      ? 'connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008'
      : `${phase === 'tls' ? 'TLS' : 'HTTP/2'} handshake timed out`;
  return new AmbitError(HboneErrors.CONNECT_TIMEOUT, `${what}: ${address} after ${ms} ms`, {
    details: { address, phase },
  });
}

function tlsError(address: string, err: Error): AmbitError {
  if (err instanceof AmbitError) return err;
  return new AmbitError(
    HboneErrors.TLS_HANDSHAKE,
    `TLS handshake with HBONE peer ${address} failed: ${errorMessage(err)}`,
    { cause: err, details: { address } },
  );
}

function h2Error(address: string, err: Error): AmbitError {
  // With TLS 1.3 the client finishes its handshake before the server has
  // checked the client certificate. A rejection then arrives as an alert, or
  // (Node servers verify after the handshake) as a bare close before SETTINGS.
  const closed = err.message === CLOSED_BY_PEER;
  const tls =
    closed || /SSL|alert|certificate/i.test(`${(err as { code?: string }).code} ${err.message}`);
  const why = closed
    ? 'peer closed the connection before its HTTP/2 SETTINGS; it most likely rejected our client certificate (untrusted root or another trust domain)'
    : errorMessage(err);
  return new AmbitError(
    tls ? HboneErrors.TLS_HANDSHAKE : HboneErrors.H2_HANDSHAKE,
    `HBONE session with ${address} failed to start: ${why}`,
    { cause: err, details: { address } },
  );
}

const CLOSED_BY_PEER = 'connection closed by peer';

/** Resolves on `event`; rejects on 'error' or an early 'close' of any watched emitter, or abort. */
function waitFor(
  emitter: EventEmitter,
  event: string,
  signal: AbortSignal,
  wrap: (err: Error) => Error,
  alsoWatch: EventEmitter[] = [],
): Promise<void> {
  const watched = [emitter, ...alsoWatch];
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      emitter.off(event, onEvent);
      for (const e of watched) {
        e.off('error', onError);
        e.off('close', onClose);
      }
      signal.removeEventListener('abort', onAbort);
    };
    const onEvent = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(wrap(err));
    };
    const onClose = (): void => {
      cleanup();
      reject(wrap(new Error(CLOSED_BY_PEER)));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason);
    };
    emitter.once(event, onEvent);
    for (const e of watched) {
      e.once('error', onError);
      e.once('close', onClose);
    }
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
