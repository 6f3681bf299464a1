/**
 * Credentials and peer-identity checks for HBONE. The SPIFFE rules live in
 * src/tls (exactly one URI SAN, leaf not a CA, expected-identity and
 * trust-domain checks); this module adapts them to node:tls callbacks.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { SpiffeId } from '../../identity/index.js';
import {
  checkExpectedIdentity,
  checkTrustDomain,
  peerIdentity,
  socketPeerIdentity,
  type WorkloadCertificate,
} from '../../tls/index.js';

/**
 * A workload's certificate, key and the roots it trusts: the narrow shape
 * HBONE needs, so certificates from any source (our CA, istiod, files, test
 * fixtures) work. See {@link hboneCredentials} for a `WorkloadCertificate`.
 */
export interface HboneCredentials {
  /** Leaf first, then intermediates, PEM. */
  certChainPem: string;
  /** PEM private key of the leaf. Never logged. */
  keyPem: string;
  /** Trust anchors (mesh roots), PEM each. */
  rootsPem: readonly string[];
  /** The SPIFFE ID in the leaf's URI SAN. */
  identity: SpiffeId;
}

/** HBONE credentials of a validated workload certificate. */
export function hboneCredentials(cert: WorkloadCertificate): HboneCredentials {
  return {
    certChainPem: cert.certChainPem,
    keyPem: cert.keyPem,
    rootsPem: cert.roots.pems,
    identity: cert.identity,
  };
}

/**
 * Client side, from `checkServerIdentity`: the server's SPIFFE ID, which must
 * be one of `expected`. Throws AMBIT_TLS_PEER_IDENTITY_INVALID or
 * AMBIT_TLS_PEER_IDENTITY_MISMATCH.
 */
export function verifyServerIdentity(
  cert: PeerCertificate,
  expected: readonly SpiffeId[],
): SpiffeId {
  const id = peerIdentity(cert.raw);
  checkExpectedIdentity(id, expected);
  return id;
}

/**
 * Server side, after node:tls verified the chain: the client's SPIFFE ID,
 * which must be in the server identity's trust domain. Throws
 * AMBIT_TLS_PEER_IDENTITY_INVALID or AMBIT_TLS_TRUST_DOMAIN_MISMATCH.
 */
export function verifyClientIdentity(socket: TLSSocket, local: SpiffeId): SpiffeId {
  const id = socketPeerIdentity(socket);
  checkTrustDomain(id, local.trustDomain);
  return id;
}
