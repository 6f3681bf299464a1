/**
 * Who is calling the CA. An {@link Authenticator} turns the credentials of one
 * call (bearer token, client certificate) into a {@link Caller}; the
 * {@link NodeAuthorizer} then decides which identities that caller may get.
 *
 * Modes (see docs/ca-service.md):
 * - local: per-node bootstrap token ({@link NodeTokenAuthenticator});
 * - Kubernetes: service-account token reviewed by the API server
 *   ({@link KubernetesTokenAuthenticator});
 * - either: a client certificate issued by this CA, for a workload renewing
 *   its own identity ({@link ClientCertificateAuthenticator}).
 */
import { AmbitError, isAmbitError } from '../../core/errors.js';
import { CaServiceErrors } from './service-errors.js';

/** A node proxy: may request identities of workloads scheduled on `node`. */
export interface NodeCaller {
  kind: 'node';
  node: string;
  /** How it proved it: `node-token` (local) or `kubernetes` (trusted node service account). */
  via: 'node-token' | 'kubernetes';
  /** The caller's own SPIFFE ID, when it has one (its service account); it may request that too. */
  identity?: string;
}

/** A workload: may request only its own identity. */
export interface WorkloadCaller {
  kind: 'workload';
  identity: string;
  via: 'kubernetes' | 'certificate';
}

export type Caller = NodeCaller | WorkloadCaller;

/** The credentials of one call, extracted from gRPC metadata and the TLS session. */
export interface CallCredentials {
  /** Values of the `authorization` metadata key (normally zero or one). */
  authorization: readonly string[];
  /** DER of the leaf certificate the client presented in the TLS handshake, if any. */
  peerCertificate?: Buffer;
}

export interface Authenticator {
  /** Short name for logs and error reasons, e.g. "node-token". */
  readonly name: string;
  /**
   * Resolves to the caller, or to undefined when this authenticator's kind of
   * credential is absent. Rejects with an {@link AmbitError} when the
   * credential is present but invalid (`AMBIT_CA_UNAUTHENTICATED`) or cannot be
   * checked right now (`AMBIT_CA_AUTH_BACKEND_UNAVAILABLE`). Reasons never
   * contain the credential itself.
   */
  authenticate(credentials: CallCredentials): Promise<Caller | undefined>;
}

/** The token of an `authorization: Bearer <token>` value, or undefined. */
export function bearerToken(credentials: CallCredentials): string | undefined {
  for (const value of credentials.authorization) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
    if (m) return m[1];
  }
  return undefined;
}

export function unauthenticated(reason: string): AmbitError {
  return new AmbitError(CaServiceErrors.UNAUTHENTICATED, reason);
}

/**
 * Tries each authenticator in order; the first that recognises the caller
 * wins. Fails with UNAUTHENTICATED when no credential was sent or none was
 * valid (the message lists each authenticator's reason), and with
 * AUTH_BACKEND_UNAVAILABLE when a backend failure is the only reason no
 * authenticator succeeded (so clients retry instead of giving up on a good token).
 */
export class ChainAuthenticator implements Authenticator {
  readonly name = 'chain';

  constructor(private readonly authenticators: readonly Authenticator[]) {}

  async authenticate(credentials: CallCredentials): Promise<Caller> {
    const reasons: string[] = [];
    let backendDown: AmbitError | undefined;
    for (const a of this.authenticators) {
      try {
        const caller = await a.authenticate(credentials);
        if (caller) return caller;
      } catch (err) {
        if (isAmbitError(err, CaServiceErrors.AUTH_BACKEND_UNAVAILABLE)) backendDown ??= err;
        else if (isAmbitError(err)) reasons.push(`${a.name}: ${err.message}`);
        else reasons.push(`${a.name}: internal error`);
      }
    }
    if (backendDown && reasons.length === 0) throw backendDown;
    if (reasons.length === 0) {
      throw unauthenticated(
        'no credential: send "authorization: Bearer <token>" or a valid client certificate issued by this CA (expired or untrusted certificates are not accepted)',
      );
    }
    throw unauthenticated(`authentication failed (${reasons.join('; ')})`);
  }
}
