/**
 * Who is calling. The xDS stream and the debug HTTP endpoints share one
 * authenticator; the CA server's (service-account token review, client
 * certificates) plugs in here. `tokenAuthenticator` is the simple static-token
 * one for tests and single-node setups.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { AmbitError } from '../../core/errors.js';
import { XdsServerErrors } from './errors.js';

/** An authenticated caller. */
export interface Caller {
  /** Stable identity, e.g. a SPIFFE ID or `system:serviceaccount:<ns>:<sa>`. */
  identity: string;
  /** How it was authenticated, e.g. `token`, `mtls`. */
  method: string;
}

/** What a request presents, transport-independent. */
export interface CallerCredentials {
  /** The raw `authorization` header / gRPC metadata value. */
  authorization?: string;
  /** The verified TLS client certificate, if any. */
  peerCertificate?: PeerCertificate;
  /** Remote address, for logs. */
  peer: string;
}

/**
 * Resolves a caller or throws (any error rejects; use
 * `AMBIT_XDS_SERVER_UNAUTHENTICATED` with a reason that holds no secret).
 */
export type Authenticator = (creds: CallerCredentials) => Caller | Promise<Caller>;

export function unauthenticated(reason: string): AmbitError {
  return new AmbitError(XdsServerErrors.UNAUTHENTICATED, `unauthenticated: ${reason}`);
}

/** The bearer token of an `authorization` value, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m?.[1];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Accepts `authorization: Bearer <token>` for the given tokens. Comparison is
 * on SHA-256 digests in constant time, so timing does not leak token bytes.
 */
export function tokenAuthenticator(tokens: ReadonlyMap<string, Caller>): Authenticator {
  const table = [...tokens].map(([t, caller]) => ({ d: digest(t), caller }));
  return (creds) => {
    const token = bearerToken(creds.authorization);
    if (token === undefined) throw unauthenticated('no bearer token');
    const d = digest(token);
    let hit: Caller | undefined;
    for (const e of table) if (timingSafeEqual(e.d, d)) hit = e.caller;
    if (!hit) throw unauthenticated('unknown token');
    return hit;
  };
}

export function credentialsFromCall(call: ServerDuplexStream<unknown, unknown>): CallerCredentials {
  const auth = call.metadata.get('authorization')[0];
  const cert = call.getAuthContext().sslPeerCertificate;
  const creds: CallerCredentials = { peer: call.getPeer() };
  if (typeof auth === 'string') creds.authorization = auth;
  if (cert && Object.keys(cert).length > 0) creds.peerCertificate = cert;
  return creds;
}

export function credentialsFromHttp(req: IncomingMessage): CallerCredentials {
  const creds: CallerCredentials = {
    peer: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
  };
  if (req.headers.authorization !== undefined) creds.authorization = req.headers.authorization;
  const tls = req.socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate === 'function' && tls.authorized) {
    const cert = tls.getPeerCertificate();
    if (Object.keys(cert).length > 0) creds.peerCertificate = cert;
  }
  return creds;
}
