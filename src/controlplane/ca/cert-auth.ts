/**
 * A workload renewing its own identity may authenticate with the certificate
 * this CA issued it (Istio's client-certificate authenticator). The TLS layer
 * only requests the certificate; it is checked here, so an expired one or one
 * from a foreign root is answered with UNAUTHENTICATED.
 */
import { X509Certificate } from 'node:crypto';
import { isAmbitError } from '../../core/errors.js';
import { type TrustBundle, verifyPeer } from '../../tls/index.js';
import type { Authenticator, CallCredentials, WorkloadCaller } from './auth.js';
import { unauthenticated } from './auth.js';

export interface ClientCertificateAuthenticatorOptions {
  /** Mesh roots the certificate must chain to (old + new during a root rotation). */
  roots: () => TrustBundle;
  /**
   * Certificates between leaves and the root (the CA's signer and its
   * intermediates, PEM). grpc-js exposes only the peer's leaf, so the chain is
   * completed from these.
   */
  intermediates: () => readonly string[];
  /** Only identities in this trust domain are accepted. */
  trustDomain: string;
  /** Clock for validity checks; tests inject one. Default: now. */
  now?: () => Date;
}

export class ClientCertificateAuthenticator implements Authenticator {
  readonly name = 'client-certificate';

  constructor(private readonly opts: ClientCertificateAuthenticatorOptions) {}

  async authenticate(credentials: CallCredentials): Promise<WorkloadCaller | undefined> {
    const der = credentials.peerCertificate;
    if (der === undefined || der.length === 0) return undefined;
    try {
      const chain = [
        new X509Certificate(der),
        ...this.opts.intermediates().map((p) => new X509Certificate(p)),
      ];
      const id = verifyPeer(chain, this.opts.roots(), {
        trustDomain: this.opts.trustDomain,
        ...(this.opts.now ? { now: this.opts.now() } : {}),
      });
      return { kind: 'workload', identity: id.uri, via: 'certificate' };
    } catch (err) {
      throw unauthenticated(
        `client certificate rejected: ${isAmbitError(err) ? err.message : 'unparsable certificate'}`,
      );
    }
  }
}
