/**
 * Credentials and peer-identity checks for HBONE.
 *
 * TODO(pki): src/tls is being written on the `pki` branch (WorkloadCertificate,
 * TrustBundle, peerIdentity, checkExpectedIdentity, checkTrustDomain). Once it
 * lands, these helpers delegate to it; {@link HboneCredentials} stays the
 * narrow shape HBONE needs, so certificates from any source (our CA, istiod,
 * files) can be used.
 */
import type { PeerCertificate } from 'node:tls';
import { AmbitError } from '../../core/errors.js';
import { SpiffeId } from '../../identity/index.js';
import { HboneErrors } from './errors.js';

/** A workload's certificate, key and the roots it trusts. */
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

/**
 * The SPIFFE ID of a peer certificate. SPIFFE X.509-SVIDs carry exactly one
 * URI SAN; anything else (none, several, not spiffe://) is rejected.
 */
export function peerIdentity(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): SpiffeId {
  const san = cert?.subjectaltname;
  const uris = san ? uriSans(san) : [];
  if (uris.length !== 1) {
    throw new AmbitError(
      HboneErrors.PEER_IDENTITY_INVALID,
      `peer certificate has ${uris.length} URI SANs; a SPIFFE certificate has exactly one`,
      { details: { uris } },
    );
  }
  const id = SpiffeId.tryParse(uris[0] as string);
  if (!id) {
    throw new AmbitError(
      HboneErrors.PEER_IDENTITY_INVALID,
      `peer certificate URI SAN "${uris[0]}" is not a SPIFFE ID`,
    );
  }
  return id;
}

/**
 * URI entries of Node's `subjectaltname` string ("DNS:a, URI:spiffe://…").
 * Node quotes values holding separators as JSON strings; a SPIFFE ID never
 * contains those characters, so a quoted value is kept verbatim and then fails
 * SPIFFE parsing.
 */
function uriSans(san: string): string[] {
  const out: string[] = [];
  for (const part of san.split(', ')) {
    if (part.startsWith('URI:')) out.push(part.slice(4));
  }
  return out;
}

/** Throws unless `actual` is one of `expected` (the client-side server check). */
export function checkExpectedIdentity(actual: SpiffeId, expected: readonly SpiffeId[]): void {
  if (expected.some((e) => e.equals(actual))) return;
  throw new AmbitError(
    HboneErrors.IDENTITY_MISMATCH,
    `server identity ${actual.uri} is not among the expected [${expected.map((e) => e.uri).join(', ')}]`,
    { details: { actual: actual.uri, expected: expected.map((e) => e.uri) } },
  );
}

/** Throws unless the client is from the server's trust domain (the server-side check). */
export function checkTrustDomain(peer: SpiffeId, local: SpiffeId): void {
  if (peer.trustDomain === local.trustDomain) return;
  throw new AmbitError(
    HboneErrors.TRUST_DOMAIN_MISMATCH,
    `client ${peer.uri} is not in trust domain ${local.trustDomain}`,
    { details: { peer: peer.uri, trustDomain: local.trustDomain } },
  );
}
